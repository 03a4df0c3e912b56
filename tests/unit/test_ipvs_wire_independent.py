"""The IPVS messages checked against encoders and decoders the codec did not write.

tests/unit/test_ipvs_wire.py round-trips the codec against itself, which cannot notice
two attribute numbers swapped on both sides.  Here every attribute the codec sends or
reads is checked against

* pyroute2's own IPVS message class (pyroute2.netlink.generic.ipvs.ipvsmsg): the codec's
  bytes decoded by it, and dumps encoded by it decoded by the codec;
* where that class mistypes an attribute (IPv6 persistence netmask: a prefix length,
  typed ip4addr; the tunnel port: be16 on the wire, typed uint16), the kernel header
  numbers and sizes below, written into this file by hand.

Never against the codec's own constants.  That the kernel accepts the bytes is proven in
the lab (tests/integration, bench/ipvs_table_load.py against ipvsadm-save).
"""
import os
import re
import socket
import struct

import pytest
from pyroute2.netlink.generic.ipvs import ipvsmsg

from ansible_collections.lvs.cluster.plugins.module_utils import ipvs_wire as wire
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_plan import Op

# --- include/uapi/linux/ip_vs.h, copied by hand (Linux 6.1) ---------------------------
IPVS_CMD = dict(NEW_SERVICE=1, SET_SERVICE=2, DEL_SERVICE=3, GET_SERVICE=4,
                NEW_DEST=5, SET_DEST=6, DEL_DEST=7, GET_DEST=8, SET_CONFIG=12, GET_CONFIG=13)
IPVS_CMD_ATTR = dict(SERVICE=1, DEST=2, DAEMON=3, TIMEOUT_TCP=4, TIMEOUT_TCP_FIN=5, TIMEOUT_UDP=6)
IPVS_SVC_ATTR = dict(AF=1, PROTOCOL=2, ADDR=3, PORT=4, FWMARK=5, SCHED_NAME=6, FLAGS=7, TIMEOUT=8,
                     NETMASK=9, STATS=10, PE_NAME=11, STATS64=12)
IPVS_DEST_ATTR = dict(ADDR=1, PORT=2, FWD_METHOD=3, WEIGHT=4, U_THRESH=5, L_THRESH=6, ACTIVE_CONNS=7,
                      INACT_CONNS=8, PERSIST_CONNS=9, STATS=10, ADDR_FAMILY=11, STATS64=12,
                      TUN_TYPE=13, TUN_PORT=14, TUN_FLAGS=15)
IPVS_STATS_ATTR = dict(CONNS=1, INPKTS=2, OUTPKTS=3, INBYTES=4, OUTBYTES=5, CPS=6, INPPS=7,
                       OUTPPS=8, INBPS=9, OUTBPS=10)
IP_VS_SVC_F = dict(PERSISTENT=0x0001, HASHED=0x0002, ONEPACKET=0x0004, SCHED1=0x0008, SCHED2=0x0010,
                   SCHED3=0x0020)
IP_VS_CONN_F = dict(nat=0x0000, tun=0x0002, dr=0x0003)      # MASQ, TUNNEL, DROUTE
IP_VS_CONN_F_TUNNEL_TYPE = dict(ipip=0, gue=1, gre=2)
IP_VS_TUNNEL_ENCAP_FLAG = dict(nocsum=0, csum=1 << 0, remcsum=1 << 1)
# Payload sizes from the kernel's netlink policies (net/netfilter/ipvs/ip_vs_ctl.c:
# ip_vs_svc_policy, ip_vs_dest_policy); None = variable (address, string).
SVC_SIZE = dict(AF=2, PROTOCOL=2, ADDR=None, PORT=2, FWMARK=4, SCHED_NAME=None, FLAGS=8, TIMEOUT=4,
                NETMASK=4)
DEST_SIZE = dict(ADDR=None, PORT=2, FWD_METHOD=4, WEIGHT=4, U_THRESH=4, L_THRESH=4, ADDR_FAMILY=2,
                 TUN_TYPE=1, TUN_PORT=2, TUN_FLAGS=2)
