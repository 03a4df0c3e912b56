"""Operations on a cluster that serves: the dr example's cluster (one director, two DR
real servers) changed while tests/lab/bin/lab_load.py, on the client, sends 20 new requests
a second and keeps 4 connections open writing every 100 ms. Read top to bottom: site.yml
re-run and a weight change; a real server taken out the safe way (drain.yml, then site.yml
without it) and put back; a rolling restart of the real servers (rolling.yml); each with
no request failed and no connection lost. Then the unsafe ways, a restart without the
drain and a real server deleted by hand, which lose connections; hand changes (drift),
shown and repaired by the next site.yml; two site.yml runs at once, the director changed
by one of them; the director rebooted under the load, serving again without Ansible."""
import re
import subprocess
import time

import cluster_checks as c

VIP = '192.0.2.100'
TABLE = ('-A -t 192.0.2.100:80 -s wrr\n'
         '-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 2\n'
         '-a -t 192.0.2.100:80 -r 192.0.2.12:80 -g -w 1\n')
ADDRESS = {'rs1': '192.0.2.11', 'rs2': '192.0.2.12'}


def web(*realservers):
    return [{'address': VIP, 'port': 80, 'scheduler': 'wrr', 'realservers': list(realservers)}]


def converge(label, services=None, lifetime=0):
    """site.yml (with SERVICES as lvs_services, else the inventory's) under the load; the
    load's summary."""
    with c.load(VIP, label, lifetime=lifetime) as summary:
        rc, out = c.site(extra_vars={'lvs_services': services} if services else None)
        assert rc == 0, out[-3000:]
    return summary


def test_under_load_a_re_run_and_a_weight_change_lose_nothing():
    rerun = converge('site.yml re-run, nothing to change')
    assert c.table() == TABLE
    c.assert_no_request_failed_and_no_connection_lost(rerun)
    weights = converge('weights changed (site.yml)', web({'host': 'rs1', 'weight': 1}, {'host': 'rs2', 'weight': 1}))
    assert c.table() == TABLE.replace('-w 2', '-w 1')
    c.assert_no_request_failed_and_no_connection_lost(weights)
    assert set(weights['requests']['servers']) == {'rs1', 'rs2'}, weights


def test_under_load_a_real_server_drained_removed_and_added_back_loses_nothing():
    # The safe removal (docs/rolling-changes.md): drain.yml sets rs2's weight to 0 and waits
    # until its connections have ended, then site.yml without rs2. The load's long-lived
    # connections here close themselves after 3 s and reconnect, as the clients a drain
    # waits for do; one that lasted for ever would hold the drain to lvs_drain_timeout.
    with c.load(VIP, 'a real server drained (drain.yml)', lifetime=3) as drained:
        rc, out = c.playbook('drain.yml', extra_vars={'lvs_drain_host': 'rs2', 'lvs_drain_timeout': 60})
        assert rc == 0, out[-3000:]
    assert '-r %s:80 -g -w 0' % ADDRESS['rs2'] in c.table()
    c.assert_no_request_failed_and_no_connection_lost(drained)
    removed = converge('the drained real server removed (site.yml)', web({'host': 'rs1', 'weight': 1}), lifetime=3)
    assert c.table() == TABLE.replace('-w 2', '-w 1').rsplit('-a ', 1)[0]
    c.assert_no_request_failed_and_no_connection_lost(removed)
    assert set(removed['requests']['servers']) == {'rs1'}, removed
    added = converge('a real server added (site.yml)')
    assert c.table() == TABLE
    c.assert_no_request_failed_and_no_connection_lost(added)
    assert set(added['requests']['servers']) == {'rs1', 'rs2'}, added


def wait_for_a_connection_lost():
    # lab_load.py records a connection only when it is lost (stalled after 3 s at most)
    c.wait_for(lambda: '"kind": "connection"' in c.sh('client', 'cat /tmp/load.records'), 20,
               'a connection to be lost')


def started(name):
    """The lab web server's systemd invocation on NAME: a restart changes it."""
    return c.sh(name, 'systemctl show -p InvocationID --value lab-web@80').strip()


def test_under_load_a_rolling_restart_of_the_real_servers_loses_nothing():
    # playbooks/rolling.yml: each real server in turn drained, its web server restarted
    # (the user's command), its port checked from the director and the user's check run
    # on it, brought back.
    before = {rs: started(rs) for rs in ADDRESS}
    with c.load(VIP, 'a rolling restart of the real servers (rolling.yml)', lifetime=3) as rolling:
        rc, out = c.playbook('rolling.yml', extra_vars={'lvs_rolling_command': 'systemctl restart lab-web@80',
                                                        'lvs_rolling_check': 'curl -fsS -o /dev/null http://127.0.0.1/',
                                                        'lvs_drain_timeout': 60})
        assert rc == 0, out[-3000:]
    assert all(started(rs) != before[rs] for rs in ADDRESS), (before, out[-3000:])
    # The user's check ran on each real server (not skipped).
    assert len(re.findall(r'Run lvs_rolling_check until it succeeds on rs\d\] \*+\nok: \[director -> rs\d', out)) == 2, \
        out[-3000:]
    assert c.table() == TABLE
    c.assert_no_request_failed_and_no_connection_lost(rolling)
    # The same restart without the drain cuts the connections the real server had.
    with c.load(VIP, 'a real server restarted without a drain') as undrained:
        c.mark('rs2 web server restarted')
        c.sh('rs2', 'systemctl restart lab-web@80')
        wait_for_a_connection_lost()
    assert undrained['connections']['lost'] > 0, undrained


