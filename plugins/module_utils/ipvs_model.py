# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an IPVS service and a real server are, as the ipvs_* modules see them.

The names and numbers of the kernel ABI (schedulers, flags, forwarding methods, tunnel
types, protocols, families), the keys the kernel looks services and real servers up by,
the validation of module options into canonical dicts (every error names the option
and says how to fix it), and the dicts modules return.  Pure: no kernel, no pyroute2.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import socket

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError, parse_unicast_address

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

# Scheduler flags as ipvsadm names them (-b).  flag-1..flag-3 are the bits themselves and
# go with every scheduler (ipvsadm's parse_sched_flags takes them for any, sh and mh too);
# sh and mh give the first two a meaning and a name of their own, valid with them only.
GENERIC_SCHED_FLAGS = (('flag-1', SVC_F_SCHED1), ('flag-2', SVC_F_SCHED2), ('flag-3', SVC_F_SCHED3))
SCHEDULER_SCHED_FLAGS = {
    'sh': ((SVC_F_SCHED1, 'sh-fallback'), (SVC_F_SCHED2, 'sh-port')),
    'mh': ((SVC_F_SCHED1, 'mh-fallback'), (SVC_F_SCHED2, 'mh-port')),
}
# name -> (the only scheduler it goes with, or None for any; its bit)
SCHED_FLAG_BITS = dict((name, (None, bit)) for name, bit in GENERIC_SCHED_FLAGS)
SCHED_FLAG_BITS.update((name, (scheduler, bit)) for scheduler, named in SCHEDULER_SCHED_FLAGS.items()
                       for bit, name in named)
SCHED_FLAG_NAMES = tuple(sorted(SCHED_FLAG_BITS))


def sched_flag_names(scheduler, flags):
    """The scheduler flags set in FLAGS (service flag bits), named as ipvsadm -S names them
    for SCHEDULER (sh-port for sh's SCHED2, flag-2 for rr's), in bit order.  sh's and mh's
    SCHED3, which ipvsadm -S leaves unnamed, is flag-3."""
    own = dict(SCHEDULER_SCHED_FLAGS.get(scheduler, ()))
    return [own.get(bit, generic) for generic, bit in GENERIC_SCHED_FLAGS if flags & bit]


def sched_flag_bits(names):
    """The service flag bits of the scheduler flags NAMES."""
    bits = 0
    for name in names:
        bits |= SCHED_FLAG_BITS[name][1]
    return bits


# Persistence engines (ipvsadm --pe, IPVS_SVC_ATTR_PE_NAME); the kernel module of NAME is
# ip_vs_pe_NAME.  sip (Linux >= 2.6.37) is the only one the kernel has.
PERSISTENCE_ENGINES = ('sip',)

# The forwarding methods, written once: name, IP_VS_CONN_F_* code, ipvsadm's switches.
FORWARDING_METHODS = (
    ('nat', 0, '-m', '--masquerading'),
    ('dr', 3, '-g', '--gatewaying'),
    ('tun', 2, '-i', '--ipip'),
)
FORWARDING_NAMES = tuple(name for name, _code, _short, _long in FORWARDING_METHODS)
FORWARDING = dict((name, code) for name, code, _short, _long in FORWARDING_METHODS)
FORWARDING_BY_CODE = dict((code, name) for name, code, _short, _long in FORWARDING_METHODS)
FORWARDING_SWITCH = dict((name, short) for name, _code, short, _long in FORWARDING_METHODS)
FORWARDING_BY_SWITCH = dict((switch, name) for name, _code, short, long_ in FORWARDING_METHODS
                            for switch in (short, long_))
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

