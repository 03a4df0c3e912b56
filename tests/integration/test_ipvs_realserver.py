"""lvs.cluster.ipvs_realserver on the real kernel, through ansible-playbook."""


def _diff(result):
    diff = result['diff']
    return diff[0] if isinstance(diff, list) else diff


def _rs(args, **extra):
    task = {'lvs.cluster.ipvs_realserver': args}
    task.update(extra)
    return task


SVC = {'service_address': '192.0.2.20', 'service_port': 80}


def test_apply_change_check_diff_drain_absent(netns):
    netns.sh("ipvsadm -A -t 192.0.2.20:80 -s wrr && ipvsadm -A -f 9 -s rr")
    results = netns.playbook([
        _rs(dict(SVC, address='10.0.0.1', port=8080, forwarding='nat', weight=3,
                 upper_threshold=100, lower_threshold=10)),
        _rs(dict(SVC, address='10.0.0.2')),
        _rs({'protocol': 'fwmark', 'fwmark': 9, 'address': '10.0.0.3', 'forwarding': 'tun'}),
        # again: nothing to do (options left out keep the live values)
        _rs(dict(SVC, address='10.0.0.1', port=8080)),
        _rs(dict(SVC, address='10.0.0.2', forwarding='dr', weight=1)),
    ])
    assert [r['changed'] for r in results] == [True, True, True, False, False], results
    saved = netns.ipvs_save()
    assert '-a -t 192.0.2.20:80 -r 10.0.0.1:8080 -m -w 3' in saved
    assert '-a -t 192.0.2.20:80 -r 10.0.0.2:80 -g -w 1' in saved
    assert '-a -f 9 -r 10.0.0.3:0 -i -w 1' in saved
    listing = netns.sh("ipvsadm -Ln --thresholds -t 192.0.2.20:80")
    assert any('10.0.0.1:8080' in line and ' 100 ' in line + ' ' and ' 10 ' in line + ' '
               for line in listing.splitlines()), listing

    # check mode + diff: weight change and removal reported, kernel unchanged
    results = netns.playbook([
        _rs(dict(SVC, address='10.0.0.2', weight=7), check_mode=True, diff=True),
        _rs(dict(SVC, address='10.0.0.1', port=8080, state='absent'), check_mode=True, diff=True),
        _rs(dict(SVC, address='10.0.0.2', state='drained', drain_timeout=5), check_mode=True),
    ])
    assert all(r['changed'] for r in results), results
    assert _diff(results[0]) == {'before': '-a -t 192.0.2.20:80 -r 10.0.0.2:80 -g -w 1\n',
                                 'after': '-a -t 192.0.2.20:80 -r 10.0.0.2:80 -g -w 7\n'}
    assert _diff(results[1])['after'] == ''
    assert netns.ipvs_save() == saved

    # for real: change forwarding in place, drain (no connections: immediate), remove
    results = netns.playbook([
        _rs(dict(SVC, address='10.0.0.2', forwarding='tun')),
        _rs(dict(SVC, address='10.0.0.2', state='drained', drain_timeout=5)),
        _rs(dict(SVC, address='10.0.0.2', state='drained', drain_timeout=5)),
        _rs(dict(SVC, address='10.0.0.1', port=8080, state='absent')),
        _rs(dict(SVC, address='10.0.0.1', port=8080, state='absent')),
    ])
    assert [r['changed'] for r in results] == [True, True, False, True, False], results
    assert results[1]['connections'] == {'active_connections': 0, 'inactive_connections': 0, 'drained': True}
    saved = netns.ipvs_save()
    assert '-a -t 192.0.2.20:80 -r 10.0.0.2:80 -i -w 0' in saved
    assert '10.0.0.1' not in saved


def test_missing_service_and_port_mapping_refused(netns):
    netns.sh("ipvsadm -A -t 192.0.2.20:80 -s rr && ipvsadm -a -t 192.0.2.20:80 -r 10.0.0.1:8080 -m")
    before = netns.ipvs_save()
    results = netns.playbook([
        _rs(dict(SVC, service_port=81, address='10.0.0.1'), ignore_errors=True),
        _rs(dict(SVC, address='10.0.0.5', port=8080), ignore_errors=True),            # new dest, dr default
        _rs(dict(SVC, address='10.0.0.1', port=8080, forwarding='dr'), ignore_errors=True),
        # the existing nat dest may be drained without repeating forwarding
        _rs(dict(SVC, address='10.0.0.1', port=8080, state='drained', drain_timeout=0)),
    ], expect_failure=True)
    assert results[0]['failed'] and results[0]['msg'].startswith('service_address:'), results[0]
    assert results[1]['failed'] and results[1]['msg'].startswith('port:'), results[1]
    assert results[2]['failed'] and results[2]['msg'].startswith('port:'), results[2]
    assert results[3]['changed'] and not results[3].get('failed')
    assert netns.ipvs_save() == before.replace('-m -w 1', '-m -w 0')


def test_drain_waits_and_is_bounded_by_its_timeout(netns):
    # A connection attempt from inside the namespace is scheduled by IPVS (LOCAL_OUT):
    # the chosen real server then holds a connection entry for a while (SYN_RECV),
    # so a short drain must give up, report the counts, and leave the weight at 0.
    netns.sh("ip link add d0 type dummy && ip addr add 10.0.0.254/24 dev d0 && ip link set d0 up"
             " && ip route add 192.0.2.0/24 dev d0"
             " && ipvsadm -A -t 192.0.2.20:80 -s rr && ipvsadm -a -t 192.0.2.20:80 -r 10.0.0.1:80 -g")
    netns.sh("python3 -c \"import socket; s=socket.socket(); s.settimeout(0.5)\n"
             "try: s.connect(('192.0.2.20', 80))\nexcept OSError: pass\"")
    listing = netns.sh("ipvsadm -Ln -t 192.0.2.20:80")
    results = netns.playbook([
        _rs(dict(SVC, address='10.0.0.1', state='drained', drain_timeout=3), ignore_errors=True),
    ], expect_failure=True)
    result = results[0]
    assert result['failed'] and result['changed'], (listing, result)
    assert 'drain_timeout=3s' in result['msg'] and 'weight is 0' in result['msg'], result['msg']
    counts = result['connections']
    assert counts['drained'] is False
    assert counts['active_connections'] + counts['inactive_connections'] >= 1, counts
    assert '-a -t 192.0.2.20:80 -r 10.0.0.1:80 -g -w 0' in netns.ipvs_save()
