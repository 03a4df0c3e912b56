#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: ipvs_table
short_description: Make the whole IPVS table (services and real servers) exactly so, in one task
version_added: 0.1.0
description:
  - Declares a list of IPVS virtual services with their real servers; each listed service
    ends up exactly as described, with exactly the listed real servers.
  - With O(purge=true), services that are not listed are removed too, so the kernel table
    equals the declaration (ipvsadm-restore semantics, without the flush).
  - Accepts the rules as O(services) or as O(rules), text in C(ipvsadm-save -n) format, to
    migrate an existing C(/etc/sysconfig/ipvsadm) or C(/etc/ipvsadm.rules) as is.
  - One netlink session for the whole table. Missing entries are added, changed ones are
    edited in place (netlink SET, never delete + add), stale ones removed last.
  - Everything is validated before the kernel is touched; bad input changes nothing.
  - The kernel applies or refuses each change on its own, so a refusal (a scheduler
    module missing from the kernel, for example) does not undo or stop the other changes
    sent with it, up to 256 per batch. The task then fails, reports in RV(operations) and
    C(changed) exactly what was applied, in RV(refused) what was refused and why, and
    sends no further batch.
author:
  - lvs.cluster contributors (@lvs-cluster)
extends_documentation_fragment:
  - lvs.cluster.attributes
  - lvs.cluster.attributes.actiongroup_ipvs
attributes:
  check_mode:
    support: full
    details: The plan is made from the live table and reported in RV(operations) and RV(summary); nothing is sent to
      the kernel.
  diff_mode:
    support: full
    details: The whole table before and after, as C(ipvsadm-save -n) text (in diff mode every service is read, not
      only the declared ones).
  platform:
    support: full
    platforms: linux
    details: Talks to the kernel's IPVS generic netlink family in the network namespace the module runs in.
requirements:
  - the C(ip_vs) kernel module loaded on the target (no Python library beyond the standard one)
