"""Kernel refusals in the middle of a plan, on the real kernel, through ansible-playbook.

Valid input the kernel refuses, which validation cannot know about: the scheduler
``twos`` (a valid name the kernel lacks: ENOENT; Debian 12's 6.1 has none, and on a kernel
that has it the fixture takes it away for the test) and a real server on
the broadcast address of a subnet of this namespace (10.0.0.255 with 10.0.0.254/24 on
d0: the kernel forwards to local or unicast addresses only, EINVAL).  The kernel applies
or refuses each request of a batch on its own; the failed task must say exactly what it
applied, checked against the independent oracle ``ipvsadm -S -n``.
"""

import pytest

from lab_guest import guest

DUMMY = "ip link add d0 type dummy && ip addr add 10.0.0.254/24 brd + dev d0 && ip link set d0 up"
# A kernel without ip_vs_twos, whatever the guest's: modprobe refuses to load it for the
# test (the kernel asks modprobe for a scheduler it lacks), and it is unloaded if loaded.
NO_TWOS = "/etc/modprobe.d/lvs-itest-no-twos.conf"


@pytest.fixture
def kernel_without_twos():
    rc, out, err = guest("echo 'install ip_vs_twos /bin/false' > %s && "
                         "if [ -d /sys/module/ip_vs_twos ]; then rmmod ip_vs_twos && echo unloaded; fi" % NO_TWOS)
    assert rc == 0, err
    try:
        yield
    finally:
        guest("rm -f %s%s" % (NO_TWOS, " && modprobe ip_vs_twos" if "unloaded" in out else ""))


PROTOCOLS = {'-t': 'tcp', '-u': 'udp'}


def entries(saved):
    """{('service', 'tcp VIP:PORT')} and {('dest', 'tcp VIP:PORT', 'RIP:PORT')} of ipvsadm -S -n text."""
    out = set()
    for line in saved.splitlines():
        words = line.split()
        if not words:
            continue
        svc = '%s %s' % (PROTOCOLS[words[1]], words[2])
        if words[0] == '-A':
            out.add(('service', svc))
        else:
            assert words[0] == '-a' and words[3] == '-r', line
            out.add(('dest', svc, words[4]))
    return out


def after_operations(before, operations):
    """BEFORE (entries) with OPERATIONS (as the modules report them: 'add dest tcp
    VIP:PORT realserver RIP:PORT') applied, as ipvsadm would list them."""
    out = set(before)
    for text in operations:
        words = text.split()
        action, kind, svc = words[0], words[1], '%s %s' % (words[2], words[3])
        entry = ('service', svc) if kind == 'service' else ('dest', svc, words[5])
        if action == 'del':
            out.discard(entry)
            if kind == 'service':
                out = set(e for e in out if e[1] != svc)
        else:
            out.add(entry)
    return out


def saved_by(result):
    """The stdout of a command task that ran ipvsadm -S -n."""
    assert result['rc'] == 0, result
    return result['stdout'] + '\n'


