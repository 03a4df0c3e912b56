#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: ipvs_timeouts
short_description: Set the IPVS tcp, tcpfin and udp connection timeouts (ipvsadm --set)
version_added: 0.1.0
description:
  - Sets the IPVS connection timeouts of the target's current network namespace.
    Timeouts left out are not changed.
  - Uses the IPVS generic netlink GET_CONFIG/SET_CONFIG commands; runs no external command.
author:
  - lvs.cluster contributors (@lvs-cluster)
extends_documentation_fragment:
  - lvs.cluster.attributes
  - lvs.cluster.attributes.actiongroup_ipvs
attributes:
  check_mode:
    support: full
    details: The live timeouts are read and RV(timeouts) says what they would be; nothing is set.
  diff_mode:
    support: full
    details: The three timeouts before and after.
  platform:
    support: full
    platforms: linux
    details: Talks to the kernel's IPVS generic netlink family in the network namespace the module runs in.
requirements:
  - the C(ip_vs) kernel module loaded on the target (no Python library beyond the standard one)
options:
  tcp:
    description: Timeout of established TCP connections, in seconds (1..2147483).
    type: int
  tcpfin:
    description: Timeout of TCP connections after a FIN, in seconds (1..2147483).
    type: int
  udp:
    description: Timeout of UDP flows, in seconds (1..2147483).
    type: int
notes:
  - The kernel cannot set a timeout to 0 (0 means "unchanged" to it), hence the minimum of 1.
'''

EXAMPLES = r'''
- name: Shorter TCP timeouts on a busy director
  lvs.cluster.ipvs_timeouts:
    tcp: 300
    tcpfin: 30
    udp: 60
'''

RETURN = r'''
timeouts:
  description: The timeouts in seconds now (in check mode, as they would be).
  returned: always
  type: dict
  contains:
    tcp: {description: Timeout of established TCP connections., type: int}
    tcpfin: {description: Timeout of TCP connections after a FIN., type: int}
    udp: {description: Timeout of UDP flows., type: int}
  sample: {tcp: 300, tcpfin: 30, udp: 60}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_model import normalize_timeouts
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_session import open_session


def main():
    module = AnsibleModule(
        argument_spec=dict(tcp=dict(type='int'), tcpfin=dict(type='int'), udp=dict(type='int')),
        required_one_of=[('tcp', 'tcpfin', 'udp')],
        supports_check_mode=True,
    )
    try:
        wanted = normalize_timeouts(module.params)
    except LVSError as exc:
        module.fail_json(msg=str(exc))
    session = open_session(module)
    try:
        before = session.timeouts()
        changes = dict((name, value) for name, value in wanted.items() if before[name] != value)
        if changes and not module.check_mode:
            session.set_timeouts(changes)
    except LVSError as exc:
        module.fail_json(msg=str(exc))
    finally:
        session.close()
    after = dict(before, **changes)
    result = dict(changed=bool(changes), timeouts=after)
    if module._diff:
        result['diff'] = dict(before=before, after=after)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