# The statistics as the codec names them, by kernel attribute.
STATS_BY_NAME = dict(connections='CONNS', packets_in='INPKTS', packets_out='OUTPKTS', bytes_in='INBYTES',
                     bytes_out='OUTBYTES', connections_per_second='CPS', packets_in_per_second='INPPS',
                     packets_out_per_second='OUTPPS', bytes_in_per_second='INBPS',
                     bytes_out_per_second='OUTBPS')
# The scheduler flags as ipvsadm names them (-b), by kernel flag (ipvsadm.c parse_sched_flags).
SCHED_FLAG = {'sh-fallback': 'SCHED1', 'sh-port': 'SCHED2', 'mh-fallback': 'SCHED1', 'mh-port': 'SCHED2',
              'flag-1': 'SCHED1', 'flag-2': 'SCHED2', 'flag-3': 'SCHED3'}
# IPPROTO_* of the service protocols (netinet/in.h).
IPPROTO = {'tcp': 6, 'udp': 17, 'sctp': 132}
# What this layer owns in a service's flags (the kernel applies FLAGS under the mask).
MANAGED_MASK = (IP_VS_SVC_F['PERSISTENT'] | IP_VS_SVC_F['ONEPACKET'] | IP_VS_SVC_F['SCHED1']
                | IP_VS_SVC_F['SCHED2'] | IP_VS_SVC_F['SCHED3'])
GENL_ID = 0x1c      # any generic netlink family id: the codec does not frame messages


# --- netlink written independently -------------------------------------------------

def attrs_of(buf):
    """{type: payload} of the netlink attributes in BUF (each type once)."""
    out = {}
    offset = 0
    while offset + 4 <= len(buf):
        size, kind = struct.unpack_from('=HH', buf, offset)
        assert size >= 4
        kind &= 0x3fff      # NLA_F_NESTED / NLA_F_NET_BYTEORDER
        assert kind not in out, 'attribute %d twice' % kind
        out[kind] = bytes(buf[offset + 4:offset + size])
        offset += (size + 3) & ~3
    assert offset == len(buf) or offset - len(buf) < 4
    return out


def attr(kind, payload):
    return struct.pack('=HH', 4 + len(payload), kind) + payload + b'\0' * (-len(payload) % 4)


def genl_frame(cmd, attrs):
    body = struct.pack('=BBH', cmd, 1, 0) + attrs
    return struct.pack('=IHHII', 16 + len(body), GENL_ID, 1, 1, 0) + body


def pyroute2_reads(cmd, attrs):
    msg = ipvsmsg(genl_frame(cmd, attrs))
    msg.decode()
    assert msg['cmd'] == cmd
    return msg


def names(nested):
    return sorted(name for name, _value in nested['attrs'])


def pyroute2_payload(cmd_attr, nested_attrs):
    """pyroute2's encoding of a dump message carrying one service or dest: the nested
    payload, as the codec's decoders are given it."""
    msg = ipvsmsg()
    msg['cmd'] = IPVS_CMD['NEW_SERVICE'] if cmd_attr == 'SERVICE' else IPVS_CMD['NEW_DEST']
    msg['version'] = 1
    msg['attrs'] = [('IPVS_CMD_ATTR_' + cmd_attr, {'attrs': nested_attrs})]
    msg.encode()
    data = bytes(msg.data[:msg['header']['length']])
    return attrs_of(data[20:])[IPVS_CMD_ATTR[cmd_attr]]


# --- services and real servers as the codec holds them ------------------------------

def service(protocol='tcp', family='ipv4', address='192.0.2.100', port=80, fwmark=None, scheduler='wlc',
            scheduler_flags=(), timeout=0, netmask=None, one_packet=False):
    if protocol == 'fwmark':
        address = port = None
    return dict(protocol=protocol, family=family, address=address, port=port, fwmark=fwmark,
                scheduler=scheduler, scheduler_flags=list(scheduler_flags), persistence_timeout=timeout,
                persistence_netmask=netmask if netmask is not None else (128 if family == 'ipv6'
                                                                         else '255.255.255.255'),
                one_packet=one_packet, realservers={})


