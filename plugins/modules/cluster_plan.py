#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: cluster_plan
short_description: Check the whole cluster description on the controller and derive each host's part
version_added: 0.1.0
description:
  - Reads C(lvs_services), C(lvs_keepalived), C(lvs_install_packages) and the groups C(lvs_directors), C(lvs_realservers) and
    C(lvs_routers) with each member's C(lvs_address), C(lvs_vip_interface), C(lvs_interface) and
    C(lvs_vrrp_priority), validates all of it and returns RV(plan), which says what the director, real server and
    router roles apply on the host.
  - Runs on the controller only and touches no host. Every problem found is listed, each naming its variable
    path (for example C(lvs_services[1].realservers[0].port)) and the fix; the task then fails on every host,
    so a play with C(any_errors_fatal) stops before any host is changed.
  - RV(plan) is a result, not a fact, so no fact cache keeps it. The roles read it as the host variable C(lvs_plan),
    which their planning step (the C(common) role's C(plan) tasks, this module and a C(set_fact) that is not
    cacheable) sets; every role plans again when it starts, so a role run alone never applies an older plan.
    C(playbooks/site.yml) plans first for all hosts.
author:
  - lvs.cluster contributors (@lvs-cluster)
options: {}
attributes:
  check_mode:
    support: full
    description: Changes nothing in any mode.
  diff_mode:
    support: N/A
    description: Nothing to show; it changes nothing.
  platform:
    support: full
    platforms: all
    description: Runs on the controller.
notes:
  - The data model is described in the C(director) role's README and in docs/cluster.md.
'''

EXAMPLES = r'''
- name: Check the cluster description and derive this host's part
  lvs.cluster.cluster_plan:
  register: cluster

- name: Keep it as lvs_plan, the name the roles' tasks and templates read (a host variable, not cached)
  ansible.builtin.set_fact:
    lvs_plan: "{{ cluster.plan }}"
    cacheable: false

# What the roles do themselves before anything else:
- name: Plan the cluster on the controller, as the roles do
  ansible.builtin.import_role:
    name: lvs.cluster.common
    tasks_from: plan
