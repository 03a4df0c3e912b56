"""lvs.cluster.ipvs_service on the real kernel, through ansible-playbook.

Oracle: `ipvsadm-save -n` (and `ipvsadm -Ln --stats`) in the same namespace.
"""

import time


def _diff(result):
    diff = result['diff']
    return diff[0] if isinstance(diff, list) else diff


def _lines(text):
    return sorted(line for line in text.splitlines() if line.strip())


WEB = {'address': '192.0.2.10', 'port': 80, 'scheduler': 'wrr',
       'realservers': [{'address': '10.0.0.1', 'weight': 2}, {'address': '10.0.0.2'}],
       'purge_realservers': True}
DNS6 = {'protocol': 'udp', 'address': '2001:db8::1', 'port': 53, 'scheduler': 'rr', 'one_packet': True,
        'realservers': [{'address': '2001:db8::2', 'forwarding': 'nat', 'port': 5353}]}
MARK = {'protocol': 'fwmark', 'fwmark': 7, 'scheduler': 'sh', 'scheduler_flags': ['sh-fallback', 'sh-port'],
        'persistence_timeout': 300, 'persistence_netmask': '24'}
ALLPORTS = {'address': '192.0.2.11', 'port': 0, 'persistence_timeout': 600,
            'persistence_netmask': '255.255.255.0'}
MARK6 = {'protocol': 'fwmark', 'fwmark': 8, 'family': 'ipv6', 'scheduler': 'mh',
         'scheduler_flags': ['mh-port'], 'realservers': [{'address': '2001:db8::3'}]}

EXPECTED = _lines("""
-A -t 192.0.2.10:80 -s wrr
-a -t 192.0.2.10:80 -r 10.0.0.1:80 -g -w 2
-a -t 192.0.2.10:80 -r 10.0.0.2:80 -g -w 1
-A -t 192.0.2.11:0 -s wlc -p 600 -M 255.255.255.0
-A -u [2001:db8::1]:53 -s rr -o
-a -u [2001:db8::1]:53 -r [2001:db8::2]:5353 -m -w 1
-A -f 7 -s sh -p 300 -M 255.255.255.0 -b sh-fallback,sh-port
-A -f 8 -6 -s mh -b mh-port
-a -f 8 -6 -r [2001:db8::3]:0 -g -w 1
""")


def _key_of(service):
    return dict((k, v) for k, v in service.items() if k in ('protocol', 'address', 'port', 'fwmark', 'family'))


def _task(args, **extra):
    task = {'lvs.cluster.ipvs_service': args}
    task.update(extra)
    return task


def test_apply_oracle_idempotent_check_diff_absent(netns):
    services = [WEB, DNS6, MARK, ALLPORTS, MARK6]
    # 1. apply every kind of service, then the same again: nothing to do.
    results = netns.playbook([_task(s) for s in services] + [_task(s) for s in services])
    assert [r['changed'] for r in results] == [True] * 5 + [False] * 5, results
    saved = netns.ipvs_save()
    assert _lines(saved) == EXPECTED, saved

    # 2. check mode + diff on a change: reported, kernel untouched.
    changed = dict(WEB, scheduler='rr', realservers=[{'address': '10.0.0.1', 'weight': 5}])
    results = netns.playbook([_task(changed, check_mode=True, diff=True),
                              _task(dict(MARK, state='absent'), check_mode=True)])
    assert results[0]['changed'] is True and results[1]['changed'] is True
    diff = _diff(results[0])
    assert '-A -t 192.0.2.10:80 -s wrr' in diff['before'] and '10.0.0.2' in diff['before']
    assert '-A -t 192.0.2.10:80 -s rr' in diff['after'] and '-r 10.0.0.1:80 -g -w 5' in diff['after']
    assert '10.0.0.2' not in diff['after']
    assert results[0]['operations'] == ['set service tcp 192.0.2.10:80',
                                        'set dest tcp 192.0.2.10:80 realserver 10.0.0.1:80',
                                        'del dest tcp 192.0.2.10:80 realserver 10.0.0.2:80']
    assert netns.ipvs_save() == saved

    # 3. the same change for real, then absent for everything; absent twice is a no-op.
    results = netns.playbook([_task(changed, diff=True)]
                             + [_task(dict(_key_of(s), state='absent')) for s in services[1:]]
                             + [_task(dict(WEB, state='absent')), _task(dict(WEB, state='absent'))])
    assert [r['changed'] for r in results] == [True] * 6 + [False], results
    assert netns.ipvs_save() == ''


def test_unmanaged_realservers_kept_and_set_in_place_keeps_counters(netns):
    # A connection attempt to the VIP from inside the namespace is scheduled by IPVS
    # (LOCAL_OUT) and counted; a delete+add would reset the service's counters, an
    # in-place SET keeps them.
    netns.sh("ip link add d0 type dummy && ip addr add 10.0.0.254/24 dev d0 && ip link set d0 up"
             " && ip route add 192.0.2.0/24 dev d0")
    netns.playbook([_task(WEB)])
    netns.sh("python3 -c \"import socket; s=socket.socket(); s.settimeout(0.5)\n"
             "try: s.connect(('192.0.2.10', 80))\nexcept OSError: pass\"")
    time.sleep(3)   # IPVS refreshes its exported counters every 2 s

    def conns():
        for line in netns.sh("ipvsadm -Ln --stats -t 192.0.2.10:80").splitlines():
            if line.startswith('TCP'):
                return int(line.split()[2])
    before = conns()
    assert before >= 1
    # realservers not given: the two real servers stay; the scheduler changes in place.
    results = netns.playbook([_task({'address': '192.0.2.10', 'port': 80, 'scheduler': 'lc'})])
    assert results[0]['changed'] is True
    assert results[0]['operations'] == ['set service tcp 192.0.2.10:80']
    time.sleep(3)
    assert conns() == before
    saved = netns.ipvs_save()
    assert '-A -t 192.0.2.10:80 -s lc' in saved and saved.count('-a -t 192.0.2.10:80') == 2
