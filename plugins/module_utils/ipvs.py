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

Why not ``pyroute2.IPVS``/``IPVSService``: pyroute2's request objects inject defaults
(wlc, timeout 0, a 0xFFFF flag mask), its "update" command is a DELETE, the netmask is
typed as an IPv4 address (IPv6 services carry a prefix length), the config timeouts are
typed "hex" and some releases drop the fwmark from the service key when dumping real
servers.  pyroute2 opens the session (family resolution) and carries GET/SET_CONFIG on
its generic netlink classes; service and real-server messages are packed here from the
kernel ABI with every attribute explicit, because a large table means thousands of them
and the generic classes cost ~100 us of Python each.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import ipaddress
import os
import re
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


IPVSConfigMessage = None
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

# Real-server tunnels (forwarding tun): IP_VS_CONN_F_TUNNEL_TYPE_* (Linux >= 5.2; gre
# >= 5.3) and IP_VS_TUNNEL_ENCAP_FLAG_* (>= 5.3), named as ipvsadm names them.  The
# kernel resets all three when a SET leaves them out, so every SET carries them.
TUN_TYPES = {'ipip': 0, 'gue': 1, 'gre': 2}
TUN_TYPE_BY_CODE = dict((v, k) for k, v in TUN_TYPES.items())
TUN_CSUM = {'nocsum': 0, 'csum': 1, 'remcsum': 2}
TUN_CSUM_BY_CODE = dict((v, k) for k, v in TUN_CSUM.items())
TUN_CSUM_SWITCH = {'nocsum': '--tun-nocsum', 'csum': '--tun-csum', 'remcsum': '--tun-remcsum'}
TUN_CSUM_BY_SWITCH = dict((v, k) for k, v in TUN_CSUM_SWITCH.items())
TUN_FIELDS = ('tun_type', 'tun_port', 'tun_csum')

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
    if isinstance(value, int):      # the common case (parsed rules, typed options): no str()
        number = value
    else:
        try:
            number = int(str(value).strip(), 10)
        except (TypeError, ValueError):
            raise IPVSError("%s: %r is not an integer" % (field, value))
    if number < low or number > high:
        raise IPVSError("%s: %d is out of range, use %d..%d" % (field, number, low, high))
    return number


# Validated addresses by the text they were given as: a rules file names the same real
# servers and VIPs thousands of times.
_ADDRESSES = {}


def normalize_address(value, field):
    """Return (family, canonical text) of a single IP address, or raise naming FIELD."""
    known = _ADDRESSES.get(value) if isinstance(value, str) else None
    if known is not None:
        return known
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
    result = ('ipv4' if address.version == 4 else 'ipv6'), str(address)
    if isinstance(value, str):
        _ADDRESSES[value] = result
    return result


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
    dest = {'address': address, 'port': port, 'forwarding': forwarding, 'weight': weight,
            'upper_threshold': upper, 'lower_threshold': lower}
    dest.update(_normalize_tunnel(params, base, forwarding, p))
    return dest


def _normalize_tunnel(params, base, forwarding, p):
    """tun_type, tun_port, tun_csum of a real server (see normalize_realserver).

    Given ones must make sense for FORWARDING; left out ones come from BASE, else the
    kernel's defaults (ipip, no port, nocsum).  Values the tunnel type does not use are
    kept as they are: the kernel stores them and a SET must not reset them.
    """
    given = [name for name in TUN_FIELDS if params.get(name) is not None]
    if given and forwarding != 'tun':
        raise IPVSError("%s%s: tunnel options only apply to forwarding tun (forwarding is %s); "
                        "remove %s or set forwarding: tun" % (p, given[0], forwarding, given[0]))
    tun_type = params.get('tun_type')
    if tun_type is None:
        tun_type = base.get('tun_type', 'ipip')
    elif tun_type not in TUN_TYPES:
        raise IPVSError("%stun_type: %r is not one of ipip, gue, gre" % (p, tun_type))
    tun_port = params.get('tun_port')
    if tun_port is None:
        tun_port = base.get('tun_port', 0)
    else:
        tun_port = _int(tun_port, p + 'tun_port', 1, 65535)
    csum = params.get('tun_csum')
    if csum is None:
        csum = base.get('tun_csum', 'nocsum')
    elif csum not in TUN_CSUM:
        raise IPVSError("%stun_csum: %r is not one of nocsum, csum, remcsum" % (p, csum))
    if forwarding == 'tun':
        if tun_type == 'gue' and not tun_port:
            raise IPVSError("%stun_port: tun_type gue needs the UDP port the real server receives "
                            "GUE on (its fou listener); set tun_port (1..65535)" % p)
        if params.get('tun_port') is not None and tun_type != 'gue':
            raise IPVSError("%stun_port: only tun_type gue uses a port (tun_type is %s); remove tun_port"
                            % (p, tun_type))
        if params.get('tun_csum') is not None and tun_type == 'ipip':
            raise IPVSError("%stun_csum: ipip tunnels have no checksum option; remove tun_csum or "
                            "use tun_type gue or gre" % p)
        if tun_type == 'gre' and csum == 'remcsum':
            raise IPVSError("%stun_csum: remcsum (remote checksum offload) is only for tun_type gue; "
                            "with gre set tun_csum to nocsum or csum" % p)
    return {'tun_type': tun_type, 'tun_port': tun_port, 'tun_csum': csum}


