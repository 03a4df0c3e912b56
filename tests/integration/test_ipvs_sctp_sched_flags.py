"""SCTP services, the scheduler flags of every scheduler and services of a protocol the
modules have no name for, on the real kernel, against ipvsadm (Debian 12's 1.31).

What ipvsadm made, ipvsadm reads back: the modules' view (ipvs_info services and save)
must be ipvsadm's, byte for byte, before and after the modules change the table.
"""
from lab_guest import GUEST_COLLECTIONS

INFO = {'lvs.cluster.ipvs_info': {}}


def _oracle(netns):
    saved = netns.sh("ipvsadm -S -n")
    assert saved == netns.sh("ipvsadm-save -n")
    return saved


def _lines(text):
    return sorted(line for line in text.splitlines() if line.strip())


def _info(netns, **options):
    return netns.playbook([{'lvs.cluster.ipvs_info': options}])[0]


def test_sctp_service_made_edited_and_a_foreign_one_purged(netns):
    netns.sh("ipvsadm -A --sctp-service 192.0.2.99:2905 -s rr"
             " && ipvsadm -a --sctp-service 192.0.2.99:2905 -r 10.0.0.9 -g")
    services = [{'protocol': 'sctp', 'address': '192.0.2.20', 'port': 3868, 'scheduler': 'wrr',
                 'realservers': [{'address': '10.0.0.21', 'weight': 2},
                                 {'address': '10.0.0.22', 'port': 3869, 'forwarding': 'nat'}]},
                {'protocol': 'sctp', 'address': '2001:db8::20', 'port': 3868,
                 'realservers': [{'address': '2001:db8::21'}]}]
    table = {'lvs.cluster.ipvs_table': {'services': services}}
    results = netns.playbook([table, table, INFO])
    assert [r['changed'] for r in results[:2]] == [True, False], results
    assert results[0]['summary']['services_added'] == 2 and results[0]['summary']['realservers_added'] == 3
    oracle = _oracle(netns)
    print(oracle)
    assert _lines(oracle) == _lines("""
-A --sctp-service 192.0.2.20:3868 -s wrr
-a --sctp-service 192.0.2.20:3868 -r 10.0.0.21:3868 -g -w 2
-a --sctp-service 192.0.2.20:3868 -r 10.0.0.22:3869 -m -w 1
-A --sctp-service 192.0.2.99:2905 -s rr
-a --sctp-service 192.0.2.99:2905 -r 10.0.0.9:2905 -g -w 1
-A --sctp-service [2001:db8::20]:3868 -s wlc
-a --sctp-service [2001:db8::20]:3868 -r [2001:db8::21]:3868 -g -w 1
"""), oracle
    assert results[2]['save'] == oracle
    assert sorted((s['protocol'], s['address'], s['port']) for s in results[2]['services']) == [
        ('sctp', '192.0.2.20', 3868), ('sctp', '192.0.2.99', 2905), ('sctp', '2001:db8::20', 3868)]

    # a weight, through ipvs_table: one SET of that real server, nothing else
    services[0]['realservers'][0]['weight'] = 5
    results = netns.playbook([table])
    assert results[0]['operations'] == ['set dest sctp 192.0.2.20:3868 realserver 10.0.0.21:3868'], results
    assert '-a --sctp-service 192.0.2.20:3868 -r 10.0.0.21:3868 -g -w 5' in _oracle(netns).splitlines()
    # and through ipvs_realserver
    results = netns.playbook([{'lvs.cluster.ipvs_realserver': {
        'protocol': 'sctp', 'service_address': '192.0.2.20', 'service_port': 3868,
        'address': '10.0.0.22', 'port': 3869, 'weight': 7}}])
    assert results[0]['operations'] == ['set dest sctp 192.0.2.20:3868 realserver 10.0.0.22:3869'], results
    oracle = _oracle(netns)
    assert '-a --sctp-service 192.0.2.20:3868 -r 10.0.0.22:3869 -m -w 7' in oracle.splitlines()

    # the saved text without the foreign service, fed back with purge: only that service goes
    saved = _info(netns)['save']
    assert saved == oracle
    kept = ''.join(line + '\n' for line in saved.splitlines() if '192.0.2.99' not in line)
    purge = {'lvs.cluster.ipvs_table': {'rules': kept, 'purge': True}}
    results = netns.playbook([purge, purge])
    assert results[0]['operations'] == ['del service sctp 192.0.2.99:2905'], results
    assert results[1]['changed'] is False, results
    oracle = _oracle(netns)
    assert oracle == kept
    assert _info(netns)['save'] == oracle


