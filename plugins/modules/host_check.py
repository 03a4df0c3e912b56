#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: host_check
short_description: Read-only check that a host has what its cluster roles need
version_added: 0.1.0
description:
  - The host check of the director and realserver roles (the C(common) role's C(check) tasks), run before any host
    is changed. Reads the host's plan (O(plan), the C(lvs_plan) that M(lvs.cluster.cluster_plan) makes) and looks
    on the host for everything it needs, changing nothing.
  - Checks that C(lvs_address) is on an interface, that the plan's packages are there (C(ipvsadm),
    C(nft), C(keepalived) on the PATH; pyroute2 >= 0.7.2, < 0.10 importable by the interpreter this module runs
    under, which is the one Ansible uses for the host and so the one the other modules use), that a service
    manager can enable the boot service (systemd, or sysv init's C(update-rc.d) or C(chkconfig)), that the kernel
    modules are loaded or loadable, the VIP and VRRP interfaces exist, keepalived's scripts are executable,
    C(ip rule) knows C(ipproto) for NAT replies, and, on a keepalived director, listens for VRRP advertisements
    of its C(virtual_router_id) from a router that is not one of the inventory's directors.
  - With O(install) (the roles' C(lvs_install_packages)), a package of the plan that is not there is returned in
    RV(install) for the roles to install, not reported missing; anything else is.
  - Fails with one C(missing:) line per problem, each with its fix, as the message.
author:
  - lvs.cluster contributors (@lvs-cluster)
options:
  plan:
    description: The host's plan, C(lvs_plan) (M(lvs.cluster.cluster_plan)'s RV(lvs.cluster.cluster_plan#module:plan)).
    type: dict
    required: true
  host:
    description: The host's inventory name, for the messages.
    type: str
    required: true
  address:
    description: The host's C(lvs_address), checked to be on one of its interfaces; nothing is checked when empty.
    type: str
  install:
    description:
      - The roles install the plan's packages (C(lvs_install_packages)); a package that is not there is then
        returned in RV(install), not reported missing.
    type: bool
    default: true
  stage:
    description:
      - V(check) checks everything; V(installed) checks only the plan's packages, after the roles installed
        them (for example python3-pyroute2 installed, but the interpreter does not see it).
    type: str
    choices: [check, installed]
    default: check
extends_documentation_fragment:
  - lvs.cluster.attributes
  - lvs.cluster.attributes.info_module
attributes:
  platform:
    support: full
    platforms: posix
    description: Linux hosts with iproute2.
notes:
  - On a keepalived director the check listens for about three advertisement intervals (at least 3.5 seconds).
'''

EXAMPLES = r'''
- name: Check the host (read-only); the plan's missing packages come back in install
  lvs.cluster.host_check:
    plan: "{{ lvs_plan }}"
    host: "{{ inventory_hostname }}"
    address: "{{ lvs_address | default(omit) }}"
    install: "{{ lvs_install_packages | default(true) }}"
  register: check
'''

RETURN = r'''
missing:
  description: One line per problem, C(missing:) what and the fix; the module fails when there is any.
  returned: always
  type: list
  elements: str
  sample: ["missing: lvs_address 192.0.2.11/24 is on no interface of rs1 (ip -o addr); fix hostvars.rs1.lvs_address"]
install:
  description: The plan's packages that are not on the host and that the roles are to install (with O(install)).
  returned: always
  type: list
  elements: str
  sample: [keepalived, nftables]
package_manager:
  description: V(apt), V(dnf) or V(yum), the package manager that installs RV(install); null when nothing is to be installed.
  returned: always
  type: str
  sample: apt
python:
  description: The interpreter this check (and the other modules) ran under.
  returned: always
  type: str
  sample: /usr/bin/python3
pyroute2:
  description: The version of pyroute2 that interpreter imports; null when it has none.
  returned: always
  type: str
  sample: 0.7.2
'''

import os
import sys

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lvs.cluster.plugins.module_utils import host_check
from ansible_collections.lvs.cluster.plugins.module_utils.vrrp_listen import foreign_router_lines

SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin']


class ModuleProbe(host_check.Probe):
    """The answers, from this host (read-only)."""

    def __init__(self, module):
        self.module = module
        self.python = sys.executable

    def _run(self, argv):
        program = self.which(argv[0])
        if program is None:
            return 127, '', '%s: not found' % argv[0]
        return self.module.run_command([program] + argv[1:])

    def address_on_host(self, address):
        rc, out, err = self._run(['ip', '-o', 'addr', 'show'])
        return rc == 0 and (' %s ' % address) in out

    def which(self, name):
        return self.module.get_bin_path(name, opt_dirs=SBIN)

    def kernel_module(self, name):
        if os.path.isdir('/sys/module/%s' % name):
            return True
        return self._run(['modprobe', '-n', '-q', name])[0] == 0

    def link(self, name):
        return os.path.exists('/sys/class/net/%s' % name)

    def ip_rule_ipproto(self):
        rc, out, err = self._run(['ip', 'rule', 'help'])
        return 'ipproto' in out + err

    def vrrp(self, interface, vrid, family, seconds, field, ours):
        return foreign_router_lines(interface, vrid, family, seconds, field, ours)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            plan=dict(type='dict', required=True),
            host=dict(type='str', required=True),
            address=dict(type='str'),
            install=dict(type='bool', default=True),
            stage=dict(type='str', choices=['check', 'installed'], default='check'),
        ),
        supports_check_mode=True,
    )
    probe = ModuleProbe(module)
    params = module.params
    found = host_check.check(params['plan'], params['host'], params['address'], params['install'],
                             probe, params['stage'])
    result = dict(found, changed=False, python=probe.python, pyroute2=probe.pyroute2())
    if found['missing']:
        if params['stage'] == 'installed':
            head = ('%s: what the roles installed is not enough; nothing of the cluster was '
                    'applied:' % params['host'])
        else:
            head = '%s lacks what its cluster roles need, nothing was changed:' % params['host']
        module.fail_json(msg='\n'.join([head] + found['missing']), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
