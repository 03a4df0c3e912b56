"""The plain real-server line (`-a -t VIP:PORT -r RIP:PORT -g|-i|-m -w N`, what ipvsadm-save
writes for nearly every real server) is built without the general validation when only its
address needs checking.  Whatever the path, the result and the errors are the general
path's: each case is parsed both ways, the direct path switched off the second time.
"""
import pytest

from ansible_collections.lvs.cluster.plugins.module_utils import ipvs_rules
from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError

SERVICES = '''-A -t 192.0.2.1:80 -s wrr
-A -u 192.0.2.1:53 -s rr
-A -t 192.0.2.2:0 -s rr -p 60
-A -f 7 -s sh -b sh-port
-A -t [2001:db8::1]:443 -s wlc
-A --sctp-service 192.0.2.3:3868 -s rr
'''

GOOD = {
    'dr, the service port': '-a -t 192.0.2.1:80 -r 198.51.100.1:80 -g -w 3',
    'weight 0': '-a -t 192.0.2.1:80 -r 198.51.100.2:80 -g -w 0',
    'tun': '-a -t 192.0.2.1:80 -r 198.51.100.3:80 -i -w 1',
    'nat, the service port': '-a -u 192.0.2.1:53 -r 198.51.100.4:53 -m -w 2',
    'nat, port mapped': '-a -t 192.0.2.1:80 -r 198.51.100.5:8080 -m -w 1',
    'port written 080': '-a -t 192.0.2.1:80 -r 198.51.100.6:080 -g -w 1',
    'port left out': '-a -t 192.0.2.1:80 -r 198.51.100.7 -g -w 1',
    'all-ports service': '-a -t 192.0.2.2:0 -r 198.51.100.8:0 -g -w 1',
    'fwmark': '-a -f 7 -r 198.51.100.9:0 -g -w 4',
    'fwmark, port left out': '-a -f 7 -r 198.51.100.10 -g -w 4',
    'ipv6': '-a -t [2001:db8::1]:443 -r [2001:db8::a]:443 -g -w 5',
    'ipv6 spelled long': '-a -t [2001:db8::1]:443 -r [2001:0db8:0:0:0:0:0:b]:443 -g -w 5',
    'sctp': '-a --sctp-service 192.0.2.3:3868 -r 198.51.100.11:3868 -g -w 1',
}

BAD = {
    'dr with another port': '-a -t 192.0.2.1:80 -r 198.51.100.1:8080 -g -w 1',
    'ipv6 server, ipv4 service': '-a -t 192.0.2.1:80 -r [2001:db8::9]:80 -g -w 1',
    'not an address': '-a -t 192.0.2.1:80 -r 198.51.100.300:80 -g -w 1',
    'all-ports service, one port': '-a -t 192.0.2.2:0 -r 198.51.100.8:80 -m -w 1',
    'weight too big': '-a -t 192.0.2.1:80 -r 198.51.100.1:80 -g -w 65536',
    'port too big': '-a -t 192.0.2.1:80 -r 198.51.100.1:65536 -m -w 1',
    'twice': '-a -t 192.0.2.1:80 -r 198.51.100.1:80 -g -w 1\n-a -t 192.0.2.1:80 -r 198.51.100.1:80 -g -w 2',
}


def parse_both_ways(monkeypatch, text):
    """(result or error text) with the direct path, then with it switched off."""
    outcomes = []
    for direct in (True, False):
        if not direct:
            monkeypatch.setattr(ipvs_rules, '_plain_realserver', lambda svc, server: None)
        try:
            outcomes.append(ipvs_rules.wanted_from_rules(text))
        except LVSError as exc:
            outcomes.append('error: %s' % exc)
    return outcomes


@pytest.mark.parametrize('case', sorted(GOOD))
def test_a_good_line_gives_what_the_general_path_gives(monkeypatch, case):
    direct, general = parse_both_ways(monkeypatch, SERVICES + GOOD[case])
    assert not isinstance(direct, str), direct
    assert direct == general


@pytest.mark.parametrize('case', sorted(BAD))
def test_a_bad_line_fails_as_the_general_path_fails(monkeypatch, case):
    direct, general = parse_both_ways(monkeypatch, SERVICES + BAD[case])
    assert isinstance(direct, str) and direct.startswith('error: rules line')
    assert direct == general


def test_the_common_line_takes_the_direct_path(monkeypatch):
    def general(*args, **kwargs):
        raise AssertionError('normalize_realserver was called')
    monkeypatch.setattr(ipvs_rules, 'normalize_realserver', general)
    wanted = ipvs_rules.wanted_from_rules(SERVICES + GOOD['dr, the service port'])
    assert wanted[0]['realservers'][('198.51.100.1', 80)]['weight'] == 3
