#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: ipvs_info
short_description: Read the IPVS table, connection counters, statistics and timeouts
version_added: 0.1.0
description:
  - Returns every IPVS virtual service of the target's current network namespace with its
    real servers (forwarding, weight, thresholds, active/inactive/persistent connections,
    statistics), the tcp/tcpfin/udp timeouts, and the table as C(ipvsadm-save -n) text.
  - Reads everything in one netlink session; runs no external command and changes nothing.
author:
  - lvs.cluster contributors (@lvs-cluster)
extends_documentation_fragment:
  - lvs.cluster.attributes
  - lvs.cluster.attributes.info_module
  - lvs.cluster.attributes.actiongroup_ipvs
attributes:
  platform:
    support: full
    platforms: linux
    details: Talks to the kernel's IPVS generic netlink family in the network namespace the module runs in.
requirements:
  - the C(ip_vs) kernel module loaded on the target (no Python library beyond the standard one)
options:
  save_thresholds:
    description:
      - Add the real servers' connection thresholds to RV(save) as C(-x N)/C(-y N), after
        the other options of their C(-a) line, where they are set.
      - C(ipvsadm-save) never writes thresholds, so by default RV(save) leaves them out
        and is exactly what C(ipvsadm -S -n) prints; with V(true) the text keeps them when
        fed back to M(lvs.cluster.ipvs_table) or C(ipvsadm-restore).
      - With V(true) the third scheduler flag of an V(sh) or V(mh) service is written too, as
        V(flag-3) (C(ipvsadm -S) writes a bare C(-b) for it, which C(ipvsadm-restore) cannot read).
    type: bool
    default: false
seealso:
  - module: lvs.cluster.ipvs_table
notes:
  - RV(save) follows ipvsadm 1.31, Debian 12's; one exception, firewall marks above
    2147483647 are written as unsigned numbers (ipvsadm 1.31 prints them negative, a bug fixed
    after that release).
'''

EXAMPLES = r'''
- name: Read the table
  lvs.cluster.ipvs_info:
  register: ipvs

- name: Save it the way ipvsadm-save would
  ansible.builtin.copy:
    content: "{{ ipvs.save }}"
    dest: /etc/ipvsadm.rules
    mode: "0644"

- name: Active connections of every real server of the first service
  ansible.builtin.debug:
    msg: "{{ ipvs.services[0].realservers | map(attribute='active_connections') }}"
