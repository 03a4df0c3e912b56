# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the IPVS half and the network half of module_utils share.

* LVSError, the one error the modules report to the user as is (bad input names the
  option and the fix; a kernel refusal says what was refused);
* the one lazy pyroute2 import and the one way to report a missing pyroute2;
* single IP address validation.

pyroute2 is imported on first netlink use only: validation (and its failures) must not
pay the import, which takes seconds on a slow host, and the unit tests never need it.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import traceback

PYROUTE2_REQUIREMENT = 'pyroute2 (>= 0.9.5)'


class LVSError(Exception):
    """A problem to report to the user as is (bad input, kernel refusal)."""


class Pyroute2(object):
    """The pyroute2 names this collection uses, once imported (see load_pyroute2)."""

    def __init__(self, IPRoute, NetlinkError, genlmsg, GenericNetlinkSocket, AsyncGenericNetlinkSocket):
        self.IPRoute = IPRoute
        self.NetlinkError = NetlinkError
        self.genlmsg = genlmsg
        self.GenericNetlinkSocket = GenericNetlinkSocket
        self.AsyncGenericNetlinkSocket = AsyncGenericNetlinkSocket


_PYROUTE2 = None
PYROUTE2_IMPORT_ERROR = None     # the traceback of the failed import


def load_pyroute2():
    """The pyroute2 names (a Pyroute2), imported on the first call; None when pyroute2
    is not importable (PYROUTE2_IMPORT_ERROR holds why)."""
    global _PYROUTE2, PYROUTE2_IMPORT_ERROR
    if _PYROUTE2 is None and PYROUTE2_IMPORT_ERROR is None:
        try:
            from pyroute2 import IPRoute
            from pyroute2.netlink import genlmsg
            from pyroute2.netlink.generic import GenericNetlinkSocket, AsyncGenericNetlinkSocket
            from pyroute2.netlink.exceptions import NetlinkError
        except ImportError:
            PYROUTE2_IMPORT_ERROR = traceback.format_exc()
        else:
            _PYROUTE2 = Pyroute2(IPRoute, NetlinkError, genlmsg, GenericNetlinkSocket,
                                 AsyncGenericNetlinkSocket)
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
