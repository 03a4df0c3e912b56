"""Argument validation and key building of the IPVS layer (pure logic, no kernel)."""
import pytest

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_model import (
    format_service_key, normalize_address, normalize_netmask, normalize_realserver, normalize_service,
    normalize_service_key, normalize_timeouts, service_key,
)
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_plan import build_wanted_service, build_wanted_table


def svc(**kw):
    base = dict(protocol='tcp', address='192.0.2.10', port=80)
    base.update(kw)
    return normalize_service(base)


def test_defaults_match_ipvsadm():
    s = svc()
    assert s == {'protocol': 'tcp', 'family': 'ipv4', 'address': '192.0.2.10', 'port': 80,
                 'fwmark': None, 'scheduler': 'wlc', 'scheduler_flags': [], 'persistence_timeout': 0,
                 'persistence_netmask': '255.255.255.255', 'one_packet': False}


def test_keys_tcp_udp_fwmark_v4_v6():
    assert service_key(svc()) == ('tcp', 'ipv4', '192.0.2.10', 80)
    assert service_key(svc(protocol='udp', address='2001:DB8:0::1', port=53)) == \
        ('udp', 'ipv6', '2001:db8::1', 53)
    assert service_key(normalize_service({'protocol': 'fwmark', 'fwmark': 7})) == ('fwmark', 'ipv4', 7)
    assert service_key(normalize_service({'protocol': 'fwmark', 'fwmark': 7, 'family': 'ipv6'})) == \
        ('fwmark', 'ipv6', 7)
    assert format_service_key(('fwmark', 'ipv6', 7)) == 'fwmark 7 (ipv6)'
    assert format_service_key(('tcp', 'ipv6', '2001:db8::1', 80)) == 'tcp [2001:db8::1]:80'


def test_ipv6_address_is_canonical_and_brackets_accepted():
    assert normalize_address('[2001:0db8::0001]', 'address') == ('ipv6', '2001:db8::1')


@pytest.mark.parametrize('params, field', [
    (dict(address='300.1.1.1'), 'address'),
    (dict(address='10.0.0.0/24'), 'address'),
    (dict(address='www.example.com'), 'address'),
    (dict(address='224.0.0.1'), 'address'),
    (dict(address='0.0.0.0'), 'address'),
    (dict(address=None), 'address'),
    (dict(port=65536), 'port'),
    (dict(port=-1), 'port'),
    (dict(port='http'), 'port'),
    (dict(port=None), 'port'),
    (dict(port=0), 'port'),                         # port 0 without persistence
    (dict(scheduler='roundrobin'), 'scheduler'),
    (dict(scheduler='rr', scheduler_flags=['sh-port']), 'scheduler_flags'),
    (dict(scheduler='sh', scheduler_flags=['mh-port']), 'scheduler_flags'),
    (dict(scheduler_flags=['flag-9']), 'scheduler_flags'),
    (dict(persistence_timeout=-5), 'persistence_timeout'),
    (dict(persistence_netmask='255.255.255.0'), 'persistence_netmask'),   # without timeout
    (dict(persistence_timeout=60, persistence_netmask='255.0.255.0'), 'persistence_netmask'),
    (dict(persistence_timeout=60, persistence_netmask='33'), 'persistence_netmask'),
    (dict(persistence_timeout=60, persistence_netmask='0'), 'persistence_netmask'),
    (dict(address='2001:db8::1', persistence_timeout=60, persistence_netmask='129'), 'persistence_netmask'),
    (dict(address='2001:db8::1', persistence_timeout=60, persistence_netmask='ffff::'), 'persistence_netmask'),
    (dict(one_packet=True), 'one_packet'),
    (dict(family='ipv6'), 'family'),
    (dict(fwmark=3), 'fwmark'),
    (dict(protocol='dccp'), 'protocol'),
    (dict(protocol='fwmark', address=None, port=None), 'fwmark'),
    (dict(protocol='fwmark', fwmark=1, address=None), 'port'),
    (dict(protocol='fwmark', fwmark=1, port=None), 'address'),
    (dict(protocol='fwmark', fwmark=0, address=None, port=None), 'fwmark'),
    (dict(protocol='fwmark', fwmark=2 ** 32, address=None, port=None), 'fwmark'),
])
def test_bad_service_input_names_the_field(params, field):
    with pytest.raises(LVSError) as exc:
        svc(**params)
    assert str(exc.value).startswith(field + ':'), str(exc.value)


def test_persistence_port_zero_and_netmasks():
    s = svc(port=0, persistence_timeout=300, persistence_netmask='24')
    assert s['port'] == 0 and s['persistence_netmask'] == '255.255.255.0'
    assert svc(port=0, persistence_timeout=1, persistence_netmask='255.255.0.0')['persistence_netmask'] == '255.255.0.0'
    s6 = svc(address='2001:db8::1', persistence_timeout=60, persistence_netmask='64')
    assert s6['persistence_netmask'] == 64
    assert svc(address='2001:db8::1')['persistence_netmask'] == 128


