# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one layer between the ipvs_* modules and the kernel's IPVS table.

Everything that knows about IPVS lives here:

* argument normalisation and validation shared by the modules (pure, unit tested);
* service and real-server keys (tcp/udp address+port, fwmark; IPv4 and IPv6);
* the ``ipvsadm-save -n`` text format: parser (rules input) and renderer (diff and info);
* the plan: the difference between a wanted and a live table as a list of operations;
* the netlink session (pyroute2 generic netlink, family "IPVS") that reads the live
  table and applies a plan: add what is missing, change in place with SET, delete only
  what is stale.

Why our own message classes instead of ``pyroute2.IPVS``/``IPVSService``: pyroute2's
request objects inject defaults (wlc, timeout 0, a 0xFFFF flag mask), its "update"
command is a DELETE, objects parsed with ``from_message`` keep defaults under the friendly
keys, the netmask is typed as an IPv4 address (IPv6 services carry a prefix length), the
config timeouts are typed "hex" and some releases drop the fwmark from the service key
when dumping real servers.  Describing the kernel ABI once, with every attribute sent
explicitly, sidesteps all of that and lets us build GET/SET_CONFIG on the same socket.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import ipaddress
import shlex
import socket
import struct
import time
import traceback

# pyroute2 is imported on first netlink use only: validation (and its failures) must
# not pay the ~3 s import on a slow host, and the unit tests never need it.
HAS_PYROUTE2 = None          # None = not tried yet
PYROUTE2_IMPORT_ERROR = None
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 1, 4, 0x300


class NetlinkError(Exception):
    """Rebound to pyroute2's NetlinkError once pyroute2 is loaded."""
    code = 0


IPVSMessage = None
_IPVSSocket = None


MODPROBE_HINT = "load the ip_vs kernel module (modprobe ip_vs)"

# Every scheduler the kernel has had (twos needs Linux >= 6.5).
SCHEDULERS = ('rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq',
              'mh', 'fo', 'ovf', 'twos')

# include/uapi/linux/ip_vs.h
SVC_F_PERSISTENT = 0x0001
SVC_F_HASHED = 0x0002        # kernel-internal, never ours to set or compare
SVC_F_ONEPACKET = 0x0004
SVC_F_SCHED1 = 0x0008
SVC_F_SCHED2 = 0x0010
SVC_F_SCHED3 = 0x0020
# The bits this layer owns; SET only touches these (the kernel applies flags under mask).
SVC_F_MANAGED = SVC_F_PERSISTENT | SVC_F_ONEPACKET | SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3

# Scheduler flags as ipvsadm names them (-b); only sh and mh give them a meaning.
SCHED_FLAG_BITS = {
    'sh-fallback': ('sh', SVC_F_SCHED1),
    'sh-port': ('sh', SVC_F_SCHED2),
    'mh-fallback': ('mh', SVC_F_SCHED1),
    'mh-port': ('mh', SVC_F_SCHED2),
}

FORWARDING = {'nat': 0, 'tun': 2, 'dr': 3}
FORWARDING_BY_CODE = dict((v, k) for k, v in FORWARDING.items())
FORWARDING_SWITCH = {'nat': '-m', 'tun': '-i', 'dr': '-g'}
CONN_F_FWD_MASK = 0x0007

PROTOCOLS = {'tcp': socket.IPPROTO_TCP, 'udp': socket.IPPROTO_UDP}
PROTOCOL_BY_NUMBER = dict((v, k) for k, v in PROTOCOLS.items())
FAMILIES = {'ipv4': socket.AF_INET, 'ipv6': socket.AF_INET6}
FAMILY_BY_NUMBER = dict((v, k) for k, v in FAMILIES.items())

DEFAULT_PERSISTENCE = 300       # ipvsadm -p without a value
MAX_U32 = 0xFFFFFFFF
MAX_WEIGHT = 65535
# Timeouts are stored as jiffies in an int; stay below INT_MAX at HZ=1000.
MAX_TIMEOUT = 2147483

# generic netlink commands, include/uapi/linux/ip_vs.h
CMD_NEW_SERVICE, CMD_SET_SERVICE, CMD_DEL_SERVICE, CMD_GET_SERVICE = 1, 2, 3, 4
CMD_NEW_DEST, CMD_SET_DEST, CMD_DEL_DEST, CMD_GET_DEST = 5, 6, 7, 8
CMD_SET_CONFIG, CMD_GET_CONFIG = 12, 13


class IPVSError(Exception):
    """A problem to report to the user as is (bad input, kernel refusal)."""


# ---------------------------------------------------------------------------
# Normalisation and validation (pure)
# ---------------------------------------------------------------------------

def _int(value, field, low, high):
    if isinstance(value, bool):
        raise IPVSError("%s: expected an integer, got %r" % (field, value))
    try:
        number = int(str(value).strip(), 10)
    except (TypeError, ValueError):
        raise IPVSError("%s: %r is not an integer" % (field, value))
    if number < low or number > high:
        raise IPVSError("%s: %d is out of range, use %d..%d" % (field, number, low, high))
    return number


def normalize_address(value, field):
    """Return (family, canonical text) of a single IP address, or raise naming FIELD."""
    if value is None or str(value).strip() == '':
        raise IPVSError("%s: an IP address is required" % field)
    text = str(value).strip()
    if text.startswith('[') and text.endswith(']'):
        text = text[1:-1]
    if '/' in text:
        raise IPVSError("%s: %r is a network; give a single IP address without /prefix" % (field, value))
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise IPVSError("%s: %r is not an IPv4 or IPv6 address (host names are not resolved)"
                        % (field, value))
    if address.is_multicast or address.is_unspecified:
        raise IPVSError("%s: %s is not a unicast address" % (field, address))
    return ('ipv4' if address.version == 4 else 'ipv6'), str(address)


def normalize_netmask(value, family, field):
    """Persistence granularity: IPv4 as a dotted mask, IPv6 as a prefix length (int)."""
    text = str(value).strip()
    if family == 'ipv6':
        if not text.isdigit():
            raise IPVSError("%s: %r is not an IPv6 prefix length; use 1..128" % (field, value))
        return _int(text, field, 1, 128)
    if text.isdigit():
        prefix = _int(text, field, 1, 32)
        return str(ipaddress.IPv4Network('0.0.0.0/%d' % prefix).netmask)
    try:
        network = ipaddress.IPv4Network('0.0.0.0/%s' % text)
    except ValueError:
        raise IPVSError("%s: %r is not a contiguous IPv4 netmask; use e.g. 255.255.255.0 or 24"
                        % (field, value))
    if network.prefixlen == 0:
        raise IPVSError("%s: %r would make every client one persistence group; use 1..32"
                        % (field, value))
    return str(network.netmask)


