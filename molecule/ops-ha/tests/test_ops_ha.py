"""Operations on a keepalived pair that serves: the ha example's cluster (lb1 MASTER, lb2
BACKUP; a persistent DR service on 192.0.2.100, a NAT one on 192.0.2.101) while
tests/lab/bin/lab_load.py, on the client, sends 20 new requests a second and keeps 4
connections open writing every 100 ms. Read top to bottom: site.yml re-run (no change), a
weight change, a service added and removed, a real server drained, removed and added
back, a rolling restart of the real servers: keepalived reloaded, never restarted (the
same main process), no request failed, no connection lost. A real server deleted by
hand, shown by the status playbook with its fix; a planned switchover to lb2 and back (the
maintenance switch). Then the failures, measured, each with its bound: a real server
powered off and on again, a real server flapping, keepalived restarted by hand, killed on
the MASTER (SIGKILL, which it cannot catch), VRRP cut between the directors, the MASTER
powered off and back; one holder of every VIP at the end of each."""
import os
import subprocess
import time

import yaml

import cluster_checks as c

DR_VIP, NAT_VIP, GATEWAY, NEW_VIP = '192.0.2.100', '192.0.2.101', '192.0.2.1', '192.0.2.102'
VIPS = (DR_VIP, NAT_VIP, GATEWAY)
DIRECTORS = ('lb1', 'lb2')
# VRRPv2 master-down interval of the BACKUP (priority 99, advert_int 1): 3 + (256 - 99) / 256.
MASTER_DOWN = 3 + (256 - 99) / 256.0
with open(os.path.join(c.PROJECT, 'playbooks', 'inventories', 'ha', 'group_vars', 'all.yml')) as handle:
    SERVICES = yaml.safe_load(handle)['lvs_services']


def keepalived_pids():
    return {name: c.sh(name, 'systemctl show -p MainPID --value keepalived').strip() for name in DIRECTORS}


def converge(label, services=None, lifetime=0):
    with c.load(DR_VIP, label, lifetime=lifetime) as summary:
        rc, out = c.site(extra_vars={'lvs_services': services} if services else None)
        assert rc == 0, out[-3000:]
    return summary, out[out.index('PLAY RECAP'):]


def test_under_load_a_re_run_and_a_weight_change_reload_keepalived_and_lose_nothing():
    pids = keepalived_pids()
    rerun, recap = converge('keepalived: site.yml re-run, nothing to change')
    for name in DIRECTORS + ('rs1', 'rs2'):
        assert 'changed=0' in recap.split(name, 1)[1].split('\n')[0], recap
    c.assert_no_request_failed_and_no_connection_lost(rerun)
    weights = [dict(svc, realservers=[dict(rs, weight=1) for rs in svc['realservers']]) for svc in SERVICES]
    changed, recap = converge('keepalived: weights changed (site.yml, a reload)', weights)
    c.assert_no_request_failed_and_no_connection_lost(changed)
    for name in DIRECTORS:
        assert '-a -t %s:80 -r 192.0.2.11:80 -g -w 1' % DR_VIP in c.sh(name, 'ipvsadm -S -n'), name
    assert keepalived_pids() == pids


def test_under_load_a_service_added_is_a_reload_and_loses_nothing():
    pids = keepalived_pids()
    extra = {'name': 'extra', 'protocol': 'tcp', 'address': NEW_VIP, 'port': 80, 'scheduler': 'rr',
             'forwarding': 'dr', 'delay_loop': 3,
             'healthcheck': {'type': 'tcp', 'connect_timeout': 2, 'retry': 1, 'delay_before_retry': 1},
             'realservers': [{'host': 'rs1'}, {'host': 'rs2'}]}
    added, _recap = converge('keepalived: a service added (site.yml, a reload)', SERVICES + [extra])
    c.assert_no_request_failed_and_no_connection_lost(added)
    assert keepalived_pids() == pids
    assert c.holders(NEW_VIP) == ['lb1']
    counts = c.requests(NEW_VIP)
    assert counts.get('rs1') and counts.get('rs2') and sum(counts.values()) == 12, counts
    # Back to the inventory (the service removed: a reload again).
    removed, _recap = converge('keepalived: the service removed (site.yml, a reload)')
    c.assert_no_request_failed_and_no_connection_lost(removed)
    assert keepalived_pids() == pids and c.holders(NEW_VIP) == []


def without(name):
    """The inventory's services without real server NAME."""
    return [dict(svc, realservers=[rs for rs in svc['realservers'] if rs['host'] != name]) for svc in SERVICES]


