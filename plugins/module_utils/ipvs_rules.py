# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``ipvsadm-save -n`` text: rules input parsed and validated, tables rendered.

ipvs_table takes its wanted table as rules text (what ipvsadm-save -n or ipvsadm -S
writes) and every module shows its diff in that format, so users read the same lines
they would feed ipvsadm-restore.  Pure: no kernel.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re
import shlex
import socket
import struct

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_model import (
    DEFAULT_PERSISTENCE, FAMILIES, FORWARDING_BY_SWITCH, FORWARDING_SWITCH, MAX_TIMEOUT, MAX_U32, MAX_WEIGHT,
    SCHEDULER_SCHED_FLAGS, TUN_CSUM_BY_SWITCH, TUN_CSUM_SWITCH, TUN_FIELDS, check_int, default_netmask,
    dest_key, format_hostport, format_service_key, normalize_address, normalize_realserver,
    normalize_service, protocol_number, service_key,
)


_SERVICE_TYPE_OPTS = {'-t': 'tcp', '--tcp-service': 'tcp', '-u': 'udp', '--udp-service': 'udp',
                      '--sctp-service': 'sctp', '-f': 'fwmark', '--fwmark-service': 'fwmark'}
# The switch ipvsadm -S writes for each protocol (SCTP has no short option in ipvsadm
# 1.31); for a protocol it has none for, ipvsadm writes --xxx-service.
_SERVICE_SWITCH = {'tcp': '-t', 'udp': '-u', 'sctp': '--sctp-service'}
_UNKNOWN_PROTOCOL_SWITCH = '--xxx-service'


def _split_hostport(text, field):
    """'1.2.3.4:80' / '[2001:db8::1]:80' / '1.2.3.4' -> (address, port or None)."""
    if text.startswith('['):
        end = text.find(']')
        if end < 0:
            raise LVSError("%s: %r has no closing ]" % (field, text))
        host, rest = text[1:end], text[end + 1:]
        if rest == '':
            return host, None
        if not rest.startswith(':'):
            raise LVSError("%s: %r: expected [IPv6]:port" % (field, text))
        return host, rest[1:]
    if text.count(':') == 1:
        host, port = text.split(':')
        return host, port
    return text, None


# The line ipvsadm-save writes for nearly every real server; such lines skip the general
# option parser (same checks, a tenth of the Python under emulation).
_PLAIN_DEST_LINE = re.compile(r'-a (-[tuf]|--sctp-service) (\S+) -r (\S+) (-[gim]) -w (\d+)\Z')
_PLAIN_SERVICE_SWITCHES = ('-t', '-u', '-f', '--sctp-service')


