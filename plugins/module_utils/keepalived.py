# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""keepalived mode of the cluster model: the same lvs_services, plus lvs_keepalived.

Pure logic, called by plan_cluster() on the controller. It validates the HA settings
(lvs_keepalived, the directors' lvs_vrrp_priority / lvs_interface) and the services'
health-check keys, and returns what keepalived.conf.j2 renders for each director: one
vrrp_instance holding every VIP, and one virtual_server per service. Names follow
keepalived.conf(5) of keepalived 2.x (lvs_sched, lvs_method, retry; no deprecated ones).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import re

# lvs_keepalived: the cluster's VRRP and keepalived settings (group_vars/all).
SETTINGS = {
    'enabled': None,            # None: on when lvs_directors has two or more hosts
    'virtual_router_id': 51,
    'advert_int': 1,
    'vrrp_version': 2,
    'auth_pass': None,
    'preempt': True,
    'preempt_delay': None,
    'unicast': True,
    'sync_daemon': None,        # None: on for two or more directors
    'nat_gateway': None,
    'notification_email': [],
    'notification_email_from': None,
    'smtp_server': None,
    'track_scripts': [],
    'notify': {},
}
# A track script: keepalived's vrrp_script, checked every interval seconds by every
# director; weight 0 puts the instance in FAULT on failure (the VIPs move), any other
# weight moves the priority (negative: on failure, positive: on success).
TRACK_SCRIPT_DEFAULTS = {'name': None, 'script': None, 'interval': 2, 'timeout': None,
                         'fall': 2, 'rise': 2, 'weight': 0}
# lvs_keepalived.notify key -> keepalived keyword. 'any' gets four arguments appended by
# keepalived (INSTANCE, the instance name, the new state, the priority); the others none.
NOTIFY_KEYWORDS = {'master': 'notify_master', 'backup': 'notify_backup', 'fault': 'notify_fault',
                   'stop': 'notify_stop', 'any': 'notify'}
_SCRIPT_NAME = re.compile(r'[A-Za-z0-9_-]{1,64}\Z')
# Health checking keys a service may carry (keepalived mode only).
SERVICE_KEYS = ('healthcheck', 'delay_loop', 'quorum', 'hysteresis', 'sorry_server',
                'inhibit_on_failure')
HEALTHCHECK_DEFAULTS = {'type': None, 'port': None, 'path': '/', 'status_code': 200,
                        'connect_timeout': 3, 'retry': 1, 'delay_before_retry': 1,
                        'misc_path': None, 'misc_timeout': None}
CHECK_TYPES = {'tcp': 'TCP_CHECK', 'http': 'HTTP_GET', 'udp': 'UDP_CHECK', 'misc': 'MISC_CHECK',
               'none': None}
DEFAULT_DELAY_LOOP = 5
INSTANCE = 'VI_LVS'
# VRRP priority of the first director in lvs_directors; the next ones get one less each
# (seed 001: MASTER 100, BACKUP 99).
FIRST_PRIORITY = 100


_WHOLE_NUMBER = re.compile(r'-?[0-9]+\Z')


def _int(value, path, errors, low, high):
    if isinstance(value, bool) or not isinstance(value, int) and not _WHOLE_NUMBER.match(str(value)):
        errors.add(path, '%r is not a whole number (%d..%d)' % (value, low, high))
        return None
    if not low <= int(value) <= high:
        errors.add(path, '%d is out of range, use %d..%d' % (int(value), low, high))
        return None
    return int(value)


def _bool(value, path, errors):
    if not isinstance(value, bool):
        errors.add(path, '%r is not true or false' % (value,))
        return None
    return value


def settings(raw, directors, errors):
    """lvs_keepalived -> normalized settings, or None when the cluster runs without
    keepalived (one director, not asked for)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        errors.add('lvs_keepalived', 'must be a mapping (enabled, virtual_router_id, advert_int, ...)')
        return None
    for key in sorted(set(raw) - set(SETTINGS), key=str):
        errors.add('lvs_keepalived.%s' % key, 'unknown key; use one of %s' % ', '.join(SETTINGS))
    conf = dict(SETTINGS)
    conf.update((k, v) for k, v in raw.items() if k in SETTINGS and v is not None)
    enabled = conf['enabled']
    if enabled is None:
        enabled = len(directors) > 1
    elif _bool(enabled, 'lvs_keepalived.enabled', errors) is None:
        return None
    if not enabled:
        if len(directors) > 1:
            errors.add('groups.lvs_directors', '%d hosts (%s) but lvs_keepalived.enabled is false: '
                       'a VIP can have one owner; remove enabled: false (keepalived then moves '
                       'the VIPs) or list one director'
                       % (len(directors), ', '.join(d.name for d in directors)))
        return None
    path = 'lvs_keepalived.'
    conf['virtual_router_id'] = _int(conf['virtual_router_id'], path + 'virtual_router_id',
                                     errors, 1, 255)
    version = conf['vrrp_version']
    if version not in (2, 3):
        errors.add(path + 'vrrp_version', '%r is not 2 or 3' % (version,))
    advert = conf['advert_int']
    if isinstance(advert, bool) or not isinstance(advert, (int, float)) or advert <= 0:
        errors.add(path + 'advert_int', '%r is not a number of seconds (e.g. 1)' % (advert,))
    elif version == 2 and (advert != int(advert) or not 1 <= advert <= 255):
        errors.add(path + 'advert_int', '%s: VRRPv2 advertises in whole seconds (1..255); for a '
                   'sub-second interval set vrrp_version: 3' % advert)
    elif version == 3 and not 0.01 <= advert <= 40.95:
        errors.add(path + 'advert_int', '%s is out of range for VRRPv3, use 0.01..40.95' % advert)
    secret = conf['auth_pass']
    if secret is not None:
        # Never echo the secret back: messages go to logs.
        if not isinstance(secret, str) or not secret:
            errors.add(path + 'auth_pass', 'must be a non-empty string')
        elif len(secret) > 8:
            errors.add(path + 'auth_pass', 'is %d characters; VRRP PASS authentication keeps 8 '
                       '(keepalived cuts the rest silently): use at most 8' % len(secret))
        elif version == 3:
            errors.add(path + 'auth_pass', 'VRRPv3 has no authentication; remove auth_pass or set '
                       'vrrp_version: 2')
    for key in ('preempt', 'unicast'):
        _bool(conf[key], path + key, errors)
    if conf['preempt_delay'] is not None:
        conf['preempt_delay'] = _int(conf['preempt_delay'], path + 'preempt_delay', errors, 0, 1000)
        if conf['preempt'] is False:
            errors.add(path + 'preempt_delay', 'delays a preemption, but preempt is false; '
                       'remove one of them')
    sync = conf['sync_daemon']
    if sync is None:
        conf['sync_daemon'] = len(directors) > 1
    else:
        conf['sync_daemon'] = _bool(sync, path + 'sync_daemon', errors)
    if conf['nat_gateway'] is not None:
        try:
            conf['nat_gateway'] = ipaddress.ip_address(str(conf['nat_gateway']))
        except ValueError:
            errors.add(path + 'nat_gateway', '%r is not an address (the NAT real servers\' '
                       'gateway, a VIP the directors share, e.g. 198.51.100.1)'
                       % (conf['nat_gateway'],))
            conf['nat_gateway'] = None
    emails = conf['notification_email']
    if not isinstance(emails, list) or not all(isinstance(e, str) and '@' in e for e in emails):
        errors.add(path + 'notification_email', 'a list of mail addresses, e.g. [ops@example.com]')
    if emails and not conf['smtp_server']:
        errors.add(path + 'smtp_server', 'notification_email needs the server that sends the mail, '
                   'e.g. smtp_server: 127.0.0.1')
    conf['track_scripts'] = _track_scripts(conf['track_scripts'], path + 'track_scripts', errors)
    conf['notify'] = _notify(conf['notify'], path + 'notify', errors)
    return conf


def _command(value, path, errors, example):
    """A command keepalived runs (as root, under script security): an absolute path to an
    executable, then its arguments. It is written between double quotes, so none inside."""
    if not isinstance(value, str) or not value.strip():
        errors.add(path, 'a command line, e.g. "%s"' % example)
        return None
    if '"' in value or '\n' in value:
        errors.add(path, '%r: keepalived.conf quotes the command with ", so it cannot hold " '
                   'or a newline; put the command in a script file' % (value,))
        return None
    if not value.split()[0].startswith('/'):
        errors.add(path, '%r: start with the absolute path of the program (script security '
                   'checks that file), e.g. "%s"' % (value, example))
        return None
    return ' '.join(value.split())


def _track_scripts(raw, path, errors):
    if not isinstance(raw, list):
        errors.add(path, 'a list of scripts, e.g. [{name: app, script: "/usr/local/bin/check-app"}]')
        return []
    result = []
    names = {}
    for index, entry in enumerate(raw):
        spath = '%s[%d]' % (path, index)
        if not isinstance(entry, dict):
            errors.add(spath, 'a mapping, e.g. {name: app, script: "/usr/local/bin/check-app"}')
            continue
        for key in sorted(set(entry) - set(TRACK_SCRIPT_DEFAULTS), key=str):
            errors.add('%s.%s' % (spath, key), 'unknown key; use one of %s'
                       % ', '.join(TRACK_SCRIPT_DEFAULTS))
        script = dict(TRACK_SCRIPT_DEFAULTS)
        script.update((k, v) for k, v in entry.items() if k in TRACK_SCRIPT_DEFAULTS and v is not None)
        name = script['name']
        if not isinstance(name, str) or not _SCRIPT_NAME.match(name):
            errors.add(spath + '.name', '%r: a name of letters, digits, _ and - (e.g. app)' % (name,))
        elif name in names:
            errors.add(spath + '.name', '%r is also %s\'s name: give each script its own'
                       % (name, names[name]))
        else:
            names[name] = spath
        script['script'] = _command(script['script'], spath + '.script', errors,
                                    '/usr/local/bin/check-app')
        for key, low, high in (('interval', 1, 3600), ('fall', 1, 1000), ('rise', 1, 1000),
                               ('weight', -253, 253)):
            script[key] = _int(script[key], '%s.%s' % (spath, key), errors, low, high)
        if script['timeout'] is not None:
            script['timeout'] = _int(script['timeout'], spath + '.timeout', errors, 1, 3600)
        result.append(script)
    return result


def _notify(raw, path, errors):
    if not isinstance(raw, dict):
        errors.add(path, 'a mapping of state to command, e.g. {master: "/usr/local/bin/became-master"}')
        return {}
    result = {}
    for key in sorted(raw, key=str):
        if key not in NOTIFY_KEYWORDS:
            errors.add('%s.%s' % (path, key), 'unknown key; use one of %s'
                       % ', '.join(sorted(NOTIFY_KEYWORDS)))
            continue
        if raw[key] is None:
            continue
        command = _command(raw[key], '%s.%s' % (path, key), errors, '/usr/local/bin/vrrp-' + key)
        if command is not None:
            result[NOTIFY_KEYWORDS[key]] = command
    return result


def check_track_weights(conf, prios, errors):
    """A track script with a weight moves the priority instead of giving up the VIPs: refuse
    a weight too small to ever hand them over (a silent no-op at the worst moment)."""
    ranked = sorted(set(p for p in prios.values() if p is not None), reverse=True)
    if len(ranked) < 2:
        return
    gap = ranked[0] - ranked[1]
    for index, script in enumerate(conf['track_scripts']):
        weight = script['weight']
        if weight and abs(weight) <= gap:
            errors.add('lvs_keepalived.track_scripts[%d].weight' % index,
                       '%d: a failing script on the MASTER (priority %d) still outranks or ties '
                       'the next director (%d), so the VIPs would not move; use a weight beyond '
                       '%d (e.g. %d), or 0 to give them up on failure'
                       % (weight, ranked[0], ranked[1], gap, -(gap + 1) if weight < 0 else gap + 1))


def priorities(directors, errors):
    """{director name: VRRP priority}: from the director order, lvs_vrrp_priority wins."""
    result = {}
    for index, d in enumerate(directors):
        path = 'hostvars.%s.lvs_vrrp_priority' % d.name
        if d.vrrp_priority is None:
            result[d.name] = FIRST_PRIORITY - index
        else:
            value = _int(d.vrrp_priority, path, errors, 1, 254)
            if value is not None:
                result[d.name] = value
    seen = {}
    for d in directors:
        prio = result.get(d.name)
        if prio is None:
            continue
        if prio in seen:
            errors.add('hostvars.%s.lvs_vrrp_priority' % d.name, 'priority %d is also %s\'s: tied '
                       'priorities elect by address, not by your order; give each director its '
                       'own' % (prio, seen[prio]))
        seen[prio] = d.name
    return result


def _family_address(value, family, path, errors):
    try:
        address = ipaddress.ip_address(str(value))
    except ValueError:
        errors.add(path, '%r is not an address' % (value,))
        return None
    if 'ipv%d' % address.version != family:
        errors.add(path, '%s is IPv%d but the service is %s: a sorry server answers in the '
                   'service\'s family' % (address, address.version, family.replace('ipv', 'IPv')))
        return None
    return address


def virtual_server(svc, wanted, match, path, errors, enabled):
    """A service's keepalived virtual_server (checks, sorry server, quorum), or None when the
    cluster runs without keepalived (then health-check keys are refused)."""
    present = [k for k in SERVICE_KEYS if k in svc]
    if not enabled:
        for key in present:
            errors.add('%s.%s' % (path, key), 'health checking is keepalived\'s; with one director '
                       'set lvs_keepalived: {enabled: true}, or remove %s' % key)
        return None
    protocol = match['protocol'] if match else wanted['protocol']
    check = dict(HEALTHCHECK_DEFAULTS)
    raw = svc.get('healthcheck') or {}
    hpath = path + '.healthcheck'
    if not isinstance(raw, dict):
        errors.add(hpath, 'a mapping, e.g. {type: http, path: /health, status_code: 200}')
        raw = {}
    for key in sorted(set(raw) - set(HEALTHCHECK_DEFAULTS), key=str):
        errors.add('%s.%s' % (hpath, key), 'unknown key; use one of %s' % ', '.join(HEALTHCHECK_DEFAULTS))
    check.update((k, v) for k, v in raw.items() if k in HEALTHCHECK_DEFAULTS and v is not None)
    kind = check['type'] or ('udp' if protocol == 'udp' else 'tcp')
    if kind not in CHECK_TYPES:
        errors.add(hpath + '.type', '%r is not one of %s' % (kind, ', '.join(CHECK_TYPES)))
        return None
    if protocol == 'udp' and kind in ('tcp', 'http'):
        errors.add(hpath + '.type', '%s cannot check a UDP service (nothing listens on TCP); use '
                   'udp (an ICMP port-unreachable marks it down) or misc with your own probe' % kind)
    if protocol == 'tcp' and kind == 'udp':
        errors.add(hpath + '.type', 'udp cannot check a TCP service; use tcp or http')
    if kind == 'misc':
        if not check['misc_path']:
            errors.add(hpath + '.misc_path', 'a misc check runs this command (exit 0 = up), e.g. '
                       '"/usr/local/bin/check-app 192.0.2.11"')
        else:
            check['misc_path'] = _command(check['misc_path'], hpath + '.misc_path', errors,
                                          '/usr/local/bin/check-app 192.0.2.11')
    for key, low, high in (('connect_timeout', 1, 3600), ('retry', 0, 100),
                           ('delay_before_retry', 0, 3600), ('status_code', 100, 599)):
        check[key] = _int(check[key], '%s.%s' % (hpath, key), errors, low, high)
    if check['misc_timeout'] is not None:
        check['misc_timeout'] = _int(check['misc_timeout'], hpath + '.misc_timeout', errors, 1, 3600)
    if check['port'] is not None:
        check['port'] = _int(check['port'], hpath + '.port', errors, 1, 65535)
    if kind == 'http' and not str(check['path']).startswith('/'):
        errors.add(hpath + '.path', '%r: the URL path starts with /' % (check['path'],))
    result = {
        'delay_loop': _int(svc.get('delay_loop', DEFAULT_DELAY_LOOP), path + '.delay_loop',
                           errors, 1, 86400),
        'quorum': None, 'hysteresis': None, 'sorry_server': None,
    }
    for key in ('quorum', 'hysteresis'):
        if svc.get(key) is not None:
            result[key] = _int(svc[key], '%s.%s' % (path, key), errors, 0 if key == 'hysteresis' else 1,
                               1000000)
    inhibit = svc.get('inhibit_on_failure', False)
    _bool(inhibit, path + '.inhibit_on_failure', errors)
    sorry = svc.get('sorry_server')
    if sorry is not None:
        spath = path + '.sorry_server'
        if not isinstance(sorry, dict) or 'address' not in sorry:
            errors.add(spath, 'a mapping, e.g. {address: 192.0.2.50, port: 80}')
        else:
            address = _family_address(sorry['address'], wanted['family'], spath + '.address', errors)
            port = sorry.get('port')
            if port is not None:
                port = _int(port, spath + '.port', errors, 1, 65535)
            if address is not None:
                result['sorry_server'] = '%s %s' % (address, port) if port else str(address)
    servers = []
    for dest in wanted['realservers'].values():
        # A port-0 real server (persistent fwmark) is checked on the first marked port.
        port = check['port'] or dest['port'] or (match['ports'][0] if match else None)
        servers.append({
            'address': dest['address'],
            'port': dest['port'] or None,
            'weight': dest['weight'],
            'method': _method(dest),
            'uthreshold': dest.get('upper_threshold') or None,
            'lthreshold': dest.get('lower_threshold') or None,
            'inhibit_on_failure': bool(inhibit),
            'check': None if CHECK_TYPES[kind] is None else dict(
                check, type=CHECK_TYPES[kind],
                connect_port=port if port != dest['port'] else None),
        })
    result.update({
        'path': path,
        'key': ('fwmark %d' % wanted['fwmark'] if wanted['fwmark']
                else '%s %d' % (wanted['address'], wanted['port'])),
        # keepalived refuses a protocol on a fwmark service (-t exits 5): the mark says it all.
        'protocol': None if wanted['fwmark'] else protocol.upper(),
        'scheduler': wanted['scheduler'],
        'flags': list(wanted.get('scheduler_flags') or []),
        'persistence_timeout': wanted['persistence_timeout'] or None,
        'persistence_granularity': _granularity(wanted),
        'one_packet': bool(wanted.get('one_packet')),
        'realservers': servers,
    })
    return result


def _method(dest):
    """lvs_method of one real server (keepalived 2.x takes it per real_server)."""
    fwd = dest['forwarding']
    if fwd != 'tun':
        return fwd.upper()
    text = 'TUN'
    if dest.get('tun_type') and dest['tun_type'] != 'ipip':
        text += ' type %s' % dest['tun_type']
        if dest['tun_type'] == 'gue':
            text += ' port %d' % dest['tun_port']
        if dest.get('tun_csum'):
            text += ' %s' % dest['tun_csum']
    return text


def _granularity(wanted):
    if not wanted['persistence_timeout']:
        return None
    mask = wanted.get('persistence_netmask')
    if mask in (None, '255.255.255.255', 128, '128'):
        return None
    return str(mask)


def director_conf(conf, me, directors, prios, vips, virtual_servers):
    """What keepalived.conf.j2 renders for director ME.

    One vrrp_instance holds every VIP: the client VIPs on lvs_vip_interface and the NAT
    gateway on lvs_interface move together, as a vrrp_sync_group would make two instances
    do, with one advertisement stream and no tracker-weight restrictions."""
    top = max(prios.values()) if prios else None
    initial_backup = not conf['preempt'] or conf['preempt_delay'] is not None
    addresses = ['%s/%d dev %s' % (v['address'], v['prefix'], me.vip_interface) for v in vips]
    if conf['nat_gateway'] is not None:
        gateway = conf['nat_gateway']
        addresses.append('%s/%d dev %s' % (gateway, gateway.max_prefixlen, me.interface))
    tracked = sorted(set([me.vip_interface, me.interface]) - set([me.interface]))
    peers = [str(d.address.ip) for d in directors if d is not me and d.address is not None]
    return {
        'router_id': me.name,
        'instance': INSTANCE,
        'state': 'MASTER' if prios.get(me.name) == top and not initial_backup else 'BACKUP',
        'priority': prios.get(me.name),
        'interface': me.interface,
        'virtual_router_id': conf['virtual_router_id'],
        'advert_int': conf['advert_int'],
        'vrrp_version': conf['vrrp_version'],
        'authentication': conf['auth_pass'] is not None,
        'nopreempt': not conf['preempt'],
        'preempt_delay': conf['preempt_delay'],
        # Alone (keepalived asked for one director), there is nobody to advertise to.
        'unicast_src_ip': str(me.address.ip) if conf['unicast'] and me.address and peers else None,
        'unicast_peers': peers if conf['unicast'] else [],
        'track_interfaces': tracked,
        'virtual_ipaddresses': addresses,
        'sync_daemon': conf['sync_daemon'],
        # Both sync daemons run on every director; the sync id separates clusters that
        # share a segment, as the virtual_router_id does (keepalived's own default).
        'sync_id': conf['virtual_router_id'],
        'notification_email': list(conf['notification_email'] or []),
        'notification_email_from': conf['notification_email_from'],
        'smtp_server': conf['smtp_server'],
        'virtual_servers': virtual_servers,
        # The host check listens this long on the interface for another router already
        # advertising our virtual_router_id (module_utils/vrrp_listen.py): three
        # advertisements of ours, at least 3.5 s so a foreign router's default 1 s is heard.
        'vrid_listen': {
            'family': me.address.version if me.address else 4,
            'seconds': max(3.5, 3 * conf['advert_int'] + 0.5),
            'ours': [str(d.address.ip) for d in directors if d.address is not None],
        },
        'track_scripts': conf['track_scripts'],
        'notify': conf['notify'],
        # Every program keepalived will run, for the read-only host check: -t of 2.2.7
        # does not look at notify commands at all.
        'programs': _programs(conf, virtual_servers),
    }


def _programs(conf, virtual_servers):
    """[{field, path}] of the programs keepalived runs: track scripts, notify commands,
    MISC_CHECK probes. Any of them makes keepalived need script security."""
    found = []
    for index, script in enumerate(conf['track_scripts']):
        if script['script']:
            found.append(('lvs_keepalived.track_scripts[%d].script' % index, script['script']))
    keys = dict((v, k) for k, v in NOTIFY_KEYWORDS.items())
    for keyword in sorted(conf['notify']):
        found.append(('lvs_keepalived.notify.%s' % keys[keyword], conf['notify'][keyword]))
    for vs in virtual_servers:
        for rs in vs['realservers']:
            if rs['check'] and rs['check']['type'] == 'MISC_CHECK' and rs['check']['misc_path']:
                found.append((vs['path'] + '.healthcheck.misc_path',
                              rs['check']['misc_path']))
    result, seen = [], set()
    for field, command in found:
        path = command.split()[0]
        if path not in seen:        # one check per program, naming its first use
            seen.add(path)
            result.append({'field': field, 'path': path})
    return result