def lines_of(address, table):
    """ADDRESS's real server lines in TABLE (ipvsadm -S -n)."""
    return [line for line in table.splitlines() if ' -r %s:' % address in line]


# rs2's lines in the inventory's tables: DR weight 3, NAT (port 8080) weight 1.
RS2_LINES = ['-a -t %s:80 -r 192.0.2.12:80 -g -w 3' % DR_VIP, '-a -t %s:80 -r 192.0.2.12:8080 -m -w 1' % NAT_VIP]


def rs2_lines_are(lines):
    """Whether rs2's lines in both directors' tables are LINES."""
    return all(lines_of('192.0.2.12', c.sh(name, 'ipvsadm -S -n')) == lines for name in DIRECTORS)


def held_by(name):
    """Whether director NAME alone holds every VIP (one call into the guest)."""
    return c.all_holders(VIPS) == ((name,),) * len(VIPS)


def test_under_load_a_real_server_drained_removed_and_added_back_reloads_and_loses_nothing():
    # The safe removal in keepalived mode: drain.yml (weight 0 in every service on both
    # directors, then the wait), site.yml without it (a reload), site.yml with it (a
    # reload). The long-lived connections close themselves after 3 s and reconnect, as
    # the clients a drain waits for do.
    pids = keepalived_pids()
    with c.load(DR_VIP, 'keepalived: a real server drained (drain.yml)', lifetime=3) as drained:
        rc, out = c.playbook('drain.yml', extra_vars={'lvs_drain_host': 'rs2', 'lvs_drain_timeout': 90})
        assert rc == 0, out[-3000:]
    assert rs2_lines_are([line.rsplit(' ', 1)[0] + ' 0' for line in RS2_LINES])
    c.assert_no_request_failed_and_no_connection_lost(drained)
    removed, _recap = converge('keepalived: the drained real server removed (site.yml, a reload)', without('rs2'),
                               lifetime=3)
    c.assert_no_request_failed_and_no_connection_lost(removed)
    assert rs2_lines_are([])
    added, _recap = converge('keepalived: a real server added (site.yml, a reload)', lifetime=3)
    c.assert_no_request_failed_and_no_connection_lost(added)
    assert rs2_lines_are(RS2_LINES)
    assert keepalived_pids() == pids


def started(name):
    """The invocation IDs of real server NAME's two web servers: a restart changes them."""
    return c.sh(name, 'systemctl show -p InvocationID --value lab-web@80 lab-web@8080').split()


def test_under_load_a_rolling_restart_in_keepalived_mode_loses_nothing():
    # playbooks/rolling.yml on the keepalived pair: each real server drained on both
    # directors, both its web servers restarted, its ports checked from each director,
    # its weights back; keepalived neither restarted nor reloaded.
    pids = keepalived_pids()
    tables = {name: c.sh(name, 'ipvsadm -S -n') for name in DIRECTORS}
    before = {rs: started(rs) for rs in ('rs1', 'rs2')}
    with c.load(DR_VIP, 'keepalived: a rolling restart of the real servers (rolling.yml)', lifetime=3) as rolling:
        rc, out = c.playbook('rolling.yml', extra_vars={
            'lvs_rolling_command': 'systemctl restart lab-web@80 lab-web@8080',
            'lvs_rolling_check': 'curl -fsS -o /dev/null http://127.0.0.1:8080/', 'lvs_drain_timeout': 90})
        assert rc == 0, out[-3000:]
    for rs in ('rs1', 'rs2'):
        now = started(rs)
        assert len(now) == 2 and not set(now) & set(before[rs]), (rs, before[rs], now)
    assert {name: c.sh(name, 'ipvsadm -S -n') for name in DIRECTORS} == tables
    assert keepalived_pids() == pids
    c.assert_no_request_failed_and_no_connection_lost(rolling)


def test_a_real_server_deleted_by_hand_is_shown_by_status_with_the_fix_which_restores_it():
    # Drift in keepalived mode: the status playbook compares each director's table with
    # the declared one. A reload does not bring back what was deleted by hand (checked);
    # the restart the status advises does.
    rule = '-a -t %s:80 -r 192.0.2.12:80 -g -w 3' % DR_VIP
    assert rule in c.sh('lb1', 'ipvsadm -S -n')
    c.sh('lb1', 'ipvsadm -d -t %s:80 -r 192.0.2.12:80' % DR_VIP)
    rc, out = c.playbook('status.yml')
    assert rc == 0, out[-3000:]
    for shown in ('lb1: the IPVS table differs from the one lvs_services declares',
                  'declared, not in the table: ' + rule, 'restart keepalived on lb1'):
        assert shown in out, (shown, out[-3000:])
    assert 'lb2: the IPVS table differs' not in out, out[-3000:]
    c.sh('lb1', 'systemctl reload keepalived')
    time.sleep(3)
    assert rule not in c.sh('lb1', 'ipvsadm -S -n')
    c.sh('lb1', 'systemctl restart keepalived')
    c.wait_for(lambda: rule in c.sh('lb1', 'ipvsadm -S -n') and held_by('lb1'),
               30, 'the table restored and lb1 holding every VIP')
    rc, out = c.playbook('status.yml')
    assert rc == 0 and 'table differs' not in out, out[-3000:]


