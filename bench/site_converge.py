"""Benchmark: playbooks/site.yml on each example topology, first converge vs no-op re-run.

Run it on the host side of a lab session (the controller here, the hosts in the guest):

    tests/lab/session python3 bench/site_converge.py [--runs 3] [TOPOLOGY ...]

For each topology (nat, dr, dr-routed, tun by default) and each run: fresh lab hosts
(`lab up`), `ansible-playbook site.yml` on the example inventory (the first converge),
the same again (the no-op re-run, which must report changed=0), `lab down`. Prints the
wall times (min/median/max over the runs), the median ratio re-run / converge (goal
<= 0.5) and the tasks each host ran (ok + changed in the first converge's recap; skipped
tasks are not counted).

Not a timed test: it fails only if a run fails or the re-run reports a change.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB = os.path.join(REPO, 'tests', 'lab', 'bin', 'lab')
RECAP = re.compile(r'^(\S+)\s*: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', re.M)


def site(topology):
    argv = ['ansible-playbook', '-i', '/tmp/bench-hosts.yml', '-i',
            os.path.join(REPO, 'playbooks', 'inventories', topology),
            os.path.join(REPO, 'playbooks', 'site.yml')]
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    recap = dict((m.group(1), [int(x) for x in m.groups()[1:]]) for m in RECAP.finditer(proc.stdout))
    if proc.returncode != 0:
        sys.exit('site.yml failed on %s:\n%s' % (topology, proc.stdout[-4000:] + proc.stderr[-2000:]))
    return elapsed, recap


def one_run(topology):
    subprocess.run([LAB, 'up', topology], check=True)
    try:
        with open('/tmp/bench-hosts.yml', 'w') as handle:
            handle.write(subprocess.run([LAB, 'inventory', topology], check=True,
                                        capture_output=True, text=True).stdout)
        first, recap = site(topology)
        again, recap2 = site(topology)
        if any(v[1] for v in recap2.values()):
            sys.exit('%s: the re-run changed something: %s' % (topology, recap2))
        return first, again, dict((host, v[0]) for host, v in recap.items())
    finally:
        subprocess.run([LAB, 'down', topology], check=True)


def spread(values):
    return 'min %5.1f  median %5.1f  max %5.1f' % (min(values), statistics.median(values), max(values))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('topologies', nargs='*', default=['nat', 'dr', 'dr-routed', 'tun'])
    args = parser.parse_args()
    for topology in args.topologies:
        firsts, agains, tasks = [], [], {}
        for _run in range(args.runs):
            first, again, tasks = one_run(topology)
            firsts.append(first)
            agains.append(again)
            print('bench: %-9s converge %5.1f s  re-run %5.1f s' % (topology, first, again), flush=True)
        print('bench: %-9s converge (s): %s' % (topology, spread(firsts)))
        print('bench: %-9s re-run   (s): %s' % (topology, spread(agains)))
        print('bench: %-9s re-run / converge (medians): %.2f (goal <= 0.5)'
              % (topology, statistics.median(agains) / statistics.median(firsts)))
        print('bench: %-9s tasks per host (ok+changed): %s'
              % (topology, ', '.join('%s %d' % kv for kv in sorted(tasks.items()))), flush=True)


if __name__ == '__main__':
    main()
