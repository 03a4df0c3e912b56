"""The one kernel fact the host can prove: without ip_vs the layer names the module to load.

This host's kernel has no IPVS (the lab guest has); where a kernel does have it, there
is nothing to prove here and the test says so by skipping.
"""
import os

import pytest

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_session import IPVSSession


@pytest.mark.skipif(os.path.exists('/proc/net/ip_vs'), reason='this kernel has ip_vs')
def test_no_ip_vs_names_the_kernel_module():
    pytest.importorskip('pyroute2')
    with pytest.raises(LVSError, match=r'load the ip_vs kernel module \(modprobe ip_vs\)'):
        IPVSSession()