def wanted_from_rules(text):
    """Parse and validate ipvsadm-save -n / ipvsadm -S rules in one pass: the wanted
    services (as build_wanted_table returns them), each line checked once.  Errors name
    the line: "rules line N (...): field: problem"."""
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
                          'forwarding': FORWARDING_BY_SWITCH[plain.group(4)],
                          'weight': check_int(int(plain.group(5)), 'weight', 0, MAX_WEIGHT),
                          'upper_threshold': 0, 'lower_threshold': 0}
                _add_rule_dest(wanted[key], key, server, _plain_realserver(wanted[key], server))
                continue
            # shlex is slow and ipvsadm-save never quotes: use it only when needed.
            tokens = shlex.split(line) if ('"' in line or "'" in line or '\\' in line) else line.split()
            command, opts = _parse_rule_tokens(tokens)
            written = (opts['protocol'], opts.get('address'), opts.get('port'), opts.get('fwmark'),
                       opts.get('family'))
            if command == 'service':
                options = {'protocol': opts['protocol'], 'address': opts.get('address'),
                           'port': opts.get('port'), 'fwmark': opts.get('fwmark'),
                           'family': opts.get('family'),
                           'scheduler': opts.get('scheduler', 'wlc'),
                           'scheduler_flags': opts.get('scheduler_flags', []),
                           'persistence_timeout': opts.get('persistence_timeout'),
                           'persistence_netmask': opts.get('persistence_netmask'),
                           'one_packet': opts.get('one_packet', False),
                           # The rules say it all: no --pe means no engine.
                           'pe': opts.get('pe', 'none')}
                if options['protocol'] != 'fwmark' and options['port'] is None:
                    options['port'] = 0   # ipvsadm: no port = all ports
                svc = normalize_service(options)
                key = service_key(svc)
                if key in wanted:
                    raise LVSError("service: %s is defined twice" % format_service_key(key))
                svc['realservers'] = {}
                wanted[key] = svc
                rule_keys[written] = key
                if len(tokens) > 2 and tokens[1] in _PLAIN_SERVICE_SWITCHES and '-6' not in tokens:
                    plain_keys[(tokens[1], tokens[2])] = key
            else:
                key = rule_keys.get(written)
                if key is None:
                    key = _rule_service_key(opts)
                    if key not in wanted:
                        raise LVSError("service: %s has no -A line before this real server"
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
                _add_rule_dest(wanted[key], key, server)
        except (LVSError, ValueError) as exc:
            raise LVSError("rules line %d (%s): %s" % (number, line, exc))
    return list(wanted.values())


def _plain_realserver(svc, server):
    """The real server of a plain -a line (SERVER: its options), built directly when its
    address is all there is left to check: the service's own port (as ipvsadm-save writes
    it), no thresholds, no tunnel options.  None when anything else needs checking, so
    that normalize_realserver does it and names the problem."""
    service_port = 0 if svc['protocol'] == 'fwmark' else svc['port']
    if server['port'] is not None and server['port'] != str(service_port):
        return None
    family, address = normalize_address(server['address'], 'realserver address')
    if family != svc['family']:
        return None
    return {'address': address, 'port': service_port, 'forwarding': server['forwarding'],
            'weight': server['weight'], 'upper_threshold': 0, 'lower_threshold': 0,
            'tun_type': 'ipip', 'tun_port': 0, 'tun_csum': 'nocsum'}


def _add_rule_dest(svc, key, server, dest=None):
    """Validate SERVER (real-server options) as a real server of SVC (with KEY), add it.
    DEST: SERVER already validated, if it was."""
    if dest is None:
        dest = normalize_realserver(server, svc, 'realserver ')
    dkey = dest_key(dest)
    if dkey in svc['realservers']:
        raise LVSError("realserver address: %s port %d is already a real server of %s"
                       % (dest['address'], dest['port'], format_service_key(key)))
    svc['realservers'][dkey] = dest


def _rule_service_key(probe):
    if probe['protocol'] == 'fwmark':
        return ('fwmark', probe.get('family') or 'ipv4', check_int(probe['fwmark'], 'fwmark', 1, MAX_U32))
    family, address = normalize_address(probe['address'], 'service address')
    port = 0 if probe['port'] is None else check_int(probe['port'], 'service port', 0, 65535)
    return (probe['protocol'], family, address, port)


def _parse_rule_tokens(tokens):
    if not tokens:
        raise LVSError("empty rule")
    head = tokens[0]
    if head in ('-A', '--add-service'):
        command = 'service'
    elif head in ('-a', '--add-server'):
        command = 'server'
    else:
        raise LVSError("command: %r is not supported in rules; only -A (add service) and -a "
                       "(add real server) lines, as ipvsadm-save -n writes them" % head)
    opts = {}
    i = 1

    def value():
        if i + 1 >= len(tokens):
            raise LVSError("%s: needs a value" % tokens[i])
        return tokens[i + 1]

    while i < len(tokens):
        tok = tokens[i]
        if tok in _SERVICE_TYPE_OPTS:
            if 'protocol' in opts:
                raise LVSError("%s: the service is already given as %s" % (tok, opts['protocol']))
            opts['protocol'] = _SERVICE_TYPE_OPTS[tok]
            arg = value()
            if opts['protocol'] == 'fwmark':
                opts['fwmark'] = check_int(arg, 'fwmark', 1, MAX_U32)
            else:
                opts['address'], opts['port'] = _split_hostport(arg, 'service address')
            i += 2
        elif tok == '-q':
            raise LVSError("option: '-q' is not an ipvsadm option; an SCTP service is "
                           "--sctp-service ADDRESS:PORT, as ipvsadm-save writes it")
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
                opts['persistence_timeout'] = check_int(tokens[i + 1], 'persistence_timeout', 1, MAX_TIMEOUT)
                i += 2
            else:
                opts['persistence_timeout'] = DEFAULT_PERSISTENCE
                i += 1
        elif tok in ('-M', '--netmask') and command == 'service':
            opts['persistence_netmask'] = value()
            i += 2
        elif tok == '--pe' and command == 'service':
            opts['pe'] = value()            # checked with the service (pe)
            i += 2
        elif tok in ('-o', '--ops') and command == 'service':
            opts['one_packet'] = True
            i += 1
        elif tok in ('-r', '--real-server') and command == 'server':
            opts['server_address'], opts['server_port'] = _split_hostport(value(), 'realserver address')
            i += 2
        elif tok in FORWARDING_BY_SWITCH and command == 'server':
            if 'forwarding' in opts:
                raise LVSError("forwarding: given twice (%s)" % tok)
            opts['forwarding'] = FORWARDING_BY_SWITCH[tok]
            i += 1
        elif tok in ('-w', '--weight') and command == 'server':
            opts['weight'] = check_int(value(), 'weight', 0, MAX_WEIGHT)
            i += 2
        elif tok in ('-x', '--u-threshold') and command == 'server':
            opts['upper_threshold'] = check_int(value(), 'upper_threshold', 0, MAX_U32)
            i += 2
        elif tok in ('-y', '--l-threshold') and command == 'server':
            opts['lower_threshold'] = check_int(value(), 'lower_threshold', 0, MAX_U32)
            i += 2
        elif tok == '--tun-type' and command == 'server':
            opts['tun_type'] = value()      # checked with the real server (tun_type)
            i += 2
        elif tok == '--tun-port' and command == 'server':
            opts['tun_port'] = check_int(value(), 'tun_port', 1, 65535)
            i += 2
        elif tok in TUN_CSUM_BY_SWITCH and command == 'server':
            if 'tun_csum' in opts:
                raise LVSError("tun_csum: %s contradicts %s given before; give one of --tun-nocsum, "
                               "--tun-csum, --tun-remcsum" % (tok, TUN_CSUM_SWITCH[opts['tun_csum']]))
            opts['tun_csum'] = TUN_CSUM_BY_SWITCH[tok]
            i += 1
        else:
            raise LVSError("option: %r is not supported here" % tok)
    if 'protocol' not in opts:
        raise LVSError("service: needs -t, -u, --sctp-service or -f")
    if opts.get('family') == 'ipv6' and opts['protocol'] != 'fwmark':
        opts.pop('family')   # ipvsadm accepts a redundant -6; the address says it
    if command == 'server' and 'server_address' not in opts:
        raise LVSError("realserver address: an -a line needs -r ADDRESS[:PORT]")
    return command, opts


def service_switch(svc):
    if svc['protocol'] == 'fwmark':
        return '-f %d%s' % (svc['fwmark'], ' -6' if svc['family'] == 'ipv6' else '')
    return '%s %s' % (_SERVICE_SWITCH.get(svc['protocol'], _UNKNOWN_PROTOCOL_SWITCH),
                      _hostport(svc['family'], svc['address'], svc['port']))


def _hostport(family, address, port):
    """ADDRESS:PORT as ipvsadm -n writes it: IPv6 bracketed, spelled by the C library's
    inet_ntop, which writes an embedded IPv4 address dotted (::ffff:192.0.2.1) where
    Python's ipaddress writes hex; only such addresses start with '::'."""
    if family == 'ipv6' and address.startswith('::'):
        address = socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, address))
    return format_hostport(family, address, port)


