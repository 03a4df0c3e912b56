"""The operator playbooks on the ha cluster, after test_ha.py (lb1 is MASTER again, both
directors' tables are keepalived's).

Read top to bottom: while a response streams from rs1 through the DR VIP,
playbooks/drain.yml sets rs1's weight to 0 in both services on both directors and waits;
new requests (a new client, and the streaming client itself: its persistence is to rs1)
go to rs2 only; playbooks/status.yml, run during the wait, names lb1 as the VIPs' holder
and shows both tables with rs1 at weight 0; the stream ends intact and only then does
the drain end. `lvs_drain_state=present` puts the inventory weights back on both.
Oracles: ipvsadm on the directors, curl on the client.
"""
import json
import os
import re
import subprocess
import tempfile
import time

import yaml

import cluster_checks as c

DR_VIP, NAT_VIP, GATEWAY = '192.0.2.100', '192.0.2.101', '192.0.2.1'
DIRECTORS = ('lb1', 'lb2')
RS1 = '192.0.2.11'
# rs1's lines in ipvsadm-save -n, with its weight (the inventory's: 3 in DR, 2 in NAT).
RS1_DR = '-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w %d'
RS1_NAT = '-a -t 192.0.2.101:80 -r 192.0.2.11:8080 -m -w %d'
# Client addresses of our own (test_ha.py used .20-.23): fresh persistence.
CLIENTS = ['192.0.2.%d' % i for i in range(30, 40)]
# Seconds a closed DR connection stays in FIN_WAIT (it counts as inactive, and a drain
# waits for it): 120 by default; 2 here, so the drain ends soon after the stream.
TCPFIN = 2


def weights_are(dr, nat):
    tables = [c.sh(name, 'ipvsadm -S -n') for name in DIRECTORS]
    return all(RS1_DR % dr in t and RS1_NAT % nat in t for t in tables)


def set_tcpfin(seconds=None, saved=None):
    """Set the tcpfin timeout on both directors (or put SAVED back); return what was there."""
    old = {}
    for name in DIRECTORS:
        tcp, tcpfin, udp = re.search(r'(\d+) (\d+) (\d+)', c.sh(name, 'ipvsadm -L --timeout')).groups()
        old[name] = (tcp, tcpfin, udp)
        tcp, tcpfin, udp = saved[name] if saved else (tcp, str(seconds), udp)
        c.sh(name, 'ipvsadm --set %s %s %s' % (tcp, tcpfin, udp))
    return old


# Remove rs1 from the table, wait (at most 15 s) until its connections are gone, add it
# back as it was; print what is left of them, the sysctl it relies on and rs1's lines.
FORGET = r"""
ipvsadm -S -n | grep -- ' -r %(ip)s:' > /tmp/rs1.rules
sed 's/^-a \(.*\) -r \([^ ]*\) .*$/-d \1 -r \2/' /tmp/rs1.rules | ipvsadm -R
left() { ipvsadm -Lnc | grep ' %(ip)s:' | grep -v ' NONE '; }
i=0; while [ -n "$(left)" ] && [ $i -lt 30 ]; do sleep 0.5; i=$((i + 1)); done
left; ipvsadm -R < /tmp/rs1.rules
echo "expire_nodest_conn=$(cat /proc/sys/net/ipv4/vs/expire_nodest_conn)"
ipvsadm -S -n | grep -- ' -r %(ip)s:'
"""


def forget_closed_connections():
    """Earlier tests' closed connections to rs1 (NAT: TIME_WAIT, 120 s, not settable) count
    as inactive until they expire, and a drain rightly waits for them. Remove rs1 from
    both tables and add it back: with expire_nodest_conn=1 the kernel (>= 5.9) expires a
    removed real server's connections at once. Nothing is open to rs1 at this point."""
    for name in DIRECTORS:
        out = c.sh(name, FORGET % {'ip': RS1})
        assert out.splitlines() == ['expire_nodest_conn=1', RS1_DR % 3, RS1_NAT % 2], (name, out)