def normalize_timeouts(params):
    """ipvs_timeouts options -> dict of the ones given (None = leave alone). That at least
    one is given is the module's required_one_of."""
    wanted = {}
    for name in ('tcp', 'tcpfin', 'udp'):
        if params.get(name) is not None:
            wanted[name] = _int(params[name], name, 1, MAX_TIMEOUT)
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
    return _parse_save(text)[0]


def wanted_from_rules(text):
    """Parse and validate rules in one pass: the wanted services (as build_wanted_table
    returns them), each line checked once.  Errors name the line."""
    return _parse_save(text)[1]


# The line ipvsadm-save writes for nearly every real server; such lines skip the general
# option parser (same checks, a tenth of the Python under emulation).
_PLAIN_DEST_LINE = re.compile(r'-a -([tuf]) (\S+) -r (\S+) -([gim]) -w (\d+)\Z')
_FORWARDING_LETTER = {'g': 'dr', 'i': 'tun', 'm': 'nat'}


def _parse_save(text):
    entries = {}        # key -> the service as ipvs_table options (parse_save's result)
    wanted = {}         # key -> validated service with its validated real servers
    rule_keys = {}      # the service as written on a line -> its key (-a lines repeat it)
    plain_keys = {}     # ('t', '192.0.2.1:80') as on a plain -a line -> its key
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        try:
            plain = _PLAIN_DEST_LINE.match(line)
            if plain and (plain.group(1), plain.group(2)) in plain_keys:
                key = plain_keys[(plain.group(1), plain.group(2))]
                address, port = _split_hostport(plain.group(3), 'realserver address')
                server = {'address': address, 'port': port,
                          'forwarding': _FORWARDING_LETTER[plain.group(4)],
                          'weight': _int(int(plain.group(5)), 'weight', 0, MAX_WEIGHT),
                          'upper_threshold': 0, 'lower_threshold': 0}
                _add_rule_dest(wanted[key], entries[key], key, server)
                continue
            # shlex is slow and ipvsadm-save never quotes: use it only when needed.
            tokens = shlex.split(line) if ('"' in line or "'" in line or '\\' in line) else line.split()
            command, opts = _parse_rule_tokens(tokens)
            written = (opts['protocol'], opts.get('address'), opts.get('port'), opts.get('fwmark'),
                       opts.get('family'))
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
                if key in wanted:
                    raise IPVSError("service: %s is defined twice" % format_service_key(key))
                svc['realservers'] = {}
                wanted[key] = svc
                entries[key] = entry
                rule_keys[written] = key
                if len(tokens) > 2 and tokens[1] in ('-t', '-u', '-f') and '-6' not in tokens:
                    plain_keys[(tokens[1][1], tokens[2])] = key
            else:
                key = rule_keys.get(written)
                if key is None:
                    key = _rule_service_key(opts)
                    if key not in wanted:
                        raise IPVSError("service: %s has no -A line before this real server"
                                        % format_service_key(key))
                    rule_keys[written] = key
                server = {'address': opts.get('server_address'), 'port': opts.get('server_port'),
                          'forwarding': opts.get('forwarding', 'dr'),
                          'weight': opts.get('weight', 1),
                          'upper_threshold': opts.get('upper_threshold', 0),
                          'lower_threshold': opts.get('lower_threshold', 0)}
                for name in TUN_FIELDS:
                    if name in opts:
                        server[name] = opts[name]
                _add_rule_dest(wanted[key], entries[key], key, server)
        except (IPVSError, ValueError) as exc:
            raise IPVSError("rules line %d (%s): %s" % (number, line, exc))
    return list(entries.values()), list(wanted.values())


