"""ipvsadm-save -n parsing and rendering (pure logic, no kernel)."""
import pytest

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_plan import build_wanted_table
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_rules import render_save, wanted_from_rules

# What ipvsadm 1.31 `ipvsadm-save -n` prints for a mixed table.
SAVED = """\
-A -t 192.0.2.10:0 -s wlc -p 300 -M 255.255.255.0
-a -t 192.0.2.10:0 -r 10.0.0.1:0 -g -w 1
-A -t 192.0.2.10:80 -s wrr
-a -t 192.0.2.10:80 -r 10.0.0.1:8080 -m -w 2
-a -t 192.0.2.10:80 -r 10.0.0.2:8080 -m -w 1
-A -u 192.0.2.10:53 -s rr -o
-a -u 192.0.2.10:53 -r 10.0.0.3:53 -i -w 1 --tun-type ipip
-A -t [2001:db8::1]:443 -s sh -b sh-fallback,sh-port
-a -t [2001:db8::1]:443 -r [2001:db8::2]:443 -g -w 0
"""


def test_parse_then_render_round_trips():
    table = wanted_from_rules(SAVED)
    assert len(table) == 4
    assert table[1]['realservers'][('10.0.0.1', 8080)] == {
        'address': '10.0.0.1', 'port': 8080, 'forwarding': 'nat', 'weight': 2, 'upper_threshold': 0,
        'lower_threshold': 0, 'tun_type': 'ipip', 'tun_port': 0, 'tun_csum': 'nocsum'}
    assert render_save(table) == SAVED


def test_fwmark_and_ipv6_fwmark_lines():
    text = "-A -f 7 -s rr\n-a -f 7 -r 10.0.0.1:0 -g -w 1\n-A -f 7 -6 -s rr -p 60 -M 64\n"
    table = wanted_from_rules(text)
    assert [s['family'] for s in table] == ['ipv4', 'ipv6']
    assert table[1]['persistence_netmask'] == 64
    assert render_save(table) == "-A -f 7 -s rr\n-a -f 7 -r 10.0.0.1:0 -g -w 1\n-A -f 7 -6 -s rr -p 60 -M 64\n"


def test_long_options_comments_bare_p_and_thresholds():
    text = ("# migrated\n\n--add-service --tcp-service 192.0.2.1:25 --scheduler lc --persistent\n"
            "--add-server --tcp-service 192.0.2.1:25 --real-server 10.0.0.1 --masquerading "
            "--weight 3 -x 100 -y 10\n")
    table = wanted_from_rules(text)
    assert table[0]['persistence_timeout'] == 300
    assert render_save(table) == ("-A -t 192.0.2.1:25 -s lc -p 300\n"
                                  "-a -t 192.0.2.1:25 -r 10.0.0.1:25 -m -w 3 -x 100 -y 10\n")


def test_render_orders_like_ipvsadm():
    text = "-A -t 192.0.2.20:80 -s rr\n-A -t 192.0.2.3:80 -s rr\n-A -f 1 -s rr\n-A -u 192.0.2.1:53 -s rr\n"
    assert render_save(wanted_from_rules(text)).splitlines() == [
        '-A -t 192.0.2.3:80 -s rr', '-A -t 192.0.2.20:80 -s rr', '-A -u 192.0.2.1:53 -s rr', '-A -f 1 -s rr']


@pytest.mark.parametrize('text, needle', [
    ("-A -t 192.0.2.1:80 -s nosuch\n", 'scheduler'),
    ("-A -t 192.0.2.1:99999 -s rr\n", 'port'),
    ("-A -t 192.0.2.300:80 -s rr\n", 'address'),
    ("-A -t 192.0.2.1:80 -s rr -Q\n", "option: '-Q'"),
    ("-A -s rr\n", 'service: needs -t, -u, --sctp-service or -f'),
    ("-E -t 192.0.2.1:80 -s rr\n", 'command'),
    ("-C\n", 'command'),
    ("-a -t 192.0.2.1:80 -r 10.0.0.1 -g\n", 'no -A line'),
    ("-A -t 192.0.2.1:80\n-a -t 192.0.2.1:80 -g -w 1\n", 'realserver address'),
    ("-A -t 192.0.2.1:80\n-a -t 192.0.2.1:80 -r 10.0.0.1:81 -g\n", 'port mapping'),
    ("-A -t 192.0.2.1:80\n-a -t 192.0.2.1:80 -r 10.0.0.1 -w 70000\n", 'weight'),
    ("-A -t 192.0.2.1:80\n-a -t 192.0.2.1:80 -r 10.0.0.1 -w\n", 'needs a value'),
    ("-A -t 192.0.2.1:80\n-A -t 192.0.2.1:80\n", 'twice'),
    ("-A -t 192.0.2.1:0 -s rr\n", 'port 0'),
    ("-A -t [2001:db8::1:80 -s rr\n", 'closing ]'),
    ("-A -t 192.0.2.1:80 -s 'rr\n", 'line 1'),
    ("-A -t 192.0.2.1:80\n-a -t 192.0.2.1:80 -r 2001:db8::5 -g\n", 'address'),
])
def test_malformed_rules_name_line_and_field(text, needle):
    with pytest.raises(LVSError) as exc:
        wanted_from_rules(text)
    assert str(exc.value).startswith('rules line ')
    assert needle in str(exc.value)


def test_rules_equal_the_same_table_given_as_services():
    # ipvs_table takes either rules or services: both must mean the same table.
    text = ('-A -t 192.0.2.10:80 -s wrr\n-a -t 192.0.2.10:80 -r 10.0.0.1:8080 -m -w 2\n'
            '-A -f 7 -6 -s lc -p 60\n-a -f 7 -6 -r [2001:db8::11]:0 -g -w 2\n')
    services = [{'protocol': 'tcp', 'address': '192.0.2.10', 'port': 80, 'scheduler': 'wrr',
                 'realservers': [{'address': '10.0.0.1', 'port': 8080, 'forwarding': 'nat', 'weight': 2}]},
                {'protocol': 'fwmark', 'fwmark': 7, 'family': 'ipv6', 'scheduler': 'lc',
                 'persistence_timeout': 60, 'realservers': [{'address': '2001:db8::11', 'weight': 2}]}]
    assert wanted_from_rules(text) == build_wanted_table(services)


def test_duplicate_realserver_line_is_named():
    text = ('-A -t 192.0.2.100:80 -s rr\n'
            '-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 1\n'
            '-a -t 192.0.2.100:80 -r 192.0.2.11 -g -w 3\n')
    with pytest.raises(LVSError) as err:
        wanted_from_rules(text)
    assert str(err.value).startswith('rules line 3 (') and 'realserver address: 192.0.2.11 port 80' in str(err.value)