def test_under_load_a_planned_switchover_to_the_backup_loses_nothing_and_the_way_back_is_measured():
    # To lb2: the maintenance switch puts lb1 in FAULT, which hands the VIPs over at once
    # (priority 0), and lb2 knows every connection (sync from lb1): 0 failed, 0 lost.
    with c.load(DR_VIP, 'keepalived: switchover to lb2 (maintenance switch on)') as switched:
        c.mark('lb1 maintenance switch on')
        c.sh('lb1', 'touch /run/lvs-maintenance')
        c.wait_for(lambda: held_by('lb2'), 15, 'lb2 holding every VIP')
        time.sleep(3)
    c.assert_no_request_failed_and_no_connection_lost(switched)
    # Back to lb1 (it preempts): once in 9 runs a request in flight at the move was reset
    # (a connection opened through lb2 just before, likely not yet known to lb1: not
    # proven). Measured: the long-lived connections must live, a reset or two may not.
    with c.load(DR_VIP, 'keepalived: back to lb1 (maintenance switch off)') as back:
        c.mark('lb1 maintenance switch off')
        c.sh('lb1', 'rm /run/lvs-maintenance')
        c.wait_for(lambda: held_by('lb1'), 15, 'lb1 holding every VIP again')
        time.sleep(3)
    assert back['connections']['lost'] == 0 and back['connections']['kept'] >= 4, back
    assert back['requests']['failed'] <= 2 and set(back['requests']['outcomes']) <= {'ok', 'reset'}, back


# The NAT service's check (inventory): delay_loop 3, connect_timeout 2, retry 1,
# delay_before_retry 1: a dead real server is out after at most one loop and every try.
NAT_CHECK_BOUND = 3 + (1 + 1) * (2 + 1)
# The load's own timeout: a request sent to a real server that cannot answer fails this
# long after it was sent.
REQUEST_TIMEOUT = 3


def test_a_real_server_powered_off_under_load_leaves_the_table_within_its_check_bound():
    # The load on the NAT service (wrr 2:1, HTTP check). rs2 loses power: its requests
    # time out until keepalived's check takes it out; rs1's go on answering meanwhile.
    # Then it is powered on again (no Ansible): its boot starts its web servers, the checks
    # put it back in both services on both directors, and no request fails.
    try:
        with c.load(NAT_VIP, 'a real server powered off (rs2; NAT service, HTTP check)') as off:
            time.sleep(2)
            c.mark('rs2 powered off')
            start = time.monotonic()
            subprocess.run([c.LAB, 'stop', '--power-cut', 'rs2'], check=True)
            c.wait_for(lambda: not lines_of('192.0.2.12', c.sh('lb1', 'ipvsadm -S -n | grep -- "-t %s:"' % NAT_VIP)),
                       NAT_CHECK_BOUND + 5, 'rs2 out of the NAT service')
            off['rs2_out_of_the_table_after_s'] = round(time.monotonic() - start, 1)
            c.mark('rs2 out of the NAT service on lb1')
            time.sleep(REQUEST_TIMEOUT + 2)
    finally:        # powered on again whatever happened, for the tests after this one
        with c.load(NAT_VIP, 'the real server powered on again (rs2)') as back:
            c.mark('rs2 powered on')
            subprocess.run([c.LAB, 'start', 'rs2'], check=True)
            c.wait_for(lambda: rs2_lines_are(RS2_LINES), 60, 'rs2 back in both services on both directors')
            c.mark('rs2 back in both tables')
            time.sleep(3)
    assert off['rs2_out_of_the_table_after_s'] <= NAT_CHECK_BOUND, off
    # Failed: only requests sent to rs2 before it was out (timeouts, and a refusal, a reset
    # or a connection closed with no answer ('http none') as its processes died); rs1
    # answered all along; only connections on rs2 (or lost before their first echo named a
    # server) were lost; everything answered after.
    requests, connections = off['requests'], off['connections']
    assert requests['failed'] > 0, off
    assert set(requests['outcomes']) <= {'ok', 'timeout', 'refused', 'reset', 'http none'}, off
    first, last = requests['failed_span_ms']
    assert last - first <= (off['rs2_out_of_the_table_after_s'] + REQUEST_TIMEOUT + 1) * 1000, off
    assert requests['server_gaps_ms']['rs1'] < 1000 and requests['ok_after_failures'] > 20, off
    assert set(connections['lost_on']) <= {'rs2', 'unknown'}, off
    assert back['requests']['servers'].get('rs2'), back
    c.assert_no_request_failed_and_no_connection_lost(back)