def _add_rule_dest(svc, entry, key, server):
    """Validate SERVER (ipvs_table options) as a real server of SVC, add it to both."""
    dest = normalize_realserver(server, svc, 'realserver ')
    dkey = dest_key(dest)
    if dkey in svc['realservers']:
        raise IPVSError("realserver address: %s port %d is already a real server of %s"
                        % (dest['address'], dest['port'], format_service_key(key)))
    svc['realservers'][dkey] = dest
    entry['realservers'].append(server)


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
            opts['tun_type'] = value()      # checked with the real server (tun_type)
            i += 2
        elif tok == '--tun-port' and command == 'server':
            opts['tun_port'] = _int(value(), 'tun_port', 1, 65535)
            i += 2
        elif tok in TUN_CSUM_BY_SWITCH and command == 'server':
            if 'tun_csum' in opts:
                raise IPVSError("tun_csum: %s contradicts %s given before; give one of --tun-nocsum, "
                                "--tun-csum, --tun-remcsum" % (tok, TUN_CSUM_SWITCH[opts['tun_csum']]))
            opts['tun_csum'] = TUN_CSUM_BY_SWITCH[tok]
            i += 1
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
            dline += _tun_switches(dest)
        # ipvsadm -S does not write thresholds; we do, so the text round-trips.
        if dest['upper_threshold']:
            dline += ' -x %d' % dest['upper_threshold']
        if dest['lower_threshold']:
            dline += ' -y %d' % dest['lower_threshold']
        lines.append(dline)
    return lines


def _tun_switches(dest):
    """A tunnel real server's options as ipvsadm 1.31 -S writes them: --tun-type ipip;
    --tun-type gue --tun-port N --tun-nocsum; --tun-type gre --tun-csum."""
    tun_type = dest['tun_type']
    if tun_type == 'ipip':
        return ' --tun-type ipip'
    if tun_type == 'gue':
        text = ' --tun-type gue --tun-port %d' % dest['tun_port']
    elif tun_type == 'gre':
        text = ' --tun-type gre'
    else:
        return ''           # a type ipvsadm does not know: it writes no tunnel options
    switch = TUN_CSUM_SWITCH.get(dest['tun_csum'])
    return text + (' ' + switch if switch else '')


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


def _tun_managed(dest):
    """The tunnel fields that mean something for DEST; the kernel keeps the others too, and
    they are neither compared nor changed."""
    if dest['forwarding'] != 'tun':
        return ()
    if dest['tun_type'] == 'ipip':
        return ('tun_type',)
    if dest['tun_type'] == 'gre':
        return ('tun_type', 'tun_csum')
    return TUN_FIELDS       # gue, or a type this layer does not know: all of them


def _dest_settings(dest):
    managed = _tun_managed(dest)
    return (tuple(dest[name] for name in DEST_SETTINGS)
            + tuple(dest[name] if name in managed else None for name in TUN_FIELDS))


def _keep_unmanaged(wanted, live):
    """WANTED with the live values of the tunnel fields it does not manage: a SET carries
    every tunnel attribute (the kernel resets the ones left out), so it must carry those
    as they are."""
    managed = _tun_managed(wanted)
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
    out = dict((k, dest[k]) for k in keys if k in dest)
    # The tunnel fields only where they mean something (null elsewhere).
    managed = _tun_managed(dest)
    for name in TUN_FIELDS:
        out[name] = dest[name] if name in managed else None
    return out


# ---------------------------------------------------------------------------
# Netlink: the IPVS messages on the wire (the kernel ABI, include/uapi/linux/ip_vs.h)
# ---------------------------------------------------------------------------
#
# Service and real-server messages are packed and unpacked here with struct: a director
# with 10,000 real servers sends and reads that many messages per run, and pyroute2's
# generic nla classes spend ~100 us of Python on each (seconds on a slow host).  pyroute2
# still opens the session (it resolves the "IPVS" generic netlink family) and carries
# the GET/SET_CONFIG timeout messages, which are one per run.

_NLMSG = struct.Struct('=IHHII')      # len, type, flags, seq, port
_GENL = struct.Struct('=BBH')         # cmd, version, reserved
_NLA = struct.Struct('=HH')           # len, type
_U8 = struct.Struct('=B')
_U16 = struct.Struct('=H')
_BE16 = struct.Struct('!H')
_U32 = struct.Struct('=I')
_I32 = struct.Struct('=i')
_U64 = struct.Struct('=Q')
_FLAGS = struct.Struct('=II')         # struct ip_vs_flags {flags, mask}
_NL_HEADERS = _NLMSG.size + _GENL.size
NLA_F_NESTED = 0x8000
NLA_TYPE_MASK = 0x3fff
NLMSG_ERROR, NLMSG_DONE = 2, 3
NETLINK_GENERIC = 16
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10                  # errors without the request echoed back

