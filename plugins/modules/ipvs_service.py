#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: ipvs_service
short_description: Manage one IPVS virtual service (ipvsadm -A/-E/-D), optionally with its real servers
version_added: 0.1.0
description:
  - Creates, changes in place or removes one Linux Virtual Server (IPVS) virtual service
    in the kernel of the target host (in its current network namespace).
  - Talks to the kernel over generic netlink with Python's own socket module; runs no external command.
  - Settings are declarative, options left out take the ipvsadm defaults (for example
    O(scheduler=wlc), not persistent).
  - A changed service is edited in place (netlink SET), never deleted and re-added, so
    established connections keep flowing.
  - With O(realservers) one task makes the service and its real servers exactly so;
    O(purge_realservers=true) removes real servers that are not listed.
  - All input is validated before the kernel is touched.
author:
  - lvs.cluster contributors (@lvs-cluster)
extends_documentation_fragment:
  - lvs.cluster.attributes
  - lvs.cluster.attributes.actiongroup_ipvs
attributes:
  check_mode:
    support: full
    details: The plan is made from the live table and reported in RV(operations); nothing is sent to the kernel.
  diff_mode:
    support: full
    details: The service with its real servers before and after, as C(ipvsadm-save -n) lines.
  platform:
    support: full
    platforms: linux
    details: Talks to the kernel's IPVS generic netlink family in the network namespace the module runs in.
requirements:
  - the C(ip_vs) kernel module loaded on the target (no Python library beyond the standard one)
options:
  protocol:
    description:
      - V(tcp), V(udp) or V(sctp) virtual service on O(address) and O(port), or V(fwmark)
        for a service selected by a firewall mark (O(fwmark)).
      - V(sctp) needs the kernel's IPVS SCTP support (C(CONFIG_IP_VS_PROTO_SCTP), built into
        Debian's and most distributions' kernels).
    type: str
    choices: [tcp, udp, sctp, fwmark]
    default: tcp
  address:
    description:
      - Virtual IP address (IPv4 or IPv6) of a V(tcp), V(udp) or V(sctp) service.
      - Not allowed with O(protocol=fwmark).
    type: str
  port:
    description:
      - Port of a V(tcp), V(udp) or V(sctp) service, 0..65535.
      - V(0) means all ports and is only allowed for a persistent service
        (O(persistence_timeout) > 0), the classic persistent-client setup.
      - Not allowed with O(protocol=fwmark).
    type: int
  fwmark:
    description:
      - Firewall mark (1..4294967295) of a O(protocol=fwmark) service.
    type: int
  family:
    description:
      - Address family of a O(protocol=fwmark) service. For V(tcp)/V(udp)/V(sctp) the
        address decides; if given it must agree with O(address).
    type: str
    choices: [ipv4, ipv6]
  scheduler:
    description:
      - Scheduling algorithm. The kernel module C(ip_vs_NAME) must be available
        (V(twos) needs Linux 6.5 or later).
    type: str
    choices: [rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, mh, fo, ovf, twos]
    default: wlc
  scheduler_flags:
    description:
      - Scheduler flags (ipvsadm C(-b)). V(flag-1), V(flag-2), V(flag-3) are the kernel's
        three scheduler flag bits and go with any scheduler (a scheduler that gives a bit
        no meaning stores it all the same). V(sh-fallback)/V(sh-port) are the first two bits
        by their names for O(scheduler=sh), only with it; V(mh-fallback)/V(mh-port) the
        same for O(scheduler=mh).
      - Returned as C(ipvsadm -S) names them, so V(flag-1) given with O(scheduler=sh)
        comes back as V(sh-fallback).
    type: list
    elements: str
    choices: [flag-1, flag-2, flag-3, mh-fallback, mh-port, sh-fallback, sh-port]
    default: []
  persistence_timeout:
    description:
      - Seconds a client sticks to the same real server (ipvsadm C(-p)); V(0) means not
        persistent.
    type: int
    default: 0
  persistence_netmask:
    description:
      - Persistence granularity (ipvsadm C(-M)), clients within this netmask share a real
        server. IPv4 as a dotted mask or prefix length (V(255.255.255.0) or V(24)),
        IPv6 as a prefix length 1..128. Needs O(persistence_timeout).
      - Default is a single client address (/32 or /128).
    type: str
  one_packet:
    description:
      - One-packet scheduling (ipvsadm C(-o)), schedule every UDP datagram on its own.
        Only for V(udp) and V(fwmark) services (the kernel applies it to UDP only).
    type: bool
    default: false
  pe:
    description:
      - Persistence engine (ipvsadm C(--pe)). V(sip) keeps the messages of one SIP call
        (the same Call-ID) on one real server instead of grouping by client address; V(none)
        removes the engine.
      - Needs O(persistence_timeout), and O(protocol=udp) or O(protocol=fwmark); the engine
        reads the Call-ID from UDP datagrams only (with V(tcp) or V(sctp) the kernel would drop
        every packet, so those are refused).
      - Left out, the service keeps the engine it has (none for a new one).
      - The kernel module C(ip_vs_pe_sip) must be available (the kernel loads it on demand
        where it can; otherwise C(modprobe ip_vs_pe_sip)).
    type: str
    choices: [sip, none]
  realservers:
    description:
      - Real servers the service must have, each made exactly as described (defaults
        apply to options left out).
      - Left out, real servers are not managed by this task.
    type: list
    elements: dict
    suboptions:
      address:
        description: Real server IP address, same family as the service.
        type: str
        required: true
      port:
        description:
          - Real server port. Defaults to the service port.
          - A different port (port mapping) only works with O(realservers[].forwarding=nat).
        type: int
      forwarding:
        description: Forwarding method, V(dr) direct routing, V(nat) masquerading, V(tun) tunnel (see O(realservers[].tun_type)).
        type: str
        choices: [nat, dr, tun]
        default: dr
      weight:
        description: Weight 0..65535; V(0) takes no new connections.
        type: int
        default: 1
      upper_threshold:
        description: Upper connection threshold (ipvsadm C(-x)), V(0) = no limit.
        type: int
        default: 0
      lower_threshold:
        description: Lower connection threshold (ipvsadm C(-y)), V(0) = none; must not exceed the upper one.
        type: int
        default: 0
      tun_type:
        description:
          - Tunnel encapsulation of a V(tun) real server (ipvsadm C(--tun-type)), V(ipip)
            (default), V(gue) (needs O(realservers[].tun_port)) or V(gre). Linux 5.2 or later (V(gre) 5.3).
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
  purge_realservers:
    description:
      - Remove real servers of this service that are not in O(realservers).
        Needs O(realservers) (use V([]) to remove them all).
    type: bool
    default: false
  state:
    description:
      - V(present) makes the service exist as described, V(absent) removes it (with its
        real servers).
    type: str
    choices: [present, absent]
    default: present