# ipvsadm's forwarding switch for a method this layer has no name for: the kernel's
# IP_VS_CONN_F_LOCALNODE is written as -g, anything else as C's "(null)".
_ODD_FORWARDING_SWITCH = {'fwd1': '-g'}


def render_service_lines(svc, thresholds=True):
    """The -A line and -a lines of one service, as ipvsadm -S -n (1.31, print_service_entry
    in rule format) writes them: -s, -p [-M], --pe, -o, -b on the -A line; -r, the
    forwarding switch, -w and the tunnel options on each -a line, real servers in the
    order ipvsadm sorts them.  THRESHOLDS adds -x/-y (which ipvsadm never writes) when
    set, and the flag-3 of an sh or mh service (which ipvsadm leaves unnamed), so the
    text can be fed back without losing them."""
    switch = service_switch(svc)
    line = '-A %s -s %s' % (switch, svc['scheduler'])
    if svc['persistence_timeout']:
        line += ' -p %d' % svc['persistence_timeout']
        if svc['persistence_netmask'] != default_netmask(svc['family']):
            line += ' -M %s' % svc['persistence_netmask']
    if svc.get('pe'):
        line += ' --pe %s' % svc['pe']
    if svc['one_packet']:
        line += ' -o'
    if svc['scheduler_flags']:
        line += ' -b %s' % ','.join(_written_sched_flags(svc, thresholds))
    lines = [line]
    for dest in ipvsadm_dest_order(svc.get('realservers', {}).values()):
        forwarding = dest['forwarding']
        dline = '-a %s -r %s %s -w %d' % (
            switch, _hostport(svc['family'], dest['address'], dest['port']),
            FORWARDING_SWITCH.get(forwarding) or _ODD_FORWARDING_SWITCH.get(forwarding, '(null)'),
            dest['weight'])
        if forwarding == 'tun':
            dline += _tun_switches(dest)
        if thresholds:
            if dest['upper_threshold']:
                dline += ' -x %d' % dest['upper_threshold']
            if dest['lower_threshold']:
                dline += ' -y %d' % dest['lower_threshold']
        lines.append(dline)
    return lines


