"""The roles' templates rendered for the example inventories' plans (host-only).

What the kernel then does with them is proven in the lab (the Molecule scenarios); here:
the boot service runs the plan's program on the plan's state and is ordered as the state
needs, modules-load.d lists the planned modules, the nftables ruleset marks exactly the
planned ports, the sysctl files hold the explained keys.
"""
import os
import subprocess

import jinja2
import jinja2.nativetypes
import pytest
import yaml

from test_cluster_plan import plan_of

ROLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'roles')
TEMPLATES = os.path.join(ROLES, 'common', 'templates')


def render(name, plan, **extra):
    with open(os.path.join(TEMPLATES, name)) as handle:
        source = handle.read()
    # The action plugin adds conf_dir (lvs_conf_dir or its default) to the planner's plan.
    variables = {'lvs_plan': dict(plan, conf_dir='/etc/lvs-cluster'), 'inventory_hostname': 'h'}
    variables.update(extra)
    # The template module's Jinja settings (trim_blocks); these templates use only
    # Jinja's own filters, so plain Jinja renders them as Ansible does.
    env = jinja2.Environment(trim_blocks=True, undefined=jinja2.StrictUndefined)
    # Role defaults are templates over the deprecated names (undefined unless EXTRA sets
    # them); Ansible renders them lazily, native types kept: do the same here.
    native = jinja2.nativetypes.NativeEnvironment()
    for role in ('director', 'realserver'):
        with open(os.path.join(ROLES, role, 'defaults', 'main.yml')) as handle:
            for key, value in (yaml.safe_load(handle) or {}).items():
                if key not in extra:
                    variables[key] = (native.from_string(value).render(extra)
                                      if isinstance(value, str) else value)
    return env.from_string(source).render(variables)


def sysctl_lines(text):
    """key = value lines of a sysctl.d file, as {key: value} (comments and blanks dropped)."""
    return dict((k.strip(), v.strip()) for k, v in (line.split('=', 1) for line in text.splitlines()
                                                    if line.strip() and not line.startswith('#')))


@pytest.mark.parametrize('inventory, extra', [
    ('dr', {}),
    ('tun', {'net.ipv4.conf.tunl0.arp_ignore': '1', 'net.ipv4.conf.tunl0.arp_announce': '2',
             'net.ipv4.conf.all.rp_filter': '0', 'net.ipv4.conf.tunl0.rp_filter': '0'}),
])
def test_real_server_sysctl_file_holds_the_planned_arp_and_rp_filter_keys(inventory, extra):
    plan = plan_of(inventory)['rs1']
    values = sysctl_lines(render('realserver-sysctl.conf.j2', plan))
    assert values == dict({'net.ipv4.conf.all.arp_ignore': '1', 'net.ipv4.conf.all.arp_announce': '2',
                           'net.ipv4.conf.lo.arp_ignore': '1', 'net.ipv4.conf.lo.arp_announce': '2'}, **extra)
    # The file is the plan's values, the ones lvs_host sets live: one source, every key.
    assert values == plan['realserver']['sysctls']
    plan['realserver']['sysctls'] = dict(plan['realserver']['sysctls'], **{'net.ipv4.conf.all.forwarding': '0'})
    assert sysctl_lines(render('realserver-sysctl.conf.j2', plan)) == plan['realserver']['sysctls']


def test_nat_real_server_sysctl_file_has_no_key():
    # Written all the same: it replaces what an earlier plan (a TUN one) left there.
    assert sysctl_lines(render('realserver-sysctl.conf.j2', plan_of('nat')['rs1'])) == {}


def test_fwmark_ruleset_marks_the_planned_ports():
    ruleset = render('fwmark.nft.j2', plan_of('nat')['director'])
    assert ruleset.count('ip daddr 203.0.113.100 tcp dport { 8080, 8443 } meta mark set 10') == 2
    assert 'delete table inet lvs_cluster' in ruleset


def test_director_sysctls_forward_only_for_nat():
    assert 'net.ipv4.ip_forward = 1' in render('director-sysctl.conf.j2', plan_of('nat')['director'])
    dr = render('director-sysctl.conf.j2', plan_of('dr')['director'])
    assert 'ip_forward' not in dr
    assert 'net.ipv4.vs.expire_nodest_conn = 1' in dr
    assert 'net.ipv4.vs.expire_quiescent_template = 1' in dr


