"""The VRRP listener of the host check (plugins/module_utils/vrrp_listen.py): what it reads
from a packet and what it says. That it hears a real foreign router is proven in the lab
(molecule/ha: a rogue advertiser on the client makes site.yml stop before any change)."""
import socket
import struct
import threading
import time

import pytest

from ansible_collections.lvs.cluster.plugins.module_utils import vrrp_listen


def vrrp(version=2, kind=1, vrid=51, priority=100):
    # version/type, VRID, priority, address count, auth type (v2) or max advert, checksum.
    return struct.pack('!BBBBBBH', version << 4 | kind, vrid, priority, 1, 0, 1, 0) + b'\xc0\x00\x02\x64'


def ipv4(payload, ihl=5):
    header = struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, 0xc0, 20 + len(payload), 0, 0, 255, 112, 0,
                         b'\xc0\x00\x02\x1e', b'\xe0\x00\x00\x12')
    return header + b'\0' * (ihl * 4 - 20) + payload


@pytest.mark.parametrize('packet, family, expected', [
    pytest.param(ipv4(vrrp()), 4, (2, 51, 100), id='v2'),
    pytest.param(ipv4(vrrp(version=3, vrid=7, priority=50), ihl=6), 4, (3, 7, 50), id='ip-options'),
    pytest.param(vrrp(version=3, vrid=200, priority=254), 6, (3, 200, 254), id='ipv6-payload-only'),
    pytest.param(ipv4(vrrp(kind=2)), 4, None, id='not-an-advertisement'),
    pytest.param(ipv4(vrrp(version=1)), 4, None, id='version-1'),
    pytest.param(ipv4(b'\x21\x33'), 4, None, id='truncated-vrrp'),
    pytest.param(b'\x45\x00', 4, None, id='truncated-ip'),
])
def test_advert_reads_version_vrid_and_priority(packet, family, expected):
    assert vrrp_listen.advert(packet, family) == expected


def test_a_foreign_router_is_reported_with_the_field_and_the_fix(monkeypatch, capsys):
    calls = []

    def heard(interface, vrid, family, seconds, ours):
        calls.append((interface, vrid, family, seconds, ours))
        return {'192.0.2.30': (2, 50)}
    monkeypatch.setattr(vrrp_listen, 'listen', heard)
    lines = vrrp_listen.foreign_router_lines('eth0', '51', '4', '3.5', 'lvs_keepalived.virtual_router_id',
                                             ['192.0.2.2', '192.0.2.3'])
    assert calls == [('eth0', 51, 4, 3.5, {'192.0.2.2', '192.0.2.3'})]
    assert len(lines) == 1 and lines[0].startswith('missing: ') and '192.0.2.30' in lines[0]
    assert 'ID 51' in lines[0] and 'Set lvs_keepalived.virtual_router_id to an ID unused' in lines[0]


def test_silence_passes(monkeypatch, capsys):
    monkeypatch.setattr(vrrp_listen, 'listen', lambda *args: {})
    assert vrrp_listen.foreign_router_lines('eth0', '51', '4', '3.5', 'f', []) == []


def test_listen_hears_a_real_advertisement_of_its_vrid_only():
    """Raw sockets of the host's own kernel (no IPVS needed), over loopback."""
    try:
        sender = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
    except PermissionError:
        pytest.skip('raw sockets need root (CAP_NET_RAW)')

    def send():
        time.sleep(0.3)
        for vrid in (52, 51):
            sender.sendto(vrrp(vrid=vrid, priority=50), ('127.0.0.1', 0))
    threading.Thread(target=send).start()
    assert vrrp_listen.listen('lo', 51, 4, 1.5, set()) == {'127.0.0.1': (2, 50)}
    threading.Thread(target=send).start()
    assert vrrp_listen.listen('lo', 51, 4, 1.5, {'127.0.0.1'}) == {}       # one of ours
    sender.close()