def test_table_refused_mid_batch_reports_exactly_what_the_kernel_applied(netns, kernel_without_twos):
    netns.sh(DUMMY + " && ipvsadm -A -t 192.0.2.99:25 -s rr && ipvsadm -a -t 192.0.2.99:25 -r 10.0.0.9:25 -g")
    before = entries(netns.ipvs_save())
    bulk = [{'address': '10.1.%d.%d' % (i // 250, i % 250 + 1)} for i in range(300)]
    services = [
        {'address': '192.0.2.20', 'port': 80, 'scheduler': 'twos', 'realservers': [{'address': '10.0.0.3'}]},
        {'address': '192.0.2.30', 'port': 80, 'scheduler': 'wlc', 'realservers': [{'address': '10.0.0.4'}]},
        {'address': '192.0.2.10', 'port': 80, 'scheduler': 'rr',
         'realservers': [{'address': '10.0.0.1'}, {'address': '10.0.0.255'}, {'address': '10.0.0.2'}] + bulk},
    ]
    # The plan: 3 service adds (0-2), the real servers in the order declared (3-307), the
    # purge of 192.0.2.99:25 last (308).  The first batch (0-255) carries the three refused
    # requests (0: twos, 3: its real server, then ESRCH, 6: 10.0.0.255) among 253 others.
    fixed = [dict(services[0], scheduler='rr'), services[1],
             dict(services[2], realservers=[{'address': '10.0.0.1'}, {'address': '10.0.0.2'}] + bulk)]
    save = {'ansible.builtin.command': 'ipvsadm -S -n'}
    results = netns.playbook([
        {'lvs.cluster.ipvs_table': {'services': services, 'purge': True}, 'ignore_errors': True},
        save,
        {'lvs.cluster.ipvs_table': {'services': fixed, 'purge': True}},
        save,
    ], expect_failure=True)
    refused_run, kernel_after, fixed_run, kernel_fixed = results

    assert refused_run['failed'] is True and refused_run['changed'] is True, refused_run
    assert [(r['op'], r['error'].split(':')[0]) for r in refused_run['refused']] == [
        ('add service tcp 192.0.2.20:80', 'ENOENT'),
        ('add dest tcp 192.0.2.20:80 realserver 10.0.0.3:80', 'ESRCH'),
        ('add dest tcp 192.0.2.10:80 realserver 10.0.0.255:80', 'EINVAL')], refused_run['refused']
    assert 'scheduler twos is not available' in refused_run['msg']
    operations = refused_run['operations']
    assert len(operations) == 253, operations
    assert refused_run['summary'] == {'services_added': 2, 'services_changed': 0, 'services_removed': 0,
                                      'realservers_added': 251, 'realservers_changed': 0,
                                      'realservers_removed': 0}
    # The oracle: the kernel holds what was there plus exactly the operations reported.
    applied = entries(saved_by(kernel_after))
    assert applied == after_operations(before, operations)
    # ... so the second batch (the last 52 real servers, the purge) was not sent.
    assert ('service', 'tcp 192.0.2.99:25') in applied
    assert ('dest', 'tcp 192.0.2.10:80', '10.1.0.248:80') in applied      # bulk[247], op 255
    assert ('dest', 'tcp 192.0.2.10:80', '10.1.0.249:80') not in applied  # bulk[248], op 256

    # Run again with the cause fixed: it does what is left, and only that.
    assert fixed_run['changed'] is True and not fixed_run.get('failed'), fixed_run
    assert len(fixed_run['operations']) == 1 + 1 + 52 + 1, fixed_run['operations']
    final = entries(saved_by(kernel_fixed))
    assert final == after_operations(applied, fixed_run['operations'])
    assert final == set([('service', 'tcp 192.0.2.%d:80' % n) for n in (10, 20, 30)]
                        + [('dest', 'tcp 192.0.2.20:80', '10.0.0.3:80'), ('dest', 'tcp 192.0.2.30:80', '10.0.0.4:80')]
                        + [('dest', 'tcp 192.0.2.10:80', '%s:80' % rs['address'])
                           for rs in fixed[2]['realservers']])


def test_service_and_realserver_refused_report_what_the_kernel_applied(netns, kernel_without_twos):
    netns.sh(DUMMY + " && ipvsadm -A -t 192.0.2.40:80 -s wlc && ipvsadm -a -t 192.0.2.40:80 -r 10.0.0.1:80 -g")
    save = {'ansible.builtin.command': 'ipvsadm -S -n'}
    results = netns.playbook([
        # The SET of the scheduler is refused; the real server added with it is not.
        {'lvs.cluster.ipvs_service': {'address': '192.0.2.40', 'port': 80, 'scheduler': 'twos',
                                      'realservers': [{'address': '10.0.0.1'}, {'address': '10.0.0.6'}]},
         'ignore_errors': True},
        save,
        {'lvs.cluster.ipvs_realserver': {'service_address': '192.0.2.40', 'service_port': 80,
                                         'address': '10.0.0.255'},
         'ignore_errors': True},
        save,
    ], expect_failure=True)
    service_run, after_service, realserver_run, after_realserver = results

    assert service_run['failed'] is True and service_run['changed'] is True, service_run
    assert service_run['operations'] == ['add dest tcp 192.0.2.40:80 realserver 10.0.0.6:80']
    assert [(r['op'], r['error'].split(':')[0]) for r in service_run['refused']] == [
        ('set service tcp 192.0.2.40:80', 'ENOENT')]
    assert service_run['service']['scheduler'] == 'wlc'
    saved = saved_by(after_service)
    assert '-A -t 192.0.2.40:80 -s wlc\n' in saved
    assert entries(saved) == set([('service', 'tcp 192.0.2.40:80'), ('dest', 'tcp 192.0.2.40:80', '10.0.0.1:80'),
                                  ('dest', 'tcp 192.0.2.40:80', '10.0.0.6:80')])

    assert realserver_run['failed'] is True and realserver_run['changed'] is False, realserver_run
    assert realserver_run['operations'] == []
    assert [(r['op'], r['error'].split(':')[0]) for r in realserver_run['refused']] == [
        ('add dest tcp 192.0.2.40:80 realserver 10.0.0.255:80', 'EINVAL')]
    assert saved_by(after_realserver) == saved
