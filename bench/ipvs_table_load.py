"""Benchmark: load an IPVS table with the ipvs_table module vs ipvsadm-restore.

Run it in the lab (it needs a kernel with ip_vs and root):

    tests/lab/run python3 bench/ipvs_table_load.py [--runs 5] [--small 100x10]
        [--large 1000x10] [--playbook]

Two table sizes, SERVICESxREAL_SERVERS each (a small and a large one), and --runs rounds
in one guest.  In every round, for each size, each load into a fresh, empty network
namespace:

* `ipvsadm-restore` of the rules (the reference: one C process);
* the ipvs_table module run the way Ansible runs it on the target, a Python process given
  its arguments (rules, purge: true): start-up, imports, parsing and validating the
  rules, reading the live table, planning, netlink ("load"); then the same run again on
  the loaded table ("re-run", must report no change).

Even rounds time ipvsadm-restore first, odd rounds the module first, so a machine that
slows down or speeds up during the run weighs on both alike.  Each namespace is removed
once its table is checked, and the next step waits 2 s for the kernel's teardown.  Each round also times the
bare start-up the module cannot avoid (python3 importing AnsibleModule and pyroute2's
netlink classes), for information, and after each re-run the "re-run floor": that start-up
plus every netlink dump of the table kept as bytes (nothing parsed, decoded or planned),
the least any re-run that reads the live table can cost.

Printed: min/median/max of each measure per size; the median ratios load / restore (goal
<= 1.0) and re-run / load (goal <= 0.5) for the large table; the marginal cost per 1,000
real servers, (median large - median small) / ((large - small destinations) / 1000), and
the fixed cost it implies (the time at 0 real servers), for restore, load, re-run and floor.

--playbook adds one load and re-run per size through `ansible-playbook` (wall clock,
everything a user waits for), for information: under emulation ansible-playbook's own
start-up is ~11 s, which says nothing about the module.

Not a timed test: it exits non-zero only if a result is wrong (a table differs from
ipvsadm-restore's `ipvsadm-save -n`, a load reports no change, a re-run a change).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
# Imported for its side effect: it makes ansible_collections.lvs.cluster importable.
import tests.conftest  # noqa: E402  pylint: disable=wrong-import-position

MODULE = 'ansible_collections.lvs.cluster.plugins.modules.ipvs_table'
# What every module run pays before it reads its arguments: the interpreter, AnsibleModule
# and the pyroute2 classes module_utils/ipvs.py loads for netlink.
# What every module run imports before its work: AnsibleModule and pyroute2, the module's way.
STARTUP = ('import ansible.module_utils.basic\n'
           'from ansible_collections.lvs.cluster.plugins.module_utils.base import load_pyroute2\n'
           'load_pyroute2()')
# rules_text() spells VIPs 10.(100 + s // 250).(s % 250).1 and real servers
# 172.16.x.(r + 1): these bounds keep both valid addresses.
MAX_SERVICES = (256 - 100) * 250
MAX_REALSERVERS = 254
SETTLE_SECONDS = 2


class Size:
    """A table shape: services, real servers per service, its rules in a file."""

    def __init__(self, services, realservers):
        self.services = services
        self.realservers = realservers
        self.rules_path = None

    @property
    def dests(self):
        return self.services * self.realservers

    @property
    def name(self):
        return '%dx%d' % (self.services, self.realservers)

    def write_rules(self):
        with tempfile.NamedTemporaryFile('w', suffix='.rules', delete=False) as handle:
            handle.write(rules_text(self.services, self.realservers))
        self.rules_path = handle.name


def table_size(text):
    """argparse type: SERVICESxREAL_SERVERS, e.g. 1000x10."""
    try:
        services, realservers = (int(part) for part in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(
            '%r: give SERVICESxREAL_SERVERS, e.g. 1000x10' % text) from None
    if not 1 <= services <= MAX_SERVICES or not 1 <= realservers <= MAX_REALSERVERS:
        raise argparse.ArgumentTypeError(
            '%r: services must be 1-%d and real servers per service 1-%d'
            % (text, MAX_SERVICES, MAX_REALSERVERS))
    return Size(services, realservers)


def rules_text(services, realservers):
    lines = []
    for s in range(services):
        vip = '10.%d.%d.1' % (100 + s // 250, s % 250)
        lines.append('-A -t %s:80 -s wrr' % vip)
        for r in range(realservers):
            lines.append('-a -t %s:80 -r 172.16.%d.%d:80 -g -w %d' % (vip, s % 250, r + 1, r % 5 + 1))
    return '\n'.join(lines) + '\n'


def in_ns(ns, argv):
    return ['ip', 'netns', 'exec', ns] + argv


def save(ns):
    return subprocess.run(in_ns(ns, ['ipvsadm-save', '-n']), check=True,
                          capture_output=True, text=True).stdout


class Namespaces:
    """Fresh network namespaces (each with an empty IPVS table), removed when done."""

    def __init__(self, tag):
        self.tag = tag
        self.count = 0
        self.live = []

    def fresh(self):
        self.count += 1
        name = '%s-%d' % (self.tag, self.count)
        subprocess.run(['ip', 'netns', 'add', name], check=True)
        self.live.append(name)
        subprocess.run(in_ns(name, ['ip', 'link', 'set', 'lo', 'up']), check=True)
        return name

    def remove(self, name):
        subprocess.run(['ip', 'netns', 'del', name], check=False, capture_output=True)
        self.live.remove(name)
        # The kernel tears a namespace (and its IPVS table) down in a work queue after
        # `ip netns del` returns; let it finish before the next timed step, or that
        # step pays for it (seen in the lab: loads right after a removal ~1 s slower).
        time.sleep(SETTLE_SECONDS)

    def remove_all(self):
        for name in list(self.live):
            subprocess.run(['ip', 'netns', 'del', name], check=False, capture_output=True)
            self.live.remove(name)


def run_restore(ns, size):
    with open(size.rules_path) as rules:
        start = time.monotonic()
        proc = subprocess.run(in_ns(ns, ['ipvsadm-restore']), stdin=rules,
                              capture_output=True, text=True, check=False)
        elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit('ipvsadm-restore failed (%s):\n%s' % (size.name, proc.stderr[-3000:]))
    return elapsed


def run_module(ns, size):
    """One ipvs_table run as Ansible starts it on the target: python3, the module, its args."""
    with open(size.rules_path) as rules:
        args = {'ANSIBLE_MODULE_ARGS': {'rules': rules.read(), 'purge': True}}
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as handle:
        json.dump(args, handle)
    env = dict(os.environ, PYTHONPATH=tests.conftest.COLLECTIONS_ROOT)
    start = time.monotonic()
    proc = subprocess.run(in_ns(ns, [sys.executable, '-m', MODULE, handle.name]),
                          capture_output=True, text=True, env=env, check=False)
    elapsed = time.monotonic() - start
    os.unlink(handle.name)
    result = json.loads(proc.stdout) if proc.stdout.strip().startswith('{') else {}
    if proc.returncode != 0 or result.get('failed'):
        sys.exit('module run failed (%s):\n%s\n%s' % (size.name, proc.stdout[-3000:], proc.stderr[-3000:]))
    return elapsed, result


def run_playbook(ns, size):
    play = ('- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n'
            '    - lvs.cluster.ipvs_table:\n        rules: "{{ lookup(\'file\', \'%s\') }}"\n'
            '        purge: true\n' % size.rules_path)
    with tempfile.NamedTemporaryFile('w', suffix='.yml', delete=False) as handle:
        handle.write(play)
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK='ansible.posix.json', ANSIBLE_PIPELINING='True',
               ANSIBLE_PYTHON_INTERPRETER='/usr/bin/python3', ANSIBLE_LOCALHOST_WARNING='False',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='False')
    start = time.monotonic()
    proc = subprocess.run(in_ns(ns, ['ansible-playbook', '-i', 'localhost,', handle.name]),
                          capture_output=True, text=True, env=env, check=False)
    elapsed = time.monotonic() - start
    os.unlink(handle.name)
    if proc.returncode != 0:
        sys.exit('playbook failed (%s):\n%s\n%s' % (size.name, proc.stdout[-3000:], proc.stderr[-3000:]))
    return elapsed, json.loads(proc.stdout)['plays'][0]['tasks'][0]['hosts']['localhost']


# The least any re-run that reads the live table pays: the same start-up, then every
# netlink dump (the services, then each service's real servers) kept as bytes, with no
# rules parsed, nothing decoded past the service keys, nothing planned.
READ_FLOOR = (STARTUP + '\n'
              'from ansible_collections.lvs.cluster.plugins.module_utils import ipvs_session, ipvs_wire as w\n'
              'session = ipvs_session.IPVSSession()\n'
              'for svc in session.services():\n'
              '    session._dump(w.CMD_GET_DEST, w.nla(w.CMD_ATTR_SERVICE | w.NLA_F_NESTED,\n'
              '                                        w.encode_service_key(svc)), w.CMD_ATTR_DEST)\n'
              'session.close()')


def time_python(code, ns=None):
    """Seconds of one `python3 -c CODE` seeing the checkout as the collection (in NS if given)."""
    argv = [sys.executable, '-c', code]
    env = dict(os.environ, PYTHONPATH=tests.conftest.COLLECTIONS_ROOT)
    start = time.monotonic()
    subprocess.run(in_ns(ns, argv) if ns else argv, check=True, env=env)
    return time.monotonic() - start


class Checker:
    """Collects wrong results; the benchmark's exit status comes from here alone."""

    def __init__(self):
        self.errors = []

    def table(self, what, size, table, reference):
        if table != reference:
            self.errors.append('%s %s: the table differs from ipvsadm-restore\'s' % (size.name, what))

    def changed(self, what, size, result, expected):
        if bool(result.get('changed')) != expected:
            self.errors.append('%s %s: changed=%s, expected %s'
                               % (size.name, what, result.get('changed'), expected))