# The summary as JSON (the default callback), whatever the environment configures.
JSON_OUTPUT = {'ANSIBLE_STDOUT_CALLBACK': 'default', 'ANSIBLE_CALLBACK_RESULT_FORMAT': 'json',
               'ANSIBLE_FORCE_COLOR': '0', 'ANSIBLE_NOCOLOR': '1'}


def summary(out):
    """status.yml's summary lines: the one result printed with a body (debug's)."""
    body = re.search(r'^ok: \[\w+\] => (\{$.*?^\})$', out, re.M | re.S)
    assert body, out[-3000:]
    return json.loads(body.group(1))['msg']


def section(lines, director):
    start = next(i for i, line in enumerate(lines) if line.startswith('%s: IPVS table' % director))
    end = next((i for i, line in enumerate(lines[start + 1:], start + 1)
                if not line.startswith(('  ', 'Prot', 'TCP', 'UDP', 'FWM'))), len(lines))
    return lines[start:end]


def test_drain_takes_rs1_out_of_both_directors_without_dropping_a_stream():
    saved = set_tcpfin(TCPFIN)
    proc = None
    log = tempfile.TemporaryFile(mode='w+')
    try:
        forget_closed_connections()
        c.install_slow_cgi('rs1')
        # A client address the DR service's persistence sends to rs1 (wrr 3:3: one of two).
        client = c.sh('client', 'for a in %s; do ip addr replace $a/24 dev eth0; '
                                'if [ "$(curl -s --max-time 3 --interface $a http://%s/)" = rs1 ]; '
                                'then echo $a; break; fi; done' % (' '.join(CLIENTS), DR_VIP)).strip()
        assert client, 'no client address reached rs1'
        c.sh('client', 'rm -f /tmp/slow /tmp/slow.rc; (curl -sN --max-time 300 --interface %s '
                       '-o /tmp/slow http://%s/cgi-bin/slow; echo $? > /tmp/slow.rc) >/dev/null 2>&1 &'
                       % (client, DR_VIP))
        stream = re.compile(r'ESTABLISHED\s+%s:\d+\s+%s:80\s+%s:80'
                            % (re.escape(client), re.escape(DR_VIP), re.escape(RS1)))
        # On lb2 too (connection sync): its drain has the stream to wait for as well.
        c.wait_for(lambda: all(stream.search(c.sh(n, 'ipvsadm -Lnc')) for n in DIRECTORS), 20,
                   'the stream through lb1, synced to lb2')

        proc = subprocess.Popen(c.playbook_argv('drain.yml', extra_vars={'lvs_drain_host': 'rs1'}),
                                stdout=log, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 120
        while not weights_are(0, 0):
            log.seek(0)
            assert proc.poll() is None, 'drain.yml ended before rs1 was at weight 0:\n' + log.read()[-3000:]
            assert time.monotonic() < deadline, 'rs1 not at weight 0 on both directors:\n' + log.read()[-3000:]
            time.sleep(1)
        assert proc.poll() is None, 'drain.yml did not wait for the stream'

        # New connections go to rs2 only: new clients, and the streaming client too (its
        # persistence template pointed at rs1: expire_quiescent_template), DR and NAT.
        answers = c.sh('client', 'for a in %s %s %s; do ip addr replace $a/24 dev eth0; '
                                 'curl -s --max-time 3 --interface $a http://%s/ || echo TIMEOUT; done; '
                                 'for n in 1 2 3 4; do curl -s --max-time 3 http://%s/ || echo TIMEOUT; done'
                                 % (client, CLIENTS[-1], CLIENTS[-2], DR_VIP, NAT_VIP)).split()
        assert answers == ['rs2'] * 7, answers

        # status.yml meanwhile: lb1 holds every VIP; both tables, rs1 at weight 0 and the
        # stream its one active connection on lb1.
        rc, out = c.playbook('status.yml', env=JSON_OUTPUT)
        assert rc == 0, out[-3000:]
        lines = summary(out)
        for vip in (DR_VIP, NAT_VIP, GATEWAY):
            assert 'VIP %s: lb1' % vip in lines, out[-3000:]
        for name in DIRECTORS:
            rows = [line.split() for line in section(lines, name)]
            assert ['TCP', '%s:80' % DR_VIP, 'wrr', 'persistent', '60'] in [r[:5] for r in rows], rows
            assert ['TCP', '%s:80' % NAT_VIP, 'wrr'] in [r[:3] for r in rows], rows
            assert ['->', '%s:80' % RS1, 'Route', '0'] in [r[:4] for r in rows], rows
            assert ['->', '%s:8080' % RS1, 'Masq', '0'] in [r[:4] for r in rows], rows
            assert ['->', '192.0.2.12:80', 'Route', '3'] in [r[:4] for r in rows], rows
        lb1_rows = [line.split()[:5] for line in section(lines, 'lb1')]
        assert ['->', '%s:80' % RS1, 'Route', '0', '1'] in lb1_rows, lb1_rows
        assert proc.poll() is None and not c.host('client').file('/tmp/slow.rc').exists

        c.sh('rs1', 'touch /tmp/release')
        c.wait_for(lambda: c.host('client').file('/tmp/slow.rc').exists, 30, 'the stream to end')
        assert c.sh('client', 'cat /tmp/slow.rc').strip() == '0'
        body = c.sh('client', 'cat /tmp/slow').splitlines()
        assert body[-1] == 'end' and body[:-1] == ['rs1 %d' % i for i in range(len(body) - 1)], body
        # The drain ends once the closed stream has expired on both directors.
        proc.wait(timeout=120)
        log.seek(0)
        out = log.read()
        assert proc.returncode == 0, out[-3000:]
        assert weights_are(0, 0)
    finally:
        if proc is not None and proc.poll() is None:
            c.sh('rs1', 'touch /tmp/release')
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        set_tcpfin(saved=saved)
        log.close()


def test_bring_back_puts_the_inventory_weights_back_on_both_directors():
    rc, out = c.playbook('drain.yml', extra_vars={'lvs_drain_host': 'rs1', 'lvs_drain_state': 'present'})
    assert rc == 0, out[-3000:]
    assert weights_are(3, 2)
    c.assert_split_2_to_1(NAT_VIP)


def test_turning_connection_sync_off_on_the_running_pair_stops_its_daemons():
    """Last: it changes lvs_keepalived. A reload alone leaves the kernel's sync daemons
    running (keepalived 2.2.7); site.yml stops them and a second run changes nothing."""
    # Both daemons on both directors, whatever their VRRP state (no instance named in
    # lvs_sync_daemon: keepalived's VRRP process never toggles them).
    for name in DIRECTORS:
        daemons = c.sh(name, 'ipvsadm -L --daemon').splitlines()
        assert [d.split(' (')[0] for d in daemons] == ['master sync daemon', 'backup sync daemon'], (name, daemons)
        assert all('mcast=eth0, syncid=51,' in d for d in daemons), (name, daemons)
    with open(os.path.join(c.PROJECT, 'playbooks', 'inventories', 'ha', 'group_vars', 'all.yml')) as handle:
        settings = dict(yaml.safe_load(handle)['lvs_keepalived'], sync_daemon=False)
    rc, out = c.site(extra_vars={'lvs_keepalived': settings})
    assert rc == 0, out[-3000:]
    for name in DIRECTORS:
        assert c.sh(name, 'ipvsadm -L --daemon').strip() == '', name
        assert 'lvs_sync_daemon' not in c.sh(name, 'cat /etc/keepalived/keepalived.conf')
    rc, out = c.site(extra_vars={'lvs_keepalived': settings})
    assert rc == 0, out[-3000:]
    recap = out[out.index('PLAY RECAP'):]
    assert len(re.findall(r'changed=0 ', recap)) == 4, recap
    assert [name for name in DIRECTORS if c.sh(name, 'ip -o addr show to %s' % DR_VIP).strip()] == ['lb1']
    c.assert_split_2_to_1(NAT_VIP)
