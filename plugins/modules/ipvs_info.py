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
  - Reads everything in one netlink session with pyroute2; runs no external command and
    changes nothing.
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
    details: Talks to the kernel's IPVS generic netlink family (pyroute2) in the network namespace the module runs in.
requirements:
  - pyroute2 >= 0.9.5
  - the C(ip_vs) kernel module loaded on the target
options: {}
seealso:
  - module: lvs.cluster.ipvs_table
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
    protocol: {description: "tcp, udp or fwmark.", type: str}
    family: {description: ipv4 or ipv6., type: str}
    address: {description: Virtual IP address (null for fwmark)., type: str}
    port: {description: Port (null for fwmark)., type: int}
    fwmark: {description: Firewall mark (null unless fwmark)., type: int}
    scheduler: {description: Scheduler name., type: str}
    scheduler_flags: {description: Scheduler flags., type: list, elements: str}
    persistence_timeout: {description: "Persistence timeout in seconds, 0 when not persistent.", type: int}
    persistence_netmask: {description: "Persistence netmask (IPv4 dotted, IPv6 prefix length).", type: raw}
    one_packet: {description: One-packet scheduling., type: bool}
    stats: {description: "Counters: connections, packets_in, packets_out, bytes_in, bytes_out and the
                          per-second rates.", type: dict}
    realservers:
      description: "Real servers: address, port, forwarding, weight, upper_threshold, lower_threshold,
                    tun_type, tun_port, tun_csum, active_connections, inactive_connections,
                    persistent_connections, stats. The tunnel fields are set where they mean
                    something (tun_type on tun real servers, tun_port with gue, tun_csum with
                    gue and gre) and null elsewhere."
      type: list
      elements: dict
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
      stats: {connections: 12, packets_in: 80, packets_out: 0, bytes_in: 5120, bytes_out: 0}
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
  sample: {tcp: 900, tcpfin: 120, udp: 300}
save:
  description:
    - The table in C(ipvsadm-save -n) format (thresholds added as C(-x)/C(-y) when set).
    - Tunnel real servers as ipvsadm 1.31 writes them, for example
      C(-i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum).
  returned: always
  type: str
  sample: "-A -t 192.0.2.10:80 -s wrr\n-a -t 192.0.2.10:80 -r 10.0.0.11:80 -g -w 2\n"
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lvs.cluster.plugins.module_utils.ipvs import (
    IPVSError, service_sort_key, open_session, public_service, render_save,
)


def main():
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    session = open_session(module)
    try:
        table = session.table(with_stats=True)
        timeouts = session.timeouts()
    except IPVSError as exc:
        module.fail_json(msg=str(exc))
    finally:
        session.close()
    services = sorted(table.values(), key=service_sort_key)
    module.exit_json(changed=False, services=[public_service(svc, with_stats=True) for svc in services],
                     timeouts=timeouts, save=render_save(services))


if __name__ == '__main__':
    main()
