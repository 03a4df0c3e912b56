# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the IPVS half and the network half of module_utils share.

* LVSError, the one error the modules report to the user as is (bad input names the
  option and the fix; a kernel refusal says what was refused);
* the one lazy pyroute2 import and the one way to report a missing pyroute2 (only the
  rtnetlink modules, lvs_vip and ipip_tunnel, use it; the IPVS ones need no library);
* single IP address validation.

pyroute2 is imported on first netlink use only: validation (and its failures) must not
pay the import, which takes seconds on a slow host, and the unit tests never need it.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import importlib
import importlib.util
import ipaddress
import sys
import traceback

# What is proven in the lab: Debian 12's python3-pyroute2 (0.7.2), Debian 13's (0.7.7)
# and PyPI's 0.9 line (docs/develop/tests.md).
PYROUTE2_REQUIREMENT = 'pyroute2 (>= 0.7.2)'


class LVSError(Exception):
    """A problem to report to the user as is (bad input, kernel refusal)."""


class Pyroute2(object):
    """The pyroute2 names this collection uses, once imported (see load_pyroute2): its
    NetlinkError, and IPRoute (imported on first use).  Both are where they are in
    every release from 0.7.2 (Debian 12) to 0.9."""

    def __init__(self, NetlinkError):
        self.NetlinkError = NetlinkError

    @property
    def IPRoute(self):
        from pyroute2.iproute import IPRoute
        return IPRoute


_PYROUTE2 = None
PYROUTE2_IMPORT_ERROR = None     # the traceback of the failed import

# Why the pyroute2 package is registered lazily: its __init__ imports the whole public
# API (NDB, IPDB, conntrack, nl80211, plan9, ... ~160 modules), measured at ~1.8 s of
# every module run in the lab's emulated guest (0.12 s natively), where IPRoute alone
# needs a fraction of them.  So the package goes into sys.modules with its __path__
# but without running its __init__, and its submodules are imported as usual.  The first
# time anything asks the package for a top-level name it does not have yet (pyroute2's
# own code does that in a few places, other code may too), the __init__ runs after all:
# every name is there when asked for, only the cost moved.


def _lazy_package_getattr(name):
    """Module __getattr__ (PEP 562) of the not yet initialised pyroute2 package."""
    package = sys.modules['pyroute2']
    if importlib.util.find_spec('pyroute2.' + name) is not None:
        return importlib.import_module('pyroute2.' + name)   # a submodule: only it
    del package.__getattr__
    package.__spec__.loader.exec_module(package)
    return getattr(package, name)


def _register_lazy_package():
    """Put pyroute2 in sys.modules without running its __init__ (unless it is there)."""
    if 'pyroute2' in sys.modules:
        return
    spec = importlib.util.find_spec('pyroute2')
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("No module named 'pyroute2'")
    package = importlib.util.module_from_spec(spec)
    package.__getattr__ = _lazy_package_getattr
    sys.modules['pyroute2'] = package


def load_pyroute2():
    """The pyroute2 names (a Pyroute2), imported on the first call; None when pyroute2
    is not importable (PYROUTE2_IMPORT_ERROR holds why)."""
    global _PYROUTE2, PYROUTE2_IMPORT_ERROR
    if _PYROUTE2 is None and PYROUTE2_IMPORT_ERROR is None:
        try:
            _register_lazy_package()
            from pyroute2.netlink.exceptions import NetlinkError
        except ImportError:
            PYROUTE2_IMPORT_ERROR = traceback.format_exc()
        else:
            _PYROUTE2 = Pyroute2(NetlinkError)
    return _PYROUTE2


def missing_pyroute2_message():
    """Ansible's missing_required_lib text for pyroute2, naming the version needed."""
    from ansible.module_utils.basic import missing_required_lib
    return missing_required_lib(PYROUTE2_REQUIREMENT)


def require_pyroute2(module):
    """The pyroute2 names; fails MODULE's run when pyroute2 is not importable."""
    names = load_pyroute2()
    if names is None:
        module.fail_json(msg=missing_pyroute2_message(), exception=PYROUTE2_IMPORT_ERROR)
    return names


def parse_unicast_address(text, field, prefix_fix):
    """TEXT (a stripped string) as an ipaddress object of one unicast IP address, else
    LVSError naming FIELD.  PREFIX_FIX says what to do instead of giving a /prefix."""
    if text == '':
        raise LVSError("%s: an IP address is required" % field)
    if '/' in text:
        raise LVSError("%s: %r contains a prefix length; %s" % (field, text, prefix_fix))
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise LVSError("%s: %r is not an IPv4 or IPv6 address (host names are not resolved)"
                       % (field, text))
    if address.is_multicast or address.is_unspecified:
        raise LVSError("%s: %s is not a unicast address" % (field, address))
    return address
