"""lvs.cluster.ipvs_table (and ipvs_info) on the real kernel, through ansible-playbook."""


def _diff(result):
    diff = result['diff']
    return diff[0] if isinstance(diff, list) else diff


def _lines(text):
    return sorted(line for line in text.splitlines() if line.strip())


RULES = """\
# as ipvsadm-save -n writes it
-A -t 192.0.2.30:80 -s wrr
-a -t 192.0.2.30:80 -r 10.0.0.1:8080 -m -w 2
-a -t 192.0.2.30:80 -r 10.0.0.2:8080 -m -w 1
-A -t 192.0.2.30:0 -s wlc -p 300 -M 255.255.255.0
-a -t 192.0.2.30:0 -r 10.0.0.1:0 -g -w 1
-A -u [2001:db8::30]:53 -s rr
-a -u [2001:db8::30]:53 -r [2001:db8::31]:53 -g -w 1
-A -f 3 -s sh -b sh-port
-a -f 3 -r 10.0.0.3:0 -i -w 4 --tun-type ipip
"""


def test_rules_purge_idempotent_check_diff_and_info(netns):
    # something to purge, something to change in place
    netns.sh("ipvsadm -A -t 192.0.2.99:25 -s rr && ipvsadm -a -t 192.0.2.99:25 -r 10.0.0.9 -g"
             " && ipvsadm -A -t 192.0.2.30:80 -s rr && ipvsadm -a -t 192.0.2.30:80 -r 10.0.0.1:8080 -m"
             " && ipvsadm -a -t 192.0.2.30:80 -r 10.0.0.7:8080 -m")
    table = {'lvs.cluster.ipvs_table': {'rules': RULES, 'purge': True}}
    info = {'lvs.cluster.ipvs_info': {}}
    results = netns.playbook([dict(table, check_mode=True, diff=True)])
    assert results[0]['changed'] is True
    diff = _diff(results[0])
    assert '192.0.2.99' in diff['before'] and '192.0.2.99' not in diff['after']
    assert _lines(diff['after']) == _lines(RULES.split('\n', 1)[1])
    assert '192.0.2.99' in netns.ipvs_save()     # check mode touched nothing

    results = netns.playbook([table, table, info])
    assert results[0]['changed'] is True and results[1]['changed'] is False, results
    summary = results[0]['summary']
    assert summary == {'services_added': 3, 'services_changed': 1, 'services_removed': 1,
                       'realservers_added': 4, 'realservers_changed': 1, 'realservers_removed': 1}, summary
    saved = netns.ipvs_save()
    assert _lines(saved) == _lines(RULES.split('\n', 1)[1]), saved
    # ipvs_info renders the same text as ipvsadm-save -n, in the same order
    assert results[2]['save'] == saved
    services = results[2]['services']
    assert len(services) == 4
    web = [s for s in services if s['port'] == 80][0]
    assert [(d['address'], d['port'], d['forwarding'], d['weight']) for d in web['realservers']] == \
        [('10.0.0.1', 8080, 'nat', 2), ('10.0.0.2', 8080, 'nat', 1)]
    assert set(web['realservers'][0]) >= {'active_connections', 'inactive_connections',
                                          'persistent_connections', 'stats'}
    assert set(results[2]['timeouts']) == {'tcp', 'tcpfin', 'udp'}


def test_services_list_without_purge_and_empty_purge(netns):
    netns.sh("ipvsadm -A -t 192.0.2.99:25 -s rr")
    services = [{'address': '192.0.2.40', 'port': 443, 'scheduler': 'lc',
                 'realservers': [{'address': '10.0.0.1'}, {'address': '10.0.0.2', 'weight': 0,
                                                           'upper_threshold': 50}]},
                {'protocol': 'fwmark', 'fwmark': 12, 'family': 'ipv6', 'persistence_timeout': 60,
                 'persistence_netmask': '64', 'realservers': [{'address': '2001:db8::1'}]}]
    table = {'lvs.cluster.ipvs_table': {'services': services}}
    results = netns.playbook([table, table, {'lvs.cluster.ipvs_info': {}}])
    assert [r['changed'] for r in results[:2]] == [True, False], results
    saved = netns.ipvs_save()
    assert _lines(saved) == _lines("""
-A -t 192.0.2.40:443 -s lc
-a -t 192.0.2.40:443 -r 10.0.0.1:443 -g -w 1
-a -t 192.0.2.40:443 -r 10.0.0.2:443 -g -w 0
-A -t 192.0.2.99:25 -s rr
-A -f 12 -6 -s wlc -p 60 -M 64
-a -f 12 -6 -r [2001:db8::1]:0 -g -w 1
"""), saved
    info_services = results[2]['services']
    rs2 = [d for s in info_services if s['port'] == 443 for d in s['realservers'] if d['address'] == '10.0.0.2']
    assert rs2[0]['upper_threshold'] == 50

    # an empty declaration with purge empties the table; check mode first
    empty = {'lvs.cluster.ipvs_table': {'purge': True}}
    results = netns.playbook([dict(empty, check_mode=True), empty, empty])
    assert [r['changed'] for r in results] == [True, True, False], results
    assert netns.ipvs_save() == ''
