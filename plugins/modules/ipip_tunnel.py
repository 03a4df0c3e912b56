#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: ipip_tunnel
short_description: Prepare the ipip tunnel device of an LVS-TUN real server
version_added: 0.1.0
description:
  - Configures the ipip device (O(device), V(tunl0) by default) of an LVS-TUN real server, the
    C(ifconfig tunl0 VIP netmask 255.255.255.255 up) and C(echo 0 > .../rp_filter) lines of classic recipes
    - brings the device up, puts the VIP on it as a single host (/32), and sets C(rp_filter) to 0 on the device
    and on C(all) (the kernel uses the larger of the two), so decapsulated packets addressed to the VIP are accepted.
  - The module does not create the device. C(tunl0) appears by itself in every network namespace once the
    C(ipip) kernel module is loaded; if it is missing the module fails and says which kernel module to load.
    A device created with C(ip link add NAME type ipip) can be named in O(device) instead.
  - C(rp_filter) values are read from C(/proc/sys) first and written only where they differ.
  - All options are validated, the device is looked up and every key is read before anything is changed.
author:
  - lvs.cluster contributors (@lvs-cluster)
requirements:
  - pyroute2 >= 0.7.2 (the distributions' python3-pyroute2 is enough; Debian 12 has 0.7.2, Debian 13 0.7.7)
  - the C(ipip) kernel module (C(modprobe ipip)) on the managed host
extends_documentation_fragment:
  - lvs.cluster.attributes
  - lvs.cluster.attributes.actiongroup_net
attributes:
  check_mode:
    support: full
    details: The device, its addresses, the live C(rp_filter) values and O(sysctl_file) are read; nothing is changed.
  diff_mode:
    support: full
    details: The device's state and IPv4 addresses, the live C(rp_filter) keys, and O(sysctl_file) when it would
      change, before and after.
  platform:
    support: full
    platforms: linux
    details: Talks to the kernel over rtnetlink (pyroute2) and C(/proc/sys/net) in the network namespace the module
      runs in.
options:
  address:
    description:
      - The VIP, an IPv4 address without prefix length. ipip carries IPv4 only.
    type: str
    required: true
  prefix:
    description:
      - Prefix length of the VIP on the device.
    type: int
    default: 32
  device:
    description:
      - The ipip device to configure. It must exist and be of kind C(ipip).
    type: str
    default: tunl0
  rp_filter:
    description:
      - Value for C(rp_filter) on O(device) and on C(all) with O(state=present). V(0) turns reverse path filtering
        off, which decapsulated LVS-TUN traffic needs; V(2) (loose) also works when the client is routable back.
    type: int
    choices: [0, 1, 2]
    default: 0
  sysctl_file:
    description:
      - Also persist the C(rp_filter) keys in this sysctl.d file, for example C(/etc/sysctl.d/90-lvs.conf).
      - Merged, not owned, exactly as for O(lvs.cluster.arp_suppress#module:sysctl_file). A new file gets mode 0644.
      - The device key only applies at boot once the device exists; systemd-sysctl re-applies per-interface keys
        when the device appears (udev), and C(ipip) should be listed in C(/etc/modules-load.d).
      - Must be an absolute path ending in C(.conf) in an existing directory.
    type: path
  state:
    description:
      - V(present) brings the device up, adds the VIP and sets C(rp_filter).
      - V(absent) removes the VIP from the device and then brings the device down when no IPv4 address is left on
        it. A device without the VIP is left as it is.
        The live C(rp_filter) values are left as they are, because the earlier values are not known and other
        tunnels may rely on them; their keys are removed from O(sysctl_file).
    type: str
    choices: [present, absent]
    default: present
notes:
  - Works in the network namespace the module runs in.
seealso:
  - module: lvs.cluster.lvs_vip
  - module: lvs.cluster.arp_suppress
'''

EXAMPLES = r'''
- name: LVS-TUN real server - VIP on tunl0, rp_filter off, persisted
  lvs.cluster.ipip_tunnel:
    address: 192.168.58.200
    sysctl_file: /etc/sysctl.d/90-lvs.conf

- name: Tear it down again
  lvs.cluster.ipip_tunnel:
    address: 192.168.58.200
    sysctl_file: /etc/sysctl.d/90-lvs.conf
    state: absent
'''

RETURN = r'''
address:
  description: The VIP with its prefix length.
  returned: always
  type: str
  sample: 192.168.58.200/32
device:
  description: The ipip device.
  returned: always
  type: str
  sample: tunl0
up:
  description: Whether the device is administratively up after the run.
  returned: always
  type: bool
  sample: true
sysctl:
  description:
    - The C(rp_filter) keys managed live and their values after the run (in check mode, the values they would have);
      empty with O(state=absent).
    - The keys are C(net.ipv4.conf.all.rp_filter) and C(net.ipv4.conf.DEVICE.rp_filter) for O(device), the values
      strings. Being sysctl names, the keys hold dots, so read them with brackets
      (C(result.sysctl['net.ipv4.conf.all.rp_filter'])).
    - A key is written with slashes (C(net/ipv4/conf/tun.1/rp_filter)) where the device name holds a dot, as in
      sysctl.d.
  returned: always
  type: dict
  sample: {"net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.tunl0.rp_filter": "0"}
sysctl_file_changed:
  description: Whether O(sysctl_file) was (or in check mode would be) changed.
  returned: always
  type: bool
  sample: false
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.net_iproute import (
    add_address, del_address, format_address, link_index, link_state, list_addresses, open_iproute, set_link_up,
)
from ansible_collections.lvs.cluster.plugins.module_utils.net_plan import plan_tunnel, rp_filter_sysctls
from ansible_collections.lvs.cluster.plugins.module_utils.net_sysctl import SysctlPlan, validate_sysctl_file
from ansible_collections.lvs.cluster.plugins.module_utils.net_validate import (
    parse_address, validate_ifname, validate_prefix,
)


def missing_device(device):
    if device == "tunl0":
        return ("device: tunl0 does not exist: load the ipip kernel module (modprobe ipip); "
                "it creates tunl0 in every network namespace")
    return ("device: no ipip device named %r in this network namespace; create it with "
            "`ip link add %s type ipip` (needs the ipip kernel module: modprobe ipip) or use tunl0"
            % (device, device))


def run(module):
    params = module.params
    addr = parse_address(params["address"], "address", family=4)
    prefix = validate_prefix(params["prefix"], addr, "prefix")
    device = validate_ifname(params["device"], "device")
    path = validate_sysctl_file(params["sysctl_file"])
    present = params["state"] == "present"

    with open_iproute(module) as ipr:
        index = link_index(ipr, device, "device", missing_hint=missing_device(device))
        link = link_state(ipr, index)
        if link["kind"] != "ipip":
            raise LVSError("device: %s is a %s device, not an ipip tunnel; name an ipip device (default tunl0)"
                           % (device, link["kind"] or "non-tunnel"))
        addresses = list_addresses(ipr, index, 4)
        live_wanted, file_settings = rp_filter_sysctls(device, params["rp_filter"], present)
        sysctl = SysctlPlan(live_wanted, path, file_settings)
        plan = plan_tunnel(addr, prefix, device, present, addresses, link["up"])

        changed = plan.changed or sysctl.changed
        if changed and not module.check_mode:
            # rp_filter first: the VIP must not be reachable before decapsulated packets are accepted.
            sysctl.apply(module)
            if present and plan.link_change:
                set_link_up(ipr, index, True)
            for entry in plan.stale:
                del_address(ipr, index, entry["address"], entry["prefix"])
            if plan.add:
                add_address(ipr, index, addr, prefix, ifname=device)
            if not present and plan.link_change:
                set_link_up(ipr, index, False)

    result = dict(changed=changed, address="%s/%d" % (addr, prefix), device=device, up=plan.up,
                  **sysctl.result())
    if module._diff:
        state_before = {"up": link["up"], "addresses": [format_address(e) for e in addresses]}
        state_after = {"up": plan.up, "addresses": [format_address(e) for e in plan.after_entries]}
        result["diff"] = [{"before_header": device, "after_header": device,
                           "before": state_before, "after": state_after}] + sysctl.diffs()
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            address=dict(type="str", required=True),
            prefix=dict(type="int", default=32),
            device=dict(type="str", default="tunl0"),
            rp_filter=dict(type="int", choices=[0, 1, 2], default=0),
            sysctl_file=dict(type="path"),
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
