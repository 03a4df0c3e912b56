"""The roles' templates rendered for the example inventories' plans (host-only).

What the kernel then does with them is proven in the lab (the Molecule scenarios); here:
the generated boot script is valid sh and carries each derived fact once, the nftables
ruleset marks exactly the planned ports, the sysctl files hold the explained keys.
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


@pytest.mark.parametrize('inventory', ['nat', 'dr', 'dr-routed', 'tun'])
def test_every_host_boot_script_is_valid_sh(inventory, tmp_path):
    for host, plan in plan_of(inventory).items():
        script = tmp_path / (host + '.sh')
        script.write_text(render('lvs-cluster.sh.j2', plan))
        proc = subprocess.run(['sh', '-n', str(script)], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, (inventory, host, proc.stderr)


def test_director_boot_restores_vip_and_table_and_loads_the_schedulers():
    script = render('lvs-cluster.sh.j2', plan_of('dr')['director'])
    assert 'for m in ip_vs ip_vs_wrr; do' in script
    assert 'ip addr replace 192.0.2.100/32 dev eth0' in script
    assert 'ipvsadm-restore < "$conf/ipvs.rules"' in script


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


def test_nat_real_server_rules_name_each_reply_port_and_the_director():
    script = render('lvs-cluster.sh.j2', plan_of('nat')['rs1'])
    for port in (80, 8080, 8443):
        assert 'from 198.51.100.11 ipproto tcp sport %d lookup 240' % port in script
    assert 'ip -4 route replace default via 198.51.100.1 table 240' in script


def test_tun_real_server_boot_puts_the_vip_on_tunl0_and_loads_ipip():
    script = render('lvs-cluster.sh.j2', plan_of('tun')['rs1'])
    assert 'for m in ipip; do' in script
    assert 'ip addr replace 192.0.2.100/32 dev tunl0' in script
    assert 'ip link set tunl0 up' in script


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


@pytest.mark.parametrize('sync', [True, False])
def test_ha_boot_script_leaves_keepalived_to_its_own_service(sync, tmp_path):
    # keepalived is enabled and started, and its sync daemons stopped when sync is off, by
    # lvs_host at converge (lvs_plan.host); at boot it is a service of its own.
    from test_cluster_ha import describe
    from ansible_collections.lvs.cluster.plugins.module_utils.cluster import plan_cluster
    services, hostvars, groups, conf = describe({'sync_daemon': sync}, {}, {}, {})
    for host in ('lb1', 'lb2'):
        plan = plan_cluster(services, hostvars, groups, keepalived=conf)[host]
        text = render('lvs-cluster.sh.j2', plan)
        script = tmp_path / (host + '.sh')
        script.write_text(text)
        assert subprocess.run(['sh', '-n', str(script)], check=False).returncode == 0
        for word in ('pidof', 'systemctl', 'update-rc.d', 'chkconfig', 'service keepalived', '--stop-daemon'):
            assert word not in text, word
        assert 'ipvsadm-restore' not in text
        assert plan['host']['stop_sync_daemons'] is (not sync)


def test_boot_script_is_boot_only(tmp_path):
    # A playbook converges with lvs_host; the script refuses the old converge/check modes.
    script = tmp_path / 'lvs-cluster.sh'
    script.write_text(render('lvs-cluster.sh.j2', plan_of('dr')['rs1']))
    for mode in ('converge', 'check', ''):
        proc = subprocess.run(['sh', str(script)] + ([mode] if mode else []), capture_output=True,
                              text=True, check=False)
        assert proc.returncode == 2 and 'usage: ' in proc.stderr and proc.stdout == ''


def test_boot_services_run_the_script_from_lvs_conf_dir():
    from test_cluster_plan import load_inventory
    from ansible_collections.lvs.cluster.plugins.module_utils.cluster import plan_cluster
    plan = plan_cluster(*load_inventory('nat'), settings={'lvs_conf_dir': '/srv/lvs'})['director']
    variables = {'lvs_plan': plan}
    for name, line in (('lvs-cluster.service.j2', 'ExecStart=/srv/lvs/lvs-cluster.sh boot'),
                       ('lvs-cluster.init.j2', '    start) exec /srv/lvs/lvs-cluster.sh boot ;;')):
        with open(os.path.join(TEMPLATES, name)) as handle:
            text = jinja2.Environment(trim_blocks=True, undefined=jinja2.StrictUndefined,
                                      keep_trailing_newline=True).from_string(handle.read()).render(variables)
        assert line in text.splitlines()
        assert '/etc/lvs-cluster' not in text
        assert text.endswith('\n')
    script = jinja2.Environment(trim_blocks=True, undefined=jinja2.StrictUndefined).from_string(
        open(os.path.join(TEMPLATES, 'lvs-cluster.sh.j2')).read()).render(variables)
    assert 'conf=/srv/lvs' in script
    assert 'nft_file=/srv/lvs/fwmark.nft' in script


def test_boot_script_compares_sysctls_field_wise_and_keeps_slashed_keys():
    script = render('lvs-cluster.sh.j2', plan_of('dr')['director'])
    assert "case $key in */*) p=/proc/sys/$key ;;" in script
    assert '[ "$(echo $(cat "$p"))" = "$value" ] && continue' in script


def test_ipvs_timeouts_are_restored_at_boot_only_when_set():
    from test_cluster_plan import load_inventory
    from ansible_collections.lvs.cluster.plugins.module_utils.cluster import plan_cluster
    assert 'ipvsadm --set' not in render('lvs-cluster.sh.j2', plan_of('dr')['director'])
    plan = plan_cluster(*load_inventory('dr'), settings={'lvs_ipvs_timeouts': {'tcp': 900, 'udp': 60}})
    assert 'ipvsadm --set 900 0 60 ||' in render('lvs-cluster.sh.j2', plan['director'])
    assert 'ipvsadm --set' not in render('lvs-cluster.sh.j2', plan['rs1'])
