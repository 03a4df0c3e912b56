"""Benchmark: keepalived failover on two directors (seed 001), in the lab.

Run it inside the lab guest (it samples the directors' /proc and namespaces every 50 ms,
so it stays beside them, with its controller):

    tests/lab/run python3 bench/ha_failover.py [--runs 3]

`lab up ha`, playbooks/site.yml on playbooks/inventories/ha (the first converge), then,
each over --runs runs (min/median/max):

- health checks: rs1's web server on :8080 stops (pkill), the time until keepalived takes
  192.0.2.11:8080 out of the NAT service on the MASTER (`ipvsadm -S -n`); it starts again,
  the time until it is back;
- failover, for three settings of lvs_keepalived (the later two given to site.yml with -e,
  the whole dict, as a user would change group_vars/all): the inventory's (advert_int 1,
  VRRPv2, connection sync on), advert_int 0.5 with VRRPv3, and sync_daemon: false. Each
  run: a slow download (`seq 1 150000`, ~940 KB, served over 15 s) through the DR VIP from
  a client address of its own, and a request every 100 ms from the client to the DR VIP
  (the method of molecule/ha's test); `lab stop --power-cut lb1` (power off the MASTER) while both run.
  Measured: the longest gap between answers, the failed requests, the VIP on lb2 after
  lb1's processes died (sampled every ~50 ms), and whether the download completed intact
  (md5). Then `lab start lb1` and wait until it holds every VIP again (preempt).
  If the reload to sync_daemon: false leaves the kernel's sync daemons running, the bench
  stops them (ipvsadm --stop-daemon) and says so: that series measures without sync.

The goal (issue 9): gap <= master-down interval + 1 s, master-down = 3 x advert_int + skew,
skew = (256 - 99) / 256 s for VRRPv2 and (256 - 99) x advert_int / 256 for VRRPv3 (lb2 has
priority 99). Not a timed test: it exits non-zero only if a run errors (a command fails,
the VIP never moves...); a missed goal or a broken download is a result.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB = os.path.join(REPO, 'tests', 'lab', 'bin', 'lab')
INVENTORY = os.path.join(REPO, 'playbooks', 'inventories', 'ha')
HOSTS = '/tmp/bench-ha-hosts.yml'
DR_VIP, NAT_VIP, GATEWAY = '192.0.2.100', '192.0.2.101', '192.0.2.1'
VIPS = (DR_VIP, NAT_VIP, GATEWAY)
BACKUP_PRIORITY = 99
BIG = 'seq 1 150000'        # the download's content (~940 KB), the same on both real servers
# ... served paced, 10,000 lines a second for 15 s, by busybox httpd's CGI: curl 7.88.1
# (bookworm) does not hold --limit-rate 80k on a 1 MB download (it takes it in one burst
# of ~1 s), so a rate-limited download would be over before the failover.
PACED = '''#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
i=0
while [ $i -lt 15 ]; do seq $((i * 10000 + 1)) $((i * 10000 + 10000)); sleep 1; i=$((i + 1)); done
'''
# Each download comes from its own client address (192.0.2.20, .21, ...): no persistence
# template of an earlier run (60 s) decides where a director sends it.
DOWNLOAD = r'%s\s+%s:[1-9]\d*\s+192\.0\.2\.100:80\s+(\S+)'
RS1_NAT = '-r 192.0.2.11:8080'


def sh(name, command, check=True, stdin=None):
    proc = subprocess.run([LAB, 'exec', name, 'sh', '-c', command], input=stdin,
                          capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError('%s: %r failed: %s' % (name, command, proc.stderr.strip()))
    return proc.stdout


def holds(name, vip):
    """From the director's network namespace (a stopped host holds nothing)."""
    return bool(subprocess.run(['ip', '-n', 'lab-' + name, '-o', 'addr', 'show', 'to', vip],
                               capture_output=True, text=True, check=False).stdout.strip())


def holders(vip):
    return [name for name in ('lb1', 'lb2') if holds(name, vip)]