def default_netmask(family):
    return 128 if family == 'ipv6' else '255.255.255.255'


def service_key(svc):
    """The identity of a service: what the kernel looks it up by."""
    if svc['protocol'] == 'fwmark':
        return ('fwmark', svc['family'], svc['fwmark'])
    return (svc['protocol'], svc['family'], svc['address'], svc['port'])


def format_service_key(key):
    if key[0] == 'fwmark':
        return 'fwmark %d%s' % (key[2], ' (ipv6)' if key[1] == 'ipv6' else '')
    return '%s %s' % (key[0], _hostport(key[1], key[2], key[3]))


def _hostport(family, address, port):
    if family == 'ipv6':
        return '[%s]:%d' % (address, port)
    return '%s:%d' % (address, port)


def dest_key(dest):
    return (dest['address'], dest['port'])


def normalize_service_key(params, field_prefix=''):
    """Validate the options naming a service (protocol, address, port, fwmark, family).

    Returns a dict with protocol, family, address, port, fwmark.
    """
    p = field_prefix
    protocol = params.get('protocol') or 'tcp'
    if protocol not in ('tcp', 'udp', 'fwmark'):
        raise IPVSError("%sprotocol: %r is not one of tcp, udp, fwmark" % (p, protocol))
    svc = {'protocol': protocol}
    family_opt = params.get('family')
    if family_opt is not None and family_opt not in FAMILIES:
        raise IPVSError("%sfamily: %r is not one of ipv4, ipv6" % (p, family_opt))
    if protocol == 'fwmark':
        if params.get('fwmark') is None:
            raise IPVSError("%sfwmark: protocol fwmark needs the firewall mark number (1..%d)"
                            % (p, MAX_U32))
        if params.get('port') is not None:
            raise IPVSError("%sport: a fwmark service has no port (the mark selects the "
                            "traffic); remove port" % p)
        if params.get('address') is not None:
            raise IPVSError("%saddress: a fwmark service has no address; remove address and "
                            "set family if it is IPv6" % p)
        svc['fwmark'] = _int(params['fwmark'], p + 'fwmark', 1, MAX_U32)
        svc['family'] = family_opt or 'ipv4'
        svc['address'] = None
        svc['port'] = None
    else:
        if params.get('fwmark') is not None:
            raise IPVSError("%sfwmark: only valid with protocol fwmark (protocol is %s)"
                            % (p, protocol))
        if params.get('address') is None:
            raise IPVSError("%saddress: a %s service needs the virtual IP address" % (p, protocol))
        family, address = normalize_address(params['address'], p + 'address')
        if family_opt is not None and family_opt != family:
            raise IPVSError("%sfamily: %s contradicts address %s (%s)" % (p, family_opt, address, family))
        if params.get('port') is None:
            raise IPVSError("%sport: a %s service needs a port (0 = all ports, with persistence)"
                            % (p, protocol))
        svc['family'] = family
        svc['address'] = address
        svc['port'] = _int(params['port'], p + 'port', 0, 65535)
        svc['fwmark'] = None
    return svc


def normalize_service(params, field_prefix=''):
    """Validate the service options of a module (or one ipvs_table entry).

    PARAMS uses the module option names.  Returns the canonical service dict (no
    realservers).  Raises IPVSError naming the offending option.
    """
    p = field_prefix
    svc = normalize_service_key(params, field_prefix)
    protocol = svc['protocol']
    scheduler = params.get('scheduler') or 'wlc'
    if scheduler not in SCHEDULERS:
        raise IPVSError("%sscheduler: %r is not a kernel IPVS scheduler; use one of %s"
                        % (p, scheduler, ', '.join(SCHEDULERS)))
    svc['scheduler'] = scheduler
    flags = []
    for flag in params.get('scheduler_flags') or []:
        if flag not in SCHED_FLAG_BITS:
            raise IPVSError("%sscheduler_flags: %r is not one of %s"
                            % (p, flag, ', '.join(sorted(SCHED_FLAG_BITS))))
        if SCHED_FLAG_BITS[flag][0] != scheduler:
            raise IPVSError("%sscheduler_flags: %s only applies to scheduler %s (scheduler is %s)"
                            % (p, flag, SCHED_FLAG_BITS[flag][0], scheduler))
        if flag not in flags:
            flags.append(flag)
    svc['scheduler_flags'] = sorted(flags)

    timeout = params.get('persistence_timeout')
    timeout = 0 if timeout is None else _int(timeout, p + 'persistence_timeout', 0, MAX_TIMEOUT)
    svc['persistence_timeout'] = timeout
    netmask = params.get('persistence_netmask')
    if netmask is not None and str(netmask).strip() != '':
        if not timeout:
            raise IPVSError("%spersistence_netmask: only meaningful for a persistent service; "
                            "set persistence_timeout too" % p)
        svc['persistence_netmask'] = normalize_netmask(netmask, svc['family'], p + 'persistence_netmask')
    else:
        svc['persistence_netmask'] = default_netmask(svc['family'])
    if protocol != 'fwmark' and svc['port'] == 0 and not timeout:
        raise IPVSError("%sport: port 0 (all ports) is only allowed for a persistent service; "
                        "set persistence_timeout" % p)
    one_packet = bool(params.get('one_packet'))
    if one_packet and protocol == 'tcp':
        raise IPVSError("%sone_packet: one-packet scheduling is for udp (or fwmark) services, "
                        "not tcp" % p)
    svc['one_packet'] = one_packet
    return svc


def normalize_realserver(params, svc, field_prefix='', base=None):
    """Validate one real server of service SVC.  PARAMS uses the module option names.

    Options left None take their value from BASE (the live real server, when changing
    one) or else the ipvsadm defaults (dr, weight 1, no thresholds).
    """
    p = field_prefix
    base = base or {}

    def pick(name, default):
        value = params.get(name)
        if value is None:
            value = base.get(name, default)
        return value

    family, address = normalize_address(params.get('address'), p + 'address')
    if family != svc['family']:
        raise IPVSError("%saddress: %s is %s but the service is %s; real servers must use the "
                        "service's address family" % (p, address, family, svc['family']))
    forwarding = pick('forwarding', 'dr')
    if forwarding not in FORWARDING:
        raise IPVSError("%sforwarding: %r is not one of nat, dr, tun" % (p, forwarding))
    service_port = 0 if svc['protocol'] == 'fwmark' else svc['port']
    port = params.get('port')
    if port is None:
        port = service_port
    else:
        port = _int(port, p + 'port', 0, 65535)
    if forwarding != 'nat' and port != service_port:
        raise IPVSError("%sport: port mapping (%d -> %d) only works with forwarding nat; "
                        "with %s the real server receives the service port: remove port or "
                        "set it to %d" % (p, service_port, port, forwarding, service_port))
    if forwarding == 'nat' and svc['protocol'] != 'fwmark' and svc['port'] == 0 and port != 0:
        raise IPVSError("%sport: the service listens on all ports (port 0); a real server "
                        "cannot map them to one port %d" % (p, port))
    weight = _int(pick('weight', 1), p + 'weight', 0, MAX_WEIGHT)
    upper = _int(pick('upper_threshold', 0), p + 'upper_threshold', 0, MAX_U32)
    lower = _int(pick('lower_threshold', 0), p + 'lower_threshold', 0, MAX_U32)
    if lower and (not upper or lower > upper):
        raise IPVSError("%slower_threshold: %d needs an upper_threshold >= it (the kernel refuses "
                        "lower > upper; 0 means no limit)" % (p, lower))
    return {'address': address, 'port': port, 'forwarding': forwarding, 'weight': weight,
            'upper_threshold': upper, 'lower_threshold': lower}


