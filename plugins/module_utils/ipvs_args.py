# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument-spec pieces the ipvs_* modules share, so one option means one thing everywhere."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_model import (
    FORWARDING_NAMES, PERSISTENCE_ENGINES, SCHED_FLAG_NAMES, SCHEDULERS, SERVICE_PROTOCOLS,
)

SERVICE_KEY_ARGS = dict(
    protocol=dict(type='str', default='tcp', choices=list(SERVICE_PROTOCOLS)),
    address=dict(type='str'),
    port=dict(type='int'),
    fwmark=dict(type='int'),
    family=dict(type='str', choices=['ipv4', 'ipv6']),
)

SERVICE_SETTING_ARGS = dict(
    scheduler=dict(type='str', default='wlc', choices=list(SCHEDULERS)),
    scheduler_flags=dict(type='list', elements='str', default=[],
                         choices=list(SCHED_FLAG_NAMES)),
    persistence_timeout=dict(type='int', default=0),
    persistence_netmask=dict(type='str'),
    one_packet=dict(type='bool', default=False),
    # No default: left out, ipvs_service keeps the live engine (ipvs_table: none).
    pe=dict(type='str', choices=list(PERSISTENCE_ENGINES) + ['none']),
)

REALSERVER_ARGS = dict(
    address=dict(type='str', required=True),
    port=dict(type='int'),
    forwarding=dict(type='str', default='dr', choices=list(FORWARDING_NAMES)),
    weight=dict(type='int', default=1),
    upper_threshold=dict(type='int', default=0),
    lower_threshold=dict(type='int', default=0),
    tun_type=dict(type='str', choices=['ipip', 'gue', 'gre']),
    tun_port=dict(type='int'),
    tun_csum=dict(type='str', choices=['nocsum', 'csum', 'remcsum']),
)


def copy_args(spec):
    """A copy a module can change (add required, defaults) without touching the shared spec."""
    return dict((k, dict(v)) for k, v in spec.items())
