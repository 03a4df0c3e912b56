#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: ipvs_realserver
short_description: Manage one real server of an IPVS service (ipvsadm -a/-e/-d), including draining
version_added: 0.1.0
description:
  - Adds, changes in place (netlink SET) or removes one real server (destination) of an
    existing IPVS virtual service, in the target's current network namespace.
  - O(state=drained) sets the weight to 0, so the real server takes no new connections,
    and waits until its active and inactive connections reach 0 (bounded by
    O(drain_timeout)) - the safe way to take a real server out for maintenance.
  - Options left out keep the real server's current value when it exists, and take the
    ipvsadm defaults (O(forwarding=dr), O(weight=1), no thresholds, O(tun_type=ipip)) when it is added.
    Every change (a weight edit too) sends the real server's tunnel type, port and checksum
    setting along, so a V(gue) or V(gre) real server stays one.
  - Talks to the kernel over generic netlink with Python's own socket module; runs no external command.
    All input is validated before the kernel is touched.
author:
  - lvs.cluster contributors (@lvs-cluster)
extends_documentation_fragment:
  - lvs.cluster.attributes
  - lvs.cluster.attributes.actiongroup_ipvs
attributes:
  check_mode:
    support: partial
    details:
      - The plan is made from the live table and reported in RV(operations); nothing is sent to the kernel.
      - With O(state=drained), check mode reports the weight change to V(0) but neither makes it nor waits for the
        connections to end, so it cannot tell whether the drain would end within O(drain_timeout), and
        RV(connections) is not returned.
  diff_mode:
    support: full
    details: The real server before and after, as an C(ipvsadm-save -n) line.
  platform:
    support: full
    platforms: linux
    details: Talks to the kernel's IPVS generic netlink family in the network namespace the module runs in.
requirements:
  - the C(ip_vs) kernel module loaded on the target (no Python library beyond the standard one)
options:
  protocol:
    description: Protocol of the service, V(tcp), V(udp), V(sctp) or V(fwmark).
    type: str
    choices: [tcp, udp, sctp, fwmark]
    default: tcp
  service_address:
    description: Virtual IP address of the V(tcp)/V(udp)/V(sctp) service.
    type: str
  service_port:
    description: Port of the V(tcp)/V(udp)/V(sctp) service (V(0) for an all-ports persistent service).
    type: int
  fwmark:
    description: Firewall mark of a O(protocol=fwmark) service.
    type: int
  family:
    description: Address family of a O(protocol=fwmark) service.
    type: str
    choices: [ipv4, ipv6]
  address:
    description: IP address of the real server, same family as the service.
    type: str
    required: true
  port:
    description:
      - Port of the real server; defaults to the service port (0 for fwmark services).
      - A port different from the service port (port mapping) is only possible with
        O(forwarding=nat); it is refused for V(dr) and V(tun).
    type: int
  forwarding:
    description:
      - Forwarding method, V(dr) direct routing (default for a new real server),
        V(nat) masquerading, V(tun) ipip tunnelling.
    type: str
    choices: [nat, dr, tun]
  weight:
    description:
      - Weight 0..65535 (default 1 for a new real server). Ignored with O(state=drained),
        which sets 0.
    type: int
  upper_threshold:
    description: Upper connection threshold (ipvsadm C(-x)); V(0) means no limit.
    type: int
  lower_threshold:
    description: Lower connection threshold (ipvsadm C(-y)); must not exceed the upper one.
    type: int
  tun_type:
    description:
      - Tunnel encapsulation of a O(forwarding=tun) real server (ipvsadm C(--tun-type)),
        V(ipip) (default for a new one), V(gue) (UDP, needs O(tun_port)) or V(gre).
        Linux 5.2 or later (V(gre) 5.3).
      - Refused with another forwarding method.
    type: str
    choices: [ipip, gue, gre]
  tun_port:
    description:
      - UDP port 1..65535 the real server receives GUE on (ipvsadm C(--tun-port)).
        Required with O(tun_type=gue) (unless the real server already has one), refused
        with the other types.
    type: int
  tun_csum:
    description:
      - Tunnel checksum (ipvsadm C(--tun-nocsum), C(--tun-csum), C(--tun-remcsum)),
        V(nocsum) (the kernel's default), V(csum), or V(remcsum) (remote checksum offload,
        V(gue) only). Not for V(ipip). Linux 5.3 or later.
    type: str
    choices: [nocsum, csum, remcsum]
  state:
    description:
      - V(present) adds or changes the real server, V(absent) removes it, V(drained)
        sets its weight to 0 and waits for its connections to end.
      - A real server that does not exist counts as drained (with a warning).
    type: str
    choices: [present, absent, drained]
    default: present
  drain_timeout:
    description:
      - With O(state=drained), seconds to wait for active + inactive connections to
        reach 0. The task fails when they have not by then (the weight stays 0).
      - V(0) only sets the weight, without waiting.
    type: int
    default: 300