def normalize_timeouts(params):
    """ipvs_timeouts options -> dict of the ones given (None = leave alone)."""
    wanted = {}
    for name in ('tcp', 'tcpfin', 'udp'):
        if params.get(name) is not None:
            wanted[name] = _int(params[name], name, 1, MAX_TIMEOUT)
    if not wanted:
        raise IPVSError("tcp, tcpfin, udp: give at least one timeout in seconds")
    return wanted


# ---------------------------------------------------------------------------
# ipvsadm-save -n format
# ---------------------------------------------------------------------------

_SERVICE_TYPE_OPTS = {'-t': 'tcp', '--tcp-service': 'tcp', '-u': 'udp', '--udp-service': 'udp',
                      '-f': 'fwmark', '--fwmark-service': 'fwmark'}


def _split_hostport(text, field):
    """'1.2.3.4:80' / '[2001:db8::1]:80' / '1.2.3.4' -> (address, port or None)."""
    if text.startswith('['):
        end = text.find(']')
        if end < 0:
            raise IPVSError("%s: %r has no closing ]" % (field, text))
        host, rest = text[1:end], text[end + 1:]
        if rest == '':
            return host, None
        if not rest.startswith(':'):
            raise IPVSError("%s: %r: expected [IPv6]:port" % (field, text))
        return host, rest[1:]
    if text.count(':') == 1:
        host, port = text.split(':')
        return host, port
    return text, None


def parse_save(text):
    """Parse ipvsadm-save -n / ipvsadm -S rules into ipvs_table service entries.

    Returns a list of dicts using ipvs_table's option names (each with a realservers
    list).  Errors name the line: "rules line N (...): field: problem".
    """
    services = []
    by_key = {}
    normalized = {}     # validated once per service, not once per real-server line
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        where = "rules line %d (%s)" % (number, line)
        try:
            # shlex is slow and ipvsadm-save never quotes: use it only when needed.
            tokens = shlex.split(line) if ('"' in line or "'" in line or '\\' in line) else line.split()
        except ValueError as exc:
            raise IPVSError("%s: %s" % (where, exc))
        try:
            command, opts = _parse_rule_tokens(tokens)
            if command == 'service':
                entry = {'protocol': opts['protocol'], 'address': opts.get('address'),
                         'port': opts.get('port'), 'fwmark': opts.get('fwmark'),
                         'family': opts.get('family'),
                         'scheduler': opts.get('scheduler', 'wlc'),
                         'scheduler_flags': opts.get('scheduler_flags', []),
                         'persistence_timeout': opts.get('persistence_timeout'),
                         'persistence_netmask': opts.get('persistence_netmask'),
                         'one_packet': opts.get('one_packet', False),
                         'realservers': []}
                if entry['protocol'] != 'fwmark' and entry['port'] is None:
                    entry['port'] = 0   # ipvsadm: no port = all ports
                svc = normalize_service(entry)
                key = service_key(svc)
                if key in by_key:
                    raise IPVSError("service: %s is defined twice" % format_service_key(key))
                by_key[key] = entry
                normalized[key] = svc
                services.append(entry)
            else:
                probe = {'protocol': opts['protocol'], 'address': opts.get('address'),
                         'port': opts.get('port'), 'fwmark': opts.get('fwmark'),
                         'family': opts.get('family')}
                key = _rule_service_key(probe)
                if key not in by_key:
                    raise IPVSError("service: %s has no -A line before this real server"
                                    % format_service_key(key))
                entry = by_key[key]
                server = {'address': opts.get('server_address'), 'port': opts.get('server_port'),
                          'forwarding': opts.get('forwarding', 'dr'),
                          'weight': opts.get('weight', 1),
                          'upper_threshold': opts.get('upper_threshold', 0),
                          'lower_threshold': opts.get('lower_threshold', 0)}
                normalize_realserver(server, normalized[key], 'realserver ')
                entry['realservers'].append(server)
        except IPVSError as exc:
            raise IPVSError("%s: %s" % (where, exc))
    return services


def _rule_service_key(probe):
    if probe['protocol'] == 'fwmark':
        return ('fwmark', probe.get('family') or 'ipv4', _int(probe['fwmark'], 'fwmark', 1, MAX_U32))
    family, address = normalize_address(probe['address'], 'service address')
    port = 0 if probe['port'] is None else _int(probe['port'], 'service port', 0, 65535)
    return (probe['protocol'], family, address, port)


