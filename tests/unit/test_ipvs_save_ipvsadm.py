"""ipvs_info's save text against what ipvsadm 1.31 prints for `ipvsadm -S -n`.

The expected lines are written from ipvsadm's source (ipvsadm.c print_service_entry and
print_tunnel_rule in FMT_RULE mode, libipvs ipvs_cmp_services/ipvs_cmp_dests, glibc's
merge-sort qsort), not from our renderer.  The lab test
tests/integration/test_ipvs_save_oracle.py checks the same against the real ipvsadm.
"""
import pytest

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_rules import (
    ipvsadm_dest_order, ipvsadm_service_order, render_listed, render_save, render_service_lines, wanted_from_rules,
)


def service(protocol='tcp', address='192.0.2.10', port=80, fwmark=None, family='ipv4', scheduler='wlc',
            flags=(), timeout=0, netmask=None, one_packet=False, pe=None, dests=()):
    """A service dict as ipvs_wire.service_from_wire returns it (the live table)."""
    if protocol == 'fwmark':
        address = port = None
    svc = {'protocol': protocol, 'family': family, 'address': address, 'port': port, 'fwmark': fwmark,
           'scheduler': scheduler, 'scheduler_flags': list(flags), 'persistence_timeout': timeout,
           'persistence_netmask': netmask or ('255.255.255.255' if family == 'ipv4' else 128),
           'one_packet': one_packet, 'pe': pe, 'realservers': {}}
    for dest in dests:
        svc['realservers'][(dest['address'], dest['port'])] = dest
    return svc


def dest(address, port=80, forwarding='dr', weight=1, upper=0, lower=0, tun_type='ipip', tun_port=0,
         tun_csum='nocsum'):
    return {'address': address, 'port': port, 'forwarding': forwarding, 'weight': weight,
            'upper_threshold': upper, 'lower_threshold': lower, 'tun_type': tun_type,
            'tun_port': tun_port, 'tun_csum': tun_csum}


# One case per option combination: (service, the -A line ipvsadm prints).
# print_service_entry: "-A %s -s %s", then " -p %u" and " -M mask" (IPv4 inet_ntoa when not
# 255.255.255.255, IPv6 "%i" when not 128) if persistent, " --pe %s" if an engine is set,
# " -o" if one-packet, " -b " and the flags last.
SERVICE_LINES = [
    (service(), '-A -t 192.0.2.10:80 -s wlc'),
    (service(protocol='udp', port=53, scheduler='rr'), '-A -u 192.0.2.10:53 -s rr'),
    (service(port=0, timeout=300), '-A -t 192.0.2.10:0 -s wlc -p 300'),
    (service(timeout=60, netmask='255.255.255.0'), '-A -t 192.0.2.10:80 -s wlc -p 60 -M 255.255.255.0'),
    (service(protocol='udp', port=5060, scheduler='rr', timeout=60, pe='sip'),
     '-A -u 192.0.2.10:5060 -s rr -p 60 --pe sip'),
    (service(protocol='udp', port=5060, timeout=60, netmask='255.255.0.0', one_packet=True, pe='sip'),
     '-A -u 192.0.2.10:5060 -s wlc -p 60 -M 255.255.0.0 --pe sip -o'),
    (service(protocol='udp', port=53, scheduler='sh', flags=['sh-fallback', 'sh-port'], one_packet=True),
     '-A -u 192.0.2.10:53 -s sh -o -b sh-fallback,sh-port'),
    (service(scheduler='mh', flags=['mh-port'], timeout=30), '-A -t 192.0.2.10:80 -s mh -p 30 -b mh-port'),
    (service(address='2001:db8::1', family='ipv6', port=443), '-A -t [2001:db8::1]:443 -s wlc'),
    (service(address='2001:db8::1', family='ipv6', port=443, timeout=300, netmask=64),
     '-A -t [2001:db8::1]:443 -s wlc -p 300 -M 64'),
    (service(protocol='fwmark', fwmark=7, scheduler='lc'), '-A -f 7 -s lc'),
    (service(protocol='fwmark', fwmark=7, family='ipv6', timeout=60, netmask=48, pe='sip', one_packet=True),
     '-A -f 7 -6 -s wlc -p 60 -M 48 --pe sip -o'),
    # addrport_to_anyname -n: inet_ntop writes an embedded IPv4 address dotted.
    (service(address='::ffff:c000:20a', family='ipv6'), '-A -t [::ffff:192.0.2.10]:80 -s wlc'),
]


@pytest.mark.parametrize('svc, line', SERVICE_LINES, ids=[line for _svc, line in SERVICE_LINES])
def test_service_line_is_ipvsadms(svc, line):
    assert render_service_lines(svc) == [line]