FLAPS = ('set -e; for i in 1 2 3; do systemctl stop lab-web@8080; sleep 2; systemctl start lab-web@8080; '
         'sleep 4; done')


def test_a_flapping_real_server_fails_only_its_own_requests_and_leaves_the_others_alone():
    # rs2's NAT web server stopped for 2 s in every 6, three times, under the load on the
    # NAT service: requests that reach rs2 while it is down are refused (the flaps' own);
    # rs1 answers all along and its lines in the table never change.
    rs1_before = lines_of('192.0.2.11', c.sh('lb1', 'ipvsadm -S -n'))
    samples = []
    with c.load(NAT_VIP, 'a real server flapping (rs2 web server down 2 s in 6, 3 times)') as flapping:
        c.mark('rs2 starts flapping')
        flaps = subprocess.Popen([c.LAB, 'exec', 'rs2', 'sh', '-c', FLAPS])
        try:
            while flaps.poll() is None:
                samples.append(lines_of('192.0.2.11', c.sh('lb1', 'ipvsadm -S -n')))
                time.sleep(0.2)
        finally:            # not left flapping into the next test
            if flaps.poll() is None:
                flaps.kill()
                c.sh('rs2', 'systemctl start lab-web@8080')
        c.mark('rs2 stops flapping')
        c.wait_for(lambda: rs2_lines_are(RS2_LINES), NAT_CHECK_BOUND + 5, 'rs2 back in both services')
        time.sleep(3)
    assert flaps.returncode == 0
    assert len(samples) > 5 and all(sample == rs1_before for sample in samples), samples
    requests, connections = flapping['requests'], flapping['connections']
    assert requests['outcomes'].get('refused'), flapping         # it did flap
    assert set(requests['outcomes']) <= {'ok', 'refused', 'reset'}, flapping
    assert requests['server_gaps_ms']['rs1'] < 1000, flapping
    assert set(connections['lost_on']) <= {'rs2', 'unknown'}, flapping
    # At most the requests sent to rs2 while it was down: its share (1 in 3) of the load's
    # 20 a second for 6 s, 40 (fewer when the check takes it out meanwhile); 60 leaves
    # room for the load's own unevenness under emulation. Measured: 17-25.
    assert requests['failed'] <= 60, flapping


def test_keepalived_restarted_by_hand_under_load_measured():
    with c.load(DR_VIP, 'keepalived restarted by hand on the MASTER (not a reload)') as restarted:
        c.mark('keepalived restarted on lb1')
        c.sh('lb1', 'systemctl restart keepalived')
        c.wait_for(lambda: held_by('lb1'), 20, 'lb1 holding every VIP again')
        time.sleep(3)
    assert restarted['requests']['ok'] > 0, restarted


def test_keepalived_killed_on_the_master_is_restarted_and_every_vip_ends_with_one_holder():
    # SIGKILL to every keepalived process at once (its process group: no child lives on
    # to remove the VIPs, as one may after `systemctl kill`, which signals the main
    # process first): the VIPs stay on lb1. lb2 takes them after its master-down
    # interval; the role's drop-in restarts keepalived on lb1 (Restart=on-failure), which
    # takes part in VRRP again. Goal: one holder of every VIP within MASTER_DOWN + 1 s.
    assert c.sh('lb1', 'systemctl show -p Restart --value keepalived').strip() == 'on-failure'
    samples = []
    with c.load(DR_VIP, 'keepalived killed on the MASTER (SIGKILL)') as killed:
        c.mark('keepalived killed on lb1')
        c.sh('lb1', '/bin/kill -s KILL -- -$(systemctl show -p MainPID --value keepalived)')
        start = time.monotonic()
        while time.monotonic() - start < 12:
            samples.append((round(time.monotonic() - start, 2), c.all_holders(VIPS)))
            time.sleep(0.1)
    changes = [s for i, s in enumerate(samples) if i == 0 or s[1] != samples[i - 1][1]]
    two = [t for t, held in samples if any(len(h) > 1 for h in held)]
    none = [t for t, held in samples if any(not h for h in held)]
    killed['vip_holders'] = {'changes': changes, 'two_holders_s': [min(two), max(two)] if two else None,
                             'no_holder_s': [min(none), max(none)] if none else None}
    late = [held for t, held in samples if t >= MASTER_DOWN + 1]
    assert late and all(len(h) == 1 for held in late for h in held), changes
    assert c.sh('lb1', 'systemctl is-active keepalived').strip() == 'active'
    assert int(c.sh('lb1', 'systemctl show -p NRestarts --value keepalived')) >= 1
    assert killed['requests']['ok'] > 0, killed