def module_pair(spaces, size, check):
    """Module load into a fresh namespace, then the re-run on what it loaded.

    Returns both times and the tables each run left (compared by the caller).
    """
    ns = spaces.fresh()
    load, first = run_module(ns, size)
    check.changed('module load', size, first, True)
    loaded = save(ns)
    rerun, second = run_module(ns, size)
    check.changed('module re-run', size, second, False)
    rerun_table = save(ns)
    floor = time_python(READ_FLOOR, ns)
    spaces.remove(ns)
    return load, rerun, floor, loaded, rerun_table


def restore_once(spaces, size):
    ns = spaces.fresh()
    elapsed = run_restore(ns, size)
    table = save(ns)
    spaces.remove(ns)
    return elapsed, table


def one_round(number, spaces, sizes, check, times):
    """Every measure once per size; odd rounds run the module before ipvsadm-restore."""
    times['startup'].append(time_python(STARTUP))
    for size in sizes:
        if number % 2 == 0:
            restore, reference = restore_once(spaces, size)
            load, rerun, floor, loaded, rerun_table = module_pair(spaces, size, check)
        else:
            load, rerun, floor, loaded, rerun_table = module_pair(spaces, size, check)
            restore, reference = restore_once(spaces, size)
        check.table('module load', size, loaded, reference)
        check.table('module re-run', size, rerun_table, reference)
        times[size.name]['restore'].append(restore)
        times[size.name]['load'].append(load)
        times[size.name]['rerun'].append(rerun)
        times[size.name]['floor'].append(floor)
        print('bench: round %d %-9s restore %6.2f s  load %6.2f s  re-run %6.2f s  '
              'load/restore %.2f  re-run/load %.2f'
              % (number + 1, size.name, restore, load, rerun, load / restore, rerun / load), flush=True)


