# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Operations on a built cluster, read from its plan (lvs.cluster.cluster_plan).

Pure logic, run on the controller by the lvs.cluster filters:
- drain_targets(): where one real server (an inventory host) is in a director's IPVS
  table, with the weight the inventory gives it there (playbooks/drain.yml);
- rolling_order(): the real servers playbooks/rolling.yml restarts one at a time, each
  with its entries and the ports to check;
- status_lines(): which director holds each VIP and every director's table with its
  counters, as lines to print (playbooks/status.yml).

A director's services come from its plan's rules (the declared table as ipvsadm-save -n
text), in either mode.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress

# format_hostport and service_switch write addresses and services exactly as ipvsadm-save -n
# (and so ipvs_info's save text) does.
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_model import MAX_TIMEOUT, format_hostport
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_rules import service_switch, wanted_from_rules

DRAIN_STATES = ('drained', 'present')
FORWARD_NAMES = {'nat': 'Masq', 'dr': 'Route', 'tun': 'Tunnel'}


class OpsError(Exception):
    """A bad input of an operation playbook; the message names the variable and the fix."""


def _planned_services(director):
    """[(service key fields, [(address, port, weight)])] of one director's plan."""
    return [(svc, [(d['address'], d['port'], d['weight']) for d in svc['realservers'].values()])
            for svc in wanted_from_rules(director.get('rules') or '')]


def _host_address(name, value):
    try:
        return str(ipaddress.ip_interface(str(value).strip()).ip)
    except ValueError:
        raise OpsError('hostvars.%s.lvs_address: %r is not an address with prefix (e.g. '
                       '192.0.2.11/24); run playbooks/site.yml first, its preflight says more'
                       % (name, value))


def drain_targets(director, host, realservers, state='drained', timeout=300):
    """Every entry of real server HOST in the IPVS table of one director.

    DIRECTOR is the director's plan (lvs_plan.director); HOST the inventory name given as
    lvs_drain_host; REALSERVERS maps each host of the lvs_realservers group to its
    lvs_address; STATE and TIMEOUT are lvs_drain_state and lvs_drain_timeout, checked here
    so that a bad one fails before any director is touched.

    Returns one dict per service the host is in, in the plan's order, with
    lvs.cluster.ipvs_realserver's option names (protocol, service_address and
    service_port, or fwmark and family; address, port) plus weight (the inventory's),
    service (a label) and rule (how ipvsadm-save -n starts its line, to find it in the
    live table). Raises OpsError naming the variable and the fix.
    """
    if state not in DRAIN_STATES:
        raise OpsError('lvs_drain_state: %r is not drained (take the real server out, the '
                       'default) or present (bring it back with its inventory weight)' % (state,))
    _check_timeout(timeout)
    names = sorted(realservers)
    example = names[0] if names else 'rs1'
    if host is None or str(host).strip() == '':
        raise OpsError('lvs_drain_host: missing: name the real server by its inventory host, '
                       'e.g. -e lvs_drain_host=%s (lvs_realservers: %s)'
                       % (example, ', '.join(names) or 'empty'))
    return _host_targets(director, str(host).strip(), realservers, 'lvs_drain_host')


def _check_timeout(timeout):
    if isinstance(timeout, bool) or not str(timeout).strip().isdigit() \
            or int(str(timeout).strip()) > MAX_TIMEOUT:
        raise OpsError('lvs_drain_timeout: %r is not a number of seconds (0..%d) to wait for '
                       'the connections to end, e.g. -e lvs_drain_timeout=600'
                       % (timeout, MAX_TIMEOUT))


def _host_targets(director, host, realservers, field):
    """drain_targets() for a HOST given, the error naming FIELD (the variable)."""
    names = sorted(realservers)
    example = names[0] if names else 'rs1'
    if not names:
        raise OpsError('%s: %s: the lvs_realservers group of this inventory is empty, '
                       'so there is no real server to drain; check -i' % (field, host))
    if host not in realservers:
        raise OpsError('%s: %r is not a host of the lvs_realservers group; name one '
                       'of %s, e.g. %s' % (field, host, ', '.join(names), _example(field, example)))
    address = _host_address(host, realservers[host])
    targets = []
    in_services = set()
    for svc, servers in _planned_services(director):
        for rs_address, port, weight in servers:
            in_services.add(rs_address)
            if rs_address != address:
                continue
            target = {'service': _label(svc), 'protocol': svc['protocol'],
                      'address': rs_address, 'port': port, 'weight': weight,
                      'rule': '-a %s -r %s ' % (service_switch(svc),
                                                format_hostport(svc['family'], rs_address, port))}
            if svc['protocol'] == 'fwmark':
                target.update(fwmark=svc['fwmark'], family=svc['family'])
            else:
                target.update(service_address=svc['address'], service_port=svc['port'])
            targets.append(target)
    if not targets:
        used = [n for n in names if n != host and _host_address(n, realservers[n]) in in_services]
        raise OpsError('%s: %s (%s) is in no service of lvs_services, so no director '
                       'sends it connections: nothing to drain; name a real server that is%s'
                       % (field, host, address, ' (%s)' % ', '.join(used) if used else ''))
    return targets


