# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IPVS messages on the wire (the kernel ABI, include/uapi/linux/ip_vs.h): bytes only.

Service and real-server messages are packed and unpacked here with struct: a director
with 10,000 real servers sends and reads that many messages per run, and pyroute2's
generic nla classes spend ~100 us of Python on each (seconds on a slow host).  Every
attribute is sent explicitly, so no library default reaches the kernel.  No sockets:
ipvs_session sends and receives what this module packs.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import operator
import socket
import struct

from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_model import (
    CONN_F_FWD_MASK, FAMILIES, FAMILY_BY_NUMBER, FORWARDING, FORWARDING_BY_CODE, SVC_F_MANAGED, SVC_F_ONEPACKET,
    SVC_F_PERSISTENT, TUN_CSUM, TUN_CSUM_BY_CODE, TUN_TYPES, TUN_TYPE_BY_CODE, default_netmask, protocol_name,
    protocol_number, sched_flag_bits, sched_flag_names, service_key,
)

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
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 1, 4, 0x300

# generic netlink commands, include/uapi/linux/ip_vs.h
CMD_NEW_SERVICE, CMD_SET_SERVICE, CMD_DEL_SERVICE, CMD_GET_SERVICE = 1, 2, 3, 4
CMD_NEW_DEST, CMD_SET_DEST, CMD_DEL_DEST, CMD_GET_DEST = 5, 6, 7, 8
CMD_SET_CONFIG, CMD_GET_CONFIG = 12, 13

CMD_ATTR_SERVICE, CMD_ATTR_DEST = 1, 2
# the connection timeouts of GET_CONFIG/SET_CONFIG (u32 seconds; 0 = leave as is)
TIMEOUT_ATTRS = (('tcp', 4), ('tcpfin', 5), ('udp', 6))   # IPVS_CMD_ATTR_TIMEOUT_TCP, _TCP_FIN, _UDP

# generic netlink's controller (include/uapi/linux/genetlink.h), which maps family names
# to the message type a family's requests carry
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME = 1, 2
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


def frame(family, seq, cmd, attrs, flags):
    """One generic netlink request of FAMILY: netlink and genl (version 1) headers, ATTRS."""
    return _NLMSG.pack(_NL_HEADERS + len(attrs), family, flags, seq, 0) + _GENL.pack(cmd, 1, 0) + attrs


def split_messages(data):
    """Yield (type, seq, payload) of each netlink message in DATA (what one recv got)."""
    offset = 0
    while offset + _NLMSG.size <= len(data):
        size, kind, _flags, seq, _port = _NLMSG.unpack_from(data, offset)
        if size < _NLMSG.size:
            break
        yield kind, seq, data[offset + _NLMSG.size:offset + size]
        offset += (size + 3) & ~3


def error_code(payload):
    """The errno of an NLMSG_ERROR payload; 0 is an acknowledgement."""
    return -_I32.unpack_from(payload)[0]


def message_attrs(payload):
    """{attribute type: payload bytes} of a generic netlink message's payload."""
    return parse_nlas(payload, _GENL.size)


def message_attr(payload, kind):
    """The payload of attribute KIND of a generic netlink message (None if absent).  An
    IPVS dump message holds one attribute, looked at first; anything else is parsed."""
    if len(payload) >= _GENL.size + _NLA.size:
        size, found = _NLA.unpack_from(payload, _GENL.size)
        if found & NLA_TYPE_MASK == kind and size >= _NLA.size:
            return payload[_GENL.size + _NLA.size:_GENL.size + size]
    return message_attrs(payload).get(kind)


def family_request(seq, name):
    """The controller request for the id of generic netlink family NAME (acknowledged)."""
    return frame(GENL_ID_CTRL, seq, CTRL_CMD_GETFAMILY, nla(CTRL_ATTR_FAMILY_NAME, name.encode('ascii') + b'\0'),
                 NLM_F_REQUEST | NLM_F_ACK)


def family_id_from_wire(payload):
    """The family id in a controller reply's PAYLOAD; None if it holds none."""
    raw = message_attrs(payload).get(CTRL_ATTR_FAMILY_ID)
    return _U16.unpack_from(raw)[0] if raw is not None and len(raw) >= _U16.size else None


def encode_timeouts(wanted):
    """SET_CONFIG attributes for the timeouts in WANTED ({'tcp': s, ...}); only those."""
    return b''.join(nla(kind, _U32.pack(wanted[name])) for name, kind in TIMEOUT_ATTRS if name in wanted)


