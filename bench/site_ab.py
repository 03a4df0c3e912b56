"""Benchmark: site.yml of two commits of the collection, side by side on one guest.

    tests/lab/session python3 bench/site_ab.py --before REV [--runs 3] [TOPOLOGY ...]

The checkout as it is ("after") against REV ("before", a temporary git worktree that
Ansible finds as lvs.cluster first on its collections path), alternating which goes first:
for each topology (dr by default) and run, fresh lab hosts, site.yml on the example
inventory (first converge), the same again (no-op re-run, must report changed=0), lab
down. Prints min/median/max per measure and the median ratio after / before. For changes
to the roles and playbooks: the lab hosts and the guest are the same for both sides.

Not a timed test: it fails only if a run fails or a re-run reports a change.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from controller import REPO, converge_and_rerun, spread, write_inventory  # noqa: E402

SIDES = ('before', 'after')


def one_run(topology, checkout, env, inventory):
    argv = ['env'] + ['%s=%s' % kv for kv in env.items()] + [
        'ansible-playbook', '-i', inventory, '-i', os.path.join(checkout, 'playbooks', 'inventories', topology),
        os.path.join(checkout, 'playbooks', 'site.yml')]
    return converge_and_rerun(topology, argv, lambda: write_inventory(topology, inventory), topology)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--before', required=True, help='the commit to compare the checkout with')
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('topologies', nargs='*', default=['dr'])
    args = parser.parse_args()
    if not os.environ.get('LVS_LAB_SSH_CONFIG'):
        sys.exit('run it in a lab session: tests/lab/session python3 bench/site_ab.py --before REV')
    tmp = tempfile.mkdtemp()
    worktree = os.path.join(tmp, 'before')
    subprocess.run(['git', '-C', REPO, 'worktree', 'add', '-q', '--detach', worktree, args.before], check=True)
    try:
        collections = os.path.join(tmp, 'collections')
        os.makedirs(os.path.join(collections, 'ansible_collections', 'lvs'))
        os.symlink(worktree, os.path.join(collections, 'ansible_collections', 'lvs', 'cluster'))
        path = os.environ.get('ANSIBLE_COLLECTIONS_PATH', '')
        sides = {'before': (worktree, {'ANSIBLE_COLLECTIONS_PATH': collections + (':' + path if path else '')}),
                 'after': (REPO, {})}
        inventory = os.path.join(tmp, 'hosts.yml')
        for topology in args.topologies:
            times = dict(('%s-%s' % (what, side), []) for what in ('first', 'again') for side in SIDES)
            for run in range(args.runs):
                for side in (SIDES if run % 2 == 0 else SIDES[::-1]):
                    first, again = one_run(topology, sides[side][0], sides[side][1], inventory)
                    times['first-' + side].append(first)
                    times['again-' + side].append(again)
                    print('bench: %-9s %-6s converge %5.1f s  re-run %5.1f s' % (topology, side, first, again),
                          flush=True)
            for what, label in (('first', 'converge'), ('again', 'no-op re-run')):
                for side in SIDES:
                    print('bench: %-9s %-12s %-6s %s' % (topology, label, side, spread(times['%s-%s' % (what, side)])))
                print('bench: %-9s %-12s after / before (medians): %.2f' % (
                    topology, label, statistics.median(times[what + '-after']) / statistics.median(times[what + '-before'])),
                    flush=True)
    finally:
        subprocess.run(['git', '-C', REPO, 'worktree', 'remove', '--force', worktree], check=False)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
