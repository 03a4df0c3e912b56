"""A real server dumped in the exact layout of the kernel (ip_vs_genl_fill_dest, Linux
>= 5.3) is read by the codec's one-struct path, and reads the same as the same attributes
in any other order or with some missing (the general path).

The messages are written here by hand from the kernel source, attribute by attribute;
numbers from include/uapi/linux/ip_vs.h, copied by hand.
"""
import random
import socket
import struct

import pytest

from ansible_collections.lvs.cluster.plugins.module_utils import ipvs_wire as wire

ADDR, PORT, FWD_METHOD, WEIGHT, U_THRESH, L_THRESH, ACTIVE, INACT, PERSIST, STATS, ADDR_FAMILY, \
    STATS64, TUN_TYPE, TUN_PORT, TUN_FLAGS = range(1, 16)


def attr(kind, payload):
    return struct.pack('=HH', 4 + len(payload), kind) + payload + b'\0' * (-len(payload) % 4)


def kernel_attrs(family, address, port=80, fwd=2, weight=7, tun=(1, 6080, 2), upper=100, lower=10,
                 conns=(11, 22, 33)):
    """ip_vs_genl_fill_dest's attributes, in its order, as (type, payload) pairs."""
    af = socket.AF_INET6 if family == 'ipv6' else socket.AF_INET
    union = socket.inet_pton(af, address).ljust(16, b'\0')     # the whole nf_inet_addr
    stats = b''.join(attr(n, struct.pack('=I', 1000 + n)) for n in range(1, 11))
    stats64 = b''.join(attr(n, struct.pack('=Q', (1 << 40) + n)) for n in range(1, 11))
    return [(ADDR, union), (PORT, struct.pack('!H', port)), (FWD_METHOD, struct.pack('=I', fwd)),
            (WEIGHT, struct.pack('=I', weight)), (TUN_TYPE, struct.pack('=B', tun[0])),
            (TUN_PORT, struct.pack('!H', tun[1])), (TUN_FLAGS, struct.pack('=H', tun[2])),
            (U_THRESH, struct.pack('=I', upper)), (L_THRESH, struct.pack('=I', lower)),
            (ACTIVE, struct.pack('=I', conns[0])), (INACT, struct.pack('=I', conns[1])),
            (PERSIST, struct.pack('=I', conns[2])), (ADDR_FAMILY, struct.pack('=H', af)),
            (STATS | 0x8000, stats), (STATS64 | 0x8000, stats64)]


def encode(attrs):
    return b''.join(attr(kind, payload) for kind, payload in attrs)


EXPECTED_STATS = dict((name, (1 << 40) + number) for number, name in enumerate(wire.STATS_NAMES, 1))
CASES = {
    'gue4': (('ipv4', '198.51.100.21'), {},
             dict(address='198.51.100.21', port=80, forwarding='tun', weight=7, tun_type='gue', tun_port=6080,
                  tun_csum='remcsum')),
    'gre6-nat-port': (('ipv6', '2001:db8::22'), dict(port=8443, fwd=0, tun=(2, 0, 1)),
                      dict(address='2001:db8::22', port=8443, forwarding='nat', weight=7, tun_type='gre',
                           tun_port=0, tun_csum='csum')),
    'dr4-unnamed-tunnel-values': (('ipv4', '203.0.113.9'), dict(fwd=3, weight=0, tun=(9, 1, 64)),
                                  dict(address='203.0.113.9', port=80, forwarding='dr', weight=0, tun_type=9,
                                       tun_port=1, tun_csum=64)),
}


def expected(case):
    return dict(CASES[case][2], upper_threshold=CASES[case][1].get('upper', 100),
                lower_threshold=CASES[case][1].get('lower', 10), active_connections=11,
                inactive_connections=22, persistent_connections=33)


@pytest.fixture
def general_path_off(monkeypatch):
    """Make the general path fail: what still decodes went the one-struct way."""
    def refuse(*args):
        raise AssertionError('the general path was taken')
    monkeypatch.setattr(wire, '_dest_from_attrs', refuse)


@pytest.mark.parametrize('with_stats', [True, False])
@pytest.mark.parametrize('case', sorted(CASES))
def test_the_kernels_layout_reads_in_one_struct_call(case, with_stats, general_path_off):
    (family, address), kw = CASES[case][:2]
    back = wire.dest_from_wire(encode(kernel_attrs(family, address, **kw)), 'ipv4', with_stats)
    if with_stats:
        assert back.pop('stats') == EXPECTED_STATS
    assert back == expected(case)


@pytest.mark.parametrize('case', sorted(CASES))
def test_any_other_order_reads_the_same(case):
    (family, address), kw = CASES[case][:2]
    attrs = kernel_attrs(family, address, **kw)
    shuffled = list(attrs)
    random.Random(case).shuffle(shuffled)
    assert shuffled[:13] != attrs[:13]
    assert wire.dest_from_wire(encode(shuffled), 'ipv4') == wire.dest_from_wire(encode(attrs), 'ipv4')


def test_a_kernel_before_5_3_without_tunnel_attributes_takes_the_general_path():
    attrs = [a for a in kernel_attrs('ipv4', '198.51.100.7') if a[0] not in (TUN_TYPE, TUN_PORT, TUN_FLAGS)]
    back = wire.dest_from_wire(encode(attrs), 'ipv4', with_stats=False)
    assert (back['tun_type'], back['tun_port'], back['tun_csum']) == ('ipip', 0, 'nocsum')
    assert back['weight'] == 7 and back['port'] == 80


def test_a_dump_message_gives_its_dest_attribute():
    payload = struct.pack('=BBH', 5, 1, 0) + attr(2 | 0x8000, b'dest bytes')
    assert wire.message_attr(payload, 2) == b'dest bytes'
    other = struct.pack('=BBH', 5, 1, 0) + attr(1, b'x') + attr(2 | 0x8000, b'second')
    assert wire.message_attr(other, 2) == b'second'
    assert wire.message_attr(other, 3) is None