def timeouts_from_wire(payload):
    """{'tcp', 'tcpfin', 'udp'} of a GET_CONFIG reply's PAYLOAD; None if one is absent."""
    attrs = message_attrs(payload)
    found = {}
    for name, kind in TIMEOUT_ATTRS:
        raw = attrs.get(kind)
        if raw is None or len(raw) < _U32.size:
            return None
        found[name] = _U32.unpack_from(raw)[0]
    return found


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
    """The service's flags, sent under SVC_F_MANAGED: every bit but the kernel's own
    HASHED, each one read back by service_from_wire, so a SET keeps what it does not change."""
    flags = sched_flag_bits(svc['scheduler_flags'])
    if svc['persistence_timeout']:
        flags |= SVC_F_PERSISTENT
    if svc['one_packet']:
        flags |= SVC_F_ONEPACKET
    return flags


def encode_service_key(svc):
    """The lookup key attributes, sent explicitly (fwmark services: family + mark only).
    A protocol read back as proto<N> goes back as N, so such a service can be listed and
    deleted."""
    attrs = nla(SVC_ATTR_AF, _U16.pack(FAMILIES[svc['family']]))
    if svc['protocol'] == 'fwmark':
        return attrs + nla(SVC_ATTR_FWMARK, _U32.pack(svc['fwmark']))
    return (attrs + nla(SVC_ATTR_PROTOCOL, _U16.pack(protocol_number(svc['protocol'])))
            + nla(SVC_ATTR_ADDR, _address_bytes(svc['family'], svc['address']))
            + nla(SVC_ATTR_PORT, _BE16.pack(svc['port'])))


def encode_service_settings(svc):
    """Every setting the kernel needs for NEW/SET (it requires all four), and the
    persistence engine when there is one: a SET without IPVS_SVC_ATTR_PE_NAME removes the
    service's engine, so a service that keeps one must carry it (plan_service puts the
    live one in when the module does not manage it)."""
    attrs = (nla(SVC_ATTR_SCHED_NAME, svc['scheduler'].encode('ascii') + b'\0')
             + nla(SVC_ATTR_FLAGS, _FLAGS.pack(_service_flags(svc), SVC_F_MANAGED))
             + nla(SVC_ATTR_TIMEOUT, _U32.pack(svc['persistence_timeout']))
             + nla(SVC_ATTR_NETMASK, _U32.pack(netmask_to_wire(svc))))
    if svc.get('pe'):
        attrs += nla(SVC_ATTR_PE_NAME, svc['pe'].encode('ascii') + b'\0')
    return attrs


# A real server's attributes packed with their headers in one struct call each (a table
# load sends 10,000 of them): the key (family, address, port) for each address family, and
# the settings.  The same bytes nla() would give, attribute by attribute.
_LEN_U8, _LEN_U16, _LEN_U32 = _NLA.size + 1, _NLA.size + 2, _NLA.size + 4
_DEST_KEY = {'ipv4': struct.Struct('=HHH2x HH4s HHH2x'), 'ipv6': struct.Struct('=HHH2x HH16s HHH2x')}
_DEST_SETTINGS = struct.Struct('=HHI HHI HHI HHI HHB3x HHH2x HHH2x')


def encode_dest(svc, dest, settings=True):
    family = svc['family']
    address = _address_bytes(family, dest['address'])
    attrs = _DEST_KEY[family].pack(
        _LEN_U16, DEST_ATTR_ADDR_FAMILY, FAMILIES[family],
        _NLA.size + len(address), DEST_ATTR_ADDR, address,
        _LEN_U16, DEST_ATTR_PORT, socket.htons(dest['port']))
    if settings:
        # The tunnel attributes always: the kernel resets the ones a SET leaves out (a
        # kernel older than 5.2 ignores them).  A value read back that this layer has no
        # name for is an int and goes back as it came.
        tun_type, csum = dest['tun_type'], dest['tun_csum']
        attrs += _DEST_SETTINGS.pack(
            _LEN_U32, DEST_ATTR_FWD_METHOD, FORWARDING[dest['forwarding']],
            _LEN_U32, DEST_ATTR_WEIGHT, dest['weight'],
            _LEN_U32, DEST_ATTR_U_THRESH, dest['upper_threshold'],
            _LEN_U32, DEST_ATTR_L_THRESH, dest['lower_threshold'],
            _LEN_U8, DEST_ATTR_TUN_TYPE, TUN_TYPES.get(tun_type, tun_type),
            _LEN_U16, DEST_ATTR_TUN_PORT, socket.htons(dest['tun_port']),
            _LEN_U16, DEST_ATTR_TUN_FLAGS, TUN_CSUM.get(csum, csum))
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


