"""Two directors with keepalived (seed 001), built by playbooks/site.yml from
playbooks/inventories/ha: a DR service (192.0.2.100, persistent) and a NAT service
(192.0.2.101 -> the real servers' :8080, replies through the gateway VIP 192.0.2.1).

Read top to bottom: the MASTER holds every VIP and both services reach every real server;
a health check takes a dead real server out and a re-run of site.yml leaves that alone;
the MASTER is powered off during a streamed response and a request every 100 ms (the gap
is measured, the synced stream goes on intact); the old MASTER boots and takes its VIPs
back with no split brain; the maintenance track script hands the VIPs over and back, and
the notify commands mark the MASTER. Oracles: ip addr, ipvsadm and curl on the hosts.
"""
import base64
import re
import subprocess
import time

import cluster_checks as c
import pytest

DR_VIP, NAT_VIP, GATEWAY = '192.0.2.100', '192.0.2.101', '192.0.2.1'
VIPS = (DR_VIP, NAT_VIP, GATEWAY)
DIRECTORS = ('lb1', 'lb2')
ADVERT_INT = 1
# VRRPv2 master-down interval of the BACKUP (priority 99): 3 x advert_int + (256 - 99) / 256.
MASTER_DOWN = 3 * ADVERT_INT + (256 - 99) / 256.0
# The NAT service's check (inventory): delay_loop 3, connect_timeout 2, retry 1,
# delay_before_retry 1: a dead real server is out after at most one loop and every try.
CHECK_BOUND = 3 + (1 + 1) * (2 + 1)
MEASURED = {}        # printed at the end of the run (conftest.py)

pytestmark = pytest.mark.skipif(c.FLAVOUR != 'lab', reason='failover needs lab hosts (lab stop/start)')


def table(name):
    return c.sh(name, 'ipvsadm -S -n')


def test_the_master_holds_every_vip_and_the_backup_none():
    # verify follows converge directly now that the controller runs natively: the VRRP
    # election after keepalived's first start (state MASTER, priority 100) gets its bound.
    try:
        c.wait_for(lambda: all(c.holders(vip) == ['lb1'] for vip in VIPS), MASTER_DOWN + 5, 'lb1 MASTER')
    except AssertionError as exc:
        # What keepalived says on each director (its journal on systemd hosts).
        said = dict((name, c.host(name).run('(systemctl status keepalived; journalctl -u keepalived -n 25) '
                                            '2>&1 | tail -40').stdout) for name in DIRECTORS)
        raise AssertionError('%s; holders %s; %s' % (exc, dict((v, c.holders(v)) for v in VIPS), said))
    for vip in VIPS:
        assert c.holders(vip) == ['lb1'], vip
    # keepalived made both tables (the BACKUP's too: it is ready to take over). Its checker
    # is asynchronous and verify now follows converge directly: a first check that timed
    # out under emulation has one check round (delay_loop 3 s + tries) to put it right.
    for name in DIRECTORS:
        c.wait_for(lambda: table(name).count('-a ') == 4, CHECK_BOUND + 5, 'both services on ' + name)
        rules = table(name)
        assert '-A -t 192.0.2.100:80 -s wrr -p 60' in rules and '-A -t 192.0.2.101:80 -s wrr' in rules
        assert rules.count('-a ') == 4, rules


def test_keepalived_conf_is_private():
    for name in DIRECTORS:
        assert c.host(name).file('/etc/keepalived/keepalived.conf').mode == 0o600


def test_both_services_reach_every_real_server():
    # NAT: wrr 2:1, no persistence.
    c.assert_split_2_to_1(NAT_VIP)
    # DR, persistent per client: clients from four addresses land on both real servers,
    # each client always on the same one.
    seen = set()
    for i in range(20, 24):
        c.sh('client', 'ip addr replace 192.0.2.%d/24 dev eth0' % i)
        answers = set(c.sh('client', 'for n in 1 2 3; do curl -s --max-time 3 --interface 192.0.2.%d '
                                     'http://%s/; done' % (i, DR_VIP)).split())
        assert len(answers) == 1, answers
        seen |= answers
    assert seen == {'rs1', 'rs2'}


def nat_out(name):
    return '-r 192.0.2.11:8080' not in table(name)


