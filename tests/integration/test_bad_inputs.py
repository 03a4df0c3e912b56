"""Bad inputs to the IPVS modules, on the real kernel, through ansible-playbook.

Each case must fail with a message naming the offending field, and the kernel's IPVS
table (`ipvsadm-save -n`) and timeouts must be byte-identical before and after.
All cases run as tasks of one playbook (ignore_errors per task): each ansible-playbook
run costs seconds in the emulated lab guest.
"""
import re

from lab_guest import GUEST_COLLECTIONS


SVC = 'lvs.cluster.ipvs_service'
RS = 'lvs.cluster.ipvs_realserver'
TABLE = 'lvs.cluster.ipvs_table'
TIMEOUTS = 'lvs.cluster.ipvs_timeouts'

WEB = {'address': '192.0.2.10', 'port': 80}
V6 = {'address': '2001:db8::10', 'port': 80}
ON_WEB = {'service_address': '192.0.2.10', 'service_port': 80}

# The newest schedulers first: a kernel may lack them, and which it lacks is probed, not
# assumed (the lab's Debian 6.1 kernel has no twos; later kernels have).
NEWER_SCHEDULERS = ('twos', 'ovf', 'mh', 'fo')


def kernel_has_scheduler(netns, name):
    """Whether the running kernel runs scheduler NAME: it loads ip_vs_NAME on demand, so add a
    service with it (ipvsadm, not the module under test) and take it away again."""
    probe = '-t 198.51.100.1:1'
    netns.sh('ipvsadm -A %s -s %s' % (probe, name), check=False)
    found = ('-A %s -s %s' % (probe, name)) in netns.ipvs_save()
    netns.sh('ipvsadm -D %s' % probe, check=False)
    assert netns.ipvs_save() == '', 'probe left a service behind'
    return found