def dest(address, port=80, forwarding='dr', weight=1, upper=0, lower=0, tun_type='ipip', tun_port=0,
         tun_csum='nocsum'):
    return dict(address=address, port=port, forwarding=forwarding, weight=weight, upper_threshold=upper,
                lower_threshold=lower, tun_type=tun_type, tun_port=tun_port, tun_csum=tun_csum)


SERVICES = {
    # flags in bit order, as they are read back
    'tcp4-persistent-sh': service(scheduler='sh', scheduler_flags=['sh-fallback', 'sh-port'], timeout=600,
                                  netmask='255.255.255.0', port=443),
    'sctp4-rr-flags': service('sctp', port=3868, scheduler='rr', scheduler_flags=['flag-1', 'flag-3']),
    'sctp6-sh-all-flags': service('sctp', 'ipv6', '2001:db8::132', 0, scheduler='sh',
                                  scheduler_flags=['sh-fallback', 'sh-port', 'flag-3'], timeout=30, netmask=56),
    'fwmark4-wlc-flag2': service('fwmark', fwmark=9, scheduler='wlc', scheduler_flags=['flag-2']),
    'udp6-persistent-onepacket-mh': service('udp', 'ipv6', '2001:db8::100', 53, scheduler='mh',
                                            scheduler_flags=['mh-port'], timeout=60, netmask=64,
                                            one_packet=True),
    'tcp6-plain': service('tcp', 'ipv6', '2001:db8:0:1:1:1:1:1', 8080, scheduler='wrr'),
    'udp4-mh-fallback': service('udp', port=5060, scheduler='mh', scheduler_flags=['mh-fallback']),
    'fwmark4-persistent': service('fwmark', fwmark=7, scheduler='rr', timeout=300, netmask='255.255.0.0'),
    'fwmark6': service('fwmark', 'ipv6', fwmark=0x12345, scheduler='lc', timeout=1800, netmask=48),
}

DESTS = {   # (service, real server)
    'nat4': ('tcp4-persistent-sh', dest('198.51.100.11', 8443, 'nat', weight=3, upper=100, lower=10)),
    'dr6': ('udp6-persistent-onepacket-mh', dest('2001:db8::11', 53, 'dr', weight=65535, upper=7, lower=2)),
    'tun4-ipip': ('tcp4-persistent-sh', dest('198.51.100.21', 443, 'tun', weight=0, upper=50, lower=40)),
    'tun4-gue-remcsum': ('udp4-mh-fallback', dest('198.51.100.22', 5060, 'tun', 2, 9, 4, 'gue', 6080,
                                                  'remcsum')),
    'tun6-gue-csum': ('tcp6-plain', dest('2001:db8::22', 8080, 'tun', 5, 1000, 999, 'gue', 65535, 'csum')),
    'tun4-gre-csum': ('fwmark4-persistent', dest('198.51.100.23', 0, 'tun', 7, 30, 20, 'gre', 0, 'csum')),
    'tun6-gre-nocsum': ('fwmark6', dest('2001:db8::23', 0, 'tun', 1, 3, 1, 'gre', 0, 'nocsum')),
    'dr4-fwmark': ('fwmark4-persistent', dest('198.51.100.31', 0, 'dr', weight=4, upper=12, lower=11)),
    'nat4-sctp': ('sctp4-rr-flags', dest('198.51.100.41', 3869, 'nat', weight=6)),
    'tun6-sctp-gue': ('sctp6-sh-all-flags', dest('2001:db8::41', 0, 'tun', 2, 0, 0, 'gue', 6080, 'csum')),
}


def family_number(svc):
    return socket.AF_INET6 if svc['family'] == 'ipv6' else socket.AF_INET


def expected_flags(svc):
    flags = IP_VS_SVC_F['PERSISTENT'] if svc['persistence_timeout'] else 0
    if svc['one_packet']:
        flags |= IP_VS_SVC_F['ONEPACKET']
    for name in svc['scheduler_flags']:
        flags |= IP_VS_SVC_F[SCHED_FLAG[name]]
    return flags


def ipv4_mask_u32(text):
    """An IPv4 netmask as the kernel's u32 (network order bytes read in host order)."""
    return struct.unpack('=I', socket.inet_aton(text))[0]