# The protocols of an address:port service (IPPROTO_*), the ones ipvsadm and the kernel's
# IPVS protocol handlers know.  The kernel's netlink takes any number, so a service read
# with another one (made by another netlink client) is protocol 'proto<N>': listed,
# saved, deleted by its number, never declared.
PROTOCOLS = {'tcp': 6, 'udp': 17, 'sctp': 132}
PROTOCOL_NAMES = tuple(sorted(PROTOCOLS, key=PROTOCOLS.get))
# What a service's protocol option takes: an address:port protocol, or fwmark.
SERVICE_PROTOCOLS = PROTOCOL_NAMES + ('fwmark',)
PROTOCOL_BY_NUMBER = dict((v, k) for k, v in PROTOCOLS.items())
FAMILIES = {'ipv4': socket.AF_INET, 'ipv6': socket.AF_INET6}
FAMILY_BY_NUMBER = dict((v, k) for k, v in FAMILIES.items())

DEFAULT_PERSISTENCE = 300       # ipvsadm -p without a value
MAX_U32 = 0xFFFFFFFF
MAX_WEIGHT = 65535
# Timeouts are stored as jiffies in an int; stay below INT_MAX at HZ=1000.
MAX_TIMEOUT = 2147483


def protocol_name(number):
    """The protocol of a service as the kernel numbers it: tcp, udp, sctp or proto<N>."""
    return PROTOCOL_BY_NUMBER.get(number, 'proto%d' % number)


def protocol_number(name):
    """The IP protocol number of a service's protocol (tcp, udp, sctp or proto<N>)."""
    number = PROTOCOLS.get(name)
    if number is None and name.startswith('proto') and name[len('proto'):].isdigit():
        number = int(name[len('proto'):])
    if number is None:
        raise LVSError("protocol: %r has no protocol number" % (name,))
    return number


def check_int(value, field, low, high):
    """VALUE as an int in LOW..HIGH, else LVSError naming FIELD."""
    if isinstance(value, bool):
        raise LVSError("%s: expected an integer, got %r" % (field, value))
    if isinstance(value, int):      # the common case (parsed rules, typed options): no str()
        number = value
    else:
        try:
            number = int(str(value).strip(), 10)
        except (TypeError, ValueError):
            raise LVSError("%s: %r is not an integer" % (field, value))
    if number < low or number > high:
        raise LVSError("%s: %d is out of range, use %d..%d" % (field, number, low, high))
    return number


# Validated addresses by the text they were given as: a rules file names the same real
# servers and VIPs thousands of times.
_ADDRESSES = {}


def normalize_address(value, field):
    """Return (family, canonical text) of a single IP address, or raise naming FIELD."""
    known = _ADDRESSES.get(value) if isinstance(value, str) else None
    if known is not None:
        return known
    text = '' if value is None else str(value).strip()
    if text.startswith('[') and text.endswith(']'):
        text = text[1:-1]           # an IPv6 address as ipvsadm writes it
    address = parse_unicast_address(text, field, "give a single IP address, without /prefix")
    result = ('ipv4' if address.version == 4 else 'ipv6'), str(address)
    if isinstance(value, str):
        _ADDRESSES[value] = result
    return result


