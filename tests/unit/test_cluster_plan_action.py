"""The cluster_plan action plugin (controller side): what it reads from the host's
variables and the plan it returns (the roles' lvs_plan), on top of plan_cluster."""
from unittest import mock

import pytest

from ansible.parsing.dataloader import DataLoader
from ansible.playbook.task import Task
from ansible.plugins.action import ActionBase
from ansible.template import Templar

from ansible_collections.lvs.cluster.plugins.action import cluster_plan

from test_cluster_plan import load_inventory


def run_plan(name, me, **extra):
    """Run the action for host ME of example inventory NAME; EXTRA are more task vars."""
    services, hostvars, groups = load_inventory(name)
    services = extra.pop('lvs_services', services)
    for host in hostvars:
        hostvars[host]['lvs_services'] = services
        if 'lvs_ipvs_timeouts' in extra:    # a cluster-wide variable: every host has it
            hostvars[host]['lvs_ipvs_timeouts'] = extra['lvs_ipvs_timeouts']
    task = Task()
    task.args = {}
    task_vars = dict(hostvars[me], hostvars=hostvars, groups=groups, inventory_hostname=me,
                     lvs_services=services, **extra)
    # The action templates the director role's settings (role defaults are templates).
    templar = Templar(loader=DataLoader(), variables=task_vars)
    action = cluster_plan.ActionModule(task, mock.MagicMock(), mock.MagicMock(),
                                       loader=None, templar=templar, shared_loader_obj=None)
    with mock.patch.object(ActionBase, 'run', return_value={}):
        return action.run(task_vars=task_vars)


def test_conf_dir_defaults_in_the_plan():
    assert run_plan('dr', 'director')['plan']['conf_dir'] == '/etc/lvs-cluster'


def test_the_plan_is_a_result_never_a_fact():
    # A fact would be cached by a fact cache and read bare only through INJECT_FACTS_AS_VARS.
    result = run_plan('dr', 'director')
    assert 'ansible_facts' not in result
    assert result['plan']['roles'] == ['director']


def test_conf_dir_from_lvs_conf_dir():
    result = run_plan('dr', 'rs1', lvs_conf_dir='/srv/lvs')
    assert result['plan']['conf_dir'] == '/srv/lvs'


@pytest.mark.parametrize('old, new', cluster_plan.DEPRECATED_VARS)
def test_deprecated_role_variable_names_warn(old, new):
    # A value each variable takes (the planner now validates the director's settings).
    value = {'lvs_director_sysctls': {'net.core.somaxconn': 4096},
             'lvs_realserver_sysctl_file': '/etc/sysctl.d/91-lvs.conf'}.get(old, 1)
    with mock.patch.object(cluster_plan.display, 'deprecated') as deprecated:
        run_plan('dr', 'director', **{old: value})
    (msg,), kwargs = deprecated.call_args
    assert old in msg and new in msg
    assert kwargs == {'version': '0.2.0', 'collection_name': 'lvs.cluster'}


def test_no_deprecation_for_the_new_names():
    with mock.patch.object(cluster_plan.display, 'deprecated') as deprecated:
        run_plan('dr', 'director', director_conntrack=1)
    deprecated.assert_not_called()


def test_plan_problems_are_listed_once_by_the_first_host():
    hosts = ['director', 'rs1', 'rs2']
    bad = {'lvs_services': [{'address': '192.0.2.100', 'port': 'http'}]}
    results = dict((me, run_plan('dr', me, ansible_play_hosts=hosts, **bad)) for me in hosts)
    assert all(r['failed'] for r in results.values())
    listed = [me for me, r in results.items() if 'lvs_services[0].port' in r['msg']]
    assert listed == ['director']
    assert results['director']['msg'].startswith('The cluster description has ')
    for me in ('rs1', 'rs2'):
        assert results[me]['msg'].endswith('no host was changed: listed under director')
        # The problems stay in every host's result (callbacks, -v).
        assert results[me]['problems'] == results['director']['problems']


def test_director_settings_reach_the_plan_by_new_and_deprecated_names():
    # The role default is a template over the deprecated name (trusted: it comes from the
    # role's defaults file): the action renders it.
    try:
        from ansible.template import trust_as_template   # ansible-core >= 2.19
    except ImportError:
        def trust_as_template(text):
            return text
    plan = run_plan('dr', 'director', director_conntrack=trust_as_template('{{ lvs_director_conntrack | default(0) }}'),
                    lvs_director_conntrack=1)['plan']
    assert plan['director']['sysctls']['net.ipv4.vs.conntrack'] == '1'
    assert plan['host']['sysctls']['net.ipv4.vs.conntrack'] == '1'
    plan = run_plan('dr', 'director', lvs_director_sysctls={'net.core.somaxconn': 4096})['plan']
    assert plan['host']['sysctls']['net.core.somaxconn'] == '4096'


def test_conf_dir_names_the_nft_ruleset():
    plan = run_plan('nat', 'director', lvs_conf_dir='/srv/lvs')['plan']
    assert plan['host']['nft_table'] == {'state': 'present', 'ruleset': '/srv/lvs/fwmark.nft'}


def test_ipvs_timeouts_reach_the_directors_only():
    timeouts = {'tcp': 900, 'udp': 60}
    assert run_plan('dr', 'director', lvs_ipvs_timeouts=timeouts)['plan']['host']['ipvs_timeouts'] == timeouts
    assert run_plan('dr', 'rs1', lvs_ipvs_timeouts=timeouts)['plan']['host']['ipvs_timeouts'] is None


def test_bad_ipvs_timeouts_fail_naming_the_field():
    result = run_plan('dr', 'director', lvs_ipvs_timeouts={'tcp': 0})
    assert result['failed']
    assert 'lvs_ipvs_timeouts.tcp: 0 is out of range (1..2147483)' in result['msg']
