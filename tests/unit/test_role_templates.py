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


@pytest.mark.parametrize('extra, line', [
    ({}, 'net.ipv4.vs.conntrack = 0'),
    ({'director_conntrack': 1}, 'net.ipv4.vs.conntrack = 1'),
    # The deprecated name (until 0.2.0) still sets it.
    ({'lvs_director_conntrack': 1}, 'net.ipv4.vs.conntrack = 1'),
    ({'lvs_director_sysctls': {'net.core.somaxconn': 4096}}, 'net.core.somaxconn = 4096'),
    ({'director_sysctls': {'net.core.somaxconn': 4096}}, 'net.core.somaxconn = 4096'),
])
def test_director_sysctl_settings_by_new_and_deprecated_names(extra, line):
    assert line in render('director-sysctl.conf.j2', plan_of('dr')['director'], **extra).splitlines()


def test_router_sysctls_loose_rp_filter_for_tun():
    text = render('router-sysctl.conf.j2', plan_of('tun')['router'])
    assert 'net.ipv4.ip_forward = 1' in text
    assert 'net.ipv4.conf.all.rp_filter = 2' in text


@pytest.mark.parametrize('sync', [True, False])
def test_ha_boot_script_stops_the_sync_daemons_only_when_sync_is_off(sync, tmp_path):
    # keepalived 2.2.7 leaves the kernel's sync daemons running when a reload turns sync
    # off; the converge script stops them then, and never while sync is on.
    from test_cluster_ha import describe
    from ansible_collections.lvs.cluster.plugins.module_utils.cluster import plan_cluster
    services, hostvars, groups, conf = describe({'sync_daemon': sync}, {}, {}, {})
    for host in ('lb1', 'lb2'):
        text = render('lvs-cluster.sh.j2', plan_cluster(services, hostvars, groups, keepalived=conf)[host])
        script = tmp_path / (host + '.sh')
        script.write_text(text)
        assert subprocess.run(['sh', '-n', str(script)], check=False).returncode == 0
        assert ('act ipvsadm --stop-daemon "$state"' in text) is not sync