CUT_VRRP = ('nft add table inet lab_cut; '
            'nft add chain inet lab_cut input "{ type filter hook input priority -10; }"; '
            'nft add rule inet lab_cut input ip protocol vrrp drop')


def test_vrrp_cut_between_the_directors_for_10_s_then_one_holder_within_two_adverts():
    # A partition of VRRP only (nftables on both directors drops what the other sends):
    # lb2 hears no MASTER and takes the VIPs too; the LAN has two masters until healed.
    samples = []
    with c.load(DR_VIP, 'VRRP cut between the directors for 10 s, then healed') as cut:
        c.mark('VRRP cut')
        for name in DIRECTORS:
            c.sh(name, CUT_VRRP)
        start = time.monotonic()
        while time.monotonic() - start < 10:
            samples.append((round(time.monotonic() - start, 2), c.all_holders(VIPS)))
            time.sleep(0.1)
        c.mark('VRRP healed')
        for name in DIRECTORS:
            c.sh(name, 'nft delete table inet lab_cut')
        healed = round(time.monotonic() - start, 2)
        while time.monotonic() - start < healed + 8:
            samples.append((round(time.monotonic() - start, 2), c.all_holders(VIPS)))
            time.sleep(0.1)
    changes = [s for i, s in enumerate(samples) if i == 0 or s[1] != samples[i - 1][1]]
    two = [t for t, held in samples if any(len(h) > 1 for h in held)]
    one_again = next((t for t, held in samples if t >= healed and all(len(h) == 1 for h in held)), None)
    cut['vip_holders'] = {'changes': changes, 'healed_at_s': healed,
                          'two_holders_s': [min(two), max(two)] if two else None,
                          'one_holder_after_heal_s': round(one_again - healed, 2) if one_again else None}
    assert two, changes                                    # the cut made two masters
    assert one_again is not None and one_again - healed <= 2 * 1 + 0.5, cut['vip_holders']
    assert all(held == (('lb1',),) * len(VIPS) for t, held in samples[-5:]), changes


def test_the_master_powered_off_under_load_then_back_measured_with_one_holder_at_each_end():
    # Failure a under the load: lb1 loses power (no goodbye: lb2 waits out its
    # master-down interval), then boots and takes its VIPs back (preemption). The
    # long-lived connections go on through lb2 (connection sync); an echo waits out the
    # failover and TCP's retransmission backoff after it, more than the load's usual
    # 3 s stall limit (every connection "stalled" with it, 2 runs of 2): 10 s here.
    try:
        with c.load(DR_VIP, 'the MASTER powered off (lb1)', stall_ms=10000) as off:
            time.sleep(2)
            c.mark('lb1 powered off')
            start = time.monotonic()
            subprocess.run([c.LAB, 'stop', '--power-cut', 'lb1'], check=True)
            c.wait_for(lambda: held_by('lb2'), 15, 'lb2 holding every VIP')
            off['vips_on_lb2_after_s'] = round(time.monotonic() - start, 2)
            c.mark('lb2 holds every VIP')
            time.sleep(REQUEST_TIMEOUT + 2)
    finally:        # powered on again whatever happened
        with c.load(DR_VIP, 'the MASTER back (lb1 boots and takes its VIPs back)') as back:
            c.mark('lb1 powered on')
            subprocess.run([c.LAB, 'start', 'lb1'], check=True)
            c.wait_for(lambda: held_by('lb1'), 30, 'lb1 holding every VIP again')
            c.mark('lb1 holds every VIP')
            time.sleep(3)
    # The goal of issue 9 (MASTER_DOWN + 1 s), with 1 s more for a single run on 2 emulated
    # CPUs (its figure is judged on bench/ha_failover.py's medians); answered again after.
    assert off['requests']['longest_gap_ms'] <= (MASTER_DOWN + 2) * 1000, off
    assert off['requests']['ok_after_failures'] > 20, off
    assert off['connections']['lost'] == 0 and off['connections']['kept'] >= 4, off
    # Preemption moves the VIPs while both directors are up (lb2 hands over): nothing lost.
    assert held_by('lb1')
    c.assert_no_request_failed_and_no_connection_lost(back)