def _stats_of(attrs, kind64, kind32):
    """The statistics of a dumped entry: the 64-bit nest, else the 32-bit one (older kernels)."""
    stats = attrs.get(kind64) or attrs.get(kind32)
    return _decode_stats(stats) if stats else {}


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
        svc.update(protocol=protocol_name(number),
                   address=_address_text(family, attrs[SVC_ATTR_ADDR]),
                   port=_BE16.unpack_from(attrs[SVC_ATTR_PORT])[0], fwmark=None)
    persistent = bool(flags & SVC_F_PERSISTENT)
    svc['persistence_timeout'] = _u32(attrs, SVC_ATTR_TIMEOUT) if persistent else 0
    svc['persistence_netmask'] = (netmask_from_wire(family, _u32(attrs, SVC_ATTR_NETMASK))
                                  if persistent and SVC_ATTR_NETMASK in attrs else default_netmask(family))
    svc['one_packet'] = bool(flags & SVC_F_ONEPACKET)
    svc['scheduler_flags'] = sched_flag_names(scheduler, flags)
    pe = attrs.get(SVC_ATTR_PE_NAME, b'').split(b'\0', 1)[0]
    svc['pe'] = pe.decode('ascii', 'replace') if pe else None
    if with_stats:
        svc['stats'] = _stats_of(attrs, SVC_ATTR_STATS64, SVC_ATTR_STATS)
    svc['realservers'] = {}
    return svc


# ip_vs_genl_fill_dest (Linux >= 5.3) writes a real server's first 13 attributes in this
# order and these sizes, then the two statistics nests.  Read in one struct call, with
# every attribute header checked against it, a dump of 10,000 real servers decodes several
# times faster than attribute by attribute (seconds under emulation).  Any other layout
# (an older kernel, a future one) takes the general path, attribute by attribute.
_DEST_LAYOUT = ((DEST_ATTR_ADDR, '16s', 16), (DEST_ATTR_PORT, 'H2x', 2), (DEST_ATTR_FWD_METHOD, 'I', 4),
                (DEST_ATTR_WEIGHT, 'I', 4), (DEST_ATTR_TUN_TYPE, 'B3x', 1), (DEST_ATTR_TUN_PORT, 'H2x', 2),
                (DEST_ATTR_TUN_FLAGS, 'H2x', 2), (DEST_ATTR_U_THRESH, 'I', 4), (DEST_ATTR_L_THRESH, 'I', 4),
                (DEST_ATTR_ACTIVE_CONNS, 'I', 4), (DEST_ATTR_INACT_CONNS, 'I', 4),
                (DEST_ATTR_PERSIST_CONNS, 'I', 4), (DEST_ATTR_ADDR_FAMILY, 'H2x', 2))
_DEST_FIXED = struct.Struct('=' + ''.join('HH' + fmt for _kind, fmt, _size in _DEST_LAYOUT))
_DEST_HEADERS = tuple(v for kind, _fmt, size in _DEST_LAYOUT for v in (_NLA.size + size, kind))
_dest_headers = operator.itemgetter(*[i for n in range(len(_DEST_LAYOUT)) for i in (3 * n, 3 * n + 1)])
_dest_values = operator.itemgetter(*[3 * n + 2 for n in range(len(_DEST_LAYOUT))])


def dest_from_wire(raw, family, with_stats=True):
    """A dumped IPVS_CMD_ATTR_DEST payload -> real-server dict (+ counters and stats)."""
    if len(raw) >= _DEST_FIXED.size:
        fields = _DEST_FIXED.unpack_from(raw)
        if _dest_headers(fields) == _DEST_HEADERS:
            (address, port, fwd, weight, tun_type, tun_port, tun_flags, upper, lower, active, inactive,
             persistent, af) = _dest_values(fields)
            family = FAMILY_BY_NUMBER.get(af, family)
            fwd &= CONN_F_FWD_MASK
            dest = {'address': _address_text(family, address), 'port': socket.ntohs(port),
                    'forwarding': FORWARDING_BY_CODE.get(fwd, 'fwd%d' % fwd),
                    'weight': weight, 'upper_threshold': upper, 'lower_threshold': lower,
                    'active_connections': active, 'inactive_connections': inactive,
                    'persistent_connections': persistent,
                    'tun_type': TUN_TYPE_BY_CODE.get(tun_type, tun_type), 'tun_port': socket.ntohs(tun_port),
                    'tun_csum': TUN_CSUM_BY_CODE.get(tun_flags, tun_flags)}
            if with_stats:
                dest['stats'] = _stats_of(parse_nlas(raw, _DEST_FIXED.size), DEST_ATTR_STATS64, DEST_ATTR_STATS)
            return dest
    return _dest_from_attrs(parse_nlas(raw), family, with_stats)


def _dest_from_attrs(attrs, family, with_stats):
    """The general path of dest_from_wire: ATTRS ({type: payload}) in any order, any missing."""
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
        dest['stats'] = _stats_of(attrs, DEST_ATTR_STATS64, DEST_ATTR_STATS)
    return dest
