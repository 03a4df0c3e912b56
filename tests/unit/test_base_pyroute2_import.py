"""base.load_pyroute2 imports only NetlinkError, and IPRoute still works.

Each case runs in a fresh interpreter: what is imported is the point, and this test
session has imported pyroute2 (or not) in its own way already.  It needs pyroute2
installed on the host, not a kernel: nothing here opens a socket but the last check.
"""
import os
import subprocess
import sys

import pytest

pytest.importorskip('pyroute2')

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(code):
    """Run CODE after importing the checkout as the collection; its stdout lines."""
    prelude = 'import sys; sys.path.insert(0, %r); import conftest\n' % TESTS
    out = subprocess.check_output([sys.executable, '-c', prelude + code], cwd=TESTS)
    return out.decode().split()


LOAD = ('from ansible_collections.lvs.cluster.plugins.module_utils import base\n'
        'names = base.load_pyroute2()\n')


def test_netlink_error_without_the_whole_package():
    loaded = run(LOAD + 'print(" ".join(m for m in sys.modules if m.startswith("pyroute2")))')
    assert 'pyroute2.netlink.exceptions' in loaded
    # The package's __init__ would have imported these (and ~150 more).
    for heavy in ('pyroute2.ndb.main', 'pyroute2.iproute', 'pyroute2.conntrack', 'pyroute2.ipdb'):
        assert heavy not in loaded
    assert len(loaded) < 10


def test_iproute_without_the_whole_package():
    out = run(LOAD + 'IPRoute = names.IPRoute\n'
              'print("pyroute2.ndb.main" in sys.modules)\n'
              'with IPRoute() as ipr: print(len(ipr.link_lookup(ifname="lo")))\n')
    assert out == ['False', '1']


def test_a_top_level_name_runs_the_package_init_then():
    out = run(LOAD + 'import pyroute2\n'
              'from pyroute2 import config\n'     # a submodule: imported alone
              'print("pyroute2.ndb.main" in sys.modules)\n'
              'from pyroute2 import IPRoute, NDB\n'
              'print("pyroute2.ndb.main" in sys.modules, IPRoute is names.IPRoute, NDB.__name__,\n'
              '      names.NetlinkError is pyroute2.NetlinkError, config is pyroute2.config)\n')
    assert out == ['False', 'True', 'True', 'NDB', 'True', 'True']


def test_an_already_imported_pyroute2_is_used_as_it_is():
    out = run('import pyroute2\n' + LOAD +
              'print(names.NetlinkError is pyroute2.NetlinkError, names.IPRoute is pyroute2.IPRoute)')
    assert out == ['True', 'True']


def test_the_ipvs_modules_need_no_pyroute2():
    # pyroute2 made unimportable: the IPVS modules import, and opening a session fails
    # for the reason this machine has (no IPVS family in its kernel), not for pyroute2.
    out = run('sys.modules["pyroute2"] = None\n'
              'from ansible_collections.lvs.cluster.plugins.modules import (\n'
              '    ipvs_info, ipvs_realserver, ipvs_service, ipvs_table, ipvs_timeouts)\n'
              'from ansible_collections.lvs.cluster.plugins.module_utils import base, ipvs_session\n'
              'print(base.load_pyroute2())\n'
              'try:\n'
              '    ipvs_session.IPVSSession().close()\n'
              '    print("opened")\n'
              'except base.LVSError as exc:\n'
              '    print("ipvs_family" if "no IPVS generic netlink family" in str(exc) else exc)\n')
    assert out[0] == 'None'
    assert out[1] in ('opened', 'ipvs_family')