def refused_batch(scheduler):
    """Valid rules the kernel refuses as a whole batch of 301 requests: the new service (its
    scheduler is absent from this kernel), then each of its real servers."""
    return '-A -t 192.0.2.20:80 -s %s\n' % scheduler + ''.join(
        '-a -t 192.0.2.20:80 -r 10.0.%d.%d:80 -g -w 1\n' % (i // 250, i % 250 + 1) for i in range(300))


# (module, args, text the failure message must contain: the field)
CASES = [
    # ipvs_service: addresses, ports, schedulers, netmasks, fwmark, persistence
    (SVC, dict(WEB, address='300.1.1.1'), 'address'),
    (SVC, dict(WEB, address='192.0.2.0/24'), 'address'),
    (SVC, dict(WEB, address='www.example.com'), 'address'),
    (SVC, dict(WEB, address='0.0.0.0'), 'address'),
    (SVC, dict(WEB, address='224.0.0.5'), 'address'),
    (SVC, {'port': 80}, 'address'),
    (SVC, dict(WEB, port=65536), 'port'),
    (SVC, dict(WEB, port=-1), 'port'),
    (SVC, dict(WEB, port='http'), 'port'),
    (SVC, {'address': '192.0.2.10'}, 'port'),
    (SVC, dict(WEB, port=0), 'port'),                                  # port 0 without persistence
    (SVC, dict(WEB, scheduler='roundrobin'), 'scheduler'),
    (SVC, dict(WEB, scheduler='rr', scheduler_flags=['sh-port']), 'scheduler_flags'),
    (SVC, dict(WEB, scheduler='sh', scheduler_flags=['flag-9']), 'scheduler_flags'),
    (SVC, dict(WEB, persistence_netmask='255.255.255.0'), 'persistence_netmask'),
    (SVC, dict(WEB, persistence_timeout=60, persistence_netmask='255.0.255.0'), 'persistence_netmask'),
    (SVC, dict(WEB, persistence_timeout=60, persistence_netmask='33'), 'persistence_netmask'),
    (SVC, dict(V6, persistence_timeout=60, persistence_netmask='129'), 'persistence_netmask'),
    (SVC, dict(V6, persistence_timeout=60, persistence_netmask='ffff:ffff::'), 'persistence_netmask'),
    (SVC, dict(WEB, persistence_timeout=-1), 'persistence_timeout'),
    (SVC, {'protocol': 'fwmark', 'fwmark': 5, 'port': 80}, 'port'),    # fwmark with a port
    (SVC, {'protocol': 'fwmark', 'fwmark': 5, 'address': '192.0.2.10'}, 'address'),
    (SVC, {'protocol': 'fwmark'}, 'fwmark'),
    (SVC, {'protocol': 'fwmark', 'fwmark': 0}, 'fwmark'),
    (SVC, dict(WEB, fwmark=5), 'fwmark'),
    (SVC, dict(WEB, protocol='dccp'), 'protocol'),
    (SVC, dict(WEB, one_packet=True), 'one_packet'),
    (SVC, dict(WEB, family='ipv6'), 'family'),
    (SVC, dict(WEB, realservers=[{'address': '2001:db8::2'}]), 'realservers[0].address'),   # v4/v6 mix
    (SVC, dict(WEB, realservers=[{'address': '10.0.0.1', 'port': 8080}]), 'realservers[0].port'),
    (SVC, dict(WEB, realservers=[{'address': '10.0.0.1', 'port': 8080, 'forwarding': 'tun'}]),
     'realservers[0].port'),
    (SVC, dict(WEB, realservers=[{'address': '10.0.0.1', 'weight': 65536}]), 'realservers[0].weight'),
    (SVC, dict(WEB, realservers=[{'address': '10.0.0.1', 'weight': -1}]), 'realservers[0].weight'),
    (SVC, dict(WEB, realservers=[{'address': '10.0.0.1', 'upper_threshold': 5, 'lower_threshold': 9}]),
     'realservers[0].lower_threshold'),
    (SVC, dict(WEB, realservers=[{'address': '10.0.0.1'}, {'address': '10.0.0.1'}]), 'realservers[1].address'),
    (SVC, dict(WEB, realservers=[{'address': '10.0.0.1', 'forwarding': 'fullnat'}]), 'forwarding'),
    (SVC, dict(WEB, purge_realservers=True), 'purge_realservers'),
    # ipvs_realserver
    (RS, dict(ON_WEB, address='10.0.0.1', weight=65536), 'weight'),
    (RS, dict(ON_WEB, address='10.0.0.1', port=8080, forwarding='dr'), 'port'),          # mapping in dr
    (RS, dict(ON_WEB, address='10.0.0.9', port=8080), 'port'),                           # new: dr default
    (RS, dict(ON_WEB, address='2001:db8::1'), 'address'),                                # v4/v6 mix
    (RS, dict(ON_WEB, address='10.0.0.1.5'), 'address'),
    (RS, {'service_address': '192.0.2.10', 'address': '10.0.0.1'}, 'service_port'),
    (RS, dict(ON_WEB, service_address='192.0.2.300', address='10.0.0.1'), 'service_address'),
    (RS, dict(ON_WEB, service_port=81, address='10.0.0.1'), 'service_address'),          # no such service
    (RS, dict(ON_WEB, address='10.0.0.1', upper_threshold=-5), 'upper_threshold'),
    (RS, dict(ON_WEB, address='10.0.0.1', state='drained', drain_timeout=-1), 'drain_timeout'),
    # ipvs_table: services list and ipvsadm-save rules
    (TABLE, {'services': [dict(WEB, port=70000)]}, 'services[0].port'),
    (TABLE, {'services': [WEB, WEB]}, 'services[1]'),
    (TABLE, {'services': [{'protocol': 'fwmark', 'fwmark': 3, 'port': 80}]}, 'services[0].port'),
    (TABLE, {'services': [dict(WEB, realservers=[{'address': '10.0.0.1', 'weight': 99999}])], 'purge': True},
     'services[0].realservers[0].weight'),
    (TABLE, {'services': [WEB], 'rules': '-A -t 192.0.2.10:80 -s rr'}, 'rules'),
    (TABLE, {'rules': '-A -t 192.0.2.10:80 -s nosuch\n', 'purge': True}, 'scheduler'),
    (TABLE, {'rules': '-a -t 192.0.2.10:80 -r 10.0.0.1 -g -w 1\n'}, 'rules line 1'),
    (TABLE, {'rules': '-C\n', 'purge': True}, 'command'),
    (TABLE, {'rules': '-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 10.0.0.1:8080 -g -w 1\n'}, 'port'),
    (TABLE, {'rules': '-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r [2001:db8::1]:80 -g -w 1\n'},
     'address'),
    (TABLE, {'rules': '-A -t 192.0.2.10:80 -s rr -p\n-A -t 192.0.2.11:99999 -s rr\n', 'purge': True},
     'rules line 2'),
    (TABLE, {'rules': '-A -t 192.0.2.10 -s rr\n', 'purge': True}, 'port'),      # all ports, not persistent
    (TABLE, {'rules': '-A -t 192.0.2.10:80 -s rr --pe sip\n', 'purge': True}, '--pe'),
    # ipvs_timeouts
    (TIMEOUTS, {'tcp': 0}, 'tcp'),
    (TIMEOUTS, {'udp': 99999999}, 'udp'),
    (TIMEOUTS, {'tcpfin': -1}, 'tcpfin'),
    (TIMEOUTS, {}, 'tcp, tcpfin, udp'),
]

SEED = ("ipvsadm -A -t 192.0.2.10:80 -s wrr && ipvsadm -a -t 192.0.2.10:80 -r 10.0.0.1:80 -g -w 2"
        " && ipvsadm -a -t 192.0.2.10:80 -r 10.0.0.2:80 -g -w 1"
        " && ipvsadm -A -u [2001:db8::10]:53 -s rr && ipvsadm -a -u [2001:db8::10]:53 -r [2001:db8::11]:53 -m"
        " && ipvsadm -A -f 4 -s sh -p 120 && ipvsadm --set 900 120 300")


def test_bad_inputs_fail_naming_the_field_and_change_nothing(netns):
    assert len(CASES) >= 40
    cases = list(CASES)
    missing = [name for name in NEWER_SCHEDULERS if not kernel_has_scheduler(netns, name)]
    if missing:
        # A scheduler name the module accepts but this kernel lacks: the kernel refuses the
        # service; in a batch the first refusal is reported.
        cases.append((SVC, dict(WEB, scheduler=missing[0]), 'scheduler'))
        cases.append((TABLE, {'rules': refused_batch(missing[0])}, 'scheduler %s' % missing[0]))
    netns.sh(SEED)
    before = netns.ipvs_save()
    timeouts_before = netns.sh("ipvsadm -Ln --timeout")
    assert before.count('\n') == 6, before

    tasks = [{'name': 'case %d' % i, module: args, 'ignore_errors': True}
             for i, (module, args, dummy) in enumerate(cases)]
    results = netns.playbook(tasks, expect_failure=True)
    assert len(results) == len(cases)
    problems = []
    for i, ((module, args, field), result) in enumerate(zip(cases, results)):
        msg = str(result.get('msg', ''))
        if not result.get('failed'):
            problems.append('case %d %s %r did not fail: %r' % (i, module, args, result))
        elif field not in msg:
            problems.append('case %d %s %r: message does not name %r: %s' % (i, module, args, field, msg))
        elif result.get('changed'):
            problems.append('case %d reported changed' % i)
    assert not problems, '\n'.join(problems)

    assert netns.ipvs_save() == before
    assert netns.sh("ipvsadm -Ln --timeout") == timeouts_before


def test_absent_kernel_module_is_named(netns):
    # The lab guest has ip_vs, so ask the netlink layer for a generic netlink family
    # that does not exist: the same kernel answer (ENOENT) as an unloaded ip_vs. Asked
    # in the guest, of its kernel.
    out = netns.sh("PYTHONPATH=%s python3 - <<'EOF'\n"
                   "from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError\n"
                   "from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_session import IPVSSession\n"
                   "try:\n"
                   "    IPVSSession(family_name='IPVS_NOSUCH')   # genl names are < 16 chars\n"
                   "except LVSError as error:\n"
                   "    print(error)\n"
                   "EOF" % GUEST_COLLECTIONS)
    assert re.search(r'modprobe ip_vs', out), out


def test_twos_follows_the_running_kernel(netns):
    # twos is a valid name on every kernel; whether it works depends on the kernel: probed
    # with ipvsadm, then the module must agree either way.
    has_twos = kernel_has_scheduler(netns, 'twos')
    results = netns.playbook([{SVC: dict(WEB, scheduler='twos'), 'ignore_errors': True}],
                             expect_failure=not has_twos)
    if has_twos:
        assert results[0].get('changed') and not results[0].get('failed'), results[0]
        assert '-A -t 192.0.2.10:80 -s twos' in netns.ipvs_save()
    else:
        assert results[0].get('failed') and 'scheduler' in str(results[0].get('msg')), results[0]
        assert netns.ipvs_save() == ''
