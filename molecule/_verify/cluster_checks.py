"""Checks shared by the cluster scenarios' verifiers (nat, dr, dr-routed, tun).

Every check asks an independent oracle on the hosts themselves: curl from the client,
ipvsadm -S -n, ip, /proc/sys, nft; never the collection's own code. Hosts are reached
through testinfra: the lab's backend (lab exec: SSH into the guest as the lab host's own
user, tests/lab/bin/lab) or podman's (LVS_MOLECULE_HOSTS=podman).
"""
import collections
import contextlib
import json
import os
import shlex
import subprocess
import sys
import time

import pytest
import testinfra

PROJECT = os.environ['MOLECULE_PROJECT_DIRECTORY']
sys.path.insert(0, os.path.join(PROJECT, 'tests', 'lab', 'plugins', 'testinfra'))
import lvs_lab  # noqa: E402  pylint: disable=wrong-import-position

lvs_lab.register()
LAB = os.path.join(PROJECT, 'tests', 'lab', 'bin', 'lab')
FLAVOUR = os.environ.get('LVS_MOLECULE_HOSTS') or 'lab'

# What the roles own on a host, and the kernel state they set: a host is "unchanged" when
# all of it reads the same.
SNAPSHOT = r'''
ip -o addr; ip route; ip rule; ip route show table all | grep -v '^local\|^broadcast' || true
ipvsadm -S -n 2>/dev/null || true
nft list ruleset 2>/dev/null || true
for k in ipv4/ip_forward ipv4/conf/all/arp_ignore ipv4/conf/all/arp_announce \
         ipv4/conf/lo/arp_ignore ipv4/conf/lo/arp_announce ipv4/conf/all/rp_filter \
         ipv4/conf/default/rp_filter ipv4/vs/expire_nodest_conn ipv4/vs/expire_quiescent_template; do
    echo "$k=$(cat /proc/sys/net/$k 2>/dev/null)"
done
find /etc/lvs-cluster /etc/keepalived /etc/sysctl.d /etc/init.d/lvs-cluster /etc/systemd/system/lvs-cluster.service \
    /etc/rc2.d /etc/systemd/system/multi-user.target.wants /etc/modules-load.d /usr/local/lib/lvs-cluster \
    -maxdepth 1 \( -type f -o -type l \) 2>/dev/null | sort | xargs -r md5sum 2>&1
'''


def guest(command):
    """COMMAND's output from the lab guest itself (outside every lab host), e.g. `ip -n`
    across several hosts' namespaces in one call: over SSH from the host side."""
    ssh_config = os.environ.get('LVS_LAB_SSH_CONFIG')
    argv = ['ssh', '-F', ssh_config, 'lab-guest', command] if ssh_config else ['sh', '-c', command]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def host(name):
    return testinfra.get_host(lvs_lab.hostspec(name))


def holders(vip, directors=('lb1', 'lb2')):
    """DIRECTORS holding VIP, read from their network namespaces in one call into the guest
    (no process in the hosts: cheap enough to sample often, and a stopped host simply
    holds nothing)."""
    out = guest(' '.join('ip -n lab-%s -o addr show to %s 2>/dev/null | grep -q . && echo %s;'
                         % (name, vip, name) for name in directors) + ' true')
    return out.split()


def all_holders(vips, directors=('lb1', 'lb2')):
    """(the DIRECTORS holding each VIP of VIPS), read in one call into the guest."""
    out = guest('; '.join('echo "== %s"; ip -n lab-%s -o -4 addr show 2>/dev/null' % (n, n) for n in directors))
    held, name = {}, None
    for line in out.splitlines():
        if line.startswith('== '):
            name = line[3:].strip()
        elif name:
            held.setdefault(name, set()).add(line.split()[3].split('/')[0])
    return tuple(tuple(n for n in directors if vip in held.get(n, ())) for vip in vips)


def sh(name, command):
    return host(name).check_output(command)


def requests(vip, port=80, count=12):
    """COUNT requests from the client, each a new connection; answers by real server."""
    out = sh('client', 'for i in $(seq %d); do curl -s --max-time 3 http://%s:%d/ || echo TIMEOUT; done'
             % (count, vip, port))
    return collections.Counter(out.split())


def assert_split_2_to_1(vip, port=80):
    """wrr with weights 2:1: 12 requests split 8:4 (within 1), none lost."""
    counts = requests(vip, port)
    assert sum(counts.values()) == 12 and 'TIMEOUT' not in counts, counts
    assert abs(counts['rs1'] - 8) <= 1 and abs(counts['rs2'] - 4) <= 1, counts