# --- the tables these tests trust ----------------------------------------------------

def pyroute2_numbers(nla_class):
    return dict((name, number) for number, (name, _type) in enumerate(nla_class.nla_map))


def test_pyroute2_numbers_the_attributes_as_the_hand_copied_header_does():
    """pyroute2 is only an independent witness if its numbering is the kernel's."""
    for prefix, table, nla_class in (('IPVS_CMD_ATTR_', IPVS_CMD_ATTR, ipvsmsg),
                                     ('IPVS_SVC_ATTR_', IPVS_SVC_ATTR, ipvsmsg.service),
                                     ('IPVS_DEST_ATTR_', IPVS_DEST_ATTR, ipvsmsg.dest),
                                     ('IPVS_STATS_ATTR_', IPVS_STATS_ATTR, ipvsmsg.service.stats64)):
        theirs = pyroute2_numbers(nla_class)
        for name, number in table.items():
            assert theirs[prefix + name] == number, prefix + name


HEADER = '/usr/include/linux/ip_vs.h'


def header_enum(text, prefix):
    """{name: value} of the enum members called PREFIX* in the header TEXT."""
    values = {}
    for body in re.findall(r'enum\s*\{(.*?)\}', text, re.S):
        number = -1
        for member in re.sub(r'/\*.*?\*/', '', body, flags=re.S).split(','):
            match = re.match(r'\s*(\w+)\s*(?:=\s*(\w+))?\s*$', member)
            if not match:
                continue
            number = int(match.group(2), 0) if match.group(2) else number + 1
            if match.group(1).startswith(prefix):
                values[match.group(1)[len(prefix):]] = number
    return values


@pytest.mark.skipif(not os.path.exists(HEADER), reason='no kernel headers installed')
def test_the_hand_copied_numbers_are_the_installed_headers():
    with open(HEADER) as handle:
        text = handle.read()
    for prefix, table in (('IPVS_CMD_ATTR_', IPVS_CMD_ATTR), ('IPVS_SVC_ATTR_', IPVS_SVC_ATTR),
                          ('IPVS_DEST_ATTR_', IPVS_DEST_ATTR), ('IPVS_STATS_ATTR_', IPVS_STATS_ATTR),
                          ('IP_VS_CONN_F_TUNNEL_TYPE_', dict((k.upper(), v) for k, v in
                                                             IP_VS_CONN_F_TUNNEL_TYPE.items()))):
        found = header_enum(text, prefix)
        assert dict((name, found.get(name)) for name in table) == table, prefix
    cmds = header_enum(text, 'IPVS_CMD_')
    assert dict((name, cmds.get(name)) for name in IPVS_CMD) == IPVS_CMD
    defines = dict((name, int(value, 0)) for name, value in
                   re.findall(r'#define\s+(IP_VS_\w+)\s+\(?\s*(0x[0-9a-fA-F]+|\d+)\s*\)?', text))
    for name, bit in IP_VS_SVC_F.items():
        assert defines['IP_VS_SVC_F_' + name] == bit
    assert [defines['IP_VS_CONN_F_' + name] for name in ('MASQ', 'TUNNEL', 'DROUTE')] == [
        IP_VS_CONN_F['nat'], IP_VS_CONN_F['tun'], IP_VS_CONN_F['dr']]
    assert re.search(r'IP_VS_TUNNEL_ENCAP_FLAG_CSUM\s+\(1 << 0\)', text)
    assert re.search(r'IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM\s+\(1 << 1\)', text)


# --- what the codec sends, as pyroute2 and the header read it --------------------------

SERVICE_KEY_NAMES = {'tcp': ['AF', 'PROTOCOL', 'ADDR', 'PORT'], 'udp': ['AF', 'PROTOCOL', 'ADDR', 'PORT'],
                     'sctp': ['AF', 'PROTOCOL', 'ADDR', 'PORT'], 'fwmark': ['AF', 'FWMARK']}