def playbook_pair(spaces, size, check, reference):
    ns = spaces.fresh()
    load, first = run_playbook(ns, size)
    check.changed('playbook load', size, first, True)
    check.table('playbook load', size, save(ns), reference)
    rerun, second = run_playbook(ns, size)
    check.changed('playbook re-run', size, second, False)
    spaces.remove(ns)
    return load, rerun


def spread(values):
    return '%6.2f %6.2f %6.2f' % (min(values), statistics.median(values), max(values))


def verdict(ratio, goal):
    return '%.2f (goal <= %.1f: %s)' % (ratio, goal, 'met' if ratio <= goal else 'NOT met')


def report(sizes, times, runs):
    small, large = sizes
    labels = (('restore', 'ipvsadm-restore'), ('load', 'module load'), ('rerun', 'module re-run'),
              ('floor', 're-run floor (start-up + dumps)'))
    print('\nbench: %d rounds; times in s, min / median / max' % runs)
    for size in sizes:
        print('bench: table %s: %d services, %d destinations, %d rule lines'
              % (size.name, size.services, size.dests, size.services + size.dests))
    print('bench: %-34s %-9s %6s %6s %6s' % ('measure', 'table', 'min', 'median', 'max'))
    for key, label in labels:
        for size in sizes:
            print('bench: %-34s %-9s %s' % (label, size.name, spread(times[size.name][key])))
    print('bench: %-34s %-9s %s' % ('python3 + AnsibleModule + pyroute2', '-', spread(times['startup'])))

    med = dict((size.name, dict((key, statistics.median(times[size.name][key])) for key, _label in labels))
               for size in sizes)
    for size in sizes:
        print('bench: median ratios %-9s load / restore %s, re-run / load %s, re-run floor / load %.2f'
              % (size.name, verdict(med[size.name]['load'] / med[size.name]['restore'], 1.0),
                 verdict(med[size.name]['rerun'] / med[size.name]['load'], 0.5),
                 med[size.name]['floor'] / med[size.name]['load']))

    thousands = (large.dests - small.dests) / 1000.0
    print('bench: marginal cost per 1,000 real servers (medians %s -> %s) and fixed cost at 0:'
          % (small.name, large.name))
    for key, label in labels:
        slope = (med[large.name][key] - med[small.name][key]) / thousands
        intercept = med[small.name][key] - slope * small.dests / 1000.0
        print('bench: %-16s %6.3f s per 1,000   fixed %6.2f s' % (label, slope, intercept))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--runs', type=int, default=5, help='rounds (default 5)')
    parser.add_argument('--small', type=table_size, default=table_size('100x10'),
                        help='small table, SERVICESxREAL_SERVERS (default 100x10)')
    parser.add_argument('--large', type=table_size, default=table_size('1000x10'),
                        help='large table, SERVICESxREAL_SERVERS (default 1000x10)')
    parser.add_argument('--playbook', action='store_true',
                        help='also load and re-run each size once through ansible-playbook (slow)')
    args = parser.parse_args()
    if args.runs < 1:
        parser.error('--runs must be at least 1')
    if args.small.dests >= args.large.dests:
        parser.error('--small (%s) must have fewer destinations than --large (%s)'
                     % (args.small.name, args.large.name))
    sizes = (args.small, args.large)
    spaces = Namespaces('bench%d' % os.getpid())
    check = Checker()
    times = dict((size.name, {'restore': [], 'load': [], 'rerun': [], 'floor': []}) for size in sizes)
    times['startup'] = []
    try:
        for size in sizes:
            size.write_rules()
        for number in range(args.runs):
            one_round(number, spaces, sizes, check, times)
        report(sizes, times, args.runs)
        if args.playbook:
            for size in sizes:
                _restore, reference = restore_once(spaces, size)
                load, rerun = playbook_pair(spaces, size, check, reference)
                print('bench: ansible-playbook %-9s load %6.2f s  re-run %6.2f s  (information)'
                      % (size.name, load, rerun), flush=True)
    finally:
        spaces.remove_all()
        for size in sizes:
            if size.rules_path:
                os.unlink(size.rules_path)
    for error in check.errors:
        print('bench: WRONG: %s' % error)
    print('bench: tables identical to ipvsadm-restore\'s, loads changed, re-runs unchanged: %s'
          % ('yes' if not check.errors else 'NO'))
    return 1 if check.errors else 0


if __name__ == '__main__':
    sys.exit(main())