def wait_for(predicate, timeout, what, step=0.1):
    """Seconds until predicate() is true; an error after timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(step)
    raise RuntimeError('timed out after %d s waiting for %s' % (timeout, what))


def client_loop(vip, seconds):
    """A request every 100 ms from the client, each line 'TIME ok|fail' (as molecule/ha)."""
    script = ('end=$(($(date +%%s) + %d)); while [ $(date +%%s) -lt $end ]; do t=$(date +%%s.%%N); '
              'if curl -s -o /dev/null --max-time 0.5 http://%s/; then echo "$t ok"; '
              'else echo "$t fail"; fi; sleep 0.1; done' % (seconds, vip))
    return subprocess.Popen([LAB, 'exec', 'client', 'sh', '-c', script],
                            stdout=subprocess.PIPE, text=True)


def gap(lines):
    """Longest time between two answers, and the failed requests (as molecule/ha)."""
    results = [(float(f[0]), f[1]) for f in (line.split() for line in lines) if len(f) == 2]
    longest, last_ok = 0.0, None
    for when, result in results:
        if result == 'ok':
            if last_ok is not None:
                longest = max(longest, when - last_ok)
            last_ok = when
    return longest, sum(1 for when, result in results if result == 'fail')


def site(keepalived=None):
    """site.yml on the example inventory; KEEPALIVED replaces its lvs_keepalived (-e)."""
    argv = ['ansible-playbook', '-i', HOSTS, '-i', INVENTORY,
            os.path.join(REPO, 'playbooks', 'site.yml')]
    if keepalived is not None:
        argv += ['-e', json.dumps({'lvs_keepalived': keepalived})]
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError('site.yml failed:\n' + proc.stdout[-4000:] + proc.stderr[-2000:])
    return time.monotonic() - start


def settled():
    """lb1 holds every VIP and lb2 none, for 3 s in a row (after a reload or a preempt)."""
    since = []

    def check():
        if not all(holders(vip) == ['lb1'] for vip in VIPS):
            del since[:]
            return False
        since.append(time.monotonic())
        return since[-1] - since[0] >= 3
    wait_for(check, 60, 'lb1 holding every VIP, lb2 none', step=0.2)


def sync_daemons():
    """{'lb1': ['master'], 'lb2': ['backup']}: the kernel's sync daemons (ipvsadm)."""
    return dict((name, re.findall(r'(master|backup) sync daemon', sh(name, 'ipvsadm -L --daemon')))
                for name in ('lb1', 'lb2'))


def sampler(pid, result):
    """The death of lb1's PID 1 (lab stop --power-cut kills every process of the host with it), then
    lb2 holding the DR VIP: result = [time of death, seconds to the takeover]."""
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if not result and not os.path.exists('/proc/%d' % pid):
            result += [time.time(), time.monotonic()]
        if result and holds('lb2', DR_VIP):
            result[1] = time.monotonic() - result[1]
            return
        time.sleep(0.05)


def download_on(name, address, state='ESTABLISHED'):
    """Where director NAME's IPVS table sends the download from ADDRESS (a real server)."""
    found = re.findall(DOWNLOAD % (state, re.escape(address)), sh(name, 'ipvsadm -Lnc'))
    return found[-1] if found else None