def normalize_netmask(value, family, field):
    """Persistence granularity: IPv4 as a dotted mask, IPv6 as a prefix length (int)."""
    text = str(value).strip()
    if family == 'ipv6':
        if not text.isdigit():
            raise LVSError("%s: %r is not an IPv6 prefix length; use 1..128" % (field, value))
        return check_int(text, field, 1, 128)
    if text.isdigit():
        prefix = check_int(text, field, 1, 32)
        return str(ipaddress.IPv4Network('0.0.0.0/%d' % prefix).netmask)
    try:
        network = ipaddress.IPv4Network('0.0.0.0/%s' % text)
    except ValueError:
        raise LVSError("%s: %r is not a contiguous IPv4 netmask; use e.g. 255.255.255.0 or 24"
                       % (field, value))
    if network.prefixlen == 0:
        raise LVSError("%s: %r would make every client one persistence group; use 1..32"
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
    return '%s %s' % (key[0], format_hostport(key[1], key[2], key[3]))


def format_hostport(family, address, port):
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
    if protocol not in SERVICE_PROTOCOLS:
        raise LVSError("%sprotocol: %r is not one of %s" % (p, protocol, ', '.join(SERVICE_PROTOCOLS)))
    svc = {'protocol': protocol}
    family_opt = params.get('family')
    if family_opt is not None and family_opt not in FAMILIES:
        raise LVSError("%sfamily: %r is not one of ipv4, ipv6" % (p, family_opt))
    if protocol == 'fwmark':
        if params.get('fwmark') is None:
            raise LVSError("%sfwmark: protocol fwmark needs the firewall mark number (1..%d)"
                           % (p, MAX_U32))
        if params.get('port') is not None:
            raise LVSError("%sport: a fwmark service has no port (the mark selects the "
                           "traffic); remove port" % p)
        if params.get('address') is not None:
            raise LVSError("%saddress: a fwmark service has no address; remove address and "
                           "set family if it is IPv6" % p)
        svc['fwmark'] = check_int(params['fwmark'], p + 'fwmark', 1, MAX_U32)
        svc['family'] = family_opt or 'ipv4'
        svc['address'] = None
        svc['port'] = None
    else:
        if params.get('fwmark') is not None:
            raise LVSError("%sfwmark: only valid with protocol fwmark (protocol is %s)"
                           % (p, protocol))
        if params.get('address') is None:
            raise LVSError("%saddress: a %s service needs the virtual IP address" % (p, protocol))
        family, address = normalize_address(params['address'], p + 'address')
        if family_opt is not None and family_opt != family:
            raise LVSError("%sfamily: %s contradicts address %s (%s)" % (p, family_opt, address, family))
        if params.get('port') is None:
            raise LVSError("%sport: a %s service needs a port (0 = all ports, with persistence)"
                           % (p, protocol))
        svc['family'] = family
        svc['address'] = address
        svc['port'] = check_int(params['port'], p + 'port', 0, 65535)
        svc['fwmark'] = None
    return svc


def normalize_service(params, field_prefix=''):
    """Validate the service options of a module (or one ipvs_table entry).

    PARAMS uses the module option names.  Returns the canonical service dict (no
    realservers).  Raises LVSError naming the offending option.
    """
    p = field_prefix
    svc = normalize_service_key(params, field_prefix)
    protocol = svc['protocol']
    scheduler = params.get('scheduler') or 'wlc'
    if scheduler not in SCHEDULERS:
        raise LVSError("%sscheduler: %r is not a kernel IPVS scheduler; use one of %s"
                       % (p, scheduler, ', '.join(SCHEDULERS)))
    svc['scheduler'] = scheduler
    bits = 0
    for flag in params.get('scheduler_flags') or []:
        if flag not in SCHED_FLAG_BITS:
            raise LVSError("%sscheduler_flags: %r is not one of %s"
                           % (p, flag, ', '.join(SCHED_FLAG_NAMES)))
        only_with, bit = SCHED_FLAG_BITS[flag]
        if only_with is not None and only_with != scheduler:
            raise LVSError("%sscheduler_flags: %s only applies to scheduler %s (scheduler is %s); "
                           "the flags of any scheduler are flag-1, flag-2, flag-3"
                           % (p, flag, only_with, scheduler))
        bits |= bit
    # Named as they are read back (flag-1 of sh is sh-fallback), so the two compare.
    svc['scheduler_flags'] = sched_flag_names(scheduler, bits)

    timeout = params.get('persistence_timeout')
    timeout = 0 if timeout is None else check_int(timeout, p + 'persistence_timeout', 0, MAX_TIMEOUT)
    svc['persistence_timeout'] = timeout
    netmask = params.get('persistence_netmask')
    if netmask is not None and str(netmask).strip() != '':
        if not timeout:
            raise LVSError("%spersistence_netmask: only meaningful for a persistent service; "
                           "set persistence_timeout too" % p)
        svc['persistence_netmask'] = normalize_netmask(netmask, svc['family'], p + 'persistence_netmask')
    else:
        svc['persistence_netmask'] = default_netmask(svc['family'])
    if protocol != 'fwmark' and svc['port'] == 0 and not timeout:
        raise LVSError("%sport: port 0 (all ports) is only allowed for a persistent service; "
                       "set persistence_timeout" % p)
    one_packet = bool(params.get('one_packet'))
    if one_packet and protocol not in ('udp', 'fwmark'):
        # The kernel only applies it to UDP datagrams; ipvsadm refuses it the same way.
        raise LVSError("%sone_packet: one-packet scheduling is for udp (or fwmark) services, "
                       "not %s" % (p, protocol))
    svc['one_packet'] = one_packet
    if 'pe' in params:
        pe = _normalize_pe(params['pe'], svc, p)
        if pe is not _UNMANAGED:
            svc['pe'] = pe
    return svc


_UNMANAGED = object()


def _normalize_pe(value, svc, p):
    """The persistence engine option: 'sip'; None for 'none' (no engine); _UNMANAGED when
    not given: the service then has no 'pe' key and plan_service keeps the live engine."""
    if value is None:
        return _UNMANAGED
    text = str(value).strip()
    if text in ('', 'none'):
        return None
    if text not in PERSISTENCE_ENGINES:
        raise LVSError("%spe: %r is not a persistence engine; use sip (or none)" % (p, value))
    if not svc['persistence_timeout']:
        raise LVSError("%spe: the %s persistence engine only acts on a persistent service; set "
                       "persistence_timeout too" % (p, text))
    if svc['protocol'] not in ('udp', 'fwmark'):
        # The kernel's engine fails on any other packet, which ip_vs_sched_persist then
        # drops: an sctp service would drop every packet as much as a tcp one.
        raise LVSError("%spe: the sip persistence engine reads SIP Call-IDs from UDP datagrams "
                       "only (protocol is %s); use protocol udp (or fwmark), or drop pe"
                       % (p, svc['protocol']))
    return text


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
        raise LVSError("%saddress: %s is %s but the service is %s; real servers must use the "
                       "service's address family" % (p, address, family, svc['family']))
    forwarding = pick('forwarding', 'dr')
    if forwarding not in FORWARDING:
        raise LVSError("%sforwarding: %r is not one of %s" % (p, forwarding, ', '.join(FORWARDING_NAMES)))
    service_port = 0 if svc['protocol'] == 'fwmark' else svc['port']
    port = params.get('port')
    if port is None:
        port = service_port
    else:
        port = check_int(port, p + 'port', 0, 65535)
    if forwarding != 'nat' and port != service_port:
        raise LVSError("%sport: port mapping (%d -> %d) only works with forwarding nat; "
                       "with %s the real server receives the service port: remove port or "
                       "set it to %d" % (p, service_port, port, forwarding, service_port))
    if forwarding == 'nat' and svc['protocol'] != 'fwmark' and svc['port'] == 0 and port != 0:
        raise LVSError("%sport: the service listens on all ports (port 0); a real server "
                       "cannot map them to one port %d" % (p, port))
    weight = check_int(pick('weight', 1), p + 'weight', 0, MAX_WEIGHT)
    upper = check_int(pick('upper_threshold', 0), p + 'upper_threshold', 0, MAX_U32)
    lower = check_int(pick('lower_threshold', 0), p + 'lower_threshold', 0, MAX_U32)
    if lower and (not upper or lower > upper):
        raise LVSError("%slower_threshold: %d needs an upper_threshold >= it (the kernel refuses "
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
        raise LVSError("%s%s: tunnel options only apply to forwarding tun (forwarding is %s); "
                       "remove %s or set forwarding: tun" % (p, given[0], forwarding, given[0]))
    tun_type = params.get('tun_type')
    if tun_type is None:
        tun_type = base.get('tun_type', 'ipip')
    elif tun_type not in TUN_TYPES:
        raise LVSError("%stun_type: %r is not one of ipip, gue, gre" % (p, tun_type))
    tun_port = params.get('tun_port')
    if tun_port is None:
        tun_port = base.get('tun_port', 0)
    else:
        tun_port = check_int(tun_port, p + 'tun_port', 1, 65535)
    csum = params.get('tun_csum')
    if csum is None:
        csum = base.get('tun_csum', 'nocsum')
    elif csum not in TUN_CSUM:
        raise LVSError("%stun_csum: %r is not one of nocsum, csum, remcsum" % (p, csum))
    if forwarding == 'tun':
        if tun_type == 'gue' and not tun_port:
            raise LVSError("%stun_port: tun_type gue needs the UDP port the real server receives "
                           "GUE on (its fou listener); set tun_port (1..65535)" % p)
        if params.get('tun_port') is not None and tun_type != 'gue':
            raise LVSError("%stun_port: only tun_type gue uses a port (tun_type is %s); remove tun_port"
                           % (p, tun_type))
        if params.get('tun_csum') is not None and tun_type == 'ipip':
            raise LVSError("%stun_csum: ipip tunnels have no checksum option; remove tun_csum or "
                           "use tun_type gue or gre" % p)
        if tun_type == 'gre' and csum == 'remcsum':
            raise LVSError("%stun_csum: remcsum (remote checksum offload) is only for tun_type gue; "
                           "with gre set tun_csum to nocsum or csum" % p)
    return {'tun_type': tun_type, 'tun_port': tun_port, 'tun_csum': csum}


def normalize_timeouts(params):
    """ipvs_timeouts options -> dict of the ones given (None = leave alone). That at least
    one is given is the module's required_one_of."""
    wanted = {}
    for name in ('tcp', 'tcpfin', 'udp'):
        if params.get(name) is not None:
            wanted[name] = check_int(params[name], name, 1, MAX_TIMEOUT)
    return wanted


def service_sort_key(svc):
    """ipvsadm lists services ordered by fwmark, family, protocol, address, port."""
    if svc['protocol'] == 'fwmark':
        return (svc['fwmark'], FAMILIES[svc['family']], 0, 0, 0)
    return (0, FAMILIES[svc['family']], protocol_number(svc['protocol']),
            int(ipaddress.ip_address(svc['address'])), svc['port'])


def dest_sort_key(dest):
    return (int(ipaddress.ip_address(dest['address'])), dest['port'])


# The settings of a real server (what is not its key).
DEST_SETTINGS = ('forwarding', 'weight', 'upper_threshold', 'lower_threshold')


def managed_tun_fields(dest):
    """The tunnel fields that mean something for DEST; the kernel keeps the others too, and
    they are neither compared nor changed."""
    if dest['forwarding'] != 'tun':
        return ()
    if dest['tun_type'] == 'ipip':
        return ('tun_type',)
    if dest['tun_type'] == 'gre':
        return ('tun_type', 'tun_csum')
    return TUN_FIELDS       # gue, or a type this layer does not know: all of them


def public_service(svc, with_stats=False):
    """A service as modules return it (realservers as a list)."""
    out = dict((k, v) for k, v in svc.items() if k not in ('realservers', 'stats'))
    out['pe'] = svc.get('pe')
    out['realservers'] = [public_dest(d, with_stats) for d in
                          sorted(svc.get('realservers', {}).values(), key=dest_sort_key)]
    if with_stats and 'stats' in svc:
        out['stats'] = svc['stats']
    return out


def public_dest(dest, with_stats=False):
    keys = ('address', 'port') + DEST_SETTINGS
    if with_stats:
        keys += ('active_connections', 'inactive_connections', 'persistent_connections', 'stats')
    out = dict((k, dest[k]) for k in keys if k in dest)
    # The tunnel fields only where they mean something (null elsewhere).
    managed = managed_tun_fields(dest)
    for name in TUN_FIELDS:
        out[name] = dest[name] if name in managed else None
    return out
