# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Links, addresses and host routes over netlink with pyroute2's IPRoute, for lvs_vip and
ipip_tunnel.  Reading and writing only: what to change is decided in net_plan.

Attributes are read with get_attr/get_nested, which every pyroute2 from 0.7.2 (Debian
12's) to 0.9 has; ``msg.get('IFLA_IFNAME')`` answers None before 0.9.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import ipaddress

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError, load_pyroute2, require_pyroute2

RT_TABLE_MAIN = 254
RT_SCOPE_LINK = 253
RT_SCOPE_NOWHERE = 255


def open_iproute(module):
    """An IPRoute for MODULE's run (a context manager); fails the run without pyroute2."""
    return require_pyroute2(module).IPRoute()


def _netlink_error():
    # pyroute2's NetlinkError; every caller holds an IPRoute, so pyroute2 is loaded.
    return load_pyroute2().NetlinkError


def link_index(ipr, ifname, field, missing_hint=None):
    found = ipr.link_lookup(ifname=ifname)
    if not found:
        raise LVSError(missing_hint or ("%s: no interface named %r in this network namespace; "
                                        "check the name with `ip link`" % (field, ifname)))
    return found[0]


def link_state(ipr, index):
    """ifname, kind (e.g. 'ipip', None for lo) and whether the link is administratively up."""
    msg = list(ipr.get_links(index))[0]
    return {
        "ifname": msg.get_attr("IFLA_IFNAME"),
        "kind": msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND"),
        "up": bool(msg["flags"] & 1),  # IFF_UP
    }


def set_link_up(ipr, index, up):
    try:
        ipr.link("set", index=index, state="up" if up else "down")
    except _netlink_error() as exc:
        raise LVSError("cannot bring interface %d %s: %s" % (index, "up" if up else "down", exc))


def list_addresses(ipr, index, version):
    """Addresses on the link as dicts: address (ipaddress object), prefix, label."""
    family = 2 if version == 4 else 10
    found = []
    for msg in ipr.get_addr(index=index, family=family):
        text = msg.get_attr("IFA_LOCAL") if version == 4 else None
        text = text or msg.get_attr("IFA_ADDRESS")
        if text is None:
            continue
        found.append({"address": ipaddress.ip_address(text),
                      "prefix": msg["prefixlen"],
                      "label": msg.get_attr("IFA_LABEL")})
    return found


def format_address(entry):
    text = "%s/%d" % (entry["address"], entry["prefix"])
    if entry.get("label"):
        text += " label %s" % entry["label"]
    return text


def add_address(ipr, index, addr, prefix, label=None, ifname="<interface>"):
    kwargs = {"index": index, "address": str(addr), "prefixlen": prefix}
    if addr.version == 4:
        kwargs["local"] = str(addr)
        if prefix < 31:
            # What `ip addr add ... brd +` and ifconfig set: the subnet broadcast.
            kwargs["broadcast"] = str(ipaddress.ip_network("%s/%d" % (addr, prefix), strict=False)
                                      .broadcast_address)
        if label:
            kwargs["label"] = label
    try:
        ipr.addr("add", **kwargs)
    except _netlink_error() as exc:
        if exc.code == errno.EEXIST:  # added concurrently: the outcome we wanted
            return
        if addr.version == 6 and exc.code == errno.EAFNOSUPPORT:
            raise LVSError("address: cannot add %s: this kernel has no IPv6 (load the ipv6 kernel module "
                           "(modprobe ipv6) or drop ipv6.disable=1 from the kernel command line)" % addr)
        if addr.version == 6 and exc.code == errno.EACCES:
            raise LVSError("address: cannot add %s: IPv6 is disabled on %s "
                           "(net.ipv6.conf.%s.disable_ipv6 = 1)" % (addr, ifname, ifname))
        raise LVSError("cannot add %s/%d: %s" % (addr, prefix, exc))


def del_address(ipr, index, addr, prefix):
    try:
        ipr.addr("del", index=index, address=str(addr), prefixlen=prefix)
    except _netlink_error() as exc:
        if exc.code not in (errno.EADDRNOTAVAIL, errno.ENOENT, errno.ESRCH):  # already gone
            raise LVSError("cannot remove %s/%d: %s" % (addr, prefix, exc))


def _route_family(addr):
    return 2 if addr.version == 4 else 10


def find_host_route(ipr, addr, prefix, index):
    """True when the main table holds ADDR/PREFIX via device INDEX (`route add -host`)."""
    for msg in ipr.get_routes(family=_route_family(addr), table=RT_TABLE_MAIN):
        table = msg.get_attr("RTA_TABLE")
        if (msg["table"] if table is None else table) != RT_TABLE_MAIN:
            continue
        if msg["dst_len"] != prefix or msg.get_attr("RTA_OIF") != index:
            continue
        dst = msg.get_attr("RTA_DST")
        if dst is not None and ipaddress.ip_address(dst) == addr:
            return True
    return False


def add_host_route(ipr, addr, prefix, index):
    kwargs = {"dst": str(addr), "dst_len": prefix, "oif": index, "table": RT_TABLE_MAIN}
    if addr.version == 4:
        kwargs["scope"] = RT_SCOPE_LINK  # what `route add -host X dev D` creates
    try:
        ipr.route("add", **kwargs)
    except _netlink_error() as exc:
        if exc.code != errno.EEXIST:
            raise LVSError("cannot add host route %s/%d: %s" % (addr, prefix, exc))


def del_host_route(ipr, addr, prefix, index):
    # protocol 0 and (IPv4) scope "nowhere" are the kernel's wildcards: match the route
    # whoever added it (`route add -host` uses proto boot), like `ip route del` does.
    kwargs = {"dst": str(addr), "dst_len": prefix, "oif": index, "table": RT_TABLE_MAIN, "proto": 0}
    if addr.version == 4:
        kwargs["scope"] = RT_SCOPE_NOWHERE
    try:
        ipr.route("del", **kwargs)
    except _netlink_error() as exc:
        if exc.code not in (errno.ESRCH, errno.ENOENT):
            raise LVSError("cannot remove host route %s/%d: %s" % (addr, prefix, exc))
