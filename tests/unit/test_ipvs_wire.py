"""The IPVS message codec: what encode_op packs is what the dump decoders read back.

Pure byte-level logic.  That the kernel accepts these bytes is proven in the lab
(tests/integration, the Molecule scenarios, bench/ipvs_table_load.py against ipvsadm-save).
"""
import struct

import pytest

from ansible_collections.lvs.cluster.plugins.module_utils import ipvs_wire
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_plan import build_wanted_service, Op
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_wire import (
    CMD_ATTR_DEST, CMD_ATTR_SERVICE, CMD_DEL_DEST, CMD_NEW_DEST, CMD_NEW_SERVICE, CMD_SET_SERVICE,
    DEST_ATTR_ACTIVE_CONNS, DEST_ATTR_STATS64, SVC_ATTR_STATS, dest_from_wire, encode_dest, encode_op,
    encode_service_key, encode_service_settings, nla, parse_nlas, service_from_wire,
)


def svc(**kw):
    entry = dict(protocol='tcp', address='192.0.2.100', port=80, scheduler='wrr', realservers=[])
    entry.update(kw)
    return build_wanted_service(entry)


def round_trip(service):
    raw = encode_service_key(service) + encode_service_settings(service)
    back = service_from_wire(raw, with_stats=False)
    back.pop('realservers')
    want = dict(service)
    want.pop('realservers')
    want.setdefault('pe', None)     # not managed: nothing sent, no engine read back
    return back, want


@pytest.mark.parametrize('kw', [
    {},
    dict(address='2001:db8::100', scheduler='sh', scheduler_flags=['sh-port', 'sh-fallback']),
    dict(port=0, persistence_timeout=600, persistence_netmask='255.255.255.0'),
    dict(address='2001:db8::1', port=443, persistence_timeout=60, persistence_netmask=64),
    dict(protocol='udp', port=53, one_packet=True, scheduler='mh', scheduler_flags=['mh-port']),
    dict(protocol='fwmark', address=None, port=None, fwmark=7, family='ipv6', scheduler='lc'),
])
def test_service_round_trips(kw):
    back, want = round_trip(svc(**kw))
    assert back == want


def test_attributes_are_padded_to_four_bytes():
    attr = nla(6, b'wrr\0')
    assert len(attr) == 8 and struct.unpack('=HH', attr[:4]) == (8, 6)
    odd = nla(6, b'lblcr\0')
    assert len(odd) == 12 and struct.unpack('=HH', odd[:4]) == (10, 6) and odd[10:] == b'\0\0'
    assert parse_nlas(odd + nla(7, b'x')) == {6: b'lblcr\0', 7: b'x'}


def test_port_and_address_are_network_order():
    attrs = parse_nlas(encode_service_key(svc(port=8080)))
    assert attrs[4] == b'\x1f\x90'            # IPVS_SVC_ATTR_PORT, be16
    assert attrs[3] == bytes([192, 0, 2, 100])


def test_dest_round_trip_with_counters_and_stats():
    service = svc(realservers=[dict(address='198.51.100.11', port=8080, forwarding='nat', weight=3,
                                    upper_threshold=100, lower_threshold=10)])
    dest = list(service['realservers'].values())[0]
    stats = nla(1, struct.pack('=Q', 12)) + nla(4, struct.pack('=Q', 1 << 40))
    raw = (encode_dest(service, dest) + nla(DEST_ATTR_ACTIVE_CONNS, struct.pack('=I', 5))
           + nla(DEST_ATTR_STATS64, stats))
    back = dest_from_wire(raw, 'ipv4')
    assert dict((k, back[k]) for k in dest) == dest
    assert back['active_connections'] == 5 and back['inactive_connections'] == 0
    assert back['stats']['connections'] == 12 and back['stats']['bytes_in'] == 1 << 40


def test_service_stats_32bit_fallback():
    service = svc()
    stats = nla(1, struct.pack('=I', 3)) + nla(2, struct.pack('=I', 9))
    raw = encode_service_key(service) + encode_service_settings(service) + nla(SVC_ATTR_STATS, stats)
    back = service_from_wire(raw)
    assert back['stats']['connections'] == 3 and back['stats']['packets_in'] == 9