def failover_run(sync, address):
    sh('client', 'ip addr replace %s/24 dev eth0' % address)
    sh('client', 'rm -f /tmp/big /tmp/big.rc; (s=$(date +%%s.%%N); curl -sS --max-time 120 '
                 '--interface %s -o /tmp/big http://%s/cgi-bin/big; '
                 'echo "$? $s $(date +%%s.%%N)" > /tmp/big.rc) >/dev/null 2>/tmp/big.err &'
       % (address, DR_VIP))

    def synced():
        return download_on('lb2', address)
    if sync:
        wait_for(synced, 10, 'the download synced to lb2', step=0.5)
    else:
        time.sleep(2)
    on_lb2 = synced()
    loop = client_loop(DR_VIP, 12)
    time.sleep(2)
    on_lb1 = download_on('lb1', address)
    with open('/run/lab/hosts/lb1/pid', encoding='ascii') as handle:
        killed = []
        thread = threading.Thread(target=sampler, args=(int(handle.read()), killed))
    thread.start()
    subprocess.run([LAB, 'stop', '--power-cut', 'lb1'], check=True)
    wait_for(lambda: all(holders(vip) == ['lb2'] for vip in VIPS), 30, 'every VIP on lb2')
    thread.join()
    longest, failed = gap(loop.communicate(timeout=60)[0].splitlines())
    wait_for(lambda: sh('client', 'cat /tmp/big.rc', check=False).strip(), 130,
             'the download to end', step=0.5)
    rc, begin, end = sh('client', 'cat /tmp/big.rc').split()
    intact = rc == '0' and sh('client', 'md5sum < /tmp/big') == sh('client', '%s | md5sum' % BIG)
    result = {'gap': longest, 'failed': failed, 'takeover': killed[1], 'intact': intact,
              'rc': int(rc), 'took': float(end) - float(begin), 'end': float(end) - killed[0],
              'real server': on_lb1 or '?', 'synced to lb2': on_lb2 or 'no',
              'lb2 sent it to': download_on('lb2', address, r'\S+') or '-',
              'curl': sh('client', 'cat /tmp/big.err').strip()}
    subprocess.run([LAB, 'start', 'lb1'], check=True)
    settled()
    return result


def health_run():
    def out():
        return RS1_NAT not in sh('lb1', 'ipvsadm -S -n')
    sh('rs1', "pkill -f 'httpd -p [8]080'")   # [8]: not the shell running pkill
    removed = wait_for(out, 60, 'rs1:8080 out of the NAT service')
    sh('rs1', 'busybox httpd -p 8080 -h /srv/www')
    back = wait_for(lambda: not out(), 60, 'rs1:8080 back in the NAT service')
    return removed, back


def spread(values, fmt='%.2f'):
    return '/'.join(fmt % v for v in (min(values), statistics.median(values), max(values)))