SERVICE_SETTING_NAMES = ['SCHED_NAME', 'FLAGS', 'TIMEOUT', 'NETMASK']     # never PE_NAME
DEST_KEY_NAMES = ['ADDR_FAMILY', 'ADDR', 'PORT']
DEST_SETTING_NAMES = ['FWD_METHOD', 'WEIGHT', 'U_THRESH', 'L_THRESH', 'TUN_TYPE', 'TUN_PORT', 'TUN_FLAGS']


def check_service_key(nested, raw, svc):
    assert nested.get_attr('IPVS_SVC_ATTR_AF') == family_number(svc)
    if svc['protocol'] == 'fwmark':
        assert nested.get_attr('IPVS_SVC_ATTR_FWMARK') == svc['fwmark']
    else:
        assert nested.get_attr('IPVS_SVC_ATTR_PROTOCOL') == IPPROTO[svc['protocol']]
        assert nested.get_attr('IPVS_SVC_ATTR_ADDR') == svc['address']
        assert nested.get_attr('IPVS_SVC_ATTR_PORT') == svc['port']
        assert raw[IPVS_SVC_ATTR['PORT']] == struct.pack('!H', svc['port'])
    for name in SERVICE_KEY_NAMES[svc['protocol']]:
        if SVC_SIZE[name] is not None:
            assert len(raw[IPVS_SVC_ATTR[name]]) == SVC_SIZE[name], name


@pytest.mark.parametrize('action', ['add', 'set'])
@pytest.mark.parametrize('case', sorted(SERVICES))
def test_service_message_read_by_pyroute2(case, action):
    svc = SERVICES[case]
    cmd, attrs = wire.encode_op(Op(action, 'service', svc))
    assert cmd == IPVS_CMD['NEW_SERVICE' if action == 'add' else 'SET_SERVICE']
    msg = pyroute2_reads(cmd, attrs)
    assert names(msg) == ['IPVS_CMD_ATTR_SERVICE']
    nested = msg.get_attr('IPVS_CMD_ATTR_SERVICE')
    raw = attrs_of(attrs_of(attrs)[IPVS_CMD_ATTR['SERVICE']])
    assert names(nested) == sorted('IPVS_SVC_ATTR_' + name for name in
                                   SERVICE_KEY_NAMES[svc['protocol']] + SERVICE_SETTING_NAMES)
    check_service_key(nested, raw, svc)
    assert nested.get_attr('IPVS_SVC_ATTR_SCHED_NAME') == svc['scheduler']
    assert raw[IPVS_SVC_ATTR['SCHED_NAME']] == svc['scheduler'].encode() + b'\0'
    assert nested.get_attr('IPVS_SVC_ATTR_FLAGS') == {'flags': expected_flags(svc), 'mask': MANAGED_MASK}
    assert nested.get_attr('IPVS_SVC_ATTR_TIMEOUT') == svc['persistence_timeout']
    netmask = struct.unpack('=I', raw[IPVS_SVC_ATTR['NETMASK']])[0]
    if svc['family'] == 'ipv4':
        assert nested.get_attr('IPVS_SVC_ATTR_NETMASK') == svc['persistence_netmask']
        assert netmask == ipv4_mask_u32(svc['persistence_netmask'])
    else:
        # pyroute2 types NETMASK ip4addr; an IPv6 service carries a prefix length (u32).
        assert netmask == svc['persistence_netmask']
    for name in SERVICE_SETTING_NAMES:
        if SVC_SIZE[name] is not None:
            assert len(raw[IPVS_SVC_ATTR[name]]) == SVC_SIZE[name], name


@pytest.mark.parametrize('case', sorted(SERVICES))
def test_service_delete_carries_the_key_alone(case):
    svc = SERVICES[case]
    cmd, attrs = wire.encode_op(Op('del', 'service', svc))
    assert cmd == IPVS_CMD['DEL_SERVICE']
    nested = pyroute2_reads(cmd, attrs).get_attr('IPVS_CMD_ATTR_SERVICE')
    assert names(nested) == sorted('IPVS_SVC_ATTR_' + name for name in SERVICE_KEY_NAMES[svc['protocol']])
    check_service_key(nested, attrs_of(attrs_of(attrs)[IPVS_CMD_ATTR['SERVICE']]), svc)