# print_service_entry / print_tunnel_rule: "-a %s -r %s %s -w %d" and, for a tunnel, " --tun-type
# T" plus (gue) " --tun-port N" and (gue, gre) the checksum switch, --tun-nocsum included.
DEST_LINES = [
    (dest('10.0.0.1'), '-a -t 192.0.2.10:80 -r 10.0.0.1:80 -g -w 1'),
    (dest('10.0.0.1', 8080, 'nat', 3), '-a -t 192.0.2.10:80 -r 10.0.0.1:8080 -m -w 3'),
    (dest('10.0.0.1', weight=0, forwarding='tun'), '-a -t 192.0.2.10:80 -r 10.0.0.1:80 -i -w 0 --tun-type ipip'),
    (dest('10.0.0.1', forwarding='tun', tun_type='gue', tun_port=6080),
     '-a -t 192.0.2.10:80 -r 10.0.0.1:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum'),
    (dest('10.0.0.1', forwarding='tun', tun_type='gue', tun_port=6080, tun_csum='remcsum'),
     '-a -t 192.0.2.10:80 -r 10.0.0.1:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-remcsum'),
    (dest('10.0.0.1', forwarding='tun', tun_type='gre'),
     '-a -t 192.0.2.10:80 -r 10.0.0.1:80 -i -w 1 --tun-type gre --tun-nocsum'),
    (dest('10.0.0.1', forwarding='tun', tun_type='gre', tun_csum='csum'),
     '-a -t 192.0.2.10:80 -r 10.0.0.1:80 -i -w 1 --tun-type gre --tun-csum'),
    # Thresholds: ipvsadm does not write them.
    (dest('10.0.0.1', upper=100, lower=10), '-a -t 192.0.2.10:80 -r 10.0.0.1:80 -g -w 1'),
    # IP_VS_CONN_F_LOCALNODE (code 1, read back as fwd1): fwd_switch says -g.
    (dest('10.0.0.1', forwarding='fwd1'), '-a -t 192.0.2.10:80 -r 10.0.0.1:80 -g -w 1'),
]


@pytest.mark.parametrize('dst, line', DEST_LINES, ids=[line for _dst, line in DEST_LINES])
def test_dest_line_is_ipvsadms(dst, line):
    assert render_service_lines(service(dests=[dst]), thresholds=False)[1:] == [line]


def test_ipv6_and_fwmark_dest_lines():
    svc6 = service(address='2001:db8::1', family='ipv6', port=443, dests=[dest('2001:db8::2', 443)])
    assert render_service_lines(svc6)[1] == '-a -t [2001:db8::1]:443 -r [2001:db8::2]:443 -g -w 1'
    mark6 = service(protocol='fwmark', fwmark=9, family='ipv6', dests=[dest('2001:db8::2', 0)])
    assert render_service_lines(mark6)[1] == '-a -f 9 -6 -r [2001:db8::2]:0 -g -w 1'


def test_thresholds_are_opt_in_and_come_last():
    svc = service(dests=[dest('10.0.0.1', forwarding='tun', tun_type='gue', tun_port=6080, upper=100, lower=10)])
    assert render_save([svc], thresholds=False).splitlines()[1] == \
        '-a -t 192.0.2.10:80 -r 10.0.0.1:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum'
    assert render_save([svc]).splitlines()[1] == \
        '-a -t 192.0.2.10:80 -r 10.0.0.1:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum -x 100 -y 10'


def _addresses(services):
    return [svc['address'] if svc['address'] else svc['fwmark'] for svc in services]


def test_services_order_fwmark_family_protocol_address_port():
    table = [service(protocol='fwmark', fwmark=2), service(protocol='fwmark', fwmark=1, family='ipv6'),
             service(protocol='fwmark', fwmark=1), service(protocol='udp', address='192.0.2.1'),
             service(address='2001:db8::1', family='ipv6'), service(port=443), service(address='192.0.2.9'),
             service(port=25), service()]
    lines = render_save(table).splitlines()
    assert lines == ['-A -t 192.0.2.9:80 -s wlc', '-A -t 192.0.2.10:25 -s wlc', '-A -t 192.0.2.10:80 -s wlc',
                     '-A -t 192.0.2.10:443 -s wlc', '-A -u 192.0.2.1:80 -s wlc', '-A -t [2001:db8::1]:80 -s wlc',
                     '-A -f 1 -s wlc', '-A -f 1 -6 -s wlc', '-A -f 2 -s wlc']


def test_addresses_far_apart_compare_backwards_like_ipvsadm():
    # ntohl(10.0.0.1) - ntohl(192.168.0.1) wraps to a positive int: 10.0.0.1 sorts after.
    table = [service(address='10.0.0.1'), service(address='192.168.0.1')]
    assert _addresses(ipvsadm_service_order(table)) == ['192.168.0.1', '10.0.0.1']
    assert _addresses(ipvsadm_service_order(table[::-1])) == ['192.168.0.1', '10.0.0.1']


def test_a_comparison_cycle_follows_glibc_merge_sort_and_the_input_order():
    # 10.x < 100.x < 192.168.x < 10.x under ipvsadm's comparator.  glibc msort of [A, B, C]:
    # [A] merged with sorted [B, C] -> A, B, C.  Of [C, B, A]: [B, A] sorts to [A, B]
    # (B - A > 0), then C vs A: C - A wraps negative, so C first -> C, A, B.
    a, b, c = service(address='10.0.0.1'), service(address='100.0.0.1'), service(address='192.168.0.1')
    assert _addresses(ipvsadm_service_order([a, b, c])) == ['10.0.0.1', '100.0.0.1', '192.168.0.1']
    assert _addresses(ipvsadm_service_order([c, b, a])) == ['192.168.0.1', '10.0.0.1', '100.0.0.1']