CMD_ATTR_SERVICE, CMD_ATTR_DEST = 1, 2
(SVC_ATTR_AF, SVC_ATTR_PROTOCOL, SVC_ATTR_ADDR, SVC_ATTR_PORT, SVC_ATTR_FWMARK,
 SVC_ATTR_SCHED_NAME, SVC_ATTR_FLAGS, SVC_ATTR_TIMEOUT, SVC_ATTR_NETMASK, SVC_ATTR_STATS,
 SVC_ATTR_PE_NAME, SVC_ATTR_STATS64) = range(1, 13)
(DEST_ATTR_ADDR, DEST_ATTR_PORT, DEST_ATTR_FWD_METHOD, DEST_ATTR_WEIGHT, DEST_ATTR_U_THRESH,
 DEST_ATTR_L_THRESH, DEST_ATTR_ACTIVE_CONNS, DEST_ATTR_INACT_CONNS, DEST_ATTR_PERSIST_CONNS,
 DEST_ATTR_STATS, DEST_ATTR_ADDR_FAMILY, DEST_ATTR_STATS64, DEST_ATTR_TUN_TYPE, DEST_ATTR_TUN_PORT,
 DEST_ATTR_TUN_FLAGS) = range(1, 16)
STATS_NAMES = ('connections', 'packets_in', 'packets_out', 'bytes_in', 'bytes_out',
               'connections_per_second', 'packets_in_per_second', 'packets_out_per_second',
               'bytes_in_per_second', 'bytes_out_per_second')   # IPVS_STATS_ATTR_CONNS.. = 1..


def nla(kind, payload):
    """One netlink attribute, padded to 4 bytes."""
    size = _NLA.size + len(payload)
    return _NLA.pack(size, kind) + payload + b'\0' * (-size % 4)


def parse_nlas(buf, start=0, end=None):
    """{attribute type: payload bytes} of the attributes in BUF[START:END]."""
    attrs = {}
    end = len(buf) if end is None else end
    while start + 4 <= end:
        size, kind = _NLA.unpack_from(buf, start)
        if size < 4:
            break
        attrs[kind & NLA_TYPE_MASK] = buf[start + 4:start + size]
        start += (size + 3) & ~3
    return attrs


def _address_bytes(family, text):
    return socket.inet_pton(FAMILIES[family], text)


def _address_text(family, raw):
    # The same spelling normalize_address gives wanted addresses (ipaddress's; for IPv6
    # it differs from inet_ntop's for e.g. IPv4-mapped addresses).
    if family == 'ipv6':
        return str(ipaddress.IPv6Address(bytes(raw[:16])))
    return socket.inet_ntop(socket.AF_INET, raw[:4])


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


def encode_service_key(svc):
    """The lookup key attributes, sent explicitly (fwmark services: family + mark only)."""
    attrs = nla(SVC_ATTR_AF, _U16.pack(FAMILIES[svc['family']]))
    if svc['protocol'] == 'fwmark':
        return attrs + nla(SVC_ATTR_FWMARK, _U32.pack(svc['fwmark']))
    return (attrs + nla(SVC_ATTR_PROTOCOL, _U16.pack(PROTOCOLS[svc['protocol']]))
            + nla(SVC_ATTR_ADDR, _address_bytes(svc['family'], svc['address']))
            + nla(SVC_ATTR_PORT, _BE16.pack(svc['port'])))


def encode_service_settings(svc):
    """Every setting the kernel needs for NEW/SET (it requires all four)."""
    return (nla(SVC_ATTR_SCHED_NAME, svc['scheduler'].encode('ascii') + b'\0')
            + nla(SVC_ATTR_FLAGS, _FLAGS.pack(_service_flags(svc), SVC_F_MANAGED))
            + nla(SVC_ATTR_TIMEOUT, _U32.pack(svc['persistence_timeout']))
            + nla(SVC_ATTR_NETMASK, _U32.pack(netmask_to_wire(svc))))