def _example(field, host):
    if field == 'lvs_drain_host':
        return '-e lvs_drain_host=%s' % host
    return '-e \'{"lvs_rolling_hosts": ["%s"]}\'' % host


def rolling_order(director, hosts, realservers, command, timeout=300):
    """The real servers playbooks/rolling.yml restarts, one at a time, in order.

    DIRECTOR is the director's plan; HOSTS is lvs_rolling_hosts (a list of inventory
    names, or None: every real server of the lvs_realservers group that is in a service,
    in the group's order); REALSERVERS maps each host of that group to its lvs_address;
    COMMAND is lvs_rolling_command and TIMEOUT lvs_drain_timeout. All are checked here,
    every host included, so that a bad one fails before any real server is drained.

    Returns [{'host', 'targets' (as drain_targets()), 'checks' ([{'address', 'port'}]: the
    TCP ports it serves, to wait for before it takes connections again)}].
    """
    if command is None or not isinstance(command, str) or not command.strip():
        raise OpsError('lvs_rolling_command: %s: give the command that restarts the application '
                       'on a real server, e.g. -e "lvs_rolling_command=\'systemctl restart nginx\'"'
                       % ('missing' if command is None or command == '' else 'not a command line: %r' % (command,)))
    _check_timeout(timeout)
    given = hosts is not None
    if not given:
        in_services = set(address for _svc, servers in _planned_services(director) for address, _port, _weight in servers)
        hosts = [name for name in realservers if _host_address(name, realservers[name]) in in_services]
        if not hosts:
            raise OpsError('lvs_rolling_hosts: no host of the lvs_realservers group is in a service '
                           'of lvs_services: nothing to restart')
    elif isinstance(hosts, str) or not isinstance(hosts, (list, tuple)) or not hosts:
        raise OpsError('lvs_rolling_hosts: %r is not a list of real servers; give one, e.g. '
                       '-e \'{"lvs_rolling_hosts": ["rs1", "rs2"]}\', or leave it out for every '
                       'real server' % (hosts,))
    order = []
    for index, host in enumerate(hosts):
        field = 'lvs_rolling_hosts[%d]' % index if given else 'lvs_rolling_hosts'
        if host in [o['host'] for o in order]:
            raise OpsError('%s: %s is named twice; name each real server once' % (field, host))
        targets = _host_targets(director, str(host), realservers, field)
        checks = []
        for target in targets:
            check = {'address': target['address'], 'port': target['port']}
            if target['protocol'] == 'tcp' and check not in checks:
                checks.append(check)
        order.append({'host': str(host), 'targets': targets, 'checks': checks})
    return order


def _label(svc):
    if svc['protocol'] == 'fwmark':
        return 'fwmark %d%s' % (svc['fwmark'], ' (ipv6)' if svc['family'] == 'ipv6' else '')
    return '%s %s' % (svc['protocol'], format_hostport(svc['family'], svc['address'], svc['port']))


# ---------------------------------------------------------------------------
# status
# ---------------------------------------------------------------------------

# ipvsadm -Ln --stats: the service (scheduler, flags) or real server (forwarding, weight,
# connections) columns, then the counters.
_ROW = '%-4s %-24s %-30s %8s %8s %8s %8s %8s'
_HEADERS = (_ROW % ('Prot', 'LocalAddress:Port', 'Scheduler Flags',
                    'Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes'),
            _ROW % ('  ->', 'RemoteAddress:Port', '%-7s %6s %7s %7s' % ('Forward', 'Weight',
                                                                        'Active', 'InAct'),
                    '', '', '', '', ''))


def _number(value):
    """A counter as ipvsadm prints it without --exact: K, M, G above 5 digits."""
    value = int(value or 0)
    for suffix in ('', 'K', 'M', 'G', 'T'):
        if value < 100000:
            return '%d%s' % (value, suffix)
        value //= 1000
    return '%dP' % value


def _counters(stats):
    stats = stats or {}
    return tuple(_number(stats.get(k)) for k in ('connections', 'packets_in', 'packets_out',
                                                 'bytes_in', 'bytes_out'))


def _service_row(svc):
    if svc['protocol'] == 'fwmark':
        prot, where = 'FWM', '%d%s' % (svc['fwmark'], ' IPv6' if svc['family'] == 'ipv6' else '')
    else:
        prot, where = svc['protocol'].upper(), format_hostport(svc['family'], svc['address'], svc['port'])
    flags = [svc['scheduler']] + list(svc.get('scheduler_flags') or [])
    if svc.get('persistence_timeout'):
        flags.append('persistent %d' % svc['persistence_timeout'])
        mask = svc.get('persistence_netmask')
        if mask not in (None, '255.255.255.255', 128):
            flags.append('mask %s' % mask)
    if svc.get('one_packet'):
        flags.append('ops')
    return _ROW % ((prot, where, ' '.join(flags)) + _counters(svc.get('stats')))