def master_down(advert, version):
    skew = (256 - BACKUP_PRIORITY) / 256.0 * (advert if version == 3 else 1)
    return 3 * advert + skew


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--runs', type=int, default=3)
    args = parser.parse_args()
    if not 1 <= args.runs <= 26:
        parser.error('--runs: 1..26 (each download has its own client address, .20 to .99)')
    with open(os.path.join(INVENTORY, 'group_vars', 'all.yml'), encoding='utf-8') as handle:
        group_vars = yaml.safe_load(handle)
    base = group_vars['lvs_keepalived']
    advert = base.get('advert_int', 1)
    v3 = dict((k, v) for k, v in base.items() if k != 'auth_pass')   # VRRPv3 has no auth
    v3.update(advert_int=0.5, vrrp_version=3)
    series = [('advert_int %s, VRRPv2, sync on' % advert, None, advert, 2, True),
              ('advert_int 0.5, VRRPv3, sync on', v3, 0.5, 3, True),
              ('advert_int %s, VRRPv2, sync off' % advert, dict(base, sync_daemon=False),
               advert, 2, False)]
    check = next(s for s in group_vars['lvs_services'] if s['address'] == NAT_VIP)
    started = time.monotonic()
    results, health, sites, notes, error = [], [], [], [], None
    try:
        subprocess.run([LAB, 'up', 'ha'], check=True)
        with open(HOSTS, 'w', encoding='utf-8') as handle:
            # In the guest (it samples /proc and namespaces every 50 ms): nsenter, not SSH.
            handle.write(subprocess.run([LAB, 'inventory', 'ha', '--connection', 'lvs_lab'], check=True,
                                        capture_output=True, text=True).stdout)
        sites.append(site())
        settled()
        print('bench: converge %.1f s' % sites[0], flush=True)
        for rs in ('rs1', 'rs2'):
            sh(rs, 'mkdir -p /srv/www/cgi-bin && cat > /srv/www/cgi-bin/big && chmod 755 '
                   '/srv/www/cgi-bin/big', stdin=PACED)
        for run in range(args.runs):
            health.append(health_run())
            print('bench: health check run %d: rs1:8080 out after %.1f s, back after %.1f s'
                  % ((run + 1,) + health[-1]), flush=True)
        for name, keepalived, advert, version, sync in series:
            if keepalived is not None:
                sites.append(site(keepalived))
                settled()
                print('bench: site.yml -e lvs_keepalived (%s) %.1f s' % (name, sites[-1]), flush=True)
            conf = sh('lb1', 'cat /etc/keepalived/keepalived.conf')
            if (('advert_int %s\n' % advert) not in conf or ('vrrp_version 3' in conf) != (version == 3)
                    or ('lvs_sync_daemon' in conf) != sync):
                raise RuntimeError('lb1 keepalived.conf is not the one for %s' % name)
            daemons = sync_daemons()
            if not sync and any(daemons.values()):
                # The reload left the kernel's sync daemons running; a restart or a boot would
                # not have them. Stop them: this series measures without sync.
                notes.append('%s: keepalived reloaded without lvs_sync_daemon, the kernel sync '
                             'daemons still ran (%s); stopped with ipvsadm --stop-daemon'
                             % (name, daemons))
                print('bench: note: ' + notes[-1], flush=True)
                for host, kinds in daemons.items():
                    for kind in kinds:
                        sh(host, 'ipvsadm --stop-daemon ' + kind)
                daemons = sync_daemons()
            runs = []
            results.append((name, master_down(advert, version), daemons, runs))
            for run in range(args.runs):
                runs.append(failover_run(sync, '192.0.2.%d' % (20 + (len(results) - 1) * args.runs + run)))
                print('bench: %s run %d: %s' % (name, run + 1, ', '.join(
                    '%s %s' % (k, ('%.2f' % v) if isinstance(v, float) else v)
                    for k, v in runs[-1].items())), flush=True)
    except Exception as exc:   # pylint: disable=broad-except
        error = exc
    finally:
        subprocess.run([LAB, 'down', 'ha'], check=False)
    print('\nbench: ha_failover, %d run(s) each, %.0f s in all; site.yml %s s'
          % (args.runs, time.monotonic() - started, ', '.join('%.0f' % s for s in sites)))
    row = '%-32s %-16s %-10s %-16s %-7s %-9s %s'
    print(row % ('failover (min/median/max)', 'gap s', 'failed', 'VIP on lb2 s', 'mdown', 'gap <=',
                 'download'))
    print(row % ('', '', 'requests', 'after lb1 died', 's', 'mdown+1 s', 'intact'))
    for name, mdown, daemons, runs in results:
        if not runs:
            continue
        gaps = [r['gap'] for r in runs]
        print(row % (name, spread(gaps), spread([r['failed'] for r in runs], '%d'),
                     spread([r['takeover'] for r in runs]), '%.2f' % mdown,
                     '%d/%d' % (sum(1 for g in gaps if g <= mdown + 1), len(gaps)),
                     '%d/%d' % (sum(r['intact'] for r in runs), len(runs))))
        print('%-32s sync daemons: %s' % ('', ', '.join(
            '%s %s' % (h, '+'.join(k) or 'none') for h, k in sorted(daemons.items()))))
    if health:
        print('health check, NAT rs1:8080 (delay_loop %s, %s): out after %s s, back after %s s'
              % (check.get('delay_loop'),
                 ', '.join('%s %s' % kv for kv in check['healthcheck'].items() if kv[0] != 'type'),
                 spread([h[0] for h in health], '%.1f'), spread([h[1] for h in health], '%.1f')))
    for note in notes:
        print('note: ' + note)
    if error is not None:
        print('bench: error: %s' % error)
        sys.exit(1)


if __name__ == '__main__':
    main()