def encode_dest(svc, dest, settings=True):
    attrs = (nla(DEST_ATTR_ADDR_FAMILY, _U16.pack(FAMILIES[svc['family']]))
             + nla(DEST_ATTR_ADDR, _address_bytes(svc['family'], dest['address']))
             + nla(DEST_ATTR_PORT, _BE16.pack(dest['port'])))
    if settings:
        # The tunnel attributes always: the kernel resets the ones a SET leaves out (a
        # kernel older than 5.2 ignores them).  A value read back that this layer has no
        # name for is an int and goes back as it came.
        tun_type, csum = dest['tun_type'], dest['tun_csum']
        attrs += (nla(DEST_ATTR_FWD_METHOD, _U32.pack(FORWARDING[dest['forwarding']]))
                  + nla(DEST_ATTR_WEIGHT, _U32.pack(dest['weight']))
                  + nla(DEST_ATTR_U_THRESH, _U32.pack(dest['upper_threshold']))
                  + nla(DEST_ATTR_L_THRESH, _U32.pack(dest['lower_threshold']))
                  + nla(DEST_ATTR_TUN_TYPE, _U8.pack(TUN_TYPES.get(tun_type, tun_type)))
                  + nla(DEST_ATTR_TUN_PORT, _BE16.pack(dest['tun_port']))
                  + nla(DEST_ATTR_TUN_FLAGS, _U16.pack(TUN_CSUM.get(csum, csum))))
    return attrs


_OP_COMMANDS = {('add', 'service'): CMD_NEW_SERVICE, ('set', 'service'): CMD_SET_SERVICE,
                ('del', 'service'): CMD_DEL_SERVICE, ('add', 'dest'): CMD_NEW_DEST,
                ('set', 'dest'): CMD_SET_DEST, ('del', 'dest'): CMD_DEL_DEST}


def encode_op(op, service_keys=None):
    """(command, attributes) of one Op.  SERVICE_KEYS caches each service's key bytes:
    a service with many real servers sends the same key with every one of them."""
    cmd = _OP_COMMANDS[(op.action, op.kind)]
    svc = op.service
    if service_keys is None:
        key = encode_service_key(svc)
    else:
        skey = service_key(svc)
        key = service_keys.get(skey)
        if key is None:
            key = service_keys[skey] = encode_service_key(svc)
    if op.kind == 'service':
        body = key if op.action == 'del' else key + encode_service_settings(svc)
        return cmd, nla(CMD_ATTR_SERVICE | NLA_F_NESTED, body)
    return cmd, (nla(CMD_ATTR_SERVICE | NLA_F_NESTED, key)
                 + nla(CMD_ATTR_DEST | NLA_F_NESTED, encode_dest(svc, op.dest, op.action != 'del')))


def _decode_stats(raw):
    stats = dict((name, 0) for name in STATS_NAMES)
    for kind, value in parse_nlas(raw).items():
        if 1 <= kind <= len(STATS_NAMES):
            stats[STATS_NAMES[kind - 1]] = (_U64 if len(value) >= 8 else _U32).unpack_from(value)[0]
    return stats


def _u32(attrs, kind):
    value = attrs.get(kind)
    return _U32.unpack_from(value)[0] if value else 0


def service_from_wire(raw, with_stats=True):
    """A dumped IPVS_CMD_ATTR_SERVICE payload -> canonical service dict (+ stats)."""
    attrs = parse_nlas(raw)
    family = FAMILY_BY_NUMBER.get(_U16.unpack_from(attrs[SVC_ATTR_AF])[0], 'ipv4')
    fwmark = _u32(attrs, SVC_ATTR_FWMARK)
    flags = _FLAGS.unpack_from(attrs[SVC_ATTR_FLAGS])[0] if SVC_ATTR_FLAGS in attrs else 0
    scheduler = attrs.get(SVC_ATTR_SCHED_NAME, b'').split(b'\0', 1)[0].decode('ascii', 'replace')
    svc = {'family': family, 'scheduler': scheduler}
    if fwmark:
        svc.update(protocol='fwmark', fwmark=fwmark, address=None, port=None)
    else:
        number = _U16.unpack_from(attrs[SVC_ATTR_PROTOCOL])[0]
        svc.update(protocol=PROTOCOL_BY_NUMBER.get(number, 'proto%s' % number),
                   address=_address_text(family, attrs[SVC_ATTR_ADDR]),
                   port=_BE16.unpack_from(attrs[SVC_ATTR_PORT])[0], fwmark=None)
    persistent = bool(flags & SVC_F_PERSISTENT)
    svc['persistence_timeout'] = _u32(attrs, SVC_ATTR_TIMEOUT) if persistent else 0
    svc['persistence_netmask'] = (netmask_from_wire(family, _u32(attrs, SVC_ATTR_NETMASK))
                                  if persistent and SVC_ATTR_NETMASK in attrs else default_netmask(family))
    svc['one_packet'] = bool(flags & SVC_F_ONEPACKET)
    svc['scheduler_flags'] = sorted(name for name, (sched, bit) in SCHED_FLAG_BITS.items()
                                    if sched == scheduler and flags & bit)
    if with_stats:
        stats = attrs.get(SVC_ATTR_STATS64) or attrs.get(SVC_ATTR_STATS)
        svc['stats'] = _decode_stats(stats) if stats else {}
    svc['realservers'] = {}
    return svc