def _written_sched_flags(svc, complete):
    """The scheduler flags as ipvsadm -S writes them: sh and mh with their own names
    only, so their flag-3 leaves a bare "-b " (which ipvsadm-restore cannot read back).
    COMPLETE (with the thresholds) writes it too, so the text feeds back."""
    own = SCHEDULER_SCHED_FLAGS.get(svc['scheduler'])
    if own is None or complete:
        return svc['scheduler_flags']
    names = set(name for _bit, name in own)
    return [name for name in svc['scheduler_flags'] if name in names]


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


def render_save(services, thresholds=True):
    """SERVICES (service dicts with realservers, for a live table in the kernel's dump
    order) as ipvsadm-save -n text, in the order ipvsadm -S -n lists them (see
    ipvsadm_service_order); THRESHOLDS as for render_service_lines."""
    return render_listed(ipvsadm_service_order(services), thresholds)


def render_listed(listed, thresholds=True):
    """LISTED, services already in ipvsadm's order (ipvsadm_service_order's result), as
    ipvsadm-save -n text.  Never sort twice: ipvsadm sorts the dump once, and when
    addresses compare in a cycle, sorting its result again can give another order."""
    lines = []
    for svc in listed:
        lines.extend(render_service_lines(svc, thresholds))
    return ''.join(line + '\n' for line in lines)


# The order ipvsadm lists in.  ipvsadm (unless --nosort) qsorts the services it dumped
# with libipvs's ipvs_cmp_services (fwmark, family, protocol, address, port) and each
# service's real servers with ipvs_cmp_dests (address, port).  Those comparators subtract
# unsigned 32-bit fields and keep the difference as a C int, so two marks or addresses
# more than 2**31 apart compare backwards (192.168.0.1 sorts before 10.0.0.1), and three
# or more may compare in a cycle; then the result depends on the algorithm and on the
# input order.  glibc's qsort (Debian 12's 2.36) is a top-down merge sort, so that is what
# runs here, on the order given (for a live table the kernel's dump order): the result is
# ipvsadm's, byte for byte.  When no field spans 2**31 the comparator is the plain
# numeric order and a Python sort gives the same result faster.