def _parse_rule_tokens(tokens):
    if not tokens:
        raise IPVSError("empty rule")
    head = tokens[0]
    if head in ('-A', '--add-service'):
        command = 'service'
    elif head in ('-a', '--add-server'):
        command = 'server'
    else:
        raise IPVSError("command: %r is not supported in rules; only -A (add service) and -a "
                        "(add real server) lines, as ipvsadm-save -n writes them" % head)
    opts = {}
    i = 1

    def value():
        if i + 1 >= len(tokens):
            raise IPVSError("%s: needs a value" % tokens[i])
        return tokens[i + 1]

    while i < len(tokens):
        tok = tokens[i]
        if tok in _SERVICE_TYPE_OPTS:
            if 'protocol' in opts:
                raise IPVSError("%s: the service is already given as %s" % (tok, opts['protocol']))
            opts['protocol'] = _SERVICE_TYPE_OPTS[tok]
            arg = value()
            if opts['protocol'] == 'fwmark':
                opts['fwmark'] = _int(arg, 'fwmark', 1, MAX_U32)
            else:
                opts['address'], opts['port'] = _split_hostport(arg, 'service address')
            i += 2
        elif tok in ('-6', '--ipv6'):
            opts['family'] = 'ipv6'
            i += 1
        elif tok in ('-s', '--scheduler') and command == 'service':
            opts['scheduler'] = value()
            i += 2
        elif tok in ('-b', '--sched-flags') and command == 'service':
            opts['scheduler_flags'] = [f for f in value().split(',') if f]
            i += 2
        elif tok in ('-p', '--persistent') and command == 'service':
            # The timeout is optional in ipvsadm: a bare -p means 300 s.
            if i + 1 < len(tokens) and not tokens[i + 1].startswith('-'):
                opts['persistence_timeout'] = _int(tokens[i + 1], 'persistence_timeout', 1, MAX_TIMEOUT)
                i += 2
            else:
                opts['persistence_timeout'] = DEFAULT_PERSISTENCE
                i += 1
        elif tok in ('-M', '--netmask') and command == 'service':
            opts['persistence_netmask'] = value()
            i += 2
        elif tok in ('-o', '--ops') and command == 'service':
            opts['one_packet'] = True
            i += 1
        elif tok in ('-r', '--real-server') and command == 'server':
            opts['server_address'], opts['server_port'] = _split_hostport(value(), 'realserver address')
            i += 2
        elif tok in ('-g', '--gatewaying', '-i', '--ipip', '-m', '--masquerading') and command == 'server':
            if 'forwarding' in opts:
                raise IPVSError("forwarding: given twice (%s)" % tok)
            opts['forwarding'] = {'-g': 'dr', '--gatewaying': 'dr', '-i': 'tun', '--ipip': 'tun',
                                  '-m': 'nat', '--masquerading': 'nat'}[tok]
            i += 1
        elif tok in ('-w', '--weight') and command == 'server':
            opts['weight'] = _int(value(), 'weight', 0, MAX_WEIGHT)
            i += 2
        elif tok in ('-x', '--u-threshold') and command == 'server':
            opts['upper_threshold'] = _int(value(), 'upper_threshold', 0, MAX_U32)
            i += 2
        elif tok in ('-y', '--l-threshold') and command == 'server':
            opts['lower_threshold'] = _int(value(), 'lower_threshold', 0, MAX_U32)
            i += 2
        elif tok == '--tun-type' and command == 'server':
            if value() != 'ipip':
                raise IPVSError("--tun-type: only ipip tunnels are supported, not %r" % value())
            i += 2
        else:
            raise IPVSError("option: %r is not supported here" % tok)
    if 'protocol' not in opts:
        raise IPVSError("service: needs -t, -u or -f")
    if opts.get('family') == 'ipv6' and opts['protocol'] != 'fwmark':
        opts.pop('family')   # ipvsadm accepts a redundant -6; the address says it
    if command == 'server' and 'server_address' not in opts:
        raise IPVSError("realserver address: an -a line needs -r ADDRESS[:PORT]")
    return command, opts


def service_sort_key(svc):
    """ipvsadm lists services ordered by fwmark, family, protocol, address, port."""
    if svc['protocol'] == 'fwmark':
        return (svc['fwmark'], FAMILIES[svc['family']], 0, 0, 0)
    return (0, FAMILIES[svc['family']], PROTOCOLS[svc['protocol']],
            int(ipaddress.ip_address(svc['address'])), svc['port'])


def _dest_sort_key(dest):
    return (int(ipaddress.ip_address(dest['address'])), dest['port'])


def _service_switch(svc):
    if svc['protocol'] == 'fwmark':
        return '-f %d%s' % (svc['fwmark'], ' -6' if svc['family'] == 'ipv6' else '')
    return '-%s %s' % (svc['protocol'][0], _hostport(svc['family'], svc['address'], svc['port']))


def render_service_lines(svc):
    """The -A line and -a lines of one service, as ipvsadm -S -n writes them."""
    switch = _service_switch(svc)
    line = '-A %s -s %s' % (switch, svc['scheduler'])
    if svc['persistence_timeout']:
        line += ' -p %d' % svc['persistence_timeout']
        if svc['persistence_netmask'] != default_netmask(svc['family']):
            line += ' -M %s' % svc['persistence_netmask']
    if svc['scheduler_flags']:
        line += ' -b %s' % ','.join(svc['scheduler_flags'])
    if svc['one_packet']:
        line += ' -o'
    lines = [line]
    for dest in sorted(svc.get('realservers', {}).values(), key=_dest_sort_key):
        dline = '-a %s -r %s %s -w %d' % (switch, _hostport(svc['family'], dest['address'], dest['port']),
                                          FORWARDING_SWITCH[dest['forwarding']], dest['weight'])
        if dest['forwarding'] == 'tun':
            dline += ' --tun-type ipip'     # as ipvsadm 1.31 writes every tunnel real server
        # ipvsadm -S does not write thresholds; we do, so the text round-trips.
        if dest['upper_threshold']:
            dline += ' -x %d' % dest['upper_threshold']
        if dest['lower_threshold']:
            dline += ' -y %d' % dest['lower_threshold']
        lines.append(dline)
    return lines


def render_save(services):
    """Services (an iterable of service dicts with realservers) as ipvsadm-save -n text."""
    lines = []
    for svc in sorted(services, key=service_sort_key):
        lines.extend(render_service_lines(svc))
    return ''.join(line + '\n' for line in lines)


# ---------------------------------------------------------------------------
# Plan: wanted vs live (pure)
# ---------------------------------------------------------------------------

SERVICE_SETTINGS = ('scheduler', 'scheduler_flags', 'persistence_timeout', 'persistence_netmask',
                    'one_packet')
DEST_SETTINGS = ('forwarding', 'weight', 'upper_threshold', 'lower_threshold')


def _service_settings(svc):
    persistent = bool(svc['persistence_timeout'])
    # Timeout and netmask mean nothing (and ipvsadm leaves junk there) unless persistent.
    return (svc['scheduler'], tuple(svc['scheduler_flags']), svc['persistence_timeout'],
            svc['persistence_netmask'] if persistent else None, svc['one_packet'])