'''

RETURN = r'''
plan:
  description: This host's roles and, per role, what it applies (the roles read it as C(lvs_plan)).
  returned: success
  type: dict
  contains:
    roles:
      description: The cluster roles of the host (director, realserver, router).
      type: list
      elements: str
      returned: always
    conf_dir:
      description: Where the roles keep their generated files, C(lvs_conf_dir) (default V(/etc/lvs-cluster)).
      type: str
      returned: always
    packages:
      description:
        - The distribution packages the host's roles use, sorted, nothing else - V(ipvsadm) on a director
          without keepalived (it restores the table at boot), V(keepalived) on a keepalived director,
          V(nftables) on a director with fwmark services, V(python3-pyroute2) where M(lvs.cluster.lvs_vip) or
          M(lvs.cluster.ipip_tunnel) run (directors without keepalived, DR and TUN real servers).
      type: list
      elements: str
      returned: always
      sample: [ipvsadm, python3-pyroute2]
    install_packages:
      description: C(lvs_install_packages) (default V(true)) - the roles install RV(plan.packages) a host lacks.
      type: bool
      returned: always
    director:
      description: VIPs, IPVS rules (ipvsadm-save text), kernel modules, NAT and fwmark needs; in
        keepalived mode, RV(plan.director.keepalived) holds what keepalived.conf says (VRRP instance, virtual servers)
        and the VIPs are keepalived's, so empty here.
      type: dict
      returned: on directors
      contains:
        vips:
          description: The VIPs to put on the director, each once (empty in keepalived mode).
          type: list
          elements: dict
          contains:
            address: {description: The VIP., type: str}
            prefix: {description: Its prefix length (32 or 128)., type: int}
            interface: {description: The director's C(lvs_vip_interface)., type: str}
        rules:
          description: The declared IPVS table as C(ipvsadm-save -n) text (in keepalived mode keepalived
            applies it, from RV(plan.director.keepalived.virtual_servers); the roles do not).
          type: str
        kernel_modules:
          description: C(ip_vs) and the scheduler modules the services use.
          type: list
          elements: str
        nat:
          description: Whether a real server is reached by NAT (the director then forwards).
          type: bool
        ipv6:
          description: Whether a service is IPv6.
          type: bool
        fwmarks:
          description: What the director marks for each fwmark service.
          type: list
          elements: dict
          contains:
            fwmark: {description: The mark., type: int}
            protocol: {description: V(tcp) or V(udp)., type: str}
            address: {description: The VIP the marked traffic is addressed to., type: str}
            family: {description: V(ipv4) or V(ipv6)., type: str}
            ports: {description: The destination ports marked., type: list, elements: int}
        address:
          description: The director's address (from C(lvs_address)), or null.
          type: str
        keepalived:
          description:
            - In keepalived mode only, the values C(keepalived.conf) is rendered from (the VRRP
              instance and the virtual servers), as the director role's template reads them.
            - An interface between the plan and that template, not a stable one.
          type: dict
          returned: in keepalived mode
          contains:
            router_id: {description: "C(router_id) in C(global_defs) (the inventory host name).", type: str}
            instance: {description: "The VRRP instance's name (V(VI_LVS)).", type: str}
            state: {description: "Initial state, V(MASTER) or V(BACKUP).", type: str}
            priority: {description: "VRRP priority (director order or C(lvs_vrrp_priority)).", type: int}
            interface: {description: "VRRP and connection sync interface (C(lvs_interface)).", type: str}
            virtual_router_id: {description: "The VRID.", type: int}
            advert_int: {description: "Seconds between advertisements.", type: float}
            vrrp_version: {description: "2 or 3.", type: int}
            authentication: {description: "Whether PASS authentication is on (the secret is not in the plan).", type: bool}
            nopreempt: {description: "Whether C(nopreempt) is written.", type: bool}
            preempt_delay: {description: "C(preempt_delay) seconds, or null.", type: int}
            unicast_src_ip: {description: "Source of unicast advertisements, or null (multicast, or alone).", type: str}
            unicast_peers: {description: "The other directors' addresses.", type: list, elements: str}
            track_interfaces: {description: "Interfaces tracked besides the VRRP one.", type: list, elements: str}
            virtual_ipaddresses: {description: "C(virtual_ipaddress) lines (address/prefix dev IF).", type: list, elements: str}
            sync_daemon: {description: "Whether C(lvs_sync_daemon) is on.", type: bool}
            notification_email: {description: "Mail recipients.", type: list, elements: str}
            notification_email_from: {description: "Mail sender, or null.", type: str}
            smtp_server: {description: "Mail server, or null.", type: str}
            scripts: {description: "Whether a C(MISC_CHECK) needs script security.", type: bool}
            virtual_servers:
              description: One per service, in C(lvs_services) order, with its real servers and checks.
              type: list
              elements: dict
    realserver:
      description: VIPs on lo (DR) and tunl0 (TUN), NAT reply routes, ARP interfaces.
      type: dict
      returned: on real servers
      contains:
        dr_vips:
          description: VIPs of its DR services, to put on C(lo).
          type: list
          elements: str
        tun_vips:
          description: VIPs of its TUN services, to put on C(tunl0).
          type: list
          elements: str
        nat_replies:
          description: Replies of its NAT services, routed back through the director.
          type: list
          elements: dict
          contains:
            from: {description: The real server's address the replies come from., type: str}
            protocol: {description: V(tcp) or V(udp)., type: str}
            port: {description: The source port of the replies (0 for every port)., type: int}
            via:
              description: The gateway the replies are routed to (the director, or keepalived's NAT gateway VIP).
              type: str
        arp_interfaces:
          description: The interfaces ARP is suppressed on (C(lo), and C(tunl0) with TUN VIPs).
          type: list
          elements: str
        nat_table:
          description: The routing table number of the NAT reply routes.
          type: int
        nat_priority:
          description: The priority of the policy rules that select that table.
          type: int
    router:
      description: Routes to VIPs and the rp_filter value.
      type: dict
      returned: on routers
      contains:
        routes:
          description: Routes to the VIPs outside the router's segment, via the director.
          type: list
          elements: dict
          contains:
            to: {description: The VIP as a host prefix., type: str}
            via: {description: The director's address., type: str}
        rp_filter:
          description: V(2) (loose) when a DR or TUN service sends replies past the router; null to leave it.
          type: int
        ipv6:
          description: Whether a service is IPv6.
          type: bool
problems:
  description: Every problem found, each naming its variable path.
  returned: failure
  type: list
  elements: str
'''
