#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: arp_suppress
short_description: Keep an LVS real server from answering ARP for the VIP (arp_ignore / arp_announce)
version_added: 0.1.0
description:
  - Sets C(net.ipv4.conf.IFACE.arp_ignore) and C(net.ipv4.conf.IFACE.arp_announce) on the named interfaces and on
    C(all), the C(echo 1 > /proc/sys/net/ipv4/conf/*/arp_ignore) and C(echo 2 > .../arp_announce) lines of
    classic DR and TUN real server recipes.
  - C(all) is always included, because the kernel uses the larger of the C(all) value and the interface value.
  - Live values are read from C(/proc/sys) first and written only where they differ, so the module is idempotent
    and check mode reports exactly what would change.
  - Optionally persists the same keys in a sysctl.d file so they survive a reboot; the file is merged, not owned
    (see O(sysctl_file)).
  - All options are validated and every key is read before anything is written.
author:
  - lvs.cluster contributors (@lvs-cluster)
extends_documentation_fragment:
  - lvs.cluster.attributes
  - lvs.cluster.attributes.actiongroup_net
attributes:
  check_mode:
    support: full
    details: The live values and O(sysctl_file) are read; nothing is written.
  diff_mode:
    support: full
    details: The live keys, and O(sysctl_file) when it would change, before and after.
  platform:
    support: full
    platforms: linux
    details: Reads and writes C(/proc/sys/net) of the network namespace the module runs in.
options:
  interfaces:
    description:
      - Interfaces to configure besides V(all), as C(ip link) names them. C(lo) holds the VIP on a DR real server.
      - Each must exist in the network namespace the module runs in.
    type: list
    elements: str
    default: [lo]
  arp_ignore:
    description:
      - Value for C(arp_ignore) with O(state=present). V(1) answers ARP only for addresses on the receiving interface.
    type: int
    choices: [0, 1, 2, 3, 8]
    default: 1
  arp_announce:
    description:
      - Value for C(arp_announce) with O(state=present). V(2) always uses the best local address for the target as
        the ARP source, never the VIP.
    type: int
    choices: [0, 1, 2]
    default: 2
  sysctl_file:
    description:
      - Also persist the keys in this sysctl.d file, for example C(/etc/sysctl.d/90-lvs.conf).
      - The file is merged, not owned, so several modules and hand-written lines can share it. The module replaces
        its keys in place (dropping later duplicates, which would win at boot), appends missing ones and keeps every
        other line as it is. A new file gets mode 0644; an existing file keeps its mode and owner.
      - With O(state=absent) the keys are removed from the file; a file left with nothing but this collection's
        header line is deleted.
      - Must be an absolute path ending in C(.conf) in an existing directory.
      - When omitted, only the live values are managed.
    type: path
  state:
    description:
      - V(present) sets O(arp_ignore) and O(arp_announce).
      - V(absent) restores the kernel defaults V(0)/V(0) live (what the classic real server stop scripts do) and
        removes the keys from O(sysctl_file). The earlier values are not remembered.
    type: str
    choices: [present, absent]
    default: present
notes:
  - C(/proc/sys/net) belongs to the network namespace the module runs in.
  - The module does not run C(sysctl --system); it writes the live values itself.
seealso:
  - module: lvs.cluster.lvs_vip
  - name: Kernel documentation of arp_ignore and arp_announce
    description: ip-sysctl.rst in the Linux kernel sources.
    link: https://docs.kernel.org/networking/ip-sysctl.html
'''

EXAMPLES = r'''
- name: DR real server - do not answer ARP for the VIP on lo, persist it
  lvs.cluster.arp_suppress:
    interfaces: [lo, eth0]
    sysctl_file: /etc/sysctl.d/90-lvs.conf

- name: Live only, stricter announce
  lvs.cluster.arp_suppress:
    interfaces: [lo]
    arp_ignore: 1
    arp_announce: 2

- name: Back to kernel defaults, drop the persisted keys
  lvs.cluster.arp_suppress:
    interfaces: [lo, eth0]
    sysctl_file: /etc/sysctl.d/90-lvs.conf
    state: absent
'''

RETURN = r'''
sysctl:
  description:
    - The managed keys and their live values after the run (in check mode, the values they would have), two keys
      for C(all) and two for each of O(interfaces).
    - The keys are C(net.ipv4.conf.IFACE.arp_ignore) and C(net.ipv4.conf.IFACE.arp_announce) for each IFACE
      (C(all) and each of O(interfaces)), the values strings. Being sysctl names, the keys hold dots, so read
      them with brackets (C(result.sysctl['net.ipv4.conf.all.arp_ignore'])).
    - A key is written with slashes (C(net/ipv4/conf/eth0.10/arp_ignore)) where an interface name holds a dot,
      as in sysctl.d.
  returned: always
  type: dict
  sample: {"net.ipv4.conf.all.arp_ignore": "1", "net.ipv4.conf.all.arp_announce": "2",
           "net.ipv4.conf.lo.arp_ignore": "1", "net.ipv4.conf.lo.arp_announce": "2"}
sysctl_file_changed:
  description: Whether O(sysctl_file) was (or in check mode would be) changed.
  returned: always
  type: bool
  sample: true
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.net_plan import arp_sysctls
from ansible_collections.lvs.cluster.plugins.module_utils.net_sysctl import SysctlPlan, validate_sysctl_file
from ansible_collections.lvs.cluster.plugins.module_utils.net_validate import interface_list


def run(module):
    params = module.params
    interfaces = interface_list(params["interfaces"])
    path = validate_sysctl_file(params["sysctl_file"])
    present = params["state"] == "present"

    live, file_settings = arp_sysctls(interfaces, params["arp_ignore"], params["arp_announce"], present)

    def missing(key):
        return ("interfaces: no interface named %r in this network namespace (%s is missing); "
                "check the name with `ip link`" % (key[3], "/proc/sys/net/ipv4/conf/" + key[3]))

    plan = SysctlPlan(live, path, file_settings, missing_hint=missing)
    if plan.changed and not module.check_mode:
        plan.apply(module)
    result = dict(changed=plan.changed, **plan.result())
    if module._diff:
        result["diff"] = plan.diffs()
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            interfaces=dict(type="list", elements="str", default=["lo"]),
            arp_ignore=dict(type="int", choices=[0, 1, 2, 3, 8], default=1),
            arp_announce=dict(type="int", choices=[0, 1, 2], default=2),
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