def test_a_listing_is_sorted_once_like_ipvsadm():
    # A dump order Linux 6.12 gave in the lab (test_ipvs_save_oracle's table restored).
    # ipvsadm sorts it once; sorting that result again moves 192.168.0.1 ahead of the
    # cycle, so the save text must come from the one sort that the list comes from.
    dumped = [service(protocol='udp', port=5060), service(protocol='udp', address='192.0.2.11', port=5060),
              service(port=443), service(protocol='udp', address='2001:db8::1', port=53, family='ipv6'),
              service(address='10.1.0.1'), service(address='192.168.0.1'), service(address='100.0.0.1'),
              service(), service(protocol='udp', port=53), service(address='2001:db8::1', port=443, family='ipv6'),
              service(port=0), service(protocol='fwmark', fwmark=3), service(protocol='fwmark', fwmark=7),
              service(protocol='fwmark', fwmark=7, family='ipv6')]
    listed = ipvsadm_service_order(dumped)
    tcp4 = ['-A -t 192.0.2.10:0 -s wlc', '-A -t 192.0.2.10:80 -s wlc', '-A -t 192.0.2.10:443 -s wlc',
            '-A -t 10.1.0.1:80 -s wlc', '-A -t 100.0.0.1:80 -s wlc', '-A -t 192.168.0.1:80 -s wlc']
    assert render_listed(listed).splitlines()[:6] == tcp4          # what ipvsadm -S -n printed
    assert render_save(dumped) == render_listed(listed)
    assert render_save(listed).splitlines()[:6] != tcp4              # sorted twice: another order


def test_marks_far_apart_compare_backwards_like_ipvsadm():
    # 0 - 0x80000001 wraps positive: a tcp service (fwmark 0) lists after mark 2147483649.
    big = service(protocol='fwmark', fwmark=0x80000001)
    assert _addresses(ipvsadm_service_order([service(), big])) == [0x80000001, '192.0.2.10']
    # 0 - 0x80000000 and 0x80000000 - 0 are both INT_MIN: each is "less", the input order stays.
    edge = service(protocol='fwmark', fwmark=0x80000000)
    assert _addresses(ipvsadm_service_order([edge, service()])) == [0x80000000, '192.0.2.10']
    assert _addresses(ipvsadm_service_order([service(), edge])) == ['192.0.2.10', 0x80000000]


def test_dests_order_like_ipvs_cmp_dests():
    dests = [dest('10.0.0.2', 80), dest('192.168.1.1', 80), dest('10.0.0.2', 79), dest('10.0.0.10', 80)]
    assert [(d['address'], d['port']) for d in ipvsadm_dest_order(dests)] == [
        ('192.168.1.1', 80), ('10.0.0.2', 79), ('10.0.0.2', 80), ('10.0.0.10', 80)]
    six = [dest('2001:db8::2'), dest('fd00::1'), dest('2001:db8::1')]
    # 0x20010db8 - 0xfd000000 wraps positive: fd00::1 first.
    assert [d['address'] for d in ipvsadm_dest_order(six)] == ['fd00::1', '2001:db8::1', '2001:db8::2']


# --pe in rules: parsed, checked, rendered.
def test_rules_pe_round_trips():
    text = ("-A -u 192.0.2.10:5060 -s rr -p 60 --pe sip -o\n-a -u 192.0.2.10:5060 -r 10.0.0.1:5060 -g -w 1\n"
            "-A -f 3 -s wlc -p 120 --pe sip\n")
    table = wanted_from_rules(text)
    assert [svc['pe'] for svc in table] == ['sip', 'sip']
    assert render_save(table) == text


def test_rules_without_pe_mean_no_engine():
    assert wanted_from_rules("-A -u 192.0.2.10:5060 -s rr -p 60\n")[0]['pe'] is None


@pytest.mark.parametrize('line, needle', [
    ("-A -u 192.0.2.10:5060 -s rr --pe sip", 'pe: the sip persistence engine only acts on a persistent'),
    ("-A -t 192.0.2.10:5060 -s rr -p 60 --pe sip", 'pe: the sip persistence engine reads SIP Call-IDs from UDP'),
    ("-A -u 192.0.2.10:5060 -s rr -p 60 --pe http", "pe: 'http' is not a persistence engine"),
    ("-A -u 192.0.2.10:5060 -s rr -p 60 --pe", '--pe: needs a value'),
    ("-a -u 192.0.2.10:5060 -r 10.0.0.1 --pe sip", "option: '--pe' is not supported here"),
])
def test_rules_pe_errors(line, needle):
    with pytest.raises(LVSError) as err:
        wanted_from_rules("-A -u 192.0.2.10:5060 -s rr -p 60\n" + line if line.startswith('-a') else line)
    assert needle in str(err.value)
