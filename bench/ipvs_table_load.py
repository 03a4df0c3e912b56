"""Benchmark: load 1,000 services x 10 real servers with ipvs_table vs ipvsadm-restore.

Run it in the lab (it needs a kernel with ip_vs and root):

    tests/lab/run python3 bench/ipvs_table_load.py [--services 1000] [--realservers 10] [--no-playbook]

Same guest, same run, each load into a fresh, empty network namespace:

1. `ipvsadm-restore` of the rules (the reference: one C process);
2. the ipvs_table module run the way Ansible runs it on the target, a Python process given
   its arguments (rules, purge: true): start-up, imports, parsing and validating the
   rules, reading the live table, planning, netlink.  Then the same run again on the
   loaded table (the idempotent re-run, must report no change).  The goal ratios are
   computed from these: load / ipvsadm-restore (goal <= 1.0) and re-run / load (<= 0.25);
3. the same two loads through `ansible-playbook` (wall clock, everything a user waits
   for), printed for information: on this emulated guest Ansible's own start-up is ~11 s,
   which says nothing about the module.

Not a timed test: it fails only if the results are wrong (tables differ from
ipvsadm-restore's, the first run reports no change or the re-run a change).
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
import tests.conftest  # noqa: E402  pylint: disable=wrong-import-position


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


def run_module(ns, rules_path):
    """One ipvs_table run as Ansible starts it on the target: python3, the module, its args."""
    with open(rules_path) as fh:
        args = {'ANSIBLE_MODULE_ARGS': {'rules': fh.read(), 'purge': True}}
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as fh:
        json.dump(args, fh)
    env = dict(os.environ, PYTHONPATH=tests.conftest.COLLECTIONS_ROOT)
    start = time.monotonic()
    proc = subprocess.run(['ip', 'netns', 'exec', ns, sys.executable, '-m',
                           'ansible_collections.lvs.cluster.plugins.modules.ipvs_table', fh.name],
                          capture_output=True, text=True, env=env, check=False)
    elapsed = time.monotonic() - start
    os.unlink(fh.name)
    result = json.loads(proc.stdout) if proc.stdout.strip().startswith('{') else {}
    if proc.returncode != 0 or result.get('failed'):
        sys.exit('module run failed:\n%s\n%s' % (proc.stdout[-3000:], proc.stderr[-3000:]))
    return elapsed, result


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
    parser.add_argument('--no-playbook', action='store_true', help='skip the ansible-playbook runs')
    args = parser.parse_args()
    rules = rules_text(args.services, args.realservers)
    tag = 'bench%d' % os.getpid()
    with tempfile.NamedTemporaryFile('w', suffix='.rules', delete=False) as fh:
        fh.write(rules)
    rules_path = fh.name
    namespaces = [tag + 'r', tag + 'm', tag + 'p']
    try:
        ref = fresh_ns(namespaces[0])
        start = time.monotonic()
        sh(ref, 'ipvsadm-restore < %s' % rules_path)
        t_restore = time.monotonic() - start
        ref_save = sh(ref, 'ipvsadm-save -n')

        mod = fresh_ns(namespaces[1])
        t_load, first = run_module(mod, rules_path)
        mod_save = sh(mod, 'ipvsadm-save -n')
        t_rerun, second = run_module(mod, rules_path)
        runs = [('module', mod_save, first, second)]
        if not args.no_playbook:
            play = fresh_ns(namespaces[2])
            p_load, p_first = run_playbook(play, rules_path)
            play_save = sh(play, 'ipvsadm-save -n')
            p_rerun, p_second = run_playbook(play, rules_path)
            runs.append(('playbook', play_save, p_first, p_second))

        ok = True
        for what, save, load_result, rerun_result in runs:
            if save != ref_save:
                ok = False
                print('MISMATCH: the %s run left a table that differs from ipvsadm-restore\'s' % what)
            if not load_result.get('changed') or rerun_result.get('changed'):
                ok = False
                print('WRONG: %s load changed=%s, re-run changed=%s'
                      % (what, load_result.get('changed'), rerun_result.get('changed')))
        dests = args.services * args.realservers
        print('table: %d services x %d real servers (%d destinations), %d rule lines'
              % (args.services, args.realservers, dests, len(rules.splitlines())))
        print('ipvsadm-restore load:                 %8.2f s' % t_restore)
        print('ipvs_table module load:               %8.2f s   summary %s' % (t_load, first.get('summary')))
        print('ipvs_table module re-run (no change): %8.2f s' % t_rerun)
        if not args.no_playbook:
            print('ansible-playbook ipvs_table load:     %8.2f s   (for information)' % p_load)
            print('ansible-playbook ipvs_table re-run:   %8.2f s   (for information)' % p_rerun)
        print('ratio load ipvs_table / ipvsadm-restore: %.2f (goal <= 1.0)' % (t_load / t_restore))
        print('ratio re-run / load:                     %.2f (goal <= 0.25)' % (t_rerun / t_load))
        print('tables identical to ipvsadm-restore\'s, first run changed, re-run unchanged: %s' % ok)
        return 0 if ok else 1
    finally:
        os.unlink(rules_path)
        for ns in namespaces:
            subprocess.run(['ip', 'netns', 'del', ns], check=False, capture_output=True)


if __name__ == '__main__':
    sys.exit(main())
