# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What lvs_vip, ipip_tunnel and arp_suppress change, given what is wanted and what is live.

Pure functions: the modules read the live state (net_iproute, net_sysctl), plan here,
then apply and report, so the decisions (which address is stale, whether a route or a
link goes, which sysctl keys a state sets or removes) are unit tested without a kernel.
Address entries are dicts as net_iproute.list_addresses returns them: address (an
ipaddress object), prefix, label.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from collections import namedtuple

from ansible_collections.lvs.cluster.plugins.module_utils.net_sysctl import conf_key

VipPlan = namedtuple('VipPlan', [
    'before_entries',   # the entries of the VIP's address on the interface now
    'stale',            # entries to remove
    'add',              # whether to add the VIP
    'add_route',        # whether to add the host route
    'del_route',        # whether to remove the host route
    'after_entries',    # the entries of the VIP's address after the run
    'after_route',      # whether the host route exists after the run (None: not managed)
    'after_label',      # the VIP's label after the run (IPv4 only, else None)
    'changed',
])


def plan_vip(addr, prefix, label, interface, present, manage_route, addresses, route):
    """lvs_vip: ADDR/PREFIX (with LABEL, None = any) on INTERFACE, PRESENT or not.

    ADDRESSES are the interface's addresses of ADDR's family; ROUTE whether the host
    route exists (None when MANAGE_ROUTE is false).  An entry of ADDR with another prefix
    or label is stale when present; when absent only the matching entries go.
    """
    mine = [e for e in addresses if e["address"] == addr]

    def wanted(entry):
        return entry["prefix"] == prefix and (label is None or entry["label"] == label)

    if present:
        stale = [e for e in mine if not wanted(e)]
        add = not any(wanted(e) for e in mine)
        add_route = bool(manage_route and not route)
        del_route = False
        after_entries = [e for e in mine if wanted(e)] or [
            {"address": addr, "prefix": prefix, "label": label or (interface if addr.version == 4 else None)}]
    else:
        stale = [e for e in mine if wanted(e)]
        add = False
        add_route = False
        del_route = bool(route)
        after_entries = [e for e in mine if not wanted(e)]
    after_route = bool(route or add_route) and not del_route if manage_route else None
    kept = [e for e in after_entries if e["prefix"] == prefix]
    after_label = kept[0]["label"] if kept and addr.version == 4 else None
    return VipPlan(mine, stale, add, add_route, del_route, after_entries, after_route, after_label,
                   bool(stale or add or add_route or del_route))


TunnelPlan = namedtuple('TunnelPlan', [
    'stale',            # entries of ADDR to remove
    'add',              # whether to add ADDR/PREFIX
    'up',               # whether the device is up after the run
    'link_change',      # whether the device goes up or down
    'after_entries',    # all the device's addresses after the run
    'changed',          # addresses or link (the sysctls are planned apart)
])


def plan_tunnel(addr, prefix, device, present, addresses, up):
    """ipip_tunnel: ADDR/PREFIX on the ipip DEVICE, PRESENT or not.

    ADDRESSES are the device's IPv4 addresses, UP whether it is up now.  Present brings
    the device up.  Absent brings it down only when it took our VIP away and nothing else
    is left on it: a device someone else brought up without our VIP is not ours to touch.
    """
    mine = [e for e in addresses if e["address"] == addr]
    others = [e for e in addresses if e["address"] != addr]
    if present:
        stale = [e for e in mine if e["prefix"] != prefix]
        add = not any(e["prefix"] == prefix for e in mine)
        want_up = True
        after_entries = others + ([e for e in mine if e["prefix"] == prefix] or
                                  [{"address": addr, "prefix": prefix, "label": device}])
    else:
        stale = [e for e in mine if e["prefix"] == prefix]
        add = False
        after_entries = [e for e in addresses if e not in stale]
        want_up = up and not (stale and not after_entries)
    link_change = want_up != up
    return TunnelPlan(stale, add, want_up, link_change, after_entries, bool(stale or add or link_change))


def arp_sysctls(interfaces, arp_ignore, arp_announce, present):
    """arp_suppress: (live values, sysctl.d settings) for INTERFACES.

    Present sets ARP_IGNORE and ARP_ANNOUNCE live and in the file; absent sets the
    kernel defaults (0) live and removes the keys from the file.
    """
    values = {"arp_ignore": arp_ignore if present else 0,
              "arp_announce": arp_announce if present else 0}
    live = {}
    for name in interfaces:
        for leaf in ("arp_ignore", "arp_announce"):
            live[conf_key(name, leaf)] = values[leaf]
    file_settings = dict((key, value if present else None) for key, value in live.items())
    return live, file_settings


def rp_filter_sysctls(device, rp_filter, present):
    """ipip_tunnel: (live values, sysctl.d settings) of rp_filter for all and DEVICE.

    Present sets RP_FILTER live and in the file; absent leaves the live values alone
    (other tunnels may rely on them) and removes the keys from the file.
    """
    keys = [conf_key("all", "rp_filter"), conf_key(device, "rp_filter")]
    live = dict((key, rp_filter) for key in keys) if present else {}
    file_settings = dict((key, rp_filter if present else None) for key in keys)
    return live, file_settings
