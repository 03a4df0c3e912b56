"""Benchmark: the controller in the guest (before) vs natively on this machine (after).

Run it on the host side of a lab session (the guest boots once for every measure):

    tests/lab/session python3 bench/controller.py [--runs 3] [TOPOLOGY ...]

Side by side in one run, on the same guest, alternating which goes first:
  - ansible-playbook start-up: an empty play on localhost, `--runs` times on each side;
  - for each topology (nat, dr, dr-routed, tun by default) and each run: fresh lab hosts,
    site.yml on the example inventory (first converge), the same again (no-op re-run,
    which must report changed=0), lab down; once with ansible-playbook inside the guest
    (connection lvs_lab: nsenter, the lab before the controller moved out), once here
    (connection ssh into the guest as each lab host's user: what the scenarios now do).
Prints min/median/max per measure and the median ratio after / before.

Not a timed test: it fails only if a run fails or a re-run reports a change.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB = os.path.join(REPO, 'tests', 'lab', 'bin', 'lab')
RECAP = re.compile(r'^(\S+)\s*: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', re.M)
EMPTY_PLAY = '- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks: []\n'


def guest_argv(command):
    return ['ssh', '-F', os.environ['LVS_LAB_SSH_CONFIG'], 'lab-guest', 'cd /repo && ' + command]


def timed(argv, what):
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit('%s failed:\n%s' % (what, proc.stdout[-4000:] + proc.stderr[-2000:]))
    return elapsed, proc.stdout


def startup(side, play_path):
    if side == 'guest':
        return timed(guest_argv('ansible-playbook -i localhost, /tmp/bench-empty.yml'), 'start-up in the guest')[0]
    return timed(['ansible-playbook', '-i', 'localhost,', play_path], 'start-up here')[0]


def site_argv(side, topology, inventory):
    example = 'playbooks/inventories/%s' % topology
    if side == 'guest':
        return guest_argv('ansible-playbook -i /tmp/bench-hosts.yml -i %s playbooks/site.yml' % example)
    return ['ansible-playbook', '-i', inventory, '-i', os.path.join(REPO, example),
            os.path.join(REPO, 'playbooks', 'site.yml')]


def write_inventory(topology, path):
    """`lab inventory TOPOLOGY` (ssh into the guest as each lab host's user) into PATH."""
    with open(path, 'w') as handle:
        handle.write(subprocess.run([LAB, 'inventory', topology], check=True,
                                    capture_output=True, text=True).stdout)


def converge_and_rerun(topology, argv, inventory_writer, what):
    """Fresh lab hosts of TOPOLOGY, their inventory written by INVENTORY_WRITER(), then
    ARGV (a site.yml run) twice: (first converge, no-op re-run) in seconds; exits if the
    re-run reports a change. The benches' shared measure (this one, module_cache, site_ab)."""
    subprocess.run([LAB, 'up', topology], check=True)
    try:
        inventory_writer()
        first = timed(argv, 'site.yml (%s)' % what)[0]
        again, out = timed(argv, 'site.yml re-run (%s)' % what)
        changed = dict((m.group(1), int(m.group(3))) for m in RECAP.finditer(out))
        if any(changed.values()):
            sys.exit('%s: the re-run changed something: %s' % (what, changed))
        return first, again
    finally:
        subprocess.run([LAB, 'down', topology], check=True)


def one_run(side, topology, inventory):
    if side == 'guest':
        def writer():
            subprocess.run(guest_argv('lab inventory %s --connection lvs_lab > /tmp/bench-hosts.yml' % topology),
                           check=True)
    else:
        def writer():
            write_inventory(topology, inventory)
    return converge_and_rerun(topology, site_argv(side, topology, inventory), writer, '%s, %s' % (topology, side))


def spread(values):
    return 'min %5.1f  median %5.1f  max %5.1f' % (min(values), statistics.median(values), max(values))


def report(what, before, after):
    print('bench: %-28s guest: %s' % (what, spread(before)))
    print('bench: %-28s here:  %s' % (what, spread(after)))
    print('bench: %-28s here / guest (medians): %.2f' % (what, statistics.median(after) / statistics.median(before)),
          flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('topologies', nargs='*', default=['nat', 'dr', 'dr-routed', 'tun'])
    args = parser.parse_args()
    if not os.environ.get('LVS_LAB_SSH_CONFIG'):
        sys.exit('run it in a lab session: tests/lab/session python3 bench/controller.py')
    tmp = tempfile.mkdtemp()
    play, inventory = os.path.join(tmp, 'empty.yml'), os.path.join(tmp, 'hosts.yml')
    with open(play, 'w') as handle:
        handle.write(EMPTY_PLAY)
    subprocess.run(guest_argv("cat > /tmp/bench-empty.yml <<'EOF'\n%sEOF" % EMPTY_PLAY), check=True)
    times = {'guest': [], 'here': []}
    for run in range(args.runs):
        for side in (('guest', 'here') if run % 2 == 0 else ('here', 'guest')):
            times[side].append(startup(side, play))
    report('ansible-playbook start-up', times['guest'], times['here'])
    for topology in args.topologies:
        times = dict((key, []) for key in ('guest-first', 'guest-again', 'here-first', 'here-again'))
        for run in range(args.runs):
            for side in (('guest', 'here') if run % 2 == 0 else ('here', 'guest')):
                first, again = one_run(side, topology, inventory)
                times[side + '-first'].append(first)
                times[side + '-again'].append(again)
                print('bench: %-9s %-5s converge %5.1f s  re-run %5.1f s' % (topology, side, first, again),
                      flush=True)
        report('%s converge' % topology, times['guest-first'], times['here-first'])
        report('%s no-op re-run' % topology, times['guest-again'], times['here-again'])


if __name__ == '__main__':
    main()
