# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the operation playbooks (playbooks/drain.yml, rolling.yml, status.yml).

Thin adapters from play variables to module_utils/cluster_ops.py, where the logic and its
unit tests live:

- lvs.cluster.drain_targets:
  lvs_plan.director | lvs.cluster.drain_targets(host, groups['lvs_realservers'], hostvars,
  state, timeout) -> the real server's entries in this director's table (fails naming
  lvs_drain_host, lvs_drain_state or lvs_drain_timeout and the fix).
- lvs.cluster.rolling_order:
  lvs_plan.director | lvs.cluster.rolling_order(hosts, groups['lvs_realservers'], hostvars,
  command, timeout) -> the real servers playbooks/rolling.yml restarts, in order, each with
  its entries and the ports to check (fails naming lvs_rolling_hosts, lvs_rolling_command
  or lvs_drain_timeout and the fix).
- lvs.cluster.status_lines:
  hostvars | lvs.cluster.status_lines(ansible_play_hosts, groups['lvs_directors']) -> the
  summary lines, from each answering director's lvs_plan and the results status.yml
  registers there: lvs_status_ipvs (lvs.cluster.ipvs_info) and lvs_status_addresses
  (ip -o addr).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.lvs.cluster.plugins.module_utils.cluster_ops import (
    OpsError, drain_targets, rolling_order, status_lines,
)


def _addresses(realservers, hostvars):
    """{host: lvs_address} of the lvs_realservers group, in the group's order."""
    return dict((name, hostvars[name].get('lvs_address')) for name in realservers or [])


def _drain_targets(director, host, realservers, hostvars, state='drained', timeout=300):
    try:
        return drain_targets(director or {}, host, _addresses(realservers, hostvars), state, timeout)
    except OpsError as exc:
        raise AnsibleFilterError(str(exc))


def _rolling_order(director, hosts, realservers, hostvars, command, timeout=300):
    try:
        return rolling_order(director or {}, hosts, _addresses(realservers, hostvars), command, timeout)
    except OpsError as exc:
        raise AnsibleFilterError(str(exc))


def _status_lines(hostvars, answered, directors):
    found = []
    for name in answered:
        hv = hostvars[name]
        ipvs = hv.get('lvs_status_ipvs') or {}
        addresses = hv.get('lvs_status_addresses') or {}
        found.append({'name': name, 'plan': (hv.get('lvs_plan') or {}).get('director') or {},
                      'services': ipvs.get('services') or [],
                      'addresses': addresses.get('stdout') or '', 'save': ipvs.get('save')})
    return status_lines(found, list(directors or []))


class FilterModule(object):
    def filters(self):
        return {'drain_targets': _drain_targets, 'rolling_order': _rolling_order, 'status_lines': _status_lines}