@pytest.mark.parametrize('action', ['add', 'set', 'del'])
@pytest.mark.parametrize('case', sorted(DESTS))
def test_dest_message_read_by_pyroute2(case, action):
    svc_name, real = DESTS[case]
    svc = SERVICES[svc_name]
    cmd, attrs = wire.encode_op(Op(action, 'dest', svc, real))
    assert cmd == IPVS_CMD[{'add': 'NEW_DEST', 'set': 'SET_DEST', 'del': 'DEL_DEST'}[action]]
    msg = pyroute2_reads(cmd, attrs)
    assert names(msg) == ['IPVS_CMD_ATTR_DEST', 'IPVS_CMD_ATTR_SERVICE']
    outer = attrs_of(attrs)
    # The service key alone: a dest command never carries service settings.
    nested_svc = msg.get_attr('IPVS_CMD_ATTR_SERVICE')
    assert names(nested_svc) == sorted('IPVS_SVC_ATTR_' + name for name in SERVICE_KEY_NAMES[svc['protocol']])
    check_service_key(nested_svc, attrs_of(outer[IPVS_CMD_ATTR['SERVICE']]), svc)

    nested = msg.get_attr('IPVS_CMD_ATTR_DEST')
    raw = attrs_of(outer[IPVS_CMD_ATTR['DEST']])
    sent = DEST_KEY_NAMES + (DEST_SETTING_NAMES if action != 'del' else [])
    assert names(nested) == sorted('IPVS_DEST_ATTR_' + name for name in sent)
    assert nested.get_attr('IPVS_DEST_ATTR_ADDR_FAMILY') == family_number(svc)
    assert nested.get_attr('IPVS_DEST_ATTR_ADDR') == real['address']
    assert nested.get_attr('IPVS_DEST_ATTR_PORT') == real['port']
    assert raw[IPVS_DEST_ATTR['PORT']] == struct.pack('!H', real['port'])
    if action != 'del':
        assert nested.get_attr('IPVS_DEST_ATTR_FWD_METHOD') == IP_VS_CONN_F[real['forwarding']]
        assert nested.get_attr('IPVS_DEST_ATTR_WEIGHT') == real['weight']
        assert nested.get_attr('IPVS_DEST_ATTR_U_THRESH') == real['upper_threshold']
        assert nested.get_attr('IPVS_DEST_ATTR_L_THRESH') == real['lower_threshold']
        assert nested.get_attr('IPVS_DEST_ATTR_TUN_TYPE') == IP_VS_CONN_F_TUNNEL_TYPE[real['tun_type']]
        assert nested.get_attr('IPVS_DEST_ATTR_TUN_FLAGS') == IP_VS_TUNNEL_ENCAP_FLAG[real['tun_csum']]
        # pyroute2 types TUN_PORT uint16 (host order); the kernel reads it with nla_get_be16.
        assert raw[IPVS_DEST_ATTR['TUN_PORT']] == struct.pack('!H', real['tun_port'])
    for name in sent:
        if DEST_SIZE[name] is not None:
            assert len(raw[IPVS_DEST_ATTR[name]]) == DEST_SIZE[name], name


# --- what the kernel dumps, encoded by pyroute2, as the codec reads it ------------------

def stats_attrs(base):
    """Every statistic, each its own value (BASE + kernel attribute number)."""
    return [('IPVS_STATS_ATTR_' + name, base + number) for name, number in IPVS_STATS_ATTR.items()]


def stats_expected(base):
    return dict((name, base + IPVS_STATS_ATTR[kernel]) for name, kernel in STATS_BY_NAME.items())


def whole_union(svc, address):
    """An address as the kernel dumps it: a whole union nf_inet_addr (16 bytes)."""
    return socket.inet_pton(family_number(svc), address).ljust(16, b'\0')


