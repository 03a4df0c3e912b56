"""lvs.cluster.ipvs_timeouts (GET/SET_CONFIG) on the real kernel, through ansible-playbook.

Oracle: `ipvsadm -Ln --timeout`.
"""


def _diff(result):
    diff = result['diff']
    return diff[0] if isinstance(diff, list) else diff


def _oracle(netns):
    # "Timeout (tcp tcpfin udp): 900 120 300"
    line = netns.sh("ipvsadm -Ln --timeout").strip().splitlines()[-1]
    return [int(x) for x in line.split(':')[1].split()]


def test_set_idempotent_check_diff_partial(netns):
    netns.sh("ipvsadm --set 900 120 300")
    task = {'lvs.cluster.ipvs_timeouts': {'tcp': 600, 'tcpfin': 30, 'udp': 45}}
    partial = {'lvs.cluster.ipvs_timeouts': {'udp': 90}}
    results = netns.playbook([dict(task, check_mode=True, diff=True)])
    assert results[0]['changed'] is True
    assert _diff(results[0]) == {'before': {'tcp': 900, 'tcpfin': 120, 'udp': 300},
                                 'after': {'tcp': 600, 'tcpfin': 30, 'udp': 45}}
    assert _oracle(netns) == [900, 120, 300]

    results = netns.playbook([task, task, partial, {'lvs.cluster.ipvs_info': {}},
                              {'lvs.cluster.ipvs_timeouts': {'tcp': 0}, 'ignore_errors': True}],
                             expect_failure=True)
    assert [r['changed'] for r in results[:3]] == [True, False, True], results
    assert results[2]['timeouts'] == {'tcp': 600, 'tcpfin': 30, 'udp': 90}
    assert results[3]['timeouts'] == {'tcp': 600, 'tcpfin': 30, 'udp': 90}
    assert results[4]['failed'] and results[4]['msg'].startswith('tcp:'), results[4]
    assert _oracle(netns) == [600, 30, 90]