def dest_from_wire(raw, family, with_stats=True):
    """A dumped IPVS_CMD_ATTR_DEST payload -> real-server dict (+ counters and stats)."""
    attrs = parse_nlas(raw)
    if DEST_ATTR_ADDR_FAMILY in attrs:
        family = FAMILY_BY_NUMBER.get(_U16.unpack_from(attrs[DEST_ATTR_ADDR_FAMILY])[0], family)
    fwd = _u32(attrs, DEST_ATTR_FWD_METHOD) & CONN_F_FWD_MASK
    dest = {'address': _address_text(family, attrs[DEST_ATTR_ADDR]),
            'port': _BE16.unpack_from(attrs[DEST_ATTR_PORT])[0] if DEST_ATTR_PORT in attrs else 0,
            'forwarding': FORWARDING_BY_CODE.get(fwd, 'fwd%d' % fwd),
            'weight': _u32(attrs, DEST_ATTR_WEIGHT),
            'upper_threshold': _u32(attrs, DEST_ATTR_U_THRESH),
            'lower_threshold': _u32(attrs, DEST_ATTR_L_THRESH),
            'active_connections': _u32(attrs, DEST_ATTR_ACTIVE_CONNS),
            'inactive_connections': _u32(attrs, DEST_ATTR_INACT_CONNS),
            'persistent_connections': _u32(attrs, DEST_ATTR_PERSIST_CONNS)}
    # Absent before Linux 5.2 (tun_type, tun_port) and 5.3 (tun_flags): ipip, 0, nocsum.
    code = _U8.unpack_from(attrs[DEST_ATTR_TUN_TYPE])[0] if attrs.get(DEST_ATTR_TUN_TYPE) else 0
    dest['tun_type'] = TUN_TYPE_BY_CODE.get(code, code)
    dest['tun_port'] = _BE16.unpack_from(attrs[DEST_ATTR_TUN_PORT])[0] if attrs.get(DEST_ATTR_TUN_PORT) else 0
    code = _U16.unpack_from(attrs[DEST_ATTR_TUN_FLAGS])[0] if attrs.get(DEST_ATTR_TUN_FLAGS) else 0
    dest['tun_csum'] = TUN_CSUM_BY_CODE.get(code, code)
    if with_stats:
        stats = attrs.get(DEST_ATTR_STATS64) or attrs.get(DEST_ATTR_STATS)
        dest['stats'] = _decode_stats(stats) if stats else {}
    return dest


# ---------------------------------------------------------------------------
# Netlink: the session
# ---------------------------------------------------------------------------

_GONE = (errno.ENOENT, errno.ESRCH)


class KernelError(Exception):
    """The kernel answered a request with an error (CODE is the errno)."""

    def __init__(self, code):
        Exception.__init__(self, '(%d, %r)' % (code, os.strerror(code)))
        self.code = code