def dumped_service(svc, stats64=True, pe_name=None, kernel_addr=False):
    """ip_vs_genl_fill_service's attributes for SVC (pyroute2 encodes; the IPv6 netmask,
    mistyped by pyroute2, is appended as the header defines it, and so is the address
    with KERNEL_ADDR)."""
    attrs = [('IPVS_SVC_ATTR_AF', family_number(svc))]
    if svc['protocol'] == 'fwmark':
        attrs.append(('IPVS_SVC_ATTR_FWMARK', svc['fwmark']))
    else:
        attrs.append(('IPVS_SVC_ATTR_PROTOCOL', IPPROTO[svc['protocol']]))
        if not kernel_addr:
            attrs.append(('IPVS_SVC_ATTR_ADDR', svc['address']))
        attrs.append(('IPVS_SVC_ATTR_PORT', svc['port']))
    attrs.append(('IPVS_SVC_ATTR_SCHED_NAME', svc['scheduler']))
    if pe_name:
        attrs.append(('IPVS_SVC_ATTR_PE_NAME', pe_name))
    # The kernel reports every flag it has (HASHED too) under an all-ones mask.
    attrs += [('IPVS_SVC_ATTR_FLAGS', {'flags': expected_flags(svc) | IP_VS_SVC_F['HASHED'],
                                       'mask': 0xFFFFFFFF}),
              ('IPVS_SVC_ATTR_TIMEOUT', svc['persistence_timeout'])]
    if svc['family'] == 'ipv4':
        attrs.append(('IPVS_SVC_ATTR_NETMASK', svc['persistence_netmask']))
    attrs.append(('IPVS_SVC_ATTR_STATS', {'attrs': stats_attrs(1000)}))
    if stats64:
        attrs.append(('IPVS_SVC_ATTR_STATS64', {'attrs': stats_attrs(1 << 40)}))
    payload = pyroute2_payload('SERVICE', attrs)
    if svc['family'] == 'ipv6':
        payload += attr(IPVS_SVC_ATTR['NETMASK'], struct.pack('=I', svc['persistence_netmask']))
    if kernel_addr and svc['protocol'] != 'fwmark':
        payload += attr(IPVS_SVC_ATTR['ADDR'], whole_union(svc, svc['address']))
    return payload


@pytest.mark.parametrize('stats64', [True, False])
@pytest.mark.parametrize('case', sorted(SERVICES))
def test_service_dump_encoded_by_pyroute2_read_by_the_codec(case, stats64):
    svc = SERVICES[case]
    # Both variants: with and without PE_NAME, the address as pyroute2 and as the kernel sizes it.
    back = wire.service_from_wire(dumped_service(svc, stats64, pe_name='sip' if stats64 else None,
                                                 kernel_addr=not stats64))
    assert back.pop('stats') == stats_expected(1 << 40 if stats64 else 1000)
    # The persistence engine is read back (pe: sip), none when the kernel sent no PE_NAME.
    assert back.pop('pe') == ('sip' if stats64 else None)
    assert back == svc


def test_a_non_persistent_dump_reads_as_no_persistence_whatever_the_timeout_says():
    svc = service(timeout=0)
    raw = pyroute2_payload('SERVICE', [
        ('IPVS_SVC_ATTR_AF', socket.AF_INET), ('IPVS_SVC_ATTR_PROTOCOL', socket.IPPROTO_TCP),
        ('IPVS_SVC_ATTR_ADDR', svc['address']), ('IPVS_SVC_ATTR_PORT', svc['port']),
        ('IPVS_SVC_ATTR_SCHED_NAME', 'wlc'),
        ('IPVS_SVC_ATTR_FLAGS', {'flags': IP_VS_SVC_F['HASHED'], 'mask': 0xFFFFFFFF}),
        ('IPVS_SVC_ATTR_TIMEOUT', 360), ('IPVS_SVC_ATTR_NETMASK', '255.255.255.0')])
    back = wire.service_from_wire(raw, with_stats=False)
    assert (back['persistence_timeout'], back['persistence_netmask']) == (0, '255.255.255.255')


