"""The operator playbooks and the roles need no fact: they run with INJECT_FACTS_AS_VARS off
(ansible-core 2.24's default), with no deprecation, and a fact cache never hands a role an
older plan. The playbooks run every module as root (become).

Host-only and hermetic: ansible-playbook runs on the controller as in production (every
play, role entry point, `when`, loop and template, the planner included), in check mode,
with every host reached through the local connection and a stub "Python" that swallows
each module and answers ok without running it; become goes through a stub sudo that only
runs its command. So nothing touches this machine or needs a kernel; what the modules then
do to a host is the lab's to prove (the Molecule scenarios). The results are read as JSON
through the integration tests' stdout callback.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
INVENTORIES = os.path.join(REPO, 'playbooks', 'inventories')
PLAN_TASK = "This host's plan as lvs_plan (a variable of this run, not cached)"
# Every module "succeeds" with what the roles read of its result (command's rc and
# stdout, ipvs_info's services and save), changing nothing; stub_user says whether it ran
# through sudo (STUB_SUDO below).
STUB = """#!/bin/sh
cat > /dev/null
echo '{"changed": false, "rc": 0, "stdout": "", "stderr": "", "stdout_lines": [], "stderr_lines": [], \
"save": "", "services": [], "stub_user": "'"${STUB_SUDO_USER:-}"'"}'
"""
# Called as Ansible calls sudo (sudo -H -S -n -u USER /bin/sh -c CMD): runs CMD as it is.
STUB_SUDO = """#!/bin/sh
while [ $# -gt 0 ] && [ "$1" != -u ]; do shift; done
STUB_SUDO_USER=$2
export STUB_SUDO_USER
shift 2
exec "$@"
"""


def playbook(tmp_path, path, inventories, inject='False', env=None, extra_vars=None):
    """Run PATH on INVENTORIES (check mode, no host touched); return (rc, results, output)
    where results are the per-task results, {play index: [(task name, {host: result})]}."""
    stub, sudo = tmp_path / 'stub-python', tmp_path / 'stub-sudo'
    for script, text in ((stub, STUB), (sudo, STUB_SUDO)):
        script.write_text(text)
        script.chmod(0o755)
    argv = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '--check', path,
            '-e', 'ansible_connection=local', '-e', 'ansible_python_interpreter=%s' % stub,
            '-e', 'ansible_become_exe=%s' % sudo]
    for inventory in inventories:
        argv += ['-i', str(inventory)]
    for key, value in (extra_vars or {}).items():
        argv += ['-e', '%s=%s' % (key, value)]
    run_env = dict(os.environ,
                   ANSIBLE_INJECT_FACT_VARS=inject,
                   ANSIBLE_DEPRECATION_WARNINGS='True',
                   ANSIBLE_CALLBACK_PLUGINS=os.path.join(REPO, 'tests', 'integration', 'callback_plugins'),
                   ANSIBLE_STDOUT_CALLBACK='lvs_results',
                   ANSIBLE_PIPELINING='True',
                   ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'),
                   # Become even where this test runs as root (Ansible skips it by default
                   # when the login user is the become user).
                   ANSIBLE_BECOME_ALLOW_SAME_USER='True',
                   ANSIBLE_NOCOLOR='1')
    run_env.update(env or {})
    proc = subprocess.run(argv, capture_output=True, text=True, env=run_env, check=False)
    output = proc.stdout + proc.stderr
    try:
        document = json.loads(proc.stdout[proc.stdout.index('{"plays"'):])
    except ValueError:
        raise AssertionError('ansible-playbook gave no JSON (rc %d):\n%s' % (proc.returncode, output))
    # A role's task is named "ROLE : NAME": keep NAME.
    results = [[(t['task']['name'].split(' : ', 1)[-1], t['hosts']) for t in play['tasks']]
               for play in document['plays']]
    return proc.returncode, results, output


def assert_no_fact_deprecation(output):
    assert 'INJECT_FACTS_AS_VARS' not in output, output
    assert 'DEPRECATION' not in output, output


def assert_modules_ran_as_root(results):
    """Every module the run started (each loop item too) went through sudo -u root."""
    ran = []
    for tasks in results:
        for name, hosts in tasks:
            for host, result in hosts.items():
                for one in result.get('results', [result]):
                    if 'stub_user' in one:
                        ran.append((name, host, one['stub_user']))
    assert ran
    assert [r for r in ran if r[2] != 'root'] == []


def plans(results):
    """Each host's lvs_plan, as the last planning step of the run set it."""
    found = {}
    for tasks in results:
        for name, hosts in tasks:
            if name == PLAN_TASK:
                for host, result in hosts.items():
                    if not result.get('skipped'):
                        found[host] = result['ansible_facts']['lvs_plan']
    return found


def task(results, name):
    return [hosts for tasks in results for task_name, hosts in tasks if task_name == name]


# Between them every role and template: ha keepalived mode with DR and NAT real servers,
# nat a static NAT director with a fwmark service, tun TUN real servers and routers (dr and
# dr-routed add no other; dr runs below).
@pytest.mark.parametrize('inventory', ['ha', 'nat', 'tun'])
def test_site_runs_without_facts_as_variables(inventory, tmp_path):
    """Every play, role, condition and template of site.yml with INJECT_FACTS_AS_VARS off;
    every module as root."""
    rc, results, output = playbook(tmp_path, os.path.join(REPO, 'playbooks', 'site.yml'),
                                   [os.path.join(INVENTORIES, inventory)])
    assert rc == 0, output
    assert_no_fact_deprecation(output)
    assert_modules_ran_as_root(results)
    with open(os.path.join(INVENTORIES, inventory, 'hosts.yml')) as handle:
        groups = yaml.safe_load(handle)
    roles = {}
    for group, role in (('lvs_routers', 'router'), ('lvs_realservers', 'realserver'),
                        ('lvs_directors', 'director')):
        for host in (groups.get(group) or {}).get('hosts') or {}:
            roles.setdefault(host, []).append(role)
    planned = plans(results)
    assert sorted(planned) == sorted(roles)
    for host, plan in planned.items():
        assert sorted(plan['roles']) == sorted(roles[host]), host
    # No result carries a fact but set_fact's (the planner returns its plan as a result).
    for tasks in results:
        for name, hosts in tasks:
            for host, result in hosts.items():
                assert 'ansible_facts' not in result or name == PLAN_TASK, (name, host)
    # The roles got past their planning: every host's files were rendered and "written".
    files = task(results, 'Generated files (sysctl.d, modules-load.d, the fwmark ruleset, the boot service)')
    for host in roles:
        assert any(host in hosts and not hosts[host].get('skipped') for hosts in files), host


WEIGHTS_TASK = "Set the weight in every service, 0 (drain, no new connections) or the inventory's (bring back)"


def operator_run(tmp_path, name, **extra_vars):
    """playbooks/NAME on the ha inventory, which must pass with no fact deprecation and
    every module as root; its per-task results."""
    rc, results, output = playbook(tmp_path, os.path.join(REPO, 'playbooks', name),
                                   [os.path.join(INVENTORIES, 'ha')], extra_vars=extra_vars)
    assert rc == 0, output
    assert_no_fact_deprecation(output)
    assert_modules_ran_as_root(results)
    return results


def test_drain_and_status_run_without_facts_as_variables(tmp_path):
    (weights,) = task(operator_run(tmp_path, 'drain.yml', lvs_drain_host='rs1'), WEIGHTS_TASK)
    for director in ('lb1', 'lb2'):
        assert [r['item']['address'] for r in weights[director]['results']] == ['192.0.2.11'] * 2

    (summary,) = task(operator_run(tmp_path, 'status.yml'), 'Summary of every director')
    lines = next(iter(summary.values()))['msg']
    # The VIPs come from every director's lvs_plan (read through hostvars).
    assert any('192.0.2.100' in line for line in lines), lines


def test_rolling_runs_without_facts_as_variables_one_real_server_after_the_other(tmp_path):
    results = operator_run(tmp_path, 'rolling.yml', lvs_rolling_command='true')
    weights = task(results, WEIGHTS_TASK)
    # Drained, then back, on both directors: rs1 first, then rs2; each restart once.
    assert [sorted(hosts) for hosts in weights] == [['lb1', 'lb2']] * 4
    assert [hosts['lb1']['results'][0]['item']['address'] for hosts in weights] == \
        ['192.0.2.11', '192.0.2.11', '192.0.2.12', '192.0.2.12']
    restarts = task(results, 'Restart the application (lvs_rolling_command) on rs1') + \
        task(results, 'Restart the application (lvs_rolling_command) on rs2')
    assert [len(hosts) for hosts in restarts] == [1, 1], restarts


def copy_inventory(tmp_path, name):
    inventory = tmp_path / name
    shutil.copytree(os.path.join(INVENTORIES, name), inventory)
    return inventory


ROLE_ALONE = """
- name: The director role alone (no site.yml before it)
  hosts: lvs_directors
  gather_facts: false
  roles:
    - role: lvs.cluster.director
"""
# The first run, with inventory A, then: the plan is no fact (the host's facts are what a
# fact cache keeps), and the cache gets the stale plan an older release left there.
FIRST_RUN = ROLE_ALONE + """
- name: Its plan is no fact
  hosts: lvs_directors
  gather_facts: false
  tasks:
    - name: No lvs_plan among the host's facts
      ansible.builtin.assert:
        that: ansible_facts.lvs_plan is not defined

- name: What 0.1.0 left in a fact cache (its plan was a fact)
  hosts: lvs_directors
  gather_facts: false
  tasks:
    - name: The plan as a cached fact
      ansible.builtin.set_fact:
        lvs_plan: "{{ lvs_plan }}"
        cacheable: true
"""
# The second run, with inventory B: the stale plan is there (from the cache), then the role.
SECOND_RUN = """
- name: The cache holds the plan of inventory A
  hosts: lvs_directors
  gather_facts: false
  tasks:
    - name: The cached plan has the old VIP
      ansible.builtin.assert:
        that: ansible_facts.lvs_plan.director.vips[0].address == '192.0.2.100'
""" + ROLE_ALONE


@pytest.mark.parametrize('inject', ['True', 'False'])
def test_a_fact_cache_never_hands_a_role_an_older_plan(inject, tmp_path):
    """Fact caching on (jsonfile): the director role alone with inventory A, the VIP
    changed in the inventory, the role alone again: it plans again and puts up the new VIP
    (with INJECT_FACTS_AS_VARS on, a cached lvs_plan is a variable too)."""
    env = {'ANSIBLE_CACHE_PLUGIN': 'jsonfile', 'ANSIBLE_CACHE_PLUGIN_CONNECTION': str(tmp_path / 'facts')}
    inventory = copy_inventory(tmp_path, 'dr')
    first, second = tmp_path / 'first.yml', tmp_path / 'second.yml'
    first.write_text(FIRST_RUN)
    second.write_text(SECOND_RUN)
    rc, results, output = playbook(tmp_path, str(first), [inventory], inject=inject, env=env)
    assert rc == 0, output
    assert_no_fact_deprecation(output)
    assert [v['address'] for v in plans(results)['director']['director']['vips']] == ['192.0.2.100']

    group_vars = inventory / 'group_vars' / 'all.yml'
    group_vars.write_text(group_vars.read_text().replace('address: 192.0.2.100', 'address: 192.0.2.200'))
    rc, results, output = playbook(tmp_path, str(second), [inventory], inject=inject, env=env)
    assert rc == 0, output
    assert_no_fact_deprecation(output)
    # The plan the role made (a role that skipped planning has none), whose lvs_plan.host
    # its one lvs_host run applies: the new VIP.
    (converge,) = task(results, 'Kernel modules, sysctls, fwmark rules, routes, VIPs, the IPVS table, '
                                'the boot program and services as planned')
    assert 'director' in converge
    assert [v['address'] for v in plans(results)['director']['director']['vips']] == ['192.0.2.200']
    assert [a['address'] for a in plans(results)['director']['host']['addresses']] == ['192.0.2.200']