def test_a_real_server_deleted_by_hand_under_load_loses_its_connections():
    # The unsafe way: ipvsadm -d under load (expire_nodest_conn=1 drops its connections'
    # next packets). The check above is the one that sees it.
    with c.load(VIP, 'a real server deleted by hand (ipvsadm -d)') as by_hand:
        c.mark('rs2 deleted by hand')
        c.sh('director', 'ipvsadm -d -t %s:80 -r %s:80' % (VIP, ADDRESS['rs2']))
        wait_for_a_connection_lost()
    assert by_hand['connections']['lost'] > 0, by_hand


def test_hand_changes_are_shown_and_repaired_by_the_next_run_and_no_other():
    # Drift: besides rs2 deleted from the table by hand above, the VIP deleted from the
    # director's eth0 and a sysctl changed there, and rs1's ARP setting changed. The next
    # run shows each in its diff, puts each back, and changes no other host.
    c.sh('director', 'ip addr del %s/32 dev eth0 && sysctl -qw net.ipv4.vs.expire_nodest_conn=0' % VIP)
    c.sh('rs1', 'sysctl -qw net.ipv4.conf.all.arp_ignore=0')
    rc, out = c.site('--diff')
    assert rc == 0, out[-3000:]
    for shown in ('-net.ipv4.vs.expire_nodest_conn = 0', '+net.ipv4.vs.expire_nodest_conn = 1',
                  '-net.ipv4.conf.all.arp_ignore = 0', '+net.ipv4.conf.all.arp_ignore = 1',
                  '+%s/32 on eth0' % VIP, '+-a -t %s:80 -r %s:80 -g -w 1' % (VIP, ADDRESS['rs2'])):
        assert shown in out, (shown, out[-4000:])
    recap = out[out.index('PLAY RECAP'):]
    assert 'changed=0' in recap.split('rs2', 1)[1].split('\n')[0], recap
    assert c.table() == TABLE
    assert ' %s/32 ' % VIP in c.addresses('director', 'eth0')
    assert c.sysctl('director', 'net.ipv4.vs.expire_nodest_conn') == '1'
    assert c.sysctl('rs1', 'net.ipv4.conf.all.arp_ignore') == '1'
    # The whole table cleared by hand (ipvsadm -C): the next run shows and restores all of it.
    c.sh('director', 'ipvsadm -C')
    rc, out = c.site('--diff', '--limit', 'director')
    assert rc == 0, out[-3000:]
    for line in TABLE.splitlines():
        assert '+' + line in out, (line, out[-4000:])
    assert c.table() == TABLE
    counts = c.requests(VIP)
    assert sum(counts.values()) == 12 and 'TIMEOUT' not in counts and counts['rs1'] and counts['rs2'], counts


def changed(out, name):
    """NAME's changed= count in a run's recap."""
    line = out[out.index('PLAY RECAP'):].split('\n%s ' % name, 1)[1].split('\n')[0]
    return int(line.split('changed=')[1].split()[0])


def test_two_runs_at_once_both_succeed_and_the_director_is_changed_by_one():
    # Two operators run site.yml at the same moment, both adding rs2 back: each host's
    # lvs_host holds a lock while it changes the host, so the second run waits, then finds
    # the table made. Without the lock both runs changed the director (3 of 3 tries).
    rc, out = c.site(extra_vars={'lvs_services': web({'host': 'rs1', 'weight': 2})})
    assert rc == 0, out[-3000:]
    runs = [subprocess.Popen(c.playbook_argv('site.yml'), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True) for _run in range(2)]
    outs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [out[-3000:] for out in outs]
    assert sorted(changed(out, 'director') for out in outs)[0] == 0, [o[o.index('PLAY RECAP'):] for o in outs]
    assert c.table() == TABLE
    assert ' %s/32 ' % VIP in c.addresses('rs2', 'lo')


def test_the_director_rebooted_under_load_serves_again_without_ansible_measured():
    # Failure f: the one director of a static cluster shut down and booted while the load
    # runs. Its boot service restores the table and the VIP (no Ansible); requests fail
    # only while it is down. Its connection table is gone with it: the long-lived
    # connections are reset by the VIP's own TCP stack at their next write (measured).
    with c.load(VIP, 'the director rebooted (static mode)') as rebooted:
        time.sleep(2)
        c.mark('director shut down')
        start = time.monotonic()
        c.reboot('director')
        rebooted['booted_after_s'] = round(time.monotonic() - start, 1)
        c.mark('director booted')
        c.wait_for(lambda: c.table() == TABLE, 10, 'the table restored')
        time.sleep(5)
    assert c.table() == TABLE and ' %s/32 ' % VIP in c.addresses('director', 'eth0')
    requests = rebooted['requests']
    assert requests['failed'] > 0 and requests['ok_after_failures'] > 20, rebooted
    # Only while it was down: from the first failed request's start to the last one's end
    # (its 3 s timeout) no longer than the shutdown and boot took, plus that timeout and 1 s.
    first, last = requests['failed_span_ms']
    assert last - first <= (rebooted['booted_after_s'] + 3 + 1) * 1000, rebooted
    assert set(requests['servers']) == {'rs1', 'rs2'}, rebooted