def test_flags_of_any_scheduler_are_read_saved_and_survive_edits(netns):
    netns.sh("ipvsadm -A -t 192.0.2.30:80 -s rr -b flag-1,flag-3"
             " && ipvsadm -a -t 192.0.2.30:80 -r 10.0.0.31 -g -w 1"
             " && ipvsadm -A -t 192.0.2.31:80 -s sh -b flag-3"
             " && ipvsadm -A --sctp-service 192.0.2.32:3868 -s wlc -b flag-2"
             " && ipvsadm -A -f 33 -s mh -b flag-1,flag-2")
    oracle = _oracle(netns)
    print(oracle)
    # sh's third flag has no name in ipvsadm -S: a bare "-b " (kept byte for byte)
    assert '-A -t 192.0.2.30:80 -s rr -b flag-1,flag-3\n' in oracle and '-A -t 192.0.2.31:80 -s sh -b \n' in oracle
    info = _info(netns)
    assert info['save'] == oracle
    flags = dict((s['address'] or s['fwmark'], s['scheduler_flags']) for s in info['services'])
    assert flags == {'192.0.2.30': ['flag-1', 'flag-3'], '192.0.2.31': ['flag-3'], '192.0.2.32': ['flag-2'],
                     33: ['mh-fallback', 'mh-port']}

    # ipvs_table: a weight change of a flagged service, the flags declared as read
    rr = {'address': '192.0.2.30', 'port': 80, 'scheduler': 'rr', 'scheduler_flags': ['flag-1', 'flag-3'],
          'realservers': [{'address': '10.0.0.31', 'weight': 4}]}
    table = {'lvs.cluster.ipvs_table': {'services': [rr]}}
    results = netns.playbook([table, table])
    assert [r['changed'] for r in results] == [True, False], results
    assert results[0]['operations'] == ['set dest tcp 192.0.2.30:80 realserver 10.0.0.31:80'], results
    lines = _oracle(netns).splitlines()
    assert '-A -t 192.0.2.30:80 -s rr -b flag-1,flag-3' in lines and '-a -t 192.0.2.30:80 -r 10.0.0.31:80 -g -w 4' in lines

    # ipvs_service: a weight change, then a persistence change whose SET carries the flags
    service = {'lvs.cluster.ipvs_service': dict(rr, realservers=[{'address': '10.0.0.31', 'weight': 6}])}
    results = netns.playbook([service])
    assert results[0]['operations'] == ['set dest tcp 192.0.2.30:80 realserver 10.0.0.31:80'], results
    assert results[0]['service']['scheduler_flags'] == ['flag-1', 'flag-3']
    # (without realservers: they are left as they are)
    persistent = {'lvs.cluster.ipvs_service': dict(((k, v) for k, v in rr.items() if k != 'realservers'),
                                                   persistence_timeout=60)}
    results = netns.playbook([persistent, persistent])
    assert results[0]['operations'] == ['set service tcp 192.0.2.30:80'] and results[1]['changed'] is False, results
    lines = _oracle(netns).splitlines()
    assert '-A -t 192.0.2.30:80 -s rr -p 60 -b flag-1,flag-3' in lines and '-a -t 192.0.2.30:80 -r 10.0.0.31:80 -g -w 6' in lines
    # flag-1 given with sh is sh's sh-fallback, as ipvsadm -b takes it
    results = netns.playbook([{'lvs.cluster.ipvs_service': {'address': '192.0.2.31', 'port': 80, 'scheduler': 'sh',
                                                            'scheduler_flags': ['flag-1', 'flag-3']}}])
    assert results[0]['service']['scheduler_flags'] == ['sh-fallback', 'flag-3'], results
    assert '-A -t 192.0.2.31:80 -s sh -b sh-fallback' in _oracle(netns).splitlines()

    # the whole table, saved with save_thresholds (which names sh's flag-3), feeds back unchanged
    text = _info(netns, save_thresholds=True)['save']
    assert '-A -t 192.0.2.31:80 -s sh -b sh-fallback,flag-3\n' in text
    oracle = _oracle(netns)
    results = netns.playbook([{'lvs.cluster.ipvs_table': {'rules': text, 'purge': True}}])
    assert results[0]['changed'] is False, results
    assert _oracle(netns) == oracle == _info(netns)['save']


def _collections_root():
    # The guest's: the namespace's python3 runs there, wherever this test runs.
    return GUEST_COLLECTIONS


# No tool makes a service of a protocol the kernel's IPVS has no handler for except a
# netlink client; Linux 6.1 takes any number.  ipvsadm then lists it (as "?" and, in save
# mode, --xxx-service), and so must the modules, without failing.
ADD_PROTO_253 = """PYTHONPATH=%s python3 - <<'EOF'
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_plan import Op
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_session import IPVSSession
svc = dict(protocol='proto253', family='ipv4', address='192.0.2.40', port=80, fwmark=None, scheduler='rr',
           scheduler_flags=[], persistence_timeout=0, persistence_netmask='255.255.255.255', one_packet=False)
dest = dict(address='10.0.0.41', port=80, forwarding='dr', weight=1, upper_threshold=0, lower_threshold=0,
            tun_type='ipip', tun_port=0, tun_csum='nocsum')
with IPVSSession() as session:
    session.apply_all([Op('add', 'service', svc), Op('add', 'dest', svc, dest)])
EOF"""


def test_a_service_of_an_unknown_protocol_is_listed_saved_and_purged(netns):
    netns.sh("ipvsadm -A -t 192.0.2.40:80 -s rr && ipvsadm -A --sctp-service 192.0.2.40:80 -s rr")
    netns.sh(ADD_PROTO_253 % _collections_root())
    oracle = _oracle(netns)
    print(oracle)
    assert oracle.splitlines()[-2:] == ['-A --xxx-service 192.0.2.40:80 -s rr',
                                        '-a --xxx-service 192.0.2.40:80 -r 10.0.0.41:80 -g -w 1']
    info = _info(netns)
    assert info['save'] == oracle
    assert [s['protocol'] for s in info['services']] == ['tcp', 'sctp', 'proto253']
    assert info['services'][2]['realservers'][0]['address'] == '10.0.0.41'

    # declared without it, purge removes it by its number (diff mode reads it too)
    table = {'lvs.cluster.ipvs_table': {'rules': '-A -t 192.0.2.40:80 -s rr\n', 'purge': True}}
    results = netns.playbook([dict(table, diff=True), table])
    assert results[0]['operations'] == ['del service sctp 192.0.2.40:80', 'del service proto253 192.0.2.40:80'], results
    diff = results[0]['diff'][0] if isinstance(results[0]['diff'], list) else results[0]['diff']
    assert '-A --xxx-service 192.0.2.40:80 -s rr\n' in diff['before']
    assert results[1]['changed'] is False, results
    assert _oracle(netns) == '-A -t 192.0.2.40:80 -s rr\n'