def test_a_dead_real_server_leaves_the_table_and_a_rerun_does_not_put_it_back():
    c.sh('rs1', "pkill -f 'httpd -p [8]080'")   # [8]: not the shell running pkill
    start = time.monotonic()
    c.wait_for(lambda: nat_out('lb1'), CHECK_BOUND + 5, 'rs1:8080 out of the table')
    MEASURED['health check: real server out after (s)'] = round(time.monotonic() - start, 1)
    assert time.monotonic() - start <= CHECK_BOUND, 'took %.1f s' % (time.monotonic() - start)
    counts = c.requests(NAT_VIP, count=6)
    assert counts == {'rs2': 6}, counts
    # keepalived owns the table: site.yml changes nothing and leaves rs1 out.
    rc, out = c.site()
    assert rc == 0, out[-3000:]
    recap = out[out.index('PLAY RECAP'):]
    assert len(re.findall(r'changed=0 ', recap)) == 4, recap    # lb1, lb2, rs1, rs2
    assert nat_out('lb1') and nat_out('lb2')
    c.sh('rs1', 'busybox httpd -p 8080 -h /srv/www')
    start = time.monotonic()
    c.wait_for(lambda: not nat_out('lb1'), CHECK_BOUND + 5, 'rs1:8080 back in the table')
    MEASURED['health check: real server back after (s)'] = round(time.monotonic() - start, 1)
    c.assert_split_2_to_1(NAT_VIP)


def client_loop(vip, seconds):
    """A request every 100 ms from the client, each line 'TIME ok|fail'."""
    script = ('end=$(($(date +%%s) + %d)); while [ $(date +%%s) -lt $end ]; do t=$(date +%%s.%%N); '
              'if curl -s -o /dev/null --max-time 0.5 http://%s/; then echo "$t ok"; '
              'else echo "$t fail"; fi; sleep 0.1; done' % (seconds, vip))
    return subprocess.Popen([c.LAB, 'exec', 'client', 'sh', '-c', script],
                            stdout=subprocess.PIPE, text=True)


def gap(lines):
    """Longest time without an answer: from the last success before the failures to the
    first success after them."""
    results = [(float(t), r) for t, r in (line.split() for line in lines if line.strip())]
    longest, last_ok = 0.0, None
    for when, result in results:
        if result == 'ok':
            if last_ok is not None:
                longest = max(longest, when - last_ok)
            last_ok = when
    return longest, sum(1 for when, result in results if result == 'fail')


def test_the_master_fails_the_vips_move_and_a_synced_stream_continues_intact():
    # A response paced by the server (a line a second, until released: the connection
    # carries packets all along; a fast download would sit in the client's socket buffer
    # and prove nothing) from its own client address through the DR VIP, and a request
    # every 100 ms from another; the MASTER is powered off while both run.
    for rs in ('rs1', 'rs2'):
        c.install_slow_cgi(rs)
    c.sh('client', 'rm -f /tmp/slow /tmp/slow.rc; (curl -sN --max-time 120 --interface 192.0.2.20 '
                   '-o /tmp/slow http://%s/cgi-bin/slow; echo $? > /tmp/slow.rc) >/dev/null 2>&1 &'
         % DR_VIP)
    loop = client_loop(DR_VIP, 20)
    # Connection sync: the BACKUP lists the MASTER's connection before the failover.
    c.wait_for(lambda: re.search(r'ESTABLISHED\s+192\.0\.2\.20:\d+\s+192\.0\.2\.100:80',
                                 c.sh('lb2', 'ipvsadm -Lnc')), 15, 'the stream synced to lb2')
    time.sleep(2)
    stopped = time.time()
    subprocess.run([c.LAB, 'stop', '--power-cut', 'lb1'], check=True)
    c.wait_for(lambda: c.holders(DR_VIP) == ['lb2'], 15, 'the VIPs on lb2')
    MEASURED['failover: VIP on the backup after power-off (s)'] = round(time.time() - stopped, 2)
    assert all(c.holders(vip) == ['lb2'] for vip in VIPS)
    lines = loop.communicate(timeout=60)[0].splitlines()
    longest, failed = gap(lines)
    MEASURED['failover: longest gap between answers, request every 100 ms (s)'] = round(longest, 2)
    MEASURED['failover: requests failed'] = failed
    assert lines and lines[-1].endswith(' ok'), lines[-5:]
    # The goal (issue 9) is MASTER_DOWN + 1 s, judged on the medians of bench/ha_failover.py;
    # one sample here, beside the integration tests on 2 emulated CPUs, gets 1 s more.
    assert longest <= MASTER_DOWN + 1.0 + 1.0, 'gap %.2f s (goal %.2f s)' % (longest, MASTER_DOWN + 1)
    # The stream goes on through lb2 (its synced entry), then ends intact: every line from
    # one real server, numbered without a hole.
    assert not c.host('client').file('/tmp/slow.rc').exists, 'the stream broke at the failover'
    for rs in ('rs1', 'rs2'):
        c.sh(rs, 'touch /tmp/release')
    c.wait_for(lambda: c.host('client').file('/tmp/slow.rc').exists, 30, 'the stream to end')
    assert c.sh('client', 'cat /tmp/slow.rc').strip() == '0'
    body = c.sh('client', 'cat /tmp/slow').splitlines()
    server = body[0].split()[0]
    assert body[-1] == 'end' and body[:-1] == ['%s %d' % (server, i) for i in range(len(body) - 1)], body
    assert len(body) > 10, body
    # NAT through the gateway VIP, now on lb2.
    c.assert_split_2_to_1(NAT_VIP)