def _load_netlink():
    """Import pyroute2; describe the config (timeout) messages on its generic classes."""
    global HAS_PYROUTE2, PYROUTE2_IMPORT_ERROR, NetlinkError, IPVSConfigMessage, _IPVSSocket
    if HAS_PYROUTE2 is not None:
        return HAS_PYROUTE2
    try:
        from pyroute2.netlink import genlmsg
        from pyroute2.netlink.generic import GenericNetlinkSocket, AsyncGenericNetlinkSocket
        from pyroute2.netlink.exceptions import NetlinkError as netlink_error
    except ImportError:
        HAS_PYROUTE2 = False
        PYROUTE2_IMPORT_ERROR = traceback.format_exc()
        return False

    class _IPVSConfigMessage(genlmsg):
        # Service and dest messages never go through this class (see encode_op).
        prefix = 'IPVS_CMD_ATTR_'
        nla_map = (('IPVS_CMD_ATTR_UNSPEC', 'none'),
                   ('IPVS_CMD_ATTR_SERVICE', 'hex'),
                   ('IPVS_CMD_ATTR_DEST', 'hex'),
                   ('IPVS_CMD_ATTR_DAEMON', 'hex'),
                   # u32 seconds; pyroute2's own IPVS class types these "hex"
                   ('IPVS_CMD_ATTR_TIMEOUT_TCP', 'uint32'),
                   ('IPVS_CMD_ATTR_TIMEOUT_TCP_FIN', 'uint32'),
                   ('IPVS_CMD_ATTR_TIMEOUT_UDP', 'uint32'))

    class _QuietAsyncSocket(AsyncGenericNetlinkSocket):
        # pyroute2 logs "protocol not found" at error level; we report it ourselves.
        module_err_level = 'debug'

    class _Socket(GenericNetlinkSocket):
        async_class = _QuietAsyncSocket

    NetlinkError = netlink_error
    IPVSConfigMessage = _IPVSConfigMessage
    _IPVSSocket = _Socket
    HAS_PYROUTE2 = True
    return True


