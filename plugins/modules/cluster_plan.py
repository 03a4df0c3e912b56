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
version_added: 0.2.0
description:
  - Reads C(lvs_services), C(lvs_keepalived) and the groups C(lvs_directors), C(lvs_realservers) and
    C(lvs_routers) with each member's C(lvs_address), C(lvs_vip_interface), C(lvs_interface) and
    C(lvs_vrrp_priority), validates all of it and sets the fact
    C(lvs_plan) on the host, which says what the director, real server and router roles apply there.
  - Runs on the controller only and touches no host. Every problem found is listed, each naming its variable
    path (for example C(lvs_services[1].realservers[0].port)) and the fix; the task then fails on every host,
    so a play with C(any_errors_fatal) stops before any host is changed.
  - The roles run it themselves when C(lvs_plan) is not set; C(playbooks/site.yml) runs it first for all hosts.
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
'''

RETURN = r'''
ansible_facts:
  description: The derived plan.
  returned: success
  type: dict
  contains:
    lvs_plan:
      description: This host's roles and, per role, what it applies.
      type: dict
      returned: success
      contains:
        roles:
          description: The cluster roles of the host (director, realserver, router).
          type: list
          elements: str
          returned: always
        director:
          description: VIPs, IPVS rules (ipvsadm-save text), kernel modules, NAT and fwmark needs; in
            keepalived mode, C(keepalived) holds what keepalived.conf says (VRRP instance, virtual servers)
            and the VIPs and rules are keepalived's, so empty here.
          type: dict
          returned: on directors
        realserver:
          description: VIPs on lo (DR) and tunl0 (TUN), NAT reply routes, ARP interfaces.
          type: dict
          returned: on real servers
        router:
          description: Routes to VIPs and the rp_filter value.
          type: dict
          returned: on routers
problems:
  description: Every problem found, each naming its variable path.
  returned: failure
  type: list
  elements: str
'''