def test_the_old_master_boots_takes_its_vips_back_and_there_is_no_split_brain():
    samples = []
    subprocess.run([c.LAB, 'start', 'lb1'], check=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = time.monotonic()
        samples.append((now, tuple(c.holders(DR_VIP))))
        if samples[-1][1] == ('lb1',) and len(samples) > 1 and samples[-2][1] == ('lb1',):
            break
        time.sleep(0.1)
    assert samples[-1][1] == ('lb1',), samples[-10:]
    # Both holding the VIP: never longer than one advertisement interval.
    both = [t for t, h in samples if len(h) == 2]
    assert not both or max(both) - min(both) <= ADVERT_INT, both
    MEASURED['preempt: both directors held the VIP for at most (s)'] = \
        round(max(both) - min(both), 2) if both else 0
    assert all(c.holders(vip) == ['lb1'] for vip in VIPS)
    c.assert_split_2_to_1(NAT_VIP)
    # lvs_ipvs_timeouts again after the boot (keepalived sets none; the lvs-cluster service does).
    assert 'Timeout (tcp tcpfin udp): 900 30 60' in c.sh('lb1', 'ipvsadm -L --timeout')


def test_the_maintenance_track_script_hands_the_vips_over_and_notify_marks_the_master():
    """The inventory's track script and notify commands, as keepalived runs them."""
    def marked(name):
        return c.sh(name, 'test -e /run/lvs-master && echo yes || echo no').strip() == 'yes'

    assert marked('lb1') and not marked('lb2')
    # The script fails on lb1 (interval 1, fall 1): FAULT, and lb2 takes every VIP.
    c.sh('lb1', 'touch /run/lvs-maintenance')
    start = time.monotonic()
    c.wait_for(lambda: all(c.holders(vip) == ['lb2'] for vip in VIPS), 10, 'lb2 holding every VIP')
    MEASURED['maintenance switch: VIPs on lb2 after (s)'] = round(time.monotonic() - start, 1)
    c.wait_for(lambda: marked('lb2') and not marked('lb1'), 5, 'notify moving /run/lvs-master to lb2')
    c.assert_split_2_to_1(NAT_VIP)
    # Out of maintenance (rise 1): lb1 preempts and takes them back.
    c.sh('lb1', 'rm /run/lvs-maintenance')
    c.wait_for(lambda: all(c.holders(vip) == ['lb1'] for vip in VIPS), 10, 'lb1 holding every VIP again')
    c.wait_for(lambda: marked('lb1') and not marked('lb2'), 5, 'notify moving /run/lvs-master back')


ROGUE = '''
import socket, struct, time
# VRRPv2 advertisements of ID 51 (ours) from the client, priority 1, every 0.5 s.
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
s.setsockopt(socket.SOL_SOCKET, 25, b'eth0')
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
packet = struct.pack('!BBBBBBH4s', 0x21, 51, 1, 1, 0, 1, 0, socket.inet_aton('192.0.2.200'))
while True:
    s.sendto(packet, ('224.0.0.18', 0))
    time.sleep(0.5)
'''


def test_another_router_advertising_our_vrid_stops_site_yml_before_any_change():
    """Two clusters on one LAN, both on keepalived's usual ID 51: the host check hears the
    other one and site.yml stops with the field to change; no host is touched."""
    names = ('lb1', 'lb2', 'rs1', 'rs2')
    before = c.snapshot(names)
    c.sh('client', 'echo %s | base64 -d > /tmp/rogue.py' % base64.b64encode(ROGUE.encode()).decode())
    c.sh('client', 'nohup timeout 300 python3 /tmp/rogue.py </dev/null >/dev/null 2>&1 &')
    try:
        rc, out = c.site()
    finally:
        c.sh('client', "pkill -f 'python3 /tmp/[r]ogue.py' || true")
    assert rc != 0, out[-3000:]
    assert '192.0.2.10 (VRRPv2, priority 1) already advertises ID 51' in out, out[-3000:]
    assert 'Set lvs_keepalived.virtual_router_id' in out
    assert c.snapshot(names) == before
    assert all(c.holders(vip) == ['lb1'] for vip in VIPS)