class IPVSSession(object):
    """The IPVS generic netlink family for one module run.

    pyroute2's socket resolves the family and carries the config messages; a plain
    netlink socket carries the service and real-server messages packed by encode_op.
    """

    # Requests per sendmsg().  Only errors are acknowledged, plus the last request of
    # each batch; 256 error replies still fit the default receive buffer.
    BATCH = 256

    def __init__(self, family_name='IPVS'):
        if not _load_netlink():
            raise IPVSError("pyroute2 is not importable")
        self._sock = _IPVSSocket()
        try:
            self._sock.bind(family_name, IPVSConfigMessage)
        except NetlinkError as exc:
            self._sock.close()
            if exc.code == errno.ENOENT:
                raise IPVSError("the kernel has no IPVS generic netlink family: %s" % MODPROBE_HINT)
            raise IPVSError("cannot open the IPVS netlink family: %s" % (exc,))
        self._family = self._sock.prid
        self._wire = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        self._wire.bind((0, 0))
        try:
            self._wire.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        except (OSError, socket.error):
            pass    # older kernels echo the request in errors: only bigger replies
        self._seq = 0
        self._service_keys = {}

    def close(self):
        self._wire.close()
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- the wire ----------------------------------------------------------

    def _frame(self, cmd, attrs, flags):
        self._seq += 1
        return (_NLMSG.pack(_NL_HEADERS + len(attrs), self._family, flags, self._seq, 0)
                + _GENL.pack(cmd, 1, 0) + attrs)

    def _replies(self):
        """Yield (type, seq, payload) of each message the kernel sends us."""
        data = self._wire.recv(1 << 20)
        offset = 0
        while offset + _NLMSG.size <= len(data):
            size, kind, _flags, seq, _port = _NLMSG.unpack_from(data, offset)
            if size < _NLMSG.size:
                break
            yield kind, seq, data[offset + _NLMSG.size:offset + size]
            offset += (size + 3) & ~3

    def _dump(self, cmd, attrs, attr_kind):
        """Raw payloads of ATTR_KIND in every message of a dump; KernelError on error."""
        self._wire.send(self._frame(cmd, attrs, NLM_F_REQUEST | NLM_F_DUMP))
        seq = self._seq
        out = []
        while True:
            for kind, msg_seq, payload in self._replies():
                if msg_seq != seq:
                    continue        # a late reply to something earlier
                if kind == NLMSG_DONE:
                    return out
                if kind == NLMSG_ERROR:
                    code = -_I32.unpack_from(payload)[0]
                    if code:
                        raise KernelError(code)
                    return out
                attr = parse_nlas(payload, _GENL.size).get(attr_kind)
                if attr is not None:
                    out.append(attr)

    def _send_batch(self, requests):
        """Send framed REQUESTS (the last one asks for an ack) in one sendmsg; return
        {seq: errno} of the ones the kernel refused."""
        self._wire.send(b''.join(requests))
        last = self._seq
        errors = {}
        while True:
            for kind, seq, payload in self._replies():
                if kind != NLMSG_ERROR:
                    continue
                code = -_I32.unpack_from(payload)[0]
                if code:
                    errors[seq] = code
                if seq == last:
                    return errors

    def _request(self, cmd, attrs):
        """One request, acknowledged; KernelError if refused."""
        errors = self._send_batch([self._frame(cmd, attrs, NLM_F_REQUEST | NLM_F_ACK)])
        if errors:
            raise KernelError(errors.popitem()[1])

    # -- reading ---------------------------------------------------------

    def services(self, with_stats=False):
        try:
            raw = self._dump(CMD_GET_SERVICE, b'', CMD_ATTR_SERVICE)
        except KernelError as exc:
            raise IPVSError("reading the IPVS services failed: %s" % (exc,))
        return [service_from_wire(attr, with_stats) for attr in raw]

    def dests(self, svc, with_stats=False):
        try:
            raw = self._dump(CMD_GET_DEST, nla(CMD_ATTR_SERVICE | NLA_F_NESTED, encode_service_key(svc)),
                             CMD_ATTR_DEST)
        except KernelError as exc:
            if exc.code in _GONE:     # removed under us
                return {}
            raise IPVSError("reading the real servers of %s failed: %s"
                            % (format_service_key(service_key(svc)), exc))
        dests = {}
        for attr in raw:
            dest = dest_from_wire(attr, svc['family'], with_stats)
            dests[dest_key(dest)] = dest
        return dests

    def table(self, keys=None, with_stats=False):
        """The live table {key: service with realservers}; dests only for KEYS if given.
        Statistics only WITH_STATS: planning never needs them."""
        table = {}
        for svc in self.services(with_stats):
            key = service_key(svc)
            if keys is None or key in keys:
                svc['realservers'] = self.dests(svc, with_stats)
            table[key] = svc
        return table

    def timeouts(self):
        try:
            msgs = self._config_request(CMD_GET_CONFIG, [])
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
            self._config_request(CMD_SET_CONFIG, attrs)
        except NetlinkError as exc:
            raise IPVSError("setting the IPVS timeouts %s failed: %s" % (wanted, exc))

    def _config_request(self, cmd, attrs):
        msg = IPVSConfigMessage()
        msg['cmd'] = cmd
        msg['version'] = 1
        msg['attrs'] = attrs
        return tuple(self._sock.nlm_request(msg, msg_type=self._family, msg_flags=NLM_F_REQUEST | NLM_F_ACK))

    # -- writing ---------------------------------------------------------

    def _op(self, op, action=None):
        if action is not None:
            op = Op(action, op.kind, op.service, op.dest)
        self._request(*encode_op(op, self._service_keys))

    def apply(self, op):
        """Run one Op; a concurrent change that already did the job is not an error."""
        try:
            self._apply(op)
        except KernelError as exc:
            raise IPVSError(_explain(op, exc))

    def _apply(self, op):
        try:
            self._op(op)
        except KernelError as exc:
            self._recover(op, exc)

    def _recover(self, op, exc):
        """OP was refused with EXC: finish the job if a concurrent change explains it."""
        # The kernel says "no such service" with ESRCH and "no such real server" with
        # ENOENT; ENOENT on a service command means a missing scheduler module.
        code = exc.code
        if op.action == 'add' and code == errno.EEXIST:
            self._op(op, 'set')         # someone added it: make it ours
        elif op.action == 'set' and code == (errno.ESRCH if op.kind == 'service' else errno.ENOENT):
            self._op(op, 'add')         # someone removed it: add it back
        elif op.action == 'del' and (code == errno.ESRCH or (op.kind == 'dest' and code == errno.ENOENT)):
            pass                        # already gone, alone or with its service
        else:
            raise exc

    def apply_all(self, ops):
        """Apply OPS in order, BATCH requests per sendmsg (the kernel handles them in
        order and goes on after an error).  The refused ones then go, in order, through
        the recovery apply() uses, which knows what each error means."""
        for start in range(0, len(ops), self.BATCH):
            chunk = ops[start:start + self.BATCH]
            first = self._seq + 1
            requests = []
            for index, op in enumerate(chunk):
                flags = NLM_F_REQUEST | (NLM_F_ACK if index == len(chunk) - 1 else 0)
                requests.append(self._frame(*encode_op(op, self._service_keys), flags=flags))
            errors = self._send_batch(requests)
            for seq in sorted(errors):
                op = chunk[seq - first]
                try:
                    self._recover(op, KernelError(errors[seq]))
                except KernelError as exc:
                    raise IPVSError(_explain(op, exc))


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
    tun_type=dict(type='str', choices=['ipip', 'gue', 'gre']),
    tun_port=dict(type='int'),
    tun_csum=dict(type='str', choices=['nocsum', 'csum', 'remcsum']),
)


def copy_args(spec):
    return dict((k, dict(v)) for k, v in spec.items())