def _address_words(family, address):
    """The address as libipvs compares it: host-order 32-bit words (one for IPv4)."""
    raw = socket.inet_pton(FAMILIES[family], address)
    return struct.unpack('!%dI' % (len(raw) // 4), raw)


def _c_int_difference(a, b):
    """(int)(a - b) of two C unsigned 32-bit values (the difference wraps)."""
    diff = (a - b) & 0xFFFFFFFF
    return diff - 0x100000000 if diff & 0x80000000 else diff


def _compare_words(a, b):
    for x, y in zip(a, b):
        r = _c_int_difference(x, y)
        if r:
            return r
    return 0


def _service_fields(svc):
    if svc['protocol'] == 'fwmark':
        return (svc['fwmark'], FAMILIES[svc['family']], 0, (), 0)
    return (0, FAMILIES[svc['family']], protocol_number(svc['protocol']),
            _address_words(svc['family'], svc['address']), svc['port'])


def _compare_services(a, b):
    """libipvs ipvs_cmp_services on _service_fields."""
    r = _c_int_difference(a[0], b[0])
    if r:
        return r
    r = (a[1] - b[1]) or (a[2] - b[2])
    if r:
        return r
    return _compare_words(a[3], b[3]) or (a[4] - b[4])


def _compare_dests(a, b):
    """libipvs ipvs_cmp_dests on (address words, port)."""
    return _compare_words(a[0], b[0]) or (a[1] - b[1])


def _glibc_merge_sort(items, compare):
    """glibc's qsort (msort_with_tmp): halves of n//2 and the rest, sorted the same way,
    merged taking from the left half while compare(left, right) <= 0."""
    if len(items) <= 1:
        return list(items)
    half = len(items) // 2
    left = _glibc_merge_sort(items[:half], compare)
    right = _glibc_merge_sort(items[half:], compare)
    out = []
    i = j = 0
    while i < len(left) and j < len(right):
        if compare(left[i][0], right[j][0]) <= 0:
            out.append(left[i])
            i += 1
        else:
            out.append(right[j])
            j += 1
    out.extend(left[i:])
    out.extend(right[j:])
    return out


def _spans_half(values):
    """Whether unsigned 32-bit VALUES are so far apart that a wrapped difference flips."""
    return bool(values) and max(values) - min(values) >= 0x80000000


def _ipvsadm_order(keyed, compare, wrapping):
    """KEYED: [(fields, item)] in input order; WRAPPING: the u32 columns of the fields."""
    if any(_spans_half(column) for column in wrapping):
        return [item for _fields, item in _glibc_merge_sort(keyed, compare)]
    return [item for _fields, item in sorted(keyed, key=lambda pair: pair[0])]


def ipvsadm_service_order(services):
    """SERVICES in the order ipvsadm -L / -S lists them (see above)."""
    keyed = [(_service_fields(svc), svc) for svc in services]
    marks = [fields[0] for fields, _svc in keyed]
    words = {}
    for fields, _svc in keyed:
        for index, word in enumerate(fields[3]):
            words.setdefault(index, []).append(word)
    return _ipvsadm_order(keyed, _compare_services, [marks] + list(words.values()))


def ipvsadm_dest_order(dests):
    """Real servers of one service in the order ipvsadm lists them (see above)."""
    keyed = []
    for dest in dests:
        family = 'ipv6' if ':' in dest['address'] else 'ipv4'
        keyed.append(((_address_words(family, dest['address']), dest['port']), dest))
    words = {}
    for fields, _dest in keyed:
        for index, word in enumerate(fields[0]):
            words.setdefault(index, []).append(word)
    return _ipvsadm_order(keyed, _compare_dests, list(words.values()))
