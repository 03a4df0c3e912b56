"""Operations on a keepalived pair that serves: the ha example's cluster (lb1 MASTER, lb2
BACKUP; a persistent DR service on 192.0.2.100, a NAT one) while tests/lab/bin/lab_load.py,
on the client, sends 20 new requests a second to the DR VIP and keeps 4 connections open
writing every 100 ms. Read top to bottom: site.yml re-run (no change) and a weight change,
then a service added: keepalived reloaded, never restarted (the same main process), no
request failed, no connection lost; a real server deleted by hand, shown by the status
playbook with its fix; a planned switchover to lb2 and back (the maintenance switch);
then keepalived restarted by hand, keepalived killed on the MASTER (SIGKILL, which it
cannot catch) and VRRP cut between the directors: measured, and one holder of every VIP
at the end."""
import os
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


def holders(vip):
    """Directors holding VIP, read from their network namespaces in one call into the guest."""
    out = c.guest(' '.join('ip -n lab-%s -o addr show to %s 2>/dev/null | grep -q . && echo %s;'
                           % (name, vip, name) for name in DIRECTORS) + ' true')
    return out.split()


def keepalived_pids():
    return {name: c.sh(name, 'systemctl show -p MainPID --value keepalived').strip() for name in DIRECTORS}


def converge(label, services=None):
    with c.load(DR_VIP, label) as summary:
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
    assert holders(NEW_VIP) == ['lb1']
    counts = c.requests(NEW_VIP)
    assert counts.get('rs1') and counts.get('rs2') and sum(counts.values()) == 12, counts
    # Back to the inventory (the service removed: a reload again).
    removed, _recap = converge('keepalived: the service removed (site.yml, a reload)')
    c.assert_no_request_failed_and_no_connection_lost(removed)
    assert keepalived_pids() == pids and holders(NEW_VIP) == []


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
    c.wait_for(lambda: rule in c.sh('lb1', 'ipvsadm -S -n') and all(holders(v) == ['lb1'] for v in VIPS),
               30, 'the table restored and lb1 holding every VIP')
    rc, out = c.playbook('status.yml')
    assert rc == 0 and 'table differs' not in out, out[-3000:]


def test_under_load_a_planned_switchover_to_the_backup_and_back_loses_nothing():
    with c.load(DR_VIP, 'keepalived: switchover to lb2 and back (maintenance switch)') as switched:
        c.sh('lb1', 'touch /run/lvs-maintenance')
        c.wait_for(lambda: all(holders(vip) == ['lb2'] for vip in VIPS), 15, 'lb2 holding every VIP')
        time.sleep(3)
        c.sh('lb1', 'rm /run/lvs-maintenance')
        c.wait_for(lambda: all(holders(vip) == ['lb1'] for vip in VIPS), 15, 'lb1 holding every VIP again')
        time.sleep(3)
    c.assert_no_request_failed_and_no_connection_lost(switched)


def test_keepalived_restarted_by_hand_under_load_measured():
    with c.load(DR_VIP, 'keepalived restarted by hand on the MASTER (not a reload)') as restarted:
        c.sh('lb1', 'systemctl restart keepalived')
        c.wait_for(lambda: all(holders(vip) == ['lb1'] for vip in VIPS), 20, 'lb1 holding every VIP again')
        time.sleep(3)
    assert restarted['requests']['ok'] > 0, restarted


def all_holders():
    """(holders of each VIP of VIPS), read in one call into the guest."""
    out = c.guest('; '.join('echo "== %s"; ip -n lab-%s -o -4 addr show 2>/dev/null' % (n, n) for n in DIRECTORS))
    held, name = {}, None
    for line in out.splitlines():
        if line.startswith('== '):
            name = line[3:].strip()
        elif name:
            held.setdefault(name, set()).add(line.split()[3].split('/')[0])
    return tuple(tuple(n for n in DIRECTORS if vip in held.get(n, ())) for vip in VIPS)


def test_keepalived_killed_on_the_master_is_restarted_and_every_vip_ends_with_one_holder():
    # SIGKILL to every keepalived process at once (its process group: no child lives on
    # to remove the VIPs, as one may after `systemctl kill`, which signals the main
    # process first): the VIPs stay on lb1. lb2 takes them after its master-down
    # interval; the role's drop-in restarts keepalived on lb1 (Restart=on-failure), which
    # takes part in VRRP again. Goal: one holder of every VIP within MASTER_DOWN + 1 s.
    assert c.sh('lb1', 'systemctl show -p Restart --value keepalived').strip() == 'on-failure'
    samples = []
    with c.load(DR_VIP, 'keepalived killed on the MASTER (SIGKILL)') as killed:
        c.sh('lb1', '/bin/kill -s KILL -- -$(systemctl show -p MainPID --value keepalived)')
        start = time.monotonic()
        while time.monotonic() - start < 12:
            samples.append((round(time.monotonic() - start, 2), all_holders()))
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
        for name in DIRECTORS:
            c.sh(name, CUT_VRRP)
        start = time.monotonic()
        while time.monotonic() - start < 10:
            samples.append((round(time.monotonic() - start, 2), all_holders()))
            time.sleep(0.1)
        for name in DIRECTORS:
            c.sh(name, 'nft delete table inet lab_cut')
        healed = round(time.monotonic() - start, 2)
        while time.monotonic() - start < healed + 8:
            samples.append((round(time.monotonic() - start, 2), all_holders()))
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