seealso:
  - module: lvs.cluster.ipvs_service
  - module: lvs.cluster.ipvs_info
'''

EXAMPLES = r'''
- name: NAT real server with port mapping 80 -> 8080
  lvs.cluster.ipvs_realserver:
    service_address: 192.0.2.10
    service_port: 80
    address: 10.0.0.11
    port: 8080
    forwarding: nat
    weight: 2

- name: Take a real server out for maintenance (wait up to 10 minutes)
  lvs.cluster.ipvs_realserver:
    service_address: 192.0.2.10
    service_port: 80
    address: 10.0.0.11
    port: 8080
    state: drained
    drain_timeout: 600

- name: Put it back
  lvs.cluster.ipvs_realserver:
    service_address: 192.0.2.10
    service_port: 80
    address: 10.0.0.11
    port: 8080
    weight: 2

- name: GUE tunnel real server (its fou listener on UDP 6080)
  lvs.cluster.ipvs_realserver:
    service_address: 192.0.2.10
    service_port: 80
    address: 198.51.100.21
    forwarding: tun
    tun_type: gue
    tun_port: 6080
    tun_csum: csum

- name: Change its weight only (it stays a GUE real server on port 6080)
  lvs.cluster.ipvs_realserver:
    service_address: 192.0.2.10
    service_port: 80
    address: 198.51.100.21
    weight: 3

- name: Real server of a firewall-mark service
  lvs.cluster.ipvs_realserver:
    protocol: fwmark
    fwmark: 10
    address: 10.0.0.12
'''

RETURN = r'''
realserver:
  description: The real server as it is now (in check mode, as it would be); empty when absent.
  returned: always
  type: dict
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
  sample: {address: 10.0.0.11, port: 8080, forwarding: nat, weight: 2, upper_threshold: 0, lower_threshold: 0,
           tun_type: null, tun_port: null, tun_csum: null}
operations:
  description: The kernel operations done (or that would be done in check mode); none when the kernel refused it.
  returned: always
  type: list
  elements: str
  sample: ["set dest tcp 192.0.2.10:80 realserver 10.0.0.11:8080"]
refused:
  description: The operation the kernel refused, when the task failed because of it.
  returned: when the kernel refused the operation
  type: list
  elements: dict
  contains:
    op:
      description: The operation, written as in RV(operations).
      type: str
    error:
      description: The kernel's error, as errno name and what it means.
      type: str
  sample: [{op: "add dest tcp 192.0.2.10:80 realserver 10.0.0.255:80", error: "EINVAL: Invalid argument"}]
connections:
  description: With O(state=drained), the active and inactive connections seen last, and whether they reached 0.
  returned: when state is drained, drain_timeout is above 0 and not in check mode
  type: dict
  contains:
    active_connections:
      description: Active connections (ipvsadm C(ActiveConn)).
      type: int
    inactive_connections:
      description: Inactive connections (ipvsadm C(InActConn)).
      type: int
    drained:
      description: Whether both reached 0 within O(drain_timeout); when false the task fails.
      type: bool
  sample: {active_connections: 0, inactive_connections: 0, drained: true}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_model import (
    MAX_TIMEOUT, SERVICE_PROTOCOLS, TUN_FIELDS, dest_key, format_service_key, normalize_realserver,
    normalize_service_key, public_dest, service_key,
)
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_plan import plan_dest
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_rules import render_service_lines
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_session import RefusedOps, open_session, wait_drained

_DEST_OPTIONS = ('address', 'port', 'forwarding', 'weight', 'upper_threshold', 'lower_threshold') + TUN_FIELDS
# Until the live real server is read, tunnel options are checked against the most
# permissive tunnel it could have (gue with a port).
_ANY_TUNNEL = {'tun_type': 'gue', 'tun_port': 1}


def _text(svc, dest):
    if dest is None:
        return ''
    return render_service_lines(dict(svc, realservers={dest_key(dest): dest}))[1] + '\n'


def _service_option_names(msg):
    # The shared validator names the service's address/port "address"/"port"; here
    # those options are service_address/service_port.
    for name in ('address', 'port'):
        if msg.startswith(name + ':'):
            return 'service_' + msg
    return msg