@pytest.mark.parametrize('settings, line', [
    ({}, 'net.ipv4.vs.conntrack = 0'),
    ({'director_conntrack': 1}, 'net.ipv4.vs.conntrack = 1'),
    ({'director_sysctls': {'net.core.somaxconn': 4096}}, 'net.core.somaxconn = 4096'),
    ({'director_sysctls': {'net/ipv4/conf/eth0.10/rp_filter': 2}}, 'net/ipv4/conf/eth0.10/rp_filter = 2'),
])
def test_director_sysctl_file_holds_the_planned_values(settings, line):
    # The values are the plan's (the action passes the role's settings, deprecated names
    # too: test_cluster_plan_action.py); the template only writes them with their reasons.
    from test_cluster_plan import load_inventory
    from ansible_collections.lvs.cluster.plugins.module_utils.cluster import plan_cluster
    plan = plan_cluster(*load_inventory('dr'), settings=settings)['director']
    assert line in render('director-sysctl.conf.j2', plan).splitlines()


def test_router_sysctls_loose_rp_filter_for_tun():
    text = render('router-sysctl.conf.j2', plan_of('tun')['router'])
    assert 'net.ipv4.ip_forward = 1' in text
    assert 'net.ipv4.conf.all.rp_filter = 2' in text


def render_plain(name, plan):
    """NAME rendered as the template module does, for PLAN as lvs_plan (no role defaults)."""
    with open(os.path.join(TEMPLATES, name)) as handle:
        return jinja2.Environment(trim_blocks=True, undefined=jinja2.StrictUndefined,
                                  keep_trailing_newline=True).from_string(handle.read()).render({'lvs_plan': plan})


def test_boot_services_run_the_plans_program_on_its_state_in_lvs_conf_dir(tmp_path):
    from test_cluster_plan import load_inventory
    from ansible_collections.lvs.cluster.plugins.module_utils.cluster import plan_cluster
    plan = plan_cluster(*load_inventory('nat'), settings={'lvs_conf_dir': '/srv/lvs'})['director']
    command = '/usr/local/lib/lvs-cluster/lvs-cluster-boot /srv/lvs/host.json'
    unit = render_plain('lvs-cluster.service.j2', plan)
    init = render_plain('lvs-cluster.init.j2', plan)
    assert 'ExecStart=' + command in unit.splitlines()
    assert '    start) exec %s ;;' % command in init.splitlines()
    for text in (unit, init):
        assert '/etc/lvs-cluster' not in text
        assert text.endswith('\n')
    script = tmp_path / 'lvs-cluster'
    script.write_text(init)
    assert subprocess.run(['sh', '-n', str(script)], check=False).returncode == 0
    # Stopping or an unknown action changes nothing.
    for action, rc in (('stop', 0), ('status', 0), ('', 3)):
        proc = subprocess.run(['sh', str(script), action], capture_output=True, text=True, check=False)
        assert proc.returncode == rc and proc.stdout == ''


def unit_values(text, key):
    return [word for line in text.splitlines() if line.startswith(key + '=')
            for word in line.split('=', 1)[1].split()]


def test_boot_unit_order_modules_and_sysctls_first_nftables_before_keepalived_after():
    unit = render_plain('lvs-cluster.service.j2', plan_of('dr')['director'])
    # After the OS loaded the modules and applied sysctl.d (its own pass finds them set),
    # with the network up, after nftables.service (its ruleset may flush every table);
    # before keepalived, which takes VIPs once marks and timeouts are in.
    assert set(unit_values(unit, 'After')) == {
        'systemd-modules-load.service', 'systemd-sysctl.service', 'network-online.target', 'nftables.service'}
    assert unit_values(unit, 'Wants') == ['network-online.target']
    assert unit_values(unit, 'Before') == ['keepalived.service']
    assert unit_values(unit, 'Type') == ['oneshot'] and unit_values(unit, 'RemainAfterExit') == ['yes']
    assert unit_values(unit, 'WantedBy') == ['multi-user.target']


@pytest.mark.parametrize('inventory, host, modules', [
    ('dr', 'director', ['ip_vs', 'ip_vs_wrr']),
    ('tun', 'rs1', ['ipip']),
    ('nat', 'rs1', []),
])
def test_modules_load_file_lists_the_planned_kernel_modules(inventory, host, modules):
    plan = plan_of(inventory)[host]
    text = render_plain('modules-load.conf.j2', plan)
    assert [line for line in text.splitlines() if line and not line.startswith('#')] == modules
    assert plan['host']['kernel_modules'] == modules


def test_keepalived_drop_in_restarts_it_after_a_kill():
    drop_in = render_plain('keepalived-service.conf.j2', {})
    assert '[Service]' in drop_in.splitlines()
    assert unit_values(drop_in, 'Restart') == ['on-failure'] and unit_values(drop_in, 'RestartSec') == ['1']