def _dest_settings(dest):
    return tuple(dest[name] for name in DEST_SETTINGS)


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
            text += ' realserver %s' % _hostport(self.service['family'], self.dest['address'],
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
        return [Op('set', 'dest', svc, wanted_dest)]
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
            raise IPVSError("%srealservers[%d].address: %s port %d is listed twice"
                            % (field_prefix, index, dest['address'], dest['port']))
        dests[key] = dest
    svc['realservers'] = dests
    return svc


def build_wanted_table(entries):
    services = []
    seen = set()
    for index, entry in enumerate(entries):
        svc = build_wanted_service(entry, 'services[%d].' % index)
        key = service_key(svc)
        if key in seen:
            raise IPVSError("services[%d]: %s is listed twice" % (index, format_service_key(key)))
        seen.add(key)
        services.append(svc)
    return services


def public_service(svc, with_stats=False):
    """A service as modules return it (realservers as a list)."""
    out = dict((k, v) for k, v in svc.items() if k not in ('realservers', 'stats'))
    out['realservers'] = [public_dest(d, with_stats) for d in
                          sorted(svc.get('realservers', {}).values(), key=_dest_sort_key)]
    if with_stats and 'stats' in svc:
        out['stats'] = svc['stats']
    return out


def public_dest(dest, with_stats=False):
    keys = ('address', 'port') + DEST_SETTINGS
    if with_stats:
        keys += ('active_connections', 'inactive_connections', 'persistent_connections', 'stats')
    return dict((k, dest[k]) for k in keys if k in dest)


# ---------------------------------------------------------------------------
# Netlink: message layout (the kernel ABI, include/uapi/linux/ip_vs.h)
# ---------------------------------------------------------------------------

def _load_netlink():
    """Import pyroute2 and describe the IPVS messages on its generic netlink classes."""
    global HAS_PYROUTE2, PYROUTE2_IMPORT_ERROR, NetlinkError, IPVSMessage, _IPVSSocket
    global NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP
    if HAS_PYROUTE2 is not None:
        return HAS_PYROUTE2
    try:
        from pyroute2.netlink import genlmsg, nla
        from pyroute2.netlink import NLM_F_REQUEST as request, NLM_F_ACK as ack, NLM_F_DUMP as dump
        from pyroute2.netlink.generic import GenericNetlinkSocket, AsyncGenericNetlinkSocket
        from pyroute2.netlink.exceptions import NetlinkError as netlink_error
    except ImportError:
        HAS_PYROUTE2 = False
        PYROUTE2_IMPORT_ERROR = traceback.format_exc()
        return False

    class _stats_mixin(object):
        class stats(nla):
            nla_map = (('IPVS_STATS_ATTR_UNSPEC', 'none'),
                       ('IPVS_STATS_ATTR_CONNS', 'uint32'),
                       ('IPVS_STATS_ATTR_INPKTS', 'uint32'),
                       ('IPVS_STATS_ATTR_OUTPKTS', 'uint32'),
                       ('IPVS_STATS_ATTR_INBYTES', 'uint64'),
                       ('IPVS_STATS_ATTR_OUTBYTES', 'uint64'),
                       ('IPVS_STATS_ATTR_CPS', 'uint32'),
                       ('IPVS_STATS_ATTR_INPPS', 'uint32'),
                       ('IPVS_STATS_ATTR_OUTPPS', 'uint32'),
                       ('IPVS_STATS_ATTR_INBPS', 'uint32'),
                       ('IPVS_STATS_ATTR_OUTBPS', 'uint32'))

        class stats64(nla):
            nla_map = (('IPVS_STATS_ATTR_UNSPEC', 'none'),
                       ('IPVS_STATS_ATTR_CONNS', 'uint64'),
                       ('IPVS_STATS_ATTR_INPKTS', 'uint64'),
                       ('IPVS_STATS_ATTR_OUTPKTS', 'uint64'),
                       ('IPVS_STATS_ATTR_INBYTES', 'uint64'),
                       ('IPVS_STATS_ATTR_OUTBYTES', 'uint64'),
                       ('IPVS_STATS_ATTR_CPS', 'uint64'),
                       ('IPVS_STATS_ATTR_INPPS', 'uint64'),
                       ('IPVS_STATS_ATTR_OUTPPS', 'uint64'),
                       ('IPVS_STATS_ATTR_INBPS', 'uint64'),
                       ('IPVS_STATS_ATTR_OUTBPS', 'uint64'))

    class _IPVSMessage(genlmsg):
        prefix = 'IPVS_CMD_ATTR_'
        nla_map = (('IPVS_CMD_ATTR_UNSPEC', 'none'),
                   ('IPVS_CMD_ATTR_SERVICE', 'service'),
                   ('IPVS_CMD_ATTR_DEST', 'dest'),
                   ('IPVS_CMD_ATTR_DAEMON', 'hex'),
                   # u32 seconds; pyroute2 types these "hex"
                   ('IPVS_CMD_ATTR_TIMEOUT_TCP', 'uint32'),
                   ('IPVS_CMD_ATTR_TIMEOUT_TCP_FIN', 'uint32'),
                   ('IPVS_CMD_ATTR_TIMEOUT_UDP', 'uint32'))

        class service(nla, _stats_mixin):
            prefix = 'IPVS_SVC_ATTR_'
            nla_map = (('IPVS_SVC_ATTR_UNSPEC', 'none'),
                       ('IPVS_SVC_ATTR_AF', 'uint16'),
                       ('IPVS_SVC_ATTR_PROTOCOL', 'uint16'),
                       ('IPVS_SVC_ATTR_ADDR', 'target(nla,IPVS_SVC_ATTR_AF)'),
                       ('IPVS_SVC_ATTR_PORT', 'be16'),
                       ('IPVS_SVC_ATTR_FWMARK', 'uint32'),
                       ('IPVS_SVC_ATTR_SCHED_NAME', 'asciiz'),
                       ('IPVS_SVC_ATTR_FLAGS', 'flags'),
                       ('IPVS_SVC_ATTR_TIMEOUT', 'uint32'),
                       # __be32 mask for IPv4, plain prefix length for IPv6: carry it raw.
                       ('IPVS_SVC_ATTR_NETMASK', 'uint32'),
                       ('IPVS_SVC_ATTR_STATS', 'stats'),
                       ('IPVS_SVC_ATTR_PE_NAME', 'asciiz'),
                       ('IPVS_SVC_ATTR_STATS64', 'stats64'))

            class flags(nla):
                fields = (('flags', 'I'), ('mask', 'I'))

        class dest(nla, _stats_mixin):
            prefix = 'IPVS_DEST_ATTR_'
            nla_map = (('IPVS_DEST_ATTR_UNSPEC', 'none'),
                       ('IPVS_DEST_ATTR_ADDR', 'target(nla,IPVS_DEST_ATTR_ADDR_FAMILY)'),
                       ('IPVS_DEST_ATTR_PORT', 'be16'),
                       ('IPVS_DEST_ATTR_FWD_METHOD', 'uint32'),
                       ('IPVS_DEST_ATTR_WEIGHT', 'uint32'),
                       ('IPVS_DEST_ATTR_U_THRESH', 'uint32'),
                       ('IPVS_DEST_ATTR_L_THRESH', 'uint32'),
                       ('IPVS_DEST_ATTR_ACTIVE_CONNS', 'uint32'),
                       ('IPVS_DEST_ATTR_INACT_CONNS', 'uint32'),
                       ('IPVS_DEST_ATTR_PERSIST_CONNS', 'uint32'),
                       ('IPVS_DEST_ATTR_STATS', 'stats'),
                       ('IPVS_DEST_ATTR_ADDR_FAMILY', 'uint16'),
                       ('IPVS_DEST_ATTR_STATS64', 'stats64'),
                       ('IPVS_DEST_ATTR_TUN_TYPE', 'uint8'),
                       ('IPVS_DEST_ATTR_TUN_PORT', 'be16'),
                       ('IPVS_DEST_ATTR_TUN_FLAGS', 'uint16'))

    class _QuietAsyncSocket(AsyncGenericNetlinkSocket):
        # pyroute2 logs "protocol not found" at error level; we report it ourselves.
        module_err_level = 'debug'

    class _Socket(GenericNetlinkSocket):
        async_class = _QuietAsyncSocket

    NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = request, ack, dump
    NetlinkError = netlink_error
    IPVSMessage = _IPVSMessage
    _IPVSSocket = _Socket
    HAS_PYROUTE2 = True
    return True


def netmask_to_wire(svc):
    if svc['family'] == 'ipv6':
        return int(svc['persistence_netmask'])
    return struct.unpack('=I', socket.inet_aton(svc['persistence_netmask']))[0]


def netmask_from_wire(family, raw):
    if family == 'ipv6':
        return int(raw)
    return socket.inet_ntoa(struct.pack('=I', raw))


def _service_flags(svc):
    flags = 0
    if svc['persistence_timeout']:
        flags |= SVC_F_PERSISTENT
    if svc['one_packet']:
        flags |= SVC_F_ONEPACKET
    for name in svc['scheduler_flags']:
        flags |= SCHED_FLAG_BITS[name][1]
    return flags


def service_key_attrs(svc):
    """The lookup key, sent explicitly (fwmark services: family + mark only)."""
    attrs = [('IPVS_SVC_ATTR_AF', FAMILIES[svc['family']])]
    if svc['protocol'] == 'fwmark':
        attrs.append(('IPVS_SVC_ATTR_FWMARK', svc['fwmark']))
    else:
        attrs.extend([('IPVS_SVC_ATTR_PROTOCOL', PROTOCOLS[svc['protocol']]),
                      ('IPVS_SVC_ATTR_ADDR', svc['address']),
                      ('IPVS_SVC_ATTR_PORT', svc['port'])])
    return attrs


def service_full_attrs(svc):
    """Key plus every setting the kernel needs for NEW/SET (it requires all four)."""
    return service_key_attrs(svc) + [
        ('IPVS_SVC_ATTR_SCHED_NAME', svc['scheduler']),
        ('IPVS_SVC_ATTR_FLAGS', {'flags': _service_flags(svc), 'mask': SVC_F_MANAGED}),
        ('IPVS_SVC_ATTR_TIMEOUT', svc['persistence_timeout']),
        ('IPVS_SVC_ATTR_NETMASK', netmask_to_wire(svc)),
    ]


def dest_key_attrs(svc, dest):
    return [('IPVS_DEST_ATTR_ADDR_FAMILY', FAMILIES[svc['family']]),
            ('IPVS_DEST_ATTR_ADDR', dest['address']),
            ('IPVS_DEST_ATTR_PORT', dest['port'])]


def dest_full_attrs(svc, dest):
    return dest_key_attrs(svc, dest) + [
        ('IPVS_DEST_ATTR_FWD_METHOD', FORWARDING[dest['forwarding']]),
        ('IPVS_DEST_ATTR_WEIGHT', dest['weight']),
        ('IPVS_DEST_ATTR_U_THRESH', dest['upper_threshold']),
        ('IPVS_DEST_ATTR_L_THRESH', dest['lower_threshold']),
    ]


_STATS_NAMES = (('IPVS_STATS_ATTR_CONNS', 'connections'),
                ('IPVS_STATS_ATTR_INPKTS', 'packets_in'),
                ('IPVS_STATS_ATTR_OUTPKTS', 'packets_out'),
                ('IPVS_STATS_ATTR_INBYTES', 'bytes_in'),
                ('IPVS_STATS_ATTR_OUTBYTES', 'bytes_out'),
                ('IPVS_STATS_ATTR_CPS', 'connections_per_second'),
                ('IPVS_STATS_ATTR_INPPS', 'packets_in_per_second'),
                ('IPVS_STATS_ATTR_OUTPPS', 'packets_out_per_second'),
                ('IPVS_STATS_ATTR_INBPS', 'bytes_in_per_second'),
                ('IPVS_STATS_ATTR_OUTBPS', 'bytes_out_per_second'))


def _stats(attr, prefix):
    stats = attr.get_attr(prefix + 'STATS64') or attr.get_attr(prefix + 'STATS')
    if stats is None:
        return {}
    return dict((name, stats.get_attr(nla_name) or 0) for nla_name, name in _STATS_NAMES)


def service_from_nla(attr):
    """A dumped IPVS_CMD_ATTR_SERVICE -> canonical service dict (+ stats)."""
    family = FAMILY_BY_NUMBER.get(attr.get_attr('IPVS_SVC_ATTR_AF'), 'ipv4')
    fwmark = attr.get_attr('IPVS_SVC_ATTR_FWMARK') or 0
    flags_attr = attr.get_attr('IPVS_SVC_ATTR_FLAGS') or {}
    flags = flags_attr.get('flags', 0) if hasattr(flags_attr, 'get') else 0
    scheduler = attr.get_attr('IPVS_SVC_ATTR_SCHED_NAME') or ''
    svc = {'family': family, 'scheduler': scheduler}
    if fwmark:
        svc.update(protocol='fwmark', fwmark=fwmark, address=None, port=None)
    else:
        number = attr.get_attr('IPVS_SVC_ATTR_PROTOCOL')
        svc.update(protocol=PROTOCOL_BY_NUMBER.get(number, 'proto%s' % number),
                   address=str(ipaddress.ip_address(attr.get_attr('IPVS_SVC_ATTR_ADDR'))),
                   port=attr.get_attr('IPVS_SVC_ATTR_PORT'), fwmark=None)
    persistent = bool(flags & SVC_F_PERSISTENT)
    svc['persistence_timeout'] = (attr.get_attr('IPVS_SVC_ATTR_TIMEOUT') or 0) if persistent else 0
    raw_mask = attr.get_attr('IPVS_SVC_ATTR_NETMASK')
    svc['persistence_netmask'] = (netmask_from_wire(family, raw_mask) if persistent and raw_mask is not None
                                  else default_netmask(family))
    svc['one_packet'] = bool(flags & SVC_F_ONEPACKET)
    svc['scheduler_flags'] = sorted(name for name, (sched, bit) in SCHED_FLAG_BITS.items()
                                    if sched == scheduler and flags & bit)
    svc['stats'] = _stats(attr, 'IPVS_SVC_ATTR_')
    svc['realservers'] = {}
    return svc


def dest_from_nla(attr):
    fwd = (attr.get_attr('IPVS_DEST_ATTR_FWD_METHOD') or 0) & CONN_F_FWD_MASK
    return {'address': str(ipaddress.ip_address(attr.get_attr('IPVS_DEST_ATTR_ADDR'))),
            'port': attr.get_attr('IPVS_DEST_ATTR_PORT') or 0,
            'forwarding': FORWARDING_BY_CODE.get(fwd, 'fwd%d' % fwd),
            'weight': attr.get_attr('IPVS_DEST_ATTR_WEIGHT') or 0,
            'upper_threshold': attr.get_attr('IPVS_DEST_ATTR_U_THRESH') or 0,
            'lower_threshold': attr.get_attr('IPVS_DEST_ATTR_L_THRESH') or 0,
            'active_connections': attr.get_attr('IPVS_DEST_ATTR_ACTIVE_CONNS') or 0,
            'inactive_connections': attr.get_attr('IPVS_DEST_ATTR_INACT_CONNS') or 0,
            'persistent_connections': attr.get_attr('IPVS_DEST_ATTR_PERSIST_CONNS') or 0,
            'stats': _stats(attr, 'IPVS_DEST_ATTR_')}


# ---------------------------------------------------------------------------
# Netlink: the session
# ---------------------------------------------------------------------------

_GONE = (errno.ENOENT, errno.ESRCH)


class IPVSSession(object):
    """One generic netlink socket bound to the IPVS family, for one module run."""

    def __init__(self, family_name='IPVS'):
        if not _load_netlink():
            raise IPVSError("pyroute2 is not importable")
        self._sock = _IPVSSocket()
        try:
            self._sock.bind(family_name, IPVSMessage)
        except NetlinkError as exc:
            self._sock.close()
            if exc.code == errno.ENOENT:
                raise IPVSError("the kernel has no IPVS generic netlink family: %s" % MODPROBE_HINT)
            raise IPVSError("cannot open the IPVS netlink family: %s" % (exc,))

    def close(self):
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _request(self, cmd, attrs, dump=False):
        msg = IPVSMessage()
        msg['cmd'] = cmd
        msg['version'] = 1
        msg['attrs'] = attrs
        flags = NLM_F_REQUEST | (NLM_F_DUMP if dump else NLM_F_ACK)
        return tuple(self._sock.nlm_request(msg, msg_type=self._sock.prid, msg_flags=flags))

    # -- reading ---------------------------------------------------------

    def services(self):
        try:
            msgs = self._request(CMD_GET_SERVICE, [], dump=True)
        except NetlinkError as exc:
            raise IPVSError("reading the IPVS services failed: %s" % (exc,))
        return [service_from_nla(m.get_attr('IPVS_CMD_ATTR_SERVICE'))
                for m in msgs
                if m.get_attr('IPVS_CMD_ATTR_SERVICE') is not None]

    def dests(self, svc):
        try:
            msgs = self._request(CMD_GET_DEST, [('IPVS_CMD_ATTR_SERVICE',
                                                 {'attrs': service_key_attrs(svc)})], dump=True)
        except NetlinkError as exc:
            if exc.code in _GONE:     # removed under us
                return {}
            raise IPVSError("reading the real servers of %s failed: %s"
                            % (format_service_key(service_key(svc)), exc))
        dests = {}
        for m in msgs:
            attr = m.get_attr('IPVS_CMD_ATTR_DEST')
            if attr is not None:
                dest = dest_from_nla(attr)
                dests[dest_key(dest)] = dest
        return dests

    def table(self, keys=None):
        """The live table {key: service with realservers}; dests only for KEYS if given."""
        table = {}
        for svc in self.services():
            key = service_key(svc)
            if keys is None or key in keys:
                svc['realservers'] = self.dests(svc)
            table[key] = svc
        return table

    def timeouts(self):
        try:
            msgs = self._request(CMD_GET_CONFIG, [])
        except NetlinkError as exc:
            raise IPVSError("reading the IPVS timeouts failed: %s" % (exc,))
        for m in msgs:
            if m.get_attr('IPVS_CMD_ATTR_TIMEOUT_TCP') is not None:
                return {'tcp': m.get_attr('IPVS_CMD_ATTR_TIMEOUT_TCP'),
                        'tcpfin': m.get_attr('IPVS_CMD_ATTR_TIMEOUT_TCP_FIN'),
                        'udp': m.get_attr('IPVS_CMD_ATTR_TIMEOUT_UDP')}
        raise IPVSError("the kernel sent no timeouts for IPVS GET_CONFIG")

    def set_timeouts(self, wanted):
        # 0 means "leave as is" to the kernel, so send only what changes.
        attrs = []
        for name, attr in (('tcp', 'IPVS_CMD_ATTR_TIMEOUT_TCP'), ('tcpfin', 'IPVS_CMD_ATTR_TIMEOUT_TCP_FIN'),
                           ('udp', 'IPVS_CMD_ATTR_TIMEOUT_UDP')):
            if name in wanted:
                attrs.append((attr, wanted[name]))
        try:
            self._request(CMD_SET_CONFIG, attrs)
        except NetlinkError as exc:
            raise IPVSError("setting the IPVS timeouts %s failed: %s" % (wanted, exc))

    # -- writing ---------------------------------------------------------

    def _service_cmd(self, cmd, svc):
        attrs = service_key_attrs(svc) if cmd == CMD_DEL_SERVICE else service_full_attrs(svc)
        self._request(cmd, [('IPVS_CMD_ATTR_SERVICE', {'attrs': attrs})])

    def _dest_cmd(self, cmd, svc, dest):
        attrs = dest_key_attrs(svc, dest) if cmd == CMD_DEL_DEST else dest_full_attrs(svc, dest)
        self._request(cmd, [('IPVS_CMD_ATTR_SERVICE', {'attrs': service_key_attrs(svc)}),
                            ('IPVS_CMD_ATTR_DEST', {'attrs': attrs})])

    def apply(self, op):
        """Run one Op; a concurrent change that already did the job is not an error."""
        try:
            self._apply(op)
        except NetlinkError as exc:
            raise IPVSError(_explain(op, exc))

    def _apply(self, op):
        # The kernel says "no such service" with ESRCH and "no such real server" with
        # ENOENT; ENOENT on a service command means a missing scheduler module.
        svc, dest = op.service, op.dest
        if op.kind == 'service':
            if op.action == 'add':
                try:
                    self._service_cmd(CMD_NEW_SERVICE, svc)
                except NetlinkError as exc:
                    if exc.code != errno.EEXIST:    # someone added it: make it ours
                        raise
                    self._service_cmd(CMD_SET_SERVICE, svc)
            elif op.action == 'set':
                try:
                    self._service_cmd(CMD_SET_SERVICE, svc)
                except NetlinkError as exc:
                    if exc.code != errno.ESRCH:     # someone removed it: add it back
                        raise
                    self._service_cmd(CMD_NEW_SERVICE, svc)
            else:
                try:
                    self._service_cmd(CMD_DEL_SERVICE, svc)
                except NetlinkError as exc:
                    if exc.code != errno.ESRCH:
                        raise
        else:
            if op.action == 'add':
                try:
                    self._dest_cmd(CMD_NEW_DEST, svc, dest)
                except NetlinkError as exc:
                    if exc.code != errno.EEXIST:
                        raise
                    self._dest_cmd(CMD_SET_DEST, svc, dest)
            elif op.action == 'set':
                try:
                    self._dest_cmd(CMD_SET_DEST, svc, dest)
                except NetlinkError as exc:
                    if exc.code != errno.ENOENT:
                        raise
                    self._dest_cmd(CMD_NEW_DEST, svc, dest)
            else:
                try:
                    self._dest_cmd(CMD_DEL_DEST, svc, dest)
                except NetlinkError as exc:
                    if exc.code not in (errno.ENOENT, errno.ESRCH):   # gone, alone or with its service
                        raise

    # Operations per sendmsg(); ~100 bytes each, well inside the socket buffers.
    BATCH = 256

    def _op_message(self, op):
        cmd = {('add', 'service'): CMD_NEW_SERVICE, ('set', 'service'): CMD_SET_SERVICE,
               ('del', 'service'): CMD_DEL_SERVICE, ('add', 'dest'): CMD_NEW_DEST,
               ('set', 'dest'): CMD_SET_DEST, ('del', 'dest'): CMD_DEL_DEST}[(op.action, op.kind)]
        if op.kind == 'service':
            attrs = service_key_attrs(op.service) if op.action == 'del' else service_full_attrs(op.service)
            attrs = [('IPVS_CMD_ATTR_SERVICE', {'attrs': attrs})]
        else:
            dest = dest_key_attrs(op.service, op.dest) if op.action == 'del' else dest_full_attrs(op.service, op.dest)
            attrs = [('IPVS_CMD_ATTR_SERVICE', {'attrs': service_key_attrs(op.service)}),
                     ('IPVS_CMD_ATTR_DEST', {'attrs': dest})]
        msg = IPVSMessage()
        msg['cmd'] = cmd
        msg['version'] = 1
        msg['attrs'] = attrs
        msg['header']['type'] = self._sock.prid
        msg['header']['flags'] = NLM_F_REQUEST | NLM_F_ACK
        return msg

    def apply_all(self, ops):
        """Apply OPS in order.  Large plans go out in batches (many requests per
        sendmsg, the kernel handles them in order and acks each); a batch that meets any
        error is replayed one operation at a time through apply(), which knows what each
        error means.  Replaying is safe: every operation is idempotent under apply()."""
        if len(ops) < 4:
            for op in ops:
                self.apply(op)
            return
        for start in range(0, len(ops), self.BATCH):
            chunk = ops[start:start + self.BATCH]
            try:
                self._sock.nlm_request_batch([self._op_message(op) for op in chunk])
            except NetlinkError:
                for op in chunk:
                    self.apply(op)


def _explain(op, exc):
    code = getattr(exc, 'code', 0)
    what = op.describe()
    if op.kind == 'service' and op.action != 'del' and code == errno.ENOENT:
        return ("%s: scheduler %s is not available in this kernel (load ip_vs_%s, or pick another)"
                % (what, op.service['scheduler'], op.service['scheduler']))
    if code == errno.ESRCH:
        return "%s: the service does not exist (any more)" % what
    return "%s: the kernel refused it: %s" % (what, exc)


def wait_drained(session, svc, dest, timeout, interval=1.0, clock=time.monotonic, sleep=time.sleep):
    """Poll until DEST of SVC has no active or inactive connections; return the last counts."""
    deadline = clock() + timeout
    while True:
        current = session.dests(svc).get(dest_key(dest))
        if current is None:
            return {'active_connections': 0, 'inactive_connections': 0, 'drained': True}
        counts = {'active_connections': current['active_connections'],
                  'inactive_connections': current['inactive_connections']}
        if not counts['active_connections'] and not counts['inactive_connections']:
            counts['drained'] = True
            return counts
        if clock() >= deadline:
            counts['drained'] = False
            return counts
        sleep(min(interval, max(0.0, deadline - clock())))


# ---------------------------------------------------------------------------
# Module glue shared by the ipvs_* modules
# ---------------------------------------------------------------------------

def require_pyroute2(module):
    if not _load_netlink():
        from ansible.module_utils.basic import missing_required_lib
        module.fail_json(msg=missing_required_lib('pyroute2 (>= 0.9.5)'), exception=PYROUTE2_IMPORT_ERROR)


def open_session(module):
    require_pyroute2(module)
    try:
        return IPVSSession()
    except IPVSError as exc:
        module.fail_json(msg=str(exc))


SERVICE_KEY_ARGS = dict(
    protocol=dict(type='str', default='tcp', choices=['tcp', 'udp', 'fwmark']),
    address=dict(type='str'),
    port=dict(type='int'),
    fwmark=dict(type='int'),
    family=dict(type='str', choices=['ipv4', 'ipv6']),
)

SERVICE_SETTING_ARGS = dict(
    scheduler=dict(type='str', default='wlc', choices=list(SCHEDULERS)),
    scheduler_flags=dict(type='list', elements='str', default=[],
                         choices=sorted(SCHED_FLAG_BITS)),
    persistence_timeout=dict(type='int', default=0),
    persistence_netmask=dict(type='str'),
    one_packet=dict(type='bool', default=False),
)

REALSERVER_ARGS = dict(
    address=dict(type='str', required=True),
    port=dict(type='int'),
    forwarding=dict(type='str', default='dr', choices=['nat', 'dr', 'tun']),
    weight=dict(type='int', default=1),
    upper_threshold=dict(type='int', default=0),
    lower_threshold=dict(type='int', default=0),
)


def copy_args(spec):
    return dict((k, dict(v)) for k, v in spec.items())