def test_scheduler_flags_sorted_and_deduplicated():
    s = svc(scheduler='sh', scheduler_flags=['sh-port', 'sh-fallback', 'sh-port'])
    assert s['scheduler_flags'] == ['sh-fallback', 'sh-port']


def test_fwmark_key_only_for_absent():
    key = normalize_service_key({'protocol': 'tcp', 'address': '192.0.2.1', 'port': 0})
    assert key['port'] == 0   # no persistence needed just to name a service


@pytest.mark.parametrize('params, field', [
    (dict(address='10.0.0.1', port=8080, forwarding='dr'), 'port'),
    (dict(address='10.0.0.1', port=8080, forwarding='tun'), 'port'),
    (dict(address='10.0.0.1', port=8080), 'port'),              # default dr
    (dict(address='2001:db8::2'), 'address'),                    # v4 service, v6 server
    (dict(address='10.0.0.1', weight=65536), 'weight'),
    (dict(address='10.0.0.1', weight=-1), 'weight'),
    (dict(address='10.0.0.1', upper_threshold=-1), 'upper_threshold'),
    (dict(address='10.0.0.1', lower_threshold=5), 'lower_threshold'),
    (dict(address='10.0.0.1', upper_threshold=5, lower_threshold=6), 'lower_threshold'),
    (dict(address='10.0.0.1', forwarding='fullnat'), 'forwarding'),
    (dict(address='10.0.0.1', port=70000, forwarding='nat'), 'port'),
    (dict(address='not-an-ip'), 'address'),
])
def test_bad_realserver_input_names_the_field(params, field):
    with pytest.raises(LVSError) as exc:
        normalize_realserver(params, svc())
    assert str(exc.value).startswith(field + ':'), str(exc.value)


def test_realserver_defaults_and_nat_port_mapping():
    d = normalize_realserver({'address': '10.0.0.1'}, svc())
    assert d == {'address': '10.0.0.1', 'port': 80, 'forwarding': 'dr', 'weight': 1,
                 'upper_threshold': 0, 'lower_threshold': 0,
                 'tun_type': 'ipip', 'tun_port': 0, 'tun_csum': 'nocsum'}
    d = normalize_realserver({'address': '10.0.0.1', 'port': 8080, 'forwarding': 'nat'}, svc())
    assert d['port'] == 8080


def test_realserver_keeps_live_values_when_options_left_out():
    live = {'address': '10.0.0.1', 'port': 8080, 'forwarding': 'nat', 'weight': 5,
            'upper_threshold': 10, 'lower_threshold': 2,
            'tun_type': 'gre', 'tun_port': 6080, 'tun_csum': 'csum'}   # kept, though unused by nat
    d = normalize_realserver({'address': '10.0.0.1', 'port': 8080, 'weight': 0}, svc(), base=live)
    assert d == dict(live, weight=0)


def test_fwmark_realserver_port_defaults_to_zero():
    s = normalize_service({'protocol': 'fwmark', 'fwmark': 3})
    assert normalize_realserver({'address': '10.0.0.1'}, s)['port'] == 0


def test_table_duplicates_are_refused_with_their_index():
    entry = dict(protocol='tcp', address='192.0.2.1', port=80, realservers=[])
    with pytest.raises(LVSError, match=r'^services\[1\]'):
        build_wanted_table([entry, dict(entry)])
    with pytest.raises(LVSError, match=r'realservers\[1\]\.address'):
        build_wanted_service(dict(entry, realservers=[{'address': '10.0.0.1'}, {'address': '10.0.0.1'}]))


def test_table_error_names_path():
    with pytest.raises(LVSError, match=r'^services\[0\]\.realservers\[0\]\.weight:'):
        build_wanted_table([dict(protocol='tcp', address='192.0.2.1', port=80,
                                 realservers=[{'address': '10.0.0.1', 'weight': 70000}])])


def test_netmask_forms():
    assert normalize_netmask('16', 'ipv4', 'f') == '255.255.0.0'
    assert normalize_netmask(' 255.255.255.128 ', 'ipv4', 'f') == '255.255.255.128'
    assert normalize_netmask('48', 'ipv6', 'f') == 48


def test_timeouts():
    assert normalize_timeouts({'tcp': 900, 'tcpfin': None, 'udp': 300}) == {'tcp': 900, 'udp': 300}
    for bad in ({'tcp': 0}, {'udp': -3}, {'tcpfin': 10 ** 9}):
        name = list(bad)[0]
        with pytest.raises(LVSError, match='^%s:' % name):
            normalize_timeouts(bad)
    # None given: nothing to set (the module refuses that with required_one_of).
    assert normalize_timeouts({'tcp': None, 'tcpfin': None, 'udp': None}) == {}
