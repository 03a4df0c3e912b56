# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of what lvs_vip and ipip_tunnel are asked for: interface names, VIPs,
prefix lengths, address labels.  Pure; every error names the option and says how to fix it.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError, parse_unicast_address

# Interface names are at most IFNAMSIZ - 1 = 15 bytes (include/uapi/linux/if.h).
IFNAMSIZ = 16


def validate_ifname(name, field):
    """Check NAME against the kernel's rules for interface names (dev_valid_name)."""
    if not isinstance(name, str) or not name:
        raise LVSError("%s: an interface name is required" % field)
    if len(name.encode("utf-8")) >= IFNAMSIZ:
        raise LVSError("%s: interface name %r is longer than %d bytes, the kernel limit"
                       % (field, name, IFNAMSIZ - 1))
    if name in (".", "..") or "/" in name or ":" in name or any(c.isspace() for c in name):
        raise LVSError("%s: %r is not a valid interface name (no '/', ':' or whitespace; not '.' or '..')"
                       "; use the device name as `ip link` shows it" % (field, name))
    return name


def parse_address(value, field="address", family=None):
    """Return VALUE as an ipaddress object usable as a VIP.

    FAMILY, when given (4 or 6), restricts the accepted family.
    """
    text = "" if value is None else str(value).strip()
    addr = parse_unicast_address(text, field, "give the bare address in `%s` and the length in `prefix`" % field)
    if family is not None and addr.version != family:
        raise LVSError("%s: %s is an IPv%d address; this option takes IPv%d only"
                       % (field, addr, addr.version, family))
    if addr.version == 4 and addr == ipaddress.IPv4Address("255.255.255.255"):
        raise LVSError("%s: 255.255.255.255 is the broadcast address, not a VIP" % field)
    if addr.is_loopback:
        raise LVSError("%s: %s is a loopback address; a VIP must be reachable from other hosts" % (field, addr))
    if addr.version == 6 and addr.is_link_local:
        raise LVSError("%s: %s is link-local; use a global or unique-local IPv6 VIP" % (field, addr))
    return addr


def default_prefix(addr):
    """A VIP is a single host unless told otherwise: /32 for IPv4, /128 for IPv6."""
    return 32 if addr.version == 4 else 128


def validate_prefix(prefix, addr, field="prefix"):
    maximum = default_prefix(addr)
    if prefix is None:
        return maximum
    if isinstance(prefix, bool) or not isinstance(prefix, int):
        raise LVSError("%s: %r is not an integer prefix length" % (field, prefix))
    if prefix < 1 or prefix > maximum:
        raise LVSError("%s: %d is out of range for IPv%d; use 1..%d (%d for a single-host VIP)"
                       % (field, prefix, addr.version, maximum, maximum))
    return prefix


def validate_label(label, interface, addr, field="label"):
    """An address label names an IPv4 alias such as eth0:0.

    The kernel stores any label, but iproute2 and ifconfig require it to start with
    the interface name; we require the ifconfig alias form INTERFACE:SUFFIX so the
    alias shows up where users look for it.
    """
    if label is None:
        return None
    if addr.version != 4:
        raise LVSError("%s: labels exist for IPv4 addresses only; remove `%s` for %s" % (field, field, addr))
    if not isinstance(label, str) or not label:
        raise LVSError("%s: must be a non-empty string like %s:0" % (field, interface))
    if not label.startswith(interface + ":") or len(label) == len(interface) + 1:
        raise LVSError("%s: %r must start with the interface name followed by a colon and a suffix, "
                       "e.g. %s:0 (kernel/iproute2 rule: the label begins with the device name)"
                       % (field, label, interface))
    if len(label.encode("utf-8")) >= IFNAMSIZ:
        raise LVSError("%s: %r is longer than %d bytes, the kernel limit for labels" % (field, label, IFNAMSIZ - 1))
    if any(c.isspace() for c in label) or "/" in label:
        raise LVSError("%s: %r contains whitespace or '/'" % (field, label))
    return label


def interface_list(names, field="interfaces"):
    """`all` first, then the named interfaces, each once, in the order given."""
    ordered = ["all"]
    for position, name in enumerate(names or []):
        validate_ifname(name, "%s[%d]" % (field, position))
        if name not in ordered:
            ordered.append(name)
    return ordered