def main():
    module = AnsibleModule(
        argument_spec=dict(
            protocol=dict(type='str', default='tcp', choices=list(SERVICE_PROTOCOLS)),
            service_address=dict(type='str'),
            service_port=dict(type='int'),
            fwmark=dict(type='int'),
            family=dict(type='str', choices=['ipv4', 'ipv6']),
            address=dict(type='str', required=True),
            port=dict(type='int'),
            forwarding=dict(type='str', choices=['nat', 'dr', 'tun']),
            weight=dict(type='int'),
            upper_threshold=dict(type='int'),
            lower_threshold=dict(type='int'),
            tun_type=dict(type='str', choices=['ipip', 'gue', 'gre']),
            tun_port=dict(type='int'),
            tun_csum=dict(type='str', choices=['nocsum', 'csum', 'remcsum']),
            state=dict(type='str', default='present', choices=['present', 'absent', 'drained']),
            drain_timeout=dict(type='int', default=300),
        ),
        supports_check_mode=True,
    )
    params = module.params
    wanted_params = dict((name, params[name]) for name in _DEST_OPTIONS)
    if params['state'] == 'drained':
        wanted_params['weight'] = 0

    # Validate everything that does not depend on the live table before opening netlink.
    try:
        svc = normalize_service_key(dict(protocol=params['protocol'], address=params['service_address'],
                                         port=params['service_port'], fwmark=params['fwmark'],
                                         family=params['family']))
    except LVSError as exc:
        module.fail_json(msg=_service_option_names(str(exc)))
    try:
        if not 0 <= params['drain_timeout'] <= MAX_TIMEOUT:
            raise LVSError("drain_timeout: %d is out of range, use 0..%d" % (params['drain_timeout'], MAX_TIMEOUT))
        # The forwarding method may come from the live real server; until it is read,
        # check the rest with the most permissive one (nat, or tun with tunnel options).
        tunnel = any(params[name] is not None for name in TUN_FIELDS)
        forwarding = params['forwarding'] or ('tun' if tunnel else 'nat')
        wanted = normalize_realserver(dict(wanted_params, forwarding=forwarding), svc, base=_ANY_TUNNEL)
    except LVSError as exc:
        module.fail_json(msg=str(exc))

    key = service_key(svc)
    session = open_session(module)
    result = dict(changed=False, operations=[])
    try:
        live_svc = session.table(keys=set([key])).get(key)
        if live_svc is None:
            if params['state'] == 'present':
                raise LVSError("service_address: the service %s does not exist; create it first "
                               "(lvs.cluster.ipvs_service)" % format_service_key(key))
            if params['state'] == 'drained':
                module.warn("service %s does not exist: nothing to drain" % format_service_key(key))
            module.exit_json(realserver={}, **result)
        live = live_svc['realservers'].get(dest_key(wanted))
        if params['state'] == 'absent':
            ops = plan_dest(live_svc, live, None)
            after = None
        elif params['state'] == 'drained' and live is None:
            module.warn("real server %s:%d of %s does not exist: nothing to drain"
                        % (wanted['address'], wanted['port'], format_service_key(key)))
            module.exit_json(realserver={}, **result)
        else:
            # Options left out keep their live value; validate again against it.
            after = normalize_realserver(wanted_params, svc, base=live)
            ops = plan_dest(live_svc, live, after)
        if ops and not module.check_mode:
            session.apply_all(ops)
        result['changed'] = bool(ops)
        result['operations'] = [op.describe() for op in ops]
        result['realserver'] = public_dest(after) if after else {}
        if module._diff:
            result['diff'] = dict(before=_text(live_svc, live), after=_text(live_svc, after))
        if params['state'] == 'drained' and not module.check_mode and params['drain_timeout'] > 0:
            counts = wait_drained(session, live_svc, after, params['drain_timeout'])
            result['connections'] = counts
            if not counts['drained']:
                module.fail_json(msg="realserver %s:%d still has %d active and %d inactive connections "
                                 "after drain_timeout=%ds (its weight is 0 now)"
                                 % (after['address'], after['port'], counts['active_connections'],
                                    counts['inactive_connections'], params['drain_timeout']), **result)
    except RefusedOps as exc:
        result.update(changed=bool(exc.applied), operations=[op.describe() for op in exc.applied])
        module.fail_json(msg=str(exc), refused=exc.refused_report(), **result)
    except LVSError as exc:
        module.fail_json(msg=str(exc), **result)
    finally:
        session.close()
    module.exit_json(**result)


if __name__ == '__main__':
    main()
