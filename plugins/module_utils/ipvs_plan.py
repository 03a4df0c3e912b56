# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan: what to add, change and delete to turn a live IPVS table into the wanted one.

Modules build the wanted services from their options, read the live table, plan, and
only then apply, so bad input never leaves a half-changed table; check mode and the diff
show the table the plan leads to.  Pure: no kernel.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_model import (
    DEST_SETTINGS, TUN_FIELDS, dest_key, format_hostport, format_service_key, managed_tun_fields,
    normalize_realserver, normalize_service, service_key, service_sort_key,
)


def _service_settings(svc):
    persistent = bool(svc['persistence_timeout'])
    # Timeout and netmask mean nothing (and ipvsadm leaves junk there) unless persistent.
    return (svc['scheduler'], tuple(svc['scheduler_flags']), svc['persistence_timeout'],
            svc['persistence_netmask'] if persistent else None, svc['one_packet'], svc.get('pe'))


def _dest_settings(dest):
    managed = managed_tun_fields(dest)
    return (tuple(dest[name] for name in DEST_SETTINGS)
            + tuple(dest[name] if name in managed else None for name in TUN_FIELDS))


def _keep_unmanaged(wanted, live):
    """WANTED with the live values of the tunnel fields it does not manage: a SET carries
    every tunnel attribute (the kernel resets the ones left out), so it must carry those
    as they are."""
    managed = managed_tun_fields(wanted)
    if len(managed) == len(TUN_FIELDS):
        return wanted
    dest = dict(wanted)
    for name in TUN_FIELDS:
        if name not in managed:
            dest[name] = live[name]
    return dest


class Op(object):
    """One kernel operation.  ACTION is add/set/del; KIND is service/dest."""
    __slots__ = ('action', 'kind', 'service', 'dest')

    def __init__(self, action, kind, service, dest=None):
        self.action = action
        self.kind = kind
        self.service = service
        self.dest = dest

    def describe(self):
        text = '%s %s %s' % (self.action, self.kind, format_service_key(service_key(self.service)))
        if self.dest is not None:
            text += ' realserver %s' % format_hostport(self.service['family'], self.dest['address'],
                                                       self.dest['port'])
        return text

    def __repr__(self):
        return '<Op %s>' % self.describe()


def plan_service(live_svc, wanted_svc, manage_realservers=False, purge_realservers=False):
    """Operations to turn LIVE_SVC (None if absent) into WANTED_SVC (None = remove)."""
    ops = []
    if wanted_svc is None:
        if live_svc is not None:
            ops.append(Op('del', 'service', live_svc))
        return ops
    if 'pe' not in wanted_svc:
        # The persistence engine is not managed here: keep the live one (a SET without it
        # would remove it).
        wanted_svc = dict(wanted_svc, pe=live_svc.get('pe') if live_svc else None)
    if live_svc is None:
        ops.append(Op('add', 'service', wanted_svc))
        live_dests = {}
    else:
        if _service_settings(live_svc) != _service_settings(wanted_svc):
            ops.append(Op('set', 'service', wanted_svc))
        live_dests = live_svc.get('realservers', {})
    if manage_realservers:
        wanted_dests = wanted_svc.get('realservers', {})
        for key, dest in wanted_dests.items():
            ops.extend(plan_dest(wanted_svc, live_dests.get(key), dest))
        if purge_realservers:
            for key in sorted(live_dests):
                if key not in wanted_dests:
                    ops.append(Op('del', 'dest', wanted_svc, live_dests[key]))
    return ops


def plan_dest(svc, live_dest, wanted_dest):
    if wanted_dest is None:
        return [Op('del', 'dest', svc, live_dest)] if live_dest is not None else []
    if live_dest is None:
        return [Op('add', 'dest', svc, wanted_dest)]
    if _dest_settings(live_dest) != _dest_settings(wanted_dest):
        return [Op('set', 'dest', svc, _keep_unmanaged(wanted_dest, live_dest))]
    return []


def plan_table(live, wanted, purge=False):
    """LIVE: {key: service with realservers}; WANTED: list of services with realservers.

    Every wanted service gets exactly its realservers (stale ones removed); with PURGE,
    live services not wanted are removed.  Deletions come last so traffic always has a
    place to go while the table changes.
    """
    ops = []
    wanted_keys = set()
    for svc in wanted:
        key = service_key(svc)
        wanted_keys.add(key)
        ops.extend(plan_service(live.get(key), svc, manage_realservers=True, purge_realservers=True))
    if purge:
        for key in sorted(live, key=lambda k: service_sort_key(live[k])):
            if key not in wanted_keys:
                ops.append(Op('del', 'service', live[key]))
    return order_ops(ops)


def order_ops(ops):
    rank = {('add', 'service'): 0, ('set', 'service'): 1, ('add', 'dest'): 2, ('set', 'dest'): 3,
            ('del', 'dest'): 4, ('del', 'service'): 5}
    return sorted(ops, key=lambda op: rank[(op.action, op.kind)])


def apply_ops_to_table(table, ops):
    """What the table looks like after OPS (for check mode and diff 'after')."""
    result = dict((k, dict(v, realservers=dict(v.get('realservers', {})))) for k, v in table.items())
    for op in ops:
        key = service_key(op.service)
        if op.kind == 'service':
            if op.action == 'del':
                result.pop(key, None)
            else:
                dests = result.get(key, {}).get('realservers', {})
                new = dict((k, v) for k, v in op.service.items() if k != 'realservers')
                new['realservers'] = dict(dests)
                result[key] = new
        else:
            dests = result.setdefault(key, dict(op.service, realservers={}))['realservers']
            if op.action == 'del':
                dests.pop(dest_key(op.dest), None)
            else:
                dests[dest_key(op.dest)] = op.dest
    return result


def build_wanted_service(entry, field_prefix=''):
    """One ipvs_table/ipvs_service entry (option names) -> service dict with realservers."""
    svc = normalize_service(entry, field_prefix)
    dests = {}
    for index, server in enumerate(entry.get('realservers') or []):
        dest = normalize_realserver(server, svc, '%srealservers[%d].' % (field_prefix, index))
        key = dest_key(dest)
        if key in dests:
            raise LVSError("%srealservers[%d].address: %s port %d is listed twice"
                           % (field_prefix, index, dest['address'], dest['port']))
        dests[key] = dest
    svc['realservers'] = dests
    return svc


def build_wanted_table(entries):
    services = []
    seen = set()
    for index, entry in enumerate(entries):
        if entry.get('pe') is None:
            # A table is declared whole, as its rules text would be: no pe means none.
            entry = dict(entry, pe='none')
        svc = build_wanted_service(entry, 'services[%d].' % index)
        key = service_key(svc)
        if key in seen:
            raise LVSError("services[%d]: %s is listed twice" % (index, format_service_key(key)))
        seen.add(key)
        services.append(svc)
    return services