options:
  services:
    description:
      - The services, each with the options of M(lvs.cluster.ipvs_service).
      - Mutually exclusive with O(rules). With neither, the declaration is empty (with
        O(purge=true) the table is emptied).
    type: list
    elements: dict
    suboptions:
      protocol:
        description: V(tcp), V(udp), V(sctp) or V(fwmark).
        type: str
        choices: [tcp, udp, sctp, fwmark]
        default: tcp
      address:
        description: Virtual IP address of a V(tcp)/V(udp)/V(sctp) service.
        type: str
      port:
        description: Port of a V(tcp)/V(udp)/V(sctp) service; V(0) (all ports) only with persistence.
        type: int
      fwmark:
        description: Firewall mark of a V(fwmark) service.
        type: int
      family:
        description: Address family of a V(fwmark) service.
        type: str
        choices: [ipv4, ipv6]
      scheduler:
        description: Scheduling algorithm.
        type: str
        choices: [rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, mh, fo, ovf, twos]
        default: wlc
      scheduler_flags:
        description:
          - Scheduler flags (ipvsadm C(-b)); V(flag-1), V(flag-2), V(flag-3) with any scheduler,
            V(sh-fallback)/V(sh-port) only with V(sh), V(mh-fallback)/V(mh-port) only with V(mh)
            (see M(lvs.cluster.ipvs_service)).
        type: list
        elements: str
        choices: [flag-1, flag-2, flag-3, mh-fallback, mh-port, sh-fallback, sh-port]
        default: []
      persistence_timeout:
        description: Persistence timeout in seconds; V(0) = not persistent.
        type: int
        default: 0
      persistence_netmask:
        description: Persistence netmask (IPv4 dotted or prefix length, IPv6 prefix length).
        type: str
      one_packet:
        description: One-packet scheduling (V(udp) and V(fwmark) only).
        type: bool
        default: false
      pe:
        description:
          - Persistence engine (ipvsadm C(--pe)), V(sip) for a persistent V(udp) or V(fwmark)
            service; needs the kernel module C(ip_vs_pe_sip).
          - Left out or V(none), the service has no engine (as in O(rules)).
        type: str
        choices: [sip, none]
      realservers:
        description: The real servers of this service; others are removed.
        type: list
        elements: dict
        default: []
        suboptions:
          address:
            description: Real server IP address, same family as the service.
            type: str
            required: true
          port:
            description: Real server port (defaults to the service port; a different one only with V(nat)).
            type: int
          forwarding:
            description: Forwarding method.
            type: str
            choices: [nat, dr, tun]
            default: dr
          weight:
            description: Weight 0..65535.
            type: int
            default: 1
          upper_threshold:
            description: Upper connection threshold, V(0) = no limit.
            type: int
            default: 0
          lower_threshold:
            description: Lower connection threshold.
            type: int
            default: 0
          tun_type:
            description:
              - Tunnel encapsulation of a V(tun) real server (ipvsadm C(--tun-type)), V(ipip)
                (default), V(gue) (needs O(services[].realservers[].tun_port)) or V(gre). Linux 5.2 or later (V(gre) 5.3).
              - Refused with another forwarding method.
            type: str
            choices: [ipip, gue, gre]
          tun_port:
            description: UDP port 1..65535 of a V(gue) real server (ipvsadm C(--tun-port)); required with V(gue), refused otherwise.
            type: int
          tun_csum:
            description:
              - Tunnel checksum of a V(gue)/V(gre) real server (ipvsadm C(--tun-nocsum)/C(--tun-csum)/C(--tun-remcsum)),
                default V(nocsum); V(remcsum) only with V(gue). Linux 5.3 or later.
            type: str
            choices: [nocsum, csum, remcsum]
  rules:
    description:
      - The table as C(ipvsadm-save -n) / C(ipvsadm -S -n) text (C(-A) and C(-a) lines; C(#)
        comments and blank lines are ignored), with C(-t), C(-u), C(--sctp-service) or C(-f) services
        and C(-b) scheduler flags as in O(services[].scheduler_flags). Also understands C(-x)/C(-y) thresholds,
        C(--pe sip) (a C(-A) line without it has no persistence engine) and
        the tunnel options C(--tun-type ipip|gue|gre), C(--tun-port N),
        C(--tun-nocsum|--tun-csum|--tun-remcsum).
      - Mutually exclusive with O(services).
    type: str
  purge:
    description:
      - Remove every service that is not declared.
      - That includes a service whose protocol the modules have no name for (a kernel
        service of protocol number N, listed as C(proto<N>) by M(lvs.cluster.ipvs_info));
        it is removed by its number like any other.
    type: bool
    default: false
seealso:
  - module: lvs.cluster.ipvs_service
  - module: lvs.cluster.ipvs_info
'''

EXAMPLES = r'''
- name: The whole director table, nothing else
  lvs.cluster.ipvs_table:
    purge: true
    services:
      - address: 192.0.2.10
        port: 80
        scheduler: wrr
        realservers:
          - {address: 10.0.0.11, weight: 2}
          - {address: 10.0.0.12}
          - {address: 198.51.100.21, forwarding: tun, tun_type: gue, tun_port: 6080}
      - protocol: fwmark
        fwmark: 7
        persistence_timeout: 300
        realservers:
          - {address: 10.0.0.11}

- name: Migrate an existing ipvsadm rules file
  lvs.cluster.ipvs_table:
    rules: "{{ lookup('ansible.builtin.file', 'files/ipvsadm.rules') }}"
    purge: true
'''

RETURN = r'''
operations:
  description:
    - The kernel operations done (or that would be done in check mode), in order.
    - When the kernel refused some (see RV(refused)), exactly the ones it applied.
  returned: always
  type: list
  elements: str
  sample: ["add service tcp 192.0.2.10:80", "add dest tcp 192.0.2.10:80 realserver 10.0.0.11:80"]
refused:
  description:
    - The operations the kernel refused, in order, when the task failed because of them. The
      other operations of their batch were applied (they are in RV(operations)); the ones
      after it were not sent.
  returned: when the kernel refused an operation
  type: list
  elements: dict
  contains:
    op:
      description: The operation, written as in RV(operations).
      type: str
    error:
      description: The kernel's error, as errno name and what it means.
      type: str
  sample: [{op: "add service tcp 192.0.2.20:80", error: "ENOENT: scheduler twos is not available in this kernel
           (load ip_vs_twos, or pick another)"}]
summary:
  description: Number of operations per kind (the ones applied, when the kernel refused some).
  returned: always
  type: dict
  contains:
    services_added: {description: Services added., type: int}
    services_changed: {description: Services edited in place., type: int}
    services_removed: {description: Services removed., type: int}
    realservers_added: {description: Real servers added., type: int}
    realservers_changed: {description: Real servers edited in place., type: int}
    realservers_removed: {description: Real servers removed., type: int}
  sample: {services_added: 1, services_changed: 0, services_removed: 0,
           realservers_added: 2, realservers_changed: 0, realservers_removed: 0}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_args import (
    REALSERVER_ARGS, SERVICE_KEY_ARGS, SERVICE_SETTING_ARGS, copy_args,
)
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_model import service_key
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_plan import (
    apply_ops_to_table, build_wanted_table, plan_table,
)
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_rules import render_save, wanted_from_rules
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_session import RefusedOps, open_session

_SUMMARY_NAMES = {('add', 'service'): 'services_added', ('set', 'service'): 'services_changed',
                  ('del', 'service'): 'services_removed', ('add', 'dest'): 'realservers_added',
                  ('set', 'dest'): 'realservers_changed', ('del', 'dest'): 'realservers_removed'}


def main():
    service_options = copy_args(SERVICE_KEY_ARGS)
    service_options.update(copy_args(SERVICE_SETTING_ARGS))
    service_options['realservers'] = dict(type='list', elements='dict', default=[],
                                          options=copy_args(REALSERVER_ARGS))
    module = AnsibleModule(
        argument_spec=dict(
            services=dict(type='list', elements='dict', options=service_options),
            rules=dict(type='str'),
            purge=dict(type='bool', default=False),
        ),
        mutually_exclusive=[('services', 'rules')],
        supports_check_mode=True,
    )
    params = module.params

    try:
        if params['rules'] is not None:
            wanted = wanted_from_rules(params['rules'])
        else:
            wanted = build_wanted_table(params['services'] or [])
    except LVSError as exc:
        module.fail_json(msg=str(exc))

    session = open_session(module)
    refusal = None
    try:
        # Real servers are only needed for declared services, unless the diff shows it all.
        keys = None if module._diff else set(service_key(svc) for svc in wanted)
        live = session.table(keys=keys)
        ops = plan_table(live, wanted, purge=params['purge'])
        if ops and not module.check_mode:
            session.apply_all(ops)
    except RefusedOps as exc:
        # The rest of the batch went through: report it as done, then fail.
        refusal = exc
        ops = exc.applied
    except LVSError as exc:
        module.fail_json(msg=str(exc))
    finally:
        session.close()

    summary = dict((name, 0) for name in _SUMMARY_NAMES.values())
    for op in ops:
        summary[_SUMMARY_NAMES[(op.action, op.kind)]] += 1
    result = dict(changed=bool(ops), operations=[op.describe() for op in ops], summary=summary)
    if module._diff:
        result['diff'] = dict(before=render_save(live.values()),
                              after=render_save(apply_ops_to_table(live, ops).values()),
                              before_header='ipvsadm-save -n (before)', after_header='ipvsadm-save -n (after)')
    if refusal is not None:
        module.fail_json(msg=str(refusal), refused=refusal.refused_report(), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