def _realserver_row(family, rs):
    middle = '%-7s %6d %7d %7d' % (FORWARD_NAMES.get(rs['forwarding'], rs['forwarding']),
                                   rs['weight'], rs.get('active_connections') or 0,
                                   rs.get('inactive_connections') or 0)
    return _ROW % (('  ->', format_hostport(family, rs['address'], rs['port']), middle)
                   + _counters(rs.get('stats')))


def planned_vips(director):
    """The VIPs of a director's plan, in order: lvs_vip's (static mode) or keepalived's
    virtual_ipaddress (keepalived mode, with the NAT gateway)."""
    keepalived = director.get('keepalived')
    if keepalived:
        return [entry.split('/')[0].split()[0] for entry in keepalived.get('virtual_ipaddresses') or []]
    return [vip['address'] for vip in director.get('vips') or []]


def interface_addresses(ip_output):
    """The addresses in `ip -o addr` output (without prefix), canonical text."""
    found = set()
    for line in (ip_output or '').splitlines():
        words = line.split()
        for index, word in enumerate(words[:-1]):
            if word in ('inet', 'inet6'):
                try:
                    found.add(str(ipaddress.ip_interface(words[index + 1]).ip))
                except ValueError:
                    pass
    return found


def status_lines(directors, expected=()):
    """The cluster's state as lines to print.

    DIRECTORS: one dict per director that answered, in inventory order: name, plan
    (lvs_plan.director), services (lvs.cluster.ipvs_info's services) and addresses (the
    output of `ip -o addr`). EXPECTED: every director of the inventory, so one that did
    not answer is named too.
    """
    lines = []
    held = dict((d['name'], interface_addresses(d.get('addresses'))) for d in directors)
    vips = []
    for d in directors:
        for vip in planned_vips(d.get('plan') or {}):
            if vip not in vips:
                vips.append(vip)
    missing = [name for name in expected if name not in held]
    for vip in vips:
        holders = [d['name'] for d in directors if vip in held[d['name']]]
        if len(holders) == 1:
            text = holders[0]
        elif holders:
            text = '%s (more than one director: split brain, clients reach either)' % ', '.join(holders)
        else:
            text = 'no director%s' % (' that answered' if missing else '')
        lines.append('VIP %s: %s' % (vip, text))
    for name in missing:
        lines.append('%s: no answer (unreachable or failed above): its VIPs and table are unknown'
                     % name)
    for d in directors:
        services = d.get('services') or []
        lines.append('%s: IPVS table, %d service%s (ipvsadm -Ln --stats; counters since the '
                     'service was added)' % (d['name'], len(services), '' if len(services) == 1 else 's'))
        if services:
            lines.extend(_HEADERS)
        for svc in services:
            lines.append(_service_row(svc))
            for rs in svc.get('realservers') or []:
                lines.append(_realserver_row(svc['family'], rs))
        if d.get('save') is not None:
            lines.extend(table_drift(d['name'], d.get('plan') or {}, d['save']))
    return [line.rstrip() for line in lines]


def table_drift(name, plan, live_save):
    """Lines saying how director NAME's live table (ipvsadm-save -n text) differs from the
    one its PLAN declares, and what to do about it; [] when they are the same."""
    declared = [line for line in (plan.get('rules') or '').splitlines() if line.strip()]
    live = [line for line in live_save.splitlines() if line.strip()]
    missing = [line for line in declared if line not in live]
    extra = [line for line in live if line not in declared]
    if not missing and not extra:
        return []
    lines = ['%s: the IPVS table differs from the one lvs_services declares (ipvsadm -S -n):' % name]
    lines.extend('  declared, not in the table: %s' % line for line in missing)
    lines.extend('  in the table, not declared: %s' % line for line in extra)
    if plan.get('keepalived'):
        lines.append('  keepalived owns this table: a real server it took out after a failed health check comes '
                     'back when it answers, and weight 0 is a drain (lvs.cluster.drain -e lvs_drain_state=present '
                     'ends it); anything else was changed by hand, and reloading keepalived does not put it back: '
                     'restart keepalived on %s (systemctl restart keepalived; on the MASTER its VIPs move to the '
                     'other director and back, connection sync keeps the connections)' % name)
    else:
        lines.append('  run lvs.cluster.site: it shows the difference (--diff) and puts the table back '
                     '(weight 0 is a drain: lvs.cluster.drain -e lvs_drain_state=present ends it)')
    return lines