def dumped_dest(svc, real, active=0, inactive=0, persistent=0, stats64=True, tunnel=True, kernel_addr=False):
    """ip_vs_genl_fill_dest's attributes for REAL (pyroute2 encodes; the tunnel port,
    mistyped by pyroute2, is appended as the header defines it, and so is the address
    with KERNEL_ADDR)."""
    attrs = [] if kernel_addr else [('IPVS_DEST_ATTR_ADDR', real['address'])]
    attrs += [('IPVS_DEST_ATTR_PORT', real['port']),
              ('IPVS_DEST_ATTR_FWD_METHOD', IP_VS_CONN_F[real['forwarding']]),
              ('IPVS_DEST_ATTR_WEIGHT', real['weight'])]
    if tunnel:
        attrs += [('IPVS_DEST_ATTR_TUN_TYPE', IP_VS_CONN_F_TUNNEL_TYPE[real['tun_type']]),
                  ('IPVS_DEST_ATTR_TUN_FLAGS', IP_VS_TUNNEL_ENCAP_FLAG[real['tun_csum']])]
    attrs += [('IPVS_DEST_ATTR_U_THRESH', real['upper_threshold']),
              ('IPVS_DEST_ATTR_L_THRESH', real['lower_threshold']),
              ('IPVS_DEST_ATTR_ACTIVE_CONNS', active),
              ('IPVS_DEST_ATTR_INACT_CONNS', inactive),
              ('IPVS_DEST_ATTR_PERSIST_CONNS', persistent),
              ('IPVS_DEST_ATTR_ADDR_FAMILY', family_number(svc)),
              ('IPVS_DEST_ATTR_STATS', {'attrs': stats_attrs(2000)})]
    if stats64:
        attrs.append(('IPVS_DEST_ATTR_STATS64', {'attrs': stats_attrs(1 << 41)}))
    payload = pyroute2_payload('DEST', attrs)
    if tunnel:
        payload += attr(IPVS_DEST_ATTR['TUN_PORT'], struct.pack('!H', real['tun_port']))
    if kernel_addr:
        payload += attr(IPVS_DEST_ATTR['ADDR'], whole_union(svc, real['address']))
    return payload


@pytest.mark.parametrize('stats64', [True, False])
@pytest.mark.parametrize('case', sorted(DESTS))
def test_dest_dump_encoded_by_pyroute2_read_by_the_codec(case, stats64):
    svc_name, real = DESTS[case]
    svc = SERVICES[svc_name]
    raw = dumped_dest(svc, real, active=11, inactive=22, persistent=33, stats64=stats64, kernel_addr=not stats64)
    # The family from the dest's own ADDR_FAMILY, not the one the caller guesses.
    back = wire.dest_from_wire(raw, 'ipv4' if svc['family'] == 'ipv6' else 'ipv6')
    assert back.pop('stats') == stats_expected(1 << 41 if stats64 else 2000)
    assert back == dict(real, active_connections=11, inactive_connections=22, persistent_connections=33)


def test_a_kernel_without_tunnel_attributes_reads_as_ipip_port_0_nocsum():
    svc = SERVICES['tcp4-persistent-sh']
    real = dest('198.51.100.21', 443, 'tun', weight=2, upper=5, lower=3)
    back = wire.dest_from_wire(dumped_dest(svc, real, tunnel=False), 'ipv4', with_stats=False)
    assert back == dict(real, active_connections=0, inactive_connections=0, persistent_connections=0)


@pytest.mark.parametrize('case', sorted(DESTS))
def test_a_dumped_dest_goes_back_in_a_set_as_the_kernel_sent_it(case):
    """What is read and sent back unchanged keeps every setting attribute byte for byte."""
    svc_name, real = DESTS[case]
    svc = SERVICES[svc_name]
    dumped = dumped_dest(svc, real, kernel_addr=True)
    back = wire.dest_from_wire(dumped, svc['family'], with_stats=False)
    _cmd, attrs = wire.encode_op(Op('set', 'dest', svc, back))
    sent = attrs_of(attrs_of(attrs)[IPVS_CMD_ATTR['DEST']])
    dumped = attrs_of(dumped)
    # The address is dumped as a whole union and sent as the family's size.
    assert sent[IPVS_DEST_ATTR['ADDR']] == dumped[IPVS_DEST_ATTR['ADDR']][:len(sent[IPVS_DEST_ATTR['ADDR']])]
    for name in ['ADDR_FAMILY', 'PORT'] + DEST_SETTING_NAMES:
        assert sent[IPVS_DEST_ATTR[name]] == dumped[IPVS_DEST_ATTR[name]], name
