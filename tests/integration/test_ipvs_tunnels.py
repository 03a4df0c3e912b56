"""GUE and GRE real servers (tun_type, tun_port, tun_csum) on the real kernel.

The bug this guards: the kernel resets a real server's tunnel type, port and flags when
a SET leaves them out, so a weight edit turned a GUE real server into ipip.  The oracle
is ipvsadm 1.31 (`ipvsadm -S -n`), which prints `--tun-type gue --tun-port N`.
"""

SVC = {'address': '192.0.2.40', 'port': 80, 'scheduler': 'wrr'}
RS = {'service_address': '192.0.2.40', 'service_port': 80}
GUE = {'address': '198.51.100.21', 'forwarding': 'tun', 'tun_type': 'gue', 'tun_port': 6080}
GRE = {'address': '198.51.100.22', 'forwarding': 'tun', 'tun_type': 'gre', 'tun_csum': 'csum'}

GUE_LINE = '-a -t 192.0.2.40:80 -r 198.51.100.21:80 -i -w %d --tun-type gue --tun-port 6080 --tun-nocsum'
GRE_LINE = '-a -t 192.0.2.40:80 -r 198.51.100.22:80 -i -w %d --tun-type gre --tun-csum'


def _saved(netns):
    return netns.sh("ipvsadm -S -n")


def _service(realservers):
    return {'lvs.cluster.ipvs_service': dict(SVC, realservers=realservers, purge_realservers=True)}


def _rs(**args):
    return {'lvs.cluster.ipvs_realserver': dict(RS, **args)}


def test_weight_edits_keep_gue_and_gre(netns):
    created = _service([GUE, GRE])
    results = netns.playbook([created, created])
    assert [r['changed'] for r in results] == [True, False], results
    saved = _saved(netns)
    assert GUE_LINE % 1 in saved.splitlines() and GRE_LINE % 1 in saved.splitlines(), saved

    # the weight alone, through ipvs_realserver (options left out keep the live values)
    edit = [_rs(address='198.51.100.21', weight=5), _rs(address='198.51.100.22', weight=7)]
    results = netns.playbook(edit + edit + [{'lvs.cluster.ipvs_info': {}}])
    assert [r['changed'] for r in results[:4]] == [True, True, False, False], results
    assert results[0]['operations'] == ['set dest tcp 192.0.2.40:80 realserver 198.51.100.21:80']
    assert results[0]['realserver']['tun_type'] == 'gue' and results[0]['realserver']['tun_port'] == 6080
    saved = _saved(netns)
    print(saved)
    assert GUE_LINE % 5 in saved.splitlines() and GRE_LINE % 7 in saved.splitlines(), saved
    info = results[4]
    assert info['save'] == saved
    (svc,) = info['services']
    got = dict((d['address'], (d['forwarding'], d['weight'], d['tun_type'], d['tun_port'], d['tun_csum']))
               for d in svc['realservers'])
    assert got == {'198.51.100.21': ('tun', 5, 'gue', 6080, 'nocsum'),
                   '198.51.100.22': ('tun', 7, 'gre', None, 'csum')}, got

    # the weight through ipvs_service, the real servers declared in full
    edited = _service([dict(GUE, weight=2), dict(GRE, weight=3)])
    results = netns.playbook([edited, edited])
    assert [r['changed'] for r in results] == [True, False], results
    assert results[0]['operations'] == ['set dest tcp 192.0.2.40:80 realserver 198.51.100.21:80',
                                        'set dest tcp 192.0.2.40:80 realserver 198.51.100.22:80']
    saved = _saved(netns)
    assert GUE_LINE % 2 in saved.splitlines() and GRE_LINE % 3 in saved.splitlines(), saved


def test_table_rules_and_an_ipvsadm_made_gue_server(netns):
    # made by ipvsadm itself, then edited through the module: the original bug
    netns.sh("ipvsadm -A -t 192.0.2.40:80 -s wrr"
             " && ipvsadm -a -t 192.0.2.40:80 -r 198.51.100.23 -i --tun-type gue --tun-port 6081 --tun-remcsum")
    results = netns.playbook([_rs(address='198.51.100.23', weight=4)])
    assert results[0]['changed'] is True
    assert ('-a -t 192.0.2.40:80 -r 198.51.100.23:80 -i -w 4 --tun-type gue --tun-port 6081 --tun-remcsum'
            in _saved(netns).splitlines()), _saved(netns)

    # ipvs_table with the text ipvsadm -S -n writes; then a weight edit in that text
    rules = '-A -t 192.0.2.40:80 -s wrr\n' + GUE_LINE % 1 + '\n' + GRE_LINE % 1 + '\n'
    table = {'lvs.cluster.ipvs_table': {'rules': rules}}
    edited = {'lvs.cluster.ipvs_table': {'rules': rules.replace('-w 1 --tun-type gre', '-w 9 --tun-type gre')}}
    results = netns.playbook([table, table, edited, edited])
    assert [r['changed'] for r in results] == [True, False, True, False], results
    assert results[2]['summary']['realservers_changed'] == 1, results[2]
    assert sorted(_saved(netns).splitlines()) == sorted(rules.replace('-w 1 --tun-type gre', '-w 9 --tun-type gre')
                                                        .splitlines())

    # the tunnel type changes in place (a SET), never delete + add
    results = netns.playbook([_rs(address='198.51.100.21', tun_type='gre'),
                              _rs(address='198.51.100.22', tun_type='gue', tun_port=6082, tun_csum='remcsum')])
    assert [r['operations'] for r in results] == [['set dest tcp 192.0.2.40:80 realserver 198.51.100.21:80'],
                                                  ['set dest tcp 192.0.2.40:80 realserver 198.51.100.22:80']]
    saved = _saved(netns).splitlines()
    assert '-a -t 192.0.2.40:80 -r 198.51.100.21:80 -i -w 1 --tun-type gre --tun-nocsum' in saved, saved
    assert '-a -t 192.0.2.40:80 -r 198.51.100.22:80 -i -w 9 --tun-type gue --tun-port 6082 --tun-remcsum' in saved


def test_bad_tunnel_options_change_nothing(netns):
    netns.playbook([_service([GUE])])
    before = _saved(netns)
    results = netns.playbook([
        dict(_rs(address='198.51.100.21', tun_type='gre', tun_port=6080), ignore_errors=True),
        dict(_rs(address='198.51.100.29', tun_type='gue', tun_port=6080), ignore_errors=True),   # new: dr
        dict(_service([dict(GUE, tun_port=None)]), ignore_errors=True),
        dict(_service([dict(GRE, tun_csum='remcsum')]), ignore_errors=True),
    ], expect_failure=True)
    messages = [r.get('msg', '') for r in results]
    assert all(r.get('failed') for r in results), results
    assert messages[0].startswith('tun_port: only tun_type gue uses a port'), messages[0]
    assert messages[1].startswith('tun_type: tunnel options only apply to forwarding tun (forwarding is dr)'), \
        messages[1]
    assert messages[2].startswith('realservers[0].tun_port: tun_type gue needs'), messages[2]
    assert messages[3].startswith('realservers[0].tun_csum: remcsum'), messages[3]
    assert _saved(netns) == before
