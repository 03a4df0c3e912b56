"""Benchmark: Ansible module runs in the lab with and without the guest's bytecode cache.

Every module run ships its module_utils in a fresh zip and Python's zipimport compiles all
of them again, which under the guest's emulated CPU is most of each task's time.
tests/lab/guest-python/lab_zipimport_cache.py caches that compiled code for lab hosts; the
file /var/cache/lab-zipimport/off in the guest turns it off for every lab host at once, so
both sides run on one guest, alternating which goes first:

    tests/lab/session python3 bench/module_cache.py [--runs 3] [TOPOLOGY ...]

  - one module run: `ansible -m ping` on every host of the first topology (fresh hosts);
  - for each topology (dr, nat by default) and run: fresh lab hosts, site.yml on the
    example inventory (first converge), the same again (no-op re-run, must report
    changed=0), lab down; once with the cache off, once on (warm: it holds what earlier
    runs compiled, as it does for every scenario after the first in a test run).
Prints min/median/max per measure and the median ratio on / off.

Not a timed test: it fails only if a run fails or a re-run reports a change.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from controller import LAB, REPO, converge_and_rerun, guest_argv, spread, timed, write_inventory  # noqa: E402

SIDES = ('off', 'on')


def cache(side):
    command = 'touch /var/cache/lab-zipimport/off' if side == 'off' else 'rm -f /var/cache/lab-zipimport/off'
    subprocess.run(guest_argv(command), check=True)


def report(what, times):
    for side in SIDES:
        print('bench: %-24s cache %-3s  %s' % (what, side, spread(times[side])))
    print('bench: %-24s on / off (medians): %.2f' % (what, statistics.median(times['on']) / statistics.median(times['off'])),
          flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('topologies', nargs='*', default=['dr', 'nat'])
    args = parser.parse_args()
    if not os.environ.get('LVS_LAB_SSH_CONFIG'):
        sys.exit('run it in a lab session: tests/lab/session python3 bench/module_cache.py')
    inventory = os.path.join(tempfile.mkdtemp(), 'hosts.yml')
    orders = [SIDES if run % 2 == 0 else SIDES[::-1] for run in range(args.runs)]

    first = args.topologies[0]
    subprocess.run([LAB, 'up', first], check=True)
    try:
        write_inventory(first, inventory)
        times = {'off': [], 'on': []}
        for order in orders:
            for side in order:
                cache(side)
                times[side].append(timed(['ansible', '-i', inventory, 'all', '-m', 'ping'], 'ping')[0])
        report('ping every %s host' % first, times)
    finally:
        subprocess.run([LAB, 'down', first], check=True)

    for topology in args.topologies:
        argv = ['ansible-playbook', '-i', inventory, '-i', os.path.join(REPO, 'playbooks', 'inventories', topology),
                os.path.join(REPO, 'playbooks', 'site.yml')]
        times = dict(('%s-%s' % (what, side), []) for what in ('first', 'again') for side in SIDES)
        for order in orders:
            for side in order:
                cache(side)
                converge, again = converge_and_rerun(
                    topology, argv, lambda: write_inventory(topology, inventory), '%s, cache %s' % (topology, side))
                times['first-' + side].append(converge)
                times['again-' + side].append(again)
                print('bench: %-9s cache %-3s converge %5.1f s  re-run %5.1f s' % (topology, side, converge, again),
                      flush=True)
        report('%s converge' % topology, {s: times['first-' + s] for s in SIDES})
        report('%s no-op re-run' % topology, {s: times['again-' + s] for s in SIDES})
    cache('on')


if __name__ == '__main__':
    main()