seealso:
  - module: lvs.cluster.ipvs_realserver
  - module: lvs.cluster.ipvs_table
  - module: lvs.cluster.ipvs_info
'''

EXAMPLES = r'''
- name: Web VIP, weighted round robin, two DR real servers, nothing else
  lvs.cluster.ipvs_service:
    address: 192.0.2.10
    port: 80
    scheduler: wrr
    realservers:
      - address: 10.0.0.11
        weight: 2
      - address: 10.0.0.12
    purge_realservers: true

- name: Persistent all-ports service (one client always hits the same server)
  lvs.cluster.ipvs_service:
    address: 192.0.2.10
    port: 0
    persistence_timeout: 600
    persistence_netmask: 255.255.255.0

- name: Firewall-mark service over IPv6, source hashing with fallback
  lvs.cluster.ipvs_service:
    protocol: fwmark
    fwmark: 10
    family: ipv6
    scheduler: sh
    scheduler_flags: [sh-fallback]

- name: DNS with one-packet scheduling
  lvs.cluster.ipvs_service:
    protocol: udp
    address: 2001:db8::53
    port: 53
    one_packet: true

- name: An SCTP service (Diameter) whose round-robin scheduler carries a flag set by other tooling
  lvs.cluster.ipvs_service:
    protocol: sctp
    address: 192.0.2.20
    port: 3868
    scheduler: rr
    scheduler_flags: [flag-1]
    realservers:
      - {address: 10.0.0.21}
      - {address: 10.0.0.22}

- name: Real servers behind GUE and GRE tunnels
  lvs.cluster.ipvs_service:
    address: 192.0.2.10
    port: 80
    realservers:
      - {address: 198.51.100.21, forwarding: tun, tun_type: gue, tun_port: 6080}
      - {address: 198.51.100.22, forwarding: tun, tun_type: gre, tun_csum: csum}

- name: Remove a service
  lvs.cluster.ipvs_service:
    address: 192.0.2.10
    port: 80
    state: absent