def serve(name, *ports):
    """The application's part: the real server also answers HTTP (its name) on PORTS."""
    for port in ports:
        sh(name, 'busybox httpd -p %d -h /srv/www' % port)


def table():
    """The director's table as ipvsadm-save -n writes it (trailing newline kept)."""
    return host('director').run('ipvsadm -S -n').stdout


def sysctl(name, key):
    return sh(name, 'cat /proc/sys/%s' % key.replace('.', '/')).strip()


def addresses(name, device):
    return sh(name, 'ip -o addr show dev %s' % device)


def reboot(*names):
    """Shut the hosts NAMES down and boot them, side by side (as when a rack loses power
    and gets it back): runtime state is lost, files and enabled services stay. The boot
    service must have run at this boot and restored the state without a failure: on a
    systemd host its unit is active and its journal has the boot program's closing line;
    on a sysv host, the line is in the init script's output (no journal: checked by the
    traffic). Only lab hosts boot (a podman container has no init running our service)."""
    if FLAVOUR != 'lab':
        pytest.skip('reboot needs lab hosts (podman containers run no init)')
    subprocess.run([LAB, 'stop'] + list(names), check=True)
    subprocess.run([LAB, 'start'] + list(names), check=True)
    for name in names:
        # One call per host: whether systemd runs it, the unit's state, its boot's lines.
        out = sh(name, 'if [ -d /run/systemd/system ]; then '
                       'echo "unit: $(systemctl is-active lvs-cluster.service)"; ' + BOOT_JOURNAL +
                       '; else echo "unit: sysv"; fi')
        state, journal = out.split('\n', 1) if '\n' in out else (out, '')
        if state == 'unit: sysv':
            continue
        assert state == 'unit: active', \
            host(name).run('systemctl status lvs-cluster.service; journalctl -b -u lvs-cluster.service').stdout
        assert 'lvs-cluster: host state restored from ' in journal, journal
        assert 'lvs-cluster: error' not in journal, journal


# The lvs-cluster service's lines of its run at this boot, in a host's journal (systemd
# hosts). By the unit's invocation ID, not `journalctl -b`: lab hosts share the guest's
# kernel, so every boot of a lab host has the guest's boot ID.
BOOT_JOURNAL = ('journalctl -o cat --no-pager _SYSTEMD_INVOCATION_ID='
                '"$(systemctl show -p InvocationID --value lvs-cluster.service)"')


def snapshot(names):
    """What each host of NAMES owns (SNAPSHOT), read by the hosts' own tools. On lab hosts
    in one SSH call into the guest (`lab exec` there enters each host: no Python start),
    not one per host: several snapshots bracket every "changes nothing" check."""
    if FLAVOUR != 'lab':
        return dict((name, sh(name, SNAPSHOT)) for name in names)
    marker = '=== lvs snapshot of '
    out = guest(''.join("echo '%s%s'; lab exec %s sh -c %s\n" % (marker, name, name, shlex.quote(SNAPSHOT))
                        for name in names))
    parts = dict(part.split('\n', 1) for part in out.split(marker)[1:])
    assert sorted(parts) == sorted(names), out[-2000:]
    return parts


def site(*args, extra_vars=None):
    """Run playbooks/site.yml on the scenario's inventory (Molecule's: hosts and the
    example inventory's groups and vars). Returns (exit code, output)."""
    return playbook('site.yml', *args, extra_vars=extra_vars)


def playbook_argv(name, *args, extra_vars=None):
    """The ansible-playbook command that runs playbooks/NAME on the scenario's inventory,
    as site() does (for a run in the background: subprocess.Popen)."""
    inventory = os.path.dirname(os.environ['MOLECULE_INVENTORY_FILE'])
    argv = ['ansible-playbook', '-i', inventory, os.path.join(PROJECT, 'playbooks', name)]
    if extra_vars is not None:
        argv += ['-e', json.dumps(extra_vars)]
    return argv + list(args)


def playbook(name, *args, extra_vars=None, env=None):
    """Run playbooks/NAME (drain.yml, status.yml...) like site(), with ENV added to the
    environment (e.g. the output format to parse). Returns (exit code, output)."""
    proc = subprocess.run(playbook_argv(name, *args, extra_vars=extra_vars), capture_output=True,
                          text=True, check=False, env=dict(os.environ, **(env or {})))
    return proc.returncode, proc.stdout + proc.stderr