'''

RETURN = r'''
services:
  description: The virtual services, ordered like C(ipvsadm -L).
  returned: always
  type: list
  elements: dict
  contains:
    protocol:
      description:
        - V(tcp), V(udp), V(sctp) or V(fwmark).
        - C(proto<N>) (for example V(proto253)) for a service of a protocol number the modules have no
          name for (made by another netlink client or a newer kernel); RV(save) writes it as C(ipvsadm -S)
          does, C(--xxx-service ADDRESS:PORT).
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
      description: Persistence engine (ipvsadm C(--pe)), V(sip) or null.
      type: str
    stats:
      description: The service's counters since it was added (or last zeroed with C(ipvsadm -Z)), and the
        kernel's rate estimates.
      type: dict
      contains:
        connections: {description: Connections scheduled., type: int}
        packets_in: {description: Packets in., type: int}
        packets_out: {description: Packets out (replies of DR and TUN real servers bypass the director and are not counted)., type: int}
        bytes_in: {description: Bytes in., type: int}
        bytes_out: {description: Bytes out (as for packets_out)., type: int}
        connections_per_second: {description: The kernel's estimate of connections per second., type: int}
        packets_in_per_second: {description: The kernel's estimate of packets in per second., type: int}
        packets_out_per_second: {description: The kernel's estimate of packets out per second., type: int}
        bytes_in_per_second: {description: The kernel's estimate of bytes in per second., type: int}
        bytes_out_per_second: {description: The kernel's estimate of bytes out per second., type: int}
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
        active_connections:
          description: Active connections (ipvsadm C(ActiveConn)).
          type: int
        inactive_connections:
          description: Inactive connections (ipvsadm C(InActConn)).
          type: int
        persistent_connections:
          description: Persistence templates pointing at this real server (ipvsadm C(--persistent-conn)).
          type: int
        stats:
          description: The real server's counters, as for the service.
          type: dict
          contains:
            connections: {description: Connections scheduled., type: int}
            packets_in: {description: Packets in., type: int}
            packets_out: {description: Packets out (replies of DR and TUN real servers bypass the director and are not counted)., type: int}
            bytes_in: {description: Bytes in., type: int}
            bytes_out: {description: Bytes out (as for packets_out)., type: int}
            connections_per_second: {description: The kernel's estimate of connections per second., type: int}
            packets_in_per_second: {description: The kernel's estimate of packets in per second., type: int}
            packets_out_per_second: {description: The kernel's estimate of packets out per second., type: int}
            bytes_in_per_second: {description: The kernel's estimate of bytes in per second., type: int}
            bytes_out_per_second: {description: The kernel's estimate of bytes out per second., type: int}
  sample:
    - protocol: tcp
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
      stats: {connections: 12, packets_in: 80, packets_out: 0, bytes_in: 5120, bytes_out: 0,
              connections_per_second: 0, packets_in_per_second: 0, packets_out_per_second: 0,
              bytes_in_per_second: 0, bytes_out_per_second: 0}
      realservers:
        - {address: 10.0.0.11, port: 80, forwarding: dr, weight: 2, upper_threshold: 0, lower_threshold: 0,
           tun_type: null, tun_port: null, tun_csum: null,
           active_connections: 1, inactive_connections: 7, persistent_connections: 0, stats: {connections: 8}}
        - {address: 198.51.100.21, port: 80, forwarding: tun, weight: 1, upper_threshold: 0, lower_threshold: 0,
           tun_type: gue, tun_port: 6080, tun_csum: nocsum,
           active_connections: 0, inactive_connections: 0, persistent_connections: 0, stats: {connections: 0}}
timeouts:
  description: Connection timeouts in seconds (C(ipvsadm -L --timeout)).
  returned: always
  type: dict
  contains:
    tcp: {description: Timeout of established TCP connections., type: int}
    tcpfin: {description: Timeout of TCP connections after a FIN., type: int}
    udp: {description: Timeout of UDP flows., type: int}
  sample: {tcp: 900, tcpfin: 120, udp: 300}
save:
  description:
    - The table exactly as C(ipvsadm -S -n) (C(ipvsadm-save -n), ipvsadm 1.31) prints it, byte
      for byte, so the two can be diffed; with O(save_thresholds=true) the real servers'
      thresholds are added as C(-x)/C(-y).
    - Options in ipvsadm's order, for example C(-A -u 192.0.2.10:5060 -s rr -p 60 -M 255.255.255.0 --pe sip -o),
      C(-A --sctp-service 192.0.2.20:3868 -s rr -b flag-1,flag-3)
      and C(-a -t 192.0.2.10:80 -r 198.51.100.21:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum).
    - Services and real servers in ipvsadm's order (not the kernel's), by firewall mark, family,
      protocol, address and port, compared as ipvsadm does, which puts addresses more than half
      the address space apart the other way round (V(192.168.0.1) before V(10.0.0.1)).
  returned: always
  type: str
  sample: "-A -t 192.0.2.10:80 -s wrr\n-a -t 192.0.2.10:80 -r 10.0.0.11:80 -g -w 2\n"
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_model import public_service
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_rules import ipvsadm_service_order, render_listed
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_session import open_session


def main():
    module = AnsibleModule(argument_spec=dict(save_thresholds=dict(type='bool', default=False)),
                           supports_check_mode=True)
    session = open_session(module)
    try:
        table = session.table(with_stats=True)
        timeouts = session.timeouts()
    except LVSError as exc:
        module.fail_json(msg=str(exc))
    finally:
        session.close()
    # The kernel's dump order in, ipvsadm's order out (it depends on the input order);
    # sorted once, for the list and the text alike, as ipvsadm does.
    services = ipvsadm_service_order(table.values())
    module.exit_json(changed=False, services=[public_service(svc, with_stats=True) for svc in services],
                     timeouts=timeouts, save=render_listed(services, thresholds=module.params['save_thresholds']))


if __name__ == '__main__':
    main()