'''

RETURN = r'''
service:
  description: The service as it is now (in check mode, as it would be); empty when absent.
  returned: always
  type: dict
  contains:
    protocol:
      description: V(tcp), V(udp), V(sctp) or V(fwmark).
      type: str
    family:
      description: V(ipv4) or V(ipv6).
      type: str
    address:
      description: Virtual IP address; null for a V(fwmark) service.
      type: str
    port:
      description: Port, V(0) for all ports; null for a V(fwmark) service.
      type: int
    fwmark:
      description: Firewall mark; null unless V(fwmark).
      type: int
    scheduler:
      description: Scheduler name.
      type: str
    scheduler_flags:
      description: Scheduler flags, named as C(ipvsadm -S) names them for the scheduler (V(sh-port) for V(sh),
        V(flag-2) for V(rr)); the third flag of V(sh) and V(mh) is V(flag-3).
      type: list
      elements: str
    persistence_timeout:
      description: Persistence timeout in seconds, V(0) when not persistent.
      type: int
    persistence_netmask:
      description: Persistence netmask, dotted for IPv4 (V(255.255.255.255) by default), a prefix length for IPv6 (V(128)).
      type: raw
    one_packet:
      description: One-packet scheduling.
      type: bool
    pe:
      description: Persistence engine, V(sip) or null.
      type: str
    realservers:
      description: Its real servers, ordered by address and port.
      type: list
      elements: dict
      contains:
        address:
          description: IP address of the real server.
          type: str
        port:
          description: Port of the real server.
          type: int
        forwarding:
          description: Forwarding method, V(nat), V(dr) or V(tun).
          type: str
        weight:
          description: Weight, V(0) takes no new connections.
          type: int
        upper_threshold:
          description: Upper connection threshold, V(0) = no limit.
          type: int
        lower_threshold:
          description: Lower connection threshold.
          type: int
        tun_type:
          description: Tunnel type of a V(tun) real server (V(ipip), V(gue) or V(gre)); null for the other forwarding methods.
          type: str
        tun_port:
          description: UDP port of a V(gue) real server; null for the other tunnel types and forwarding methods.
          type: int
        tun_csum:
          description: Tunnel checksum of a V(gue) or V(gre) real server (V(nocsum), V(csum) or V(remcsum)); null otherwise.
          type: str
  sample:
    protocol: tcp
    family: ipv4
    address: 192.0.2.10
    port: 80
    fwmark: null
    scheduler: wrr
    scheduler_flags: []
    persistence_timeout: 0
    persistence_netmask: 255.255.255.255
    one_packet: false
    pe: null
    realservers:
      - {address: 10.0.0.11, port: 80, forwarding: dr, weight: 2, upper_threshold: 0, lower_threshold: 0,
         tun_type: null, tun_port: null, tun_csum: null}
operations:
  description:
    - The kernel operations done (or, in check mode, that would be done), in order.
    - When the kernel refused some (see RV(refused)), exactly the ones it applied.
  returned: always
  type: list
  elements: str
  sample: ["add service tcp 192.0.2.10:80", "add dest tcp 192.0.2.10:80 realserver 10.0.0.11:80"]
refused:
  description:
    - The operations the kernel refused, in order, when the task failed because of them. The
      kernel applies or refuses each operation on its own; the others sent with them were
      applied (they are in RV(operations), RV(service) shows the result); the ones after
      their batch of 256 were not sent.
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
  sample: [{op: "set service tcp 192.0.2.10:80", error: "ENOENT: scheduler twos is not available in this kernel
           (load ip_vs_twos, or pick another)"}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_args import (
    REALSERVER_ARGS, SERVICE_KEY_ARGS, SERVICE_SETTING_ARGS, copy_args,
)
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_model import (
    normalize_service_key, public_service, service_key,
)
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_plan import (
    apply_ops_to_table, build_wanted_service, order_ops, plan_service,
)
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_rules import render_service_lines
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_session import RefusedOps, open_session


def _text(svc):
    return ''.join(line + '\n' for line in render_service_lines(svc)) if svc else ''


def main():
    argument_spec = copy_args(SERVICE_KEY_ARGS)
    argument_spec.update(copy_args(SERVICE_SETTING_ARGS))
    argument_spec.update(
        realservers=dict(type='list', elements='dict', options=copy_args(REALSERVER_ARGS)),
        purge_realservers=dict(type='bool', default=False),
        state=dict(type='str', default='present', choices=['present', 'absent']),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params

    try:
        if params['purge_realservers'] and params['realservers'] is None:
            raise LVSError("purge_realservers: needs realservers (use realservers: [] to remove all)")
        if params['state'] == 'absent':
            # Only the key matters for removal; settings are not required to be valid then.
            wanted = normalize_service_key(params)
        else:
            wanted = build_wanted_service(params)
    except LVSError as exc:
        module.fail_json(msg=str(exc))

    key = service_key(wanted)
    session = open_session(module)
    refusal = None
    try:
        live = session.table(keys=set([key])).get(key)
        if params['state'] == 'absent':
            ops = plan_service(live, None)
        else:
            ops = plan_service(live, wanted, manage_realservers=params['realservers'] is not None,
                               purge_realservers=params['purge_realservers'])
        ops = order_ops(ops)
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

    before = {key: live} if live else {}
    after = apply_ops_to_table(before, ops).get(key)
    result = dict(changed=bool(ops), operations=[op.describe() for op in ops],
                  service=public_service(after) if after else {})
    if module._diff:
        result['diff'] = dict(before=_text(live), after=_text(after),
                              before_header='ipvsadm-save -n (before)', after_header='ipvsadm-save -n (after)')
    if refusal is not None:
        module.fail_json(msg=str(refusal), refused=refusal.refused_report(), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
