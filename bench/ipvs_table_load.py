"""Benchmark: load 1,000 services x 10 real servers with ipvs_table vs ipvsadm-restore.

Run it in the lab (it needs a kernel with ip_vs and root):

    tests/lab/run python3 bench/ipvs_table_load.py [--services 1000] [--realservers 10]

Same guest, same run, each load into a fresh, empty network namespace:

1. `ipvsadm-restore` of the rules (the reference);
2. `ansible-playbook` running lvs.cluster.ipvs_table with the same rules (purge: true);
3. the same playbook again on the loaded table (idempotent re-run, must report no change).

Times are wall clock and include everything a user waits for (for Ansible: its start-up,
the module's pyroute2 import, reading the live table, planning, applying). Prints the
ratios: load (goal <= 1.0) and re-run / load (goal <= 0.25).  Not a timed test: it fails
only if the results are wrong (tables differ, re-run reports a change).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
# Imported for its side effect: it makes ansible_collections.lvs.cluster importable.
import tests.conftest  # noqa: E402,F401  pylint: disable=unused-import


def rules_text(services, realservers):
    lines = []
    for s in range(services):
        vip = '10.%d.%d.1' % (100 + s // 250, s % 250)
        lines.append('-A -t %s:80 -s wrr' % vip)
        for r in range(realservers):
            lines.append('-a -t %s:80 -r 172.16.%d.%d:80 -g -w %d' % (vip, s % 250, r + 1, r % 5 + 1))
    return '\n'.join(lines) + '\n'


def sh(ns, cmd, **kw):
    return subprocess.run(['ip', 'netns', 'exec', ns, 'sh', '-c', cmd], check=True,
                          capture_output=True, text=True, **kw).stdout


def fresh_ns(name):
    subprocess.run(['ip', 'netns', 'add', name], check=True)
    sh(name, 'ip link set lo up')
    return name


def run_playbook(ns, rules_path):
    play = ('- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n'
            '    - lvs.cluster.ipvs_table:\n        rules: "{{ lookup(\'file\', \'%s\') }}"\n'
            '        purge: true\n' % rules_path)
    with tempfile.NamedTemporaryFile('w', suffix='.yml', delete=False) as fh:
        fh.write(play)
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK='ansible.posix.json', ANSIBLE_PIPELINING='True',
               ANSIBLE_PYTHON_INTERPRETER='/usr/bin/python3', ANSIBLE_LOCALHOST_WARNING='False',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='False')
    start = time.monotonic()
    proc = subprocess.run(['ip', 'netns', 'exec', ns, 'ansible-playbook', '-i', 'localhost,', fh.name],
                          capture_output=True, text=True, env=env, check=False)
    elapsed = time.monotonic() - start
    os.unlink(fh.name)
    if proc.returncode != 0:
        sys.exit('playbook failed:\n%s\n%s' % (proc.stdout[-3000:], proc.stderr[-3000:]))
    result = json.loads(proc.stdout)['plays'][0]['tasks'][0]['hosts']['localhost']
    return elapsed, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--services', type=int, default=1000)
    parser.add_argument('--realservers', type=int, default=10)
    args = parser.parse_args()
    rules = rules_text(args.services, args.realservers)
    tag = 'bench%d' % os.getpid()
    with tempfile.NamedTemporaryFile('w', suffix='.rules', delete=False) as fh:
        fh.write(rules)
    rules_path = fh.name
    try:
        ref = fresh_ns(tag + 'r')
        start = time.monotonic()
        sh(ref, 'ipvsadm-restore < %s' % rules_path)
        t_restore = time.monotonic() - start
        ref_save = sh(ref, 'ipvsadm-save -n')

        mod = fresh_ns(tag + 'm')
        t_load, first = run_playbook(mod, rules_path)
        mod_save = sh(mod, 'ipvsadm-save -n')
        t_rerun, second = run_playbook(mod, rules_path)

        ok = True
        if mod_save != ref_save:
            ok = False
            print('MISMATCH: ipvs_table table differs from ipvsadm-restore table')
        if not first.get('changed') or second.get('changed'):
            ok = False
            print('WRONG: first run changed=%s, re-run changed=%s' % (first.get('changed'), second.get('changed')))
        dests = args.services * args.realservers
        print('table: %d services x %d real servers (%d destinations), %d rule lines'
              % (args.services, args.realservers, dests, len(rules.splitlines())))
        print('ipvsadm-restore load:          %8.2f s' % t_restore)
        print('ipvs_table load (playbook):    %8.2f s   summary %s' % (t_load, first.get('summary')))
        print('ipvs_table re-run (no change): %8.2f s' % t_rerun)
        print('ratio load ipvs_table / ipvsadm-restore: %.2f (goal <= 1.0)' % (t_load / t_restore))
        print('ratio re-run / load:                     %.2f (goal <= 0.25)' % (t_rerun / t_load))
        print('tables identical: %s' % (mod_save == ref_save))
        return 0 if ok else 1
    finally:
        os.unlink(rules_path)
        for ns in (tag + 'r', tag + 'm'):
            subprocess.run(['ip', 'netns', 'del', ns], check=False)


if __name__ == '__main__':
    sys.exit(main())
