#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: lvs_vip
short_description: Put a virtual IP (VIP) on an interface, for LVS directors and real servers
version_added: 0.1.0
description:
  - Adds or removes one IP address on one network interface over netlink (pyroute2), the job
    of C(ifconfig lo:0 VIP netmask 255.255.255.255) and C(route add -host VIP dev lo) in
    classic LVS recipes.
  - "On a director: the VIP on the public NIC, optionally with an alias label such as C(eth0:0)."
  - "On a DR or TUN real server: the VIP on C(lo) as a single host (/32, /128 for IPv6), optionally
    with a host route, together with M(lvs.cluster.arp_suppress) so the real server does not answer
    ARP for it."
  - The module owns exactly the address O(address)/O(prefix) on O(interface) and, with
    O(host_route=true), the main-table route O(address)/O(prefix) via O(interface). Other
    addresses and routes are never touched.
  - If O(address) is already on O(interface) with another prefix length or label, O(state=present)
    replaces it (removes it, then adds the wanted one), because the kernel cannot change those in place.
  - The link state of O(interface) is not changed.
  - All options are validated and the interface is looked up before anything is changed.
author:
  - lvs.cluster contributors (@lvs-cluster)
requirements:
  - pyroute2 >= 0.7.2 (the distributions' python3-pyroute2 is enough; Debian 12 has 0.7.2, Debian 13 0.7.7)
extends_documentation_fragment:
  - lvs.cluster.attributes
  - lvs.cluster.attributes.actiongroup_net
attributes:
  check_mode:
    support: full
    details: The interface's addresses and the route are read; nothing is added or removed.
  diff_mode:
    support: full
    details: The entries of O(address) on O(interface) and the host route, before and after.
  platform:
    support: full
    platforms: linux
    details: Talks to the kernel over rtnetlink (pyroute2) in the network namespace the module runs in.
options:
  address:
    description:
      - The VIP, an IPv4 or IPv6 unicast address without prefix length.
    type: str
    required: true
  prefix:
    description:
      - Prefix length of the address.
      - Defaults to 32 for IPv4 and 128 for IPv6, a single host, which is what a real server needs on C(lo).
    type: int
  interface:
    description:
      - The device to put the address on, as C(ip link) names it (not an alias such as C(eth0:0); use O(label) for that).
    type: str
    default: lo
  label:
    description:
      - IPv4 address label, the alias name C(ifconfig) shows, such as C(lo:0) or C(eth0:0).
      - Must be O(interface) followed by a colon and a suffix, at most 15 characters.
      - When omitted, any existing label of the address is accepted as is.
    type: str
  host_route:
    description:
      - Also manage a main-table route to O(address)/O(prefix) via O(interface), the C(route add -host VIP dev lo)
        line of classic recipes.
      - With O(state=absent), the route is removed only when this is V(true).
    type: bool
    default: false
  state:
    description:
      - V(present) adds the address (and route); V(absent) removes them.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Works in the network namespace the module runs in.
seealso:
  - module: lvs.cluster.arp_suppress
  - module: lvs.cluster.ipip_tunnel
'''

EXAMPLES = r'''
- name: Real server (DR) - VIP on lo as a single host, like ifconfig lo:0 VIP netmask 255.255.255.255
  lvs.cluster.lvs_vip:
    address: 192.168.58.200
    label: "lo:0"
    host_route: true

- name: Director - VIP as an alias of the public NIC
  lvs.cluster.lvs_vip:
    address: 192.168.58.200
    interface: eth0
    label: "eth0:0"

- name: IPv6 VIP on a real server
  lvs.cluster.lvs_vip:
    address: 2001:db8::200

- name: Take the VIP away again
  lvs.cluster.lvs_vip:
    address: 192.168.58.200
    host_route: true
    state: absent
'''

RETURN = r'''
address:
  description: The VIP with its prefix length.
  returned: always
  type: str
  sample: 192.168.58.200/32
interface:
  description: The interface the VIP is managed on.
  returned: always
  type: str
  sample: lo
label:
  description: The label the address has after the run (IPv4; null when absent or for IPv6).
  returned: always
  type: str
  sample: "lo:0"
host_route:
  description: Whether the host route exists after the run (null when O(host_route=false), since it is then not managed).
  returned: always
  type: bool
  sample: true
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.net_iproute import (
    add_address, add_host_route, del_address, del_host_route, find_host_route, format_address, link_index,
    list_addresses, open_iproute,
)
from ansible_collections.lvs.cluster.plugins.module_utils.net_plan import plan_vip
from ansible_collections.lvs.cluster.plugins.module_utils.net_sysctl import check_ipv6_usable
from ansible_collections.lvs.cluster.plugins.module_utils.net_validate import (
    parse_address, validate_ifname, validate_label, validate_prefix,
)


def describe(entries, route):
    """The state the diff shows: the VIP's entries on the interface and the route."""
    return {"addresses": [format_address(e) for e in entries], "host_route": route}


def run(module):
    params = module.params
    # Validate everything before looking at, let alone touching, the kernel.
    addr = parse_address(params["address"], "address")
    prefix = validate_prefix(params["prefix"], addr, "prefix")
    interface = validate_ifname(params["interface"], "interface")
    label = validate_label(params["label"], interface, addr, "label")
    manage_route = params["host_route"]
    present = params["state"] == "present"

    with open_iproute(module) as ipr:
        index = link_index(ipr, interface, "interface")
        if addr.version == 6 and present:
            check_ipv6_usable(interface)
        addresses = list_addresses(ipr, index, addr.version)
        route = find_host_route(ipr, addr, prefix, index) if manage_route else None
        plan = plan_vip(addr, prefix, label, interface, present, manage_route, addresses, route)

        if plan.changed and not module.check_mode:
            # Route first on removal: it points at the address we are about to drop.
            if plan.del_route:
                del_host_route(ipr, addr, prefix, index)
            for entry in plan.stale:
                del_address(ipr, index, entry["address"], entry["prefix"])
            if plan.add:
                add_address(ipr, index, addr, prefix, label, interface)
            if plan.add_route:
                add_host_route(ipr, addr, prefix, index)

    result = {
        "changed": plan.changed,
        "address": "%s/%d" % (addr, prefix),
        "interface": interface,
        "label": plan.after_label,
        "host_route": plan.after_route,
    }
    if module._diff:
        result["diff"] = {"before_header": "%s %s" % (interface, addr), "after_header": "%s %s" % (interface, addr),
                          "before": describe(plan.before_entries, route),
                          "after": describe(plan.after_entries, plan.after_route)}
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            address=dict(type="str", required=True),
            prefix=dict(type="int"),
            interface=dict(type="str", default="lo"),
            label=dict(type="str"),
            host_route=dict(type="bool", default=False),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except LVSError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