def test_ops_carry_the_service_key_and_only_what_the_command_needs():
    service = svc(realservers=[dict(address='192.0.2.11')])
    dest = list(service['realservers'].values())[0]
    cmd, body = encode_op(Op('add', 'service', service))
    assert cmd == CMD_NEW_SERVICE
    nested = parse_nlas(body)
    assert set(nested) == {CMD_ATTR_SERVICE}
    assert set(parse_nlas(nested[CMD_ATTR_SERVICE])) == {1, 2, 3, 4, 6, 7, 8, 9}
    assert encode_op(Op('set', 'service', service))[0] == CMD_SET_SERVICE
    cmd, body = encode_op(Op('del', 'dest', service, dest))
    nested = parse_nlas(body)
    assert cmd == CMD_DEL_DEST and set(nested) == {CMD_ATTR_SERVICE, CMD_ATTR_DEST}
    assert set(parse_nlas(nested[CMD_ATTR_DEST])) == {1, 2, 11}      # addr, port, family only
    cmd, body = encode_op(Op('add', 'dest', service, dest))
    assert cmd == CMD_NEW_DEST and set(parse_nlas(parse_nlas(body)[CMD_ATTR_DEST])) == {
        1, 2, 3, 4, 5, 6, 11, 13, 14, 15}                       # + tun_type, tun_port, tun_flags


def test_service_key_cache_gives_the_same_bytes():
    service = svc(realservers=[dict(address='192.0.2.11'), dict(address='192.0.2.12')])
    cache = {}
    for dest in service['realservers'].values():
        assert encode_op(Op('add', 'dest', service, dest), cache) == encode_op(Op('add', 'dest', service, dest))
    assert len(cache) == 1


@pytest.mark.parametrize('address', ['2001:db8::1', '::ffff:192.0.2.1', '2001:db8:0:1:1:1:1:1', '64:ff9b::c000:201'])
def test_ipv6_addresses_read_back_spelled_as_validation_spells_them(address):
    service = svc(address=address)
    back = service_from_wire(encode_service_key(service) + encode_service_settings(service), with_stats=False)
    assert back['address'] == service['address']


# --- the family request and the timeouts (genetlink.h, ip_vs.h numbers written here) -----

def test_the_family_request_asks_the_controller_for_the_name_nul_terminated():
    request = ipvs_wire.family_request(7, 'IPVS')
    size, kind, flags, seq, _port = struct.unpack_from('=IHHII', request)
    assert (size, kind, flags, seq) == (len(request), 0x10, 0x1 | 0x4, 7)
    assert struct.unpack_from('=BBH', request, 16)[:1] == (3,)            # CTRL_CMD_GETFAMILY
    assert request[20:] == struct.pack('=HH', 9, 2) + b'IPVS\0' + b'\0' * 3  # CTRL_ATTR_FAMILY_NAME


def test_the_family_id_is_read_from_the_controller_reply():
    body = (struct.pack('=BBH', 1, 2, 0) + struct.pack('=HH', 9, 2) + b'IPVS\0\0\0\0'
            + struct.pack('=HH', 6, 1) + struct.pack('=H', 0x2a) + b'\0\0')
    assert ipvs_wire.family_id_from_wire(body) == 0x2a
    assert ipvs_wire.family_id_from_wire(struct.pack('=BBH', 1, 2, 0)) is None


def test_timeouts_go_as_u32_only_those_given_and_come_back_by_name():
    sent = ipvs_wire.encode_timeouts({'udp': 30, 'tcp': 7200})
    assert sent == struct.pack('=HHI', 8, 4, 7200) + struct.pack('=HHI', 8, 6, 30)
    reply = struct.pack('=BBH', 12, 1, 0) + b''.join(struct.pack('=HHI', 8, k, v) for k, v in ((6, 300), (4, 900), (5, 120)))
    assert ipvs_wire.timeouts_from_wire(reply) == {'tcp': 900, 'tcpfin': 120, 'udp': 300}
    assert ipvs_wire.timeouts_from_wire(reply[:-8]) is None