@contextlib.contextmanager
def load(vip, label, rate=20, connections=4, lifetime=0, stall_ms=3000):
    """Traffic from the client for the length of the with-block (tests/lab/bin/lab_load.py:
    RATE new requests a second and CONNECTIONS long-lived ones writing every 100 ms, each
    closed by the client after LIFETIME seconds and replaced, if given, and lost when an
    echo takes longer than STALL_MS); the yielded dict
    gets lab_load.py's summary when the block ends, and the scenario's log a line with it,
    LABEL first. The block starts once a second's requests are answered."""
    sh('client', 'rm -f /tmp/load.*; (python3 /usr/local/lib/lab/lab_load.py %s --rate %s --connections %d '
                 '--lifetime %s --stall-ms %d --stop-file /tmp/load.stop --records /tmp/load.records '
                 '>/tmp/load.json 2>/tmp/load.err &)' % (vip, rate, connections, lifetime, stall_ms))
    wait_for(lambda: int(sh('client', 'grep -c \'"outcome": "ok"\' /tmp/load.records || true') or 0) >= rate,
             30, 'the load to start')
    summary = {}
    try:
        yield summary
    finally:        # stopped even when the block fails: not left running into the next load
        sh('client', 'touch /tmp/load.stop')
    summary.update(json.loads(wait_for(lambda: sh('client', 'cat /tmp/load.json'), 30, 'the load summary')))
    LOADS.append((label, summary))
    keep_records(label, summary)


def mark(what):
    """Put WHAT, stamped with the lab's wall clock, on the running load's timeline (the
    records kept by keep_records): call it just before the event it names."""
    guest('lab exec client sh -c %s' % shlex.quote('printf "%%s %%s\\n" "$(date +%%s.%%N)" %s >> /tmp/load.events'
                                                   % shlex.quote(what)))


def keep_records(label, summary):
    """With LVS_LOAD_RECORDS set (a directory on this machine): the load's records, its
    marks and its summary in one file there per load (JSON lines; bench/ops_under_load.py
    draws and tabulates them)."""
    directory = os.environ.get('LVS_LOAD_RECORDS')
    if not directory:
        return
    os.makedirs(directory, exist_ok=True)
    records = sh('client', 'cat /tmp/load.records; cat /tmp/load.events 2>/dev/null || true').splitlines()
    lines = [json.dumps({'kind': 'load', 'label': label, 'summary': summary}, sort_keys=True)]
    for line in records:
        if line.startswith('{'):
            lines.append(line)
        elif line.strip():
            realtime, what = line.split(' ', 1)
            lines.append(json.dumps({'kind': 'mark', 'realtime': float(realtime), 'what': what}))
    slug = ''.join(ch if ch.isalnum() else '-' for ch in label.lower()).strip('-')
    while '--' in slug:
        slug = slug.replace('--', '-')
    name = '%s-%02d-%s.jsonl' % (os.environ.get('MOLECULE_SCENARIO_NAME', 'load'), len(LOADS), slug[:60])
    with open(os.path.join(directory, name), 'w') as handle:
        handle.write('\n'.join(lines) + '\n')


# Every load's summary, printed at the end of the verifier's output (each scenario's
# conftest that uses load() imports the hook below): each operation's figures, in its log.
LOADS = []


def pytest_terminal_summary(terminalreporter):
    for label, summary in LOADS:
        terminalreporter.write_line('load: %s: %s' % (label, json.dumps(summary, sort_keys=True)))


def assert_no_request_failed_and_no_connection_lost(summary, connections=4):
    """Every request answered, and every long-lived connection (CONNECTIONS at once) lasted
    until the client closed it."""
    assert summary['requests']['ok'] > 0 and summary['requests']['failed'] == 0, summary
    assert summary['connections']['lost'] == 0, summary
    assert summary['connections']['kept'] >= connections, summary


def wait_for(predicate, timeout, what):
    """PREDICATE's first true value, tried every 0.5 s for TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError('timed out after %ds waiting for %s' % (timeout, what))


SLOW_CGI = """#!/bin/sh
# A response that streams one line a second until /tmp/release exists (at most 300 s).
echo "Content-Type: text/plain"
echo
i=0
while [ ! -e /tmp/release ] && [ $i -lt 300 ]; do echo "$(hostname) $i"; i=$((i + 1)); sleep 1; done
echo end
"""


def install_slow_cgi(name):
    """/cgi-bin/slow on real server NAME: a response that stays open (one line a second)
    until `touch /tmp/release` there; the way to hold a connection through a change."""
    sh(name, "mkdir -p /srv/www/cgi-bin && cat > /srv/www/cgi-bin/slow <<'EOF'\n%sEOF\n"
             "chmod 755 /srv/www/cgi-bin/slow; rm -f /tmp/release" % SLOW_CGI)
