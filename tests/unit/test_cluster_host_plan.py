"""plan_cluster's runtime part of each host (lvs_plan.host, fed to lvs.cluster.lvs_host as
it is) and each role's sysctl.d values, per example inventory.

Expectations written out by hand from the inventories in playbooks/inventories (and the
director role's documented defaults), not recomputed from the code.
"""
import os

import pytest
import yaml

from ansible_collections.lvs.cluster.plugins.module_utils.cluster import ClusterError, plan_cluster

from test_cluster_plan import INVENTORIES, load_inventory, plan_of

DIRECTOR_DEFAULTS = {'net.ipv4.vs.expire_nodest_conn': '1',
                     'net.ipv4.vs.expire_quiescent_template': '1',
                     'net.ipv4.vs.conntrack': '0'}
LVS_CLUSTER = {'name': 'lvs-cluster', 'started': False}
# Every host's boot service runs lvs_host's program on its state (conf_dir/host.json).
BOOT = {'program': '/usr/local/lib/lvs-cluster/lvs-cluster-boot', 'state': '/etc/lvs-cluster/host.json'}
# Every host records the VIPs lvs_host puts up (one taken out of lvs_services goes).
RECORD = {'path': '/var/lib/lvs-cluster/addresses.json', 'release': []}
# A DR (or TUN) real server never answers ARP for the VIP: on all and lo (and tunl0).
ARP_LO = {'net.ipv4.conf.all.arp_ignore': '1', 'net.ipv4.conf.all.arp_announce': '2',
          'net.ipv4.conf.lo.arp_ignore': '1', 'net.ipv4.conf.lo.arp_announce': '2'}


def nat_routing(replies):
    return {'table': 240, 'priority': 31000, 'replies': replies}


def test_nat():
    plans = plan_of('nat')
    assert plans['director']['host'] == {
        'kernel_modules': ['ip_vs', 'ip_vs_rr', 'ip_vs_wrr'],
        'sysctls': dict({'net.ipv4.ip_forward': '1'}, **DIRECTOR_DEFAULTS),
        'nft_table': {'state': 'present', 'ruleset': '/etc/lvs-cluster/fwmark.nft'},
        'nat_routing': None,
        'routes': [],
        'ipvs_timeouts': None,
        # Static mode: the VIP and the table are lvs_host's.
        'addresses': [{'address': '203.0.113.100', 'prefix': 32, 'interface': 'eth0', 'up': False}],
        'ipvs_table': {'rules': plans['director']['director']['rules'], 'purge': True},
        'address_record': RECORD,
        'services': [LVS_CLUSTER], 'boot': BOOT,
        'stop_sync_daemons': False,
    }
    # The file order: forwarding first, then the IPVS settings.
    assert list(plans['director']['director']['sysctls']) == [
        'net.ipv4.ip_forward', 'net.ipv4.vs.expire_nodest_conn',
        'net.ipv4.vs.expire_quiescent_template', 'net.ipv4.vs.conntrack']
    for host, address in (('rs1', '198.51.100.11'), ('rs2', '198.51.100.12')):
        assert plans[host]['host'] == {
            'kernel_modules': [],
            'sysctls': {},
            'nft_table': None,
            'nat_routing': nat_routing([
                {'from': address, 'protocol': 'tcp', 'port': port, 'via': '198.51.100.1'}
                for port in (80, 8080, 8443)]),
            'routes': [],
            'ipvs_timeouts': None,
            # NAT: no VIP on the real server, no ARP to suppress.
            'addresses': [],
            'ipvs_table': None,
            'address_record': RECORD,
            'services': [LVS_CLUSTER], 'boot': BOOT,
            'stop_sync_daemons': False,
        }
        assert plans[host]['conf_dir'] == '/etc/lvs-cluster'


@pytest.mark.parametrize('inventory', ['dr', 'dr-routed'])
def test_dr(inventory):
    plans = plan_of(inventory)
    assert plans['director']['host'] == {
        'kernel_modules': ['ip_vs', 'ip_vs_wrr'],
        'sysctls': DIRECTOR_DEFAULTS,
        # No fwmark service: a table an earlier one left is deleted.
        'nft_table': {'state': 'absent'},
        'nat_routing': None,
        'routes': [],
        'ipvs_timeouts': None,
        'addresses': [{'address': '192.0.2.100', 'prefix': 32, 'interface': 'eth0', 'up': False}],
        'ipvs_table': {'rules': plans['director']['director']['rules'], 'purge': True},
        'address_record': RECORD,
        'services': [LVS_CLUSTER], 'boot': BOOT,
        'stop_sync_daemons': False,
    }
    for host in ('rs1', 'rs2'):
        # No NAT reply: the rules at 31000 and table 240's default route go, if any.
        assert plans[host]['host'] == {
            'kernel_modules': [], 'sysctls': ARP_LO, 'nft_table': None,
            'nat_routing': nat_routing([]), 'routes': [], 'ipvs_timeouts': None,
            'addresses': [{'address': '192.0.2.100', 'prefix': 32, 'interface': 'lo', 'up': False}],
            'ipvs_table': None,
            'address_record': RECORD,
            'services': [LVS_CLUSTER], 'boot': BOOT, 'stop_sync_daemons': False,
        }
        assert plans[host]['realserver']['sysctls'] == ARP_LO
        assert plans[host]['realserver']['sysctl_file'] == '/etc/sysctl.d/90-lvs-realserver.conf'


def test_dr_routed_router():
    assert plan_of('dr-routed')['router']['host'] == {
        'kernel_modules': [],
        'sysctls': {'net.ipv4.ip_forward': '1', 'net.ipv4.conf.all.rp_filter': '2',
                    'net.ipv4.conf.default.rp_filter': '2'},
        'nft_table': None, 'nat_routing': None,
        # The VIP is on the router's own segment: no route.
        'routes': [],
        'ipvs_timeouts': None, 'addresses': [], 'ipvs_table': None, 'address_record': RECORD,
        'services': [LVS_CLUSTER], 'boot': BOOT, 'stop_sync_daemons': False,
    }


def test_router_route_to_a_vip_outside_its_segment():
    services, hostvars, groups = load_inventory('dr-routed')
    services.append({'name': 'api', 'protocol': 'tcp', 'address': '198.18.0.100', 'port': 443,
                     'realservers': [{'host': 'rs1'}, {'host': 'rs2'}]})
    assert plan_cluster(services, hostvars, groups)['router']['host']['routes'] == [
        {'to': '198.18.0.100/32', 'via': '192.0.2.2'}]


def test_tun():
    plans = plan_of('tun')
    assert plans['director']['host']['kernel_modules'] == ['ip_vs', 'ip_vs_wrr']
    assert plans['director']['host']['sysctls'] == DIRECTOR_DEFAULTS
    for host in ('rs1', 'rs2'):
        assert plans[host]['host']['kernel_modules'] == ['ipip']
        assert plans[host]['host']['nat_routing'] == nat_routing([])
        # ARP suppressed on tunl0 too; rp_filter off for decapsulated packets (all and tunl0).
        assert plans[host]['host']['sysctls'] == dict(
            ARP_LO, **{'net.ipv4.conf.tunl0.arp_ignore': '1', 'net.ipv4.conf.tunl0.arp_announce': '2',
                       'net.ipv4.conf.all.rp_filter': '0', 'net.ipv4.conf.tunl0.rp_filter': '0'})
        # tunl0 comes down from the kernel: up first.
        assert plans[host]['host']['addresses'] == [
            {'address': '192.0.2.100', 'prefix': 32, 'interface': 'tunl0', 'up': True}]
    assert plans['router']['host']['sysctls'] == {
        'net.ipv4.ip_forward': '1', 'net.ipv4.conf.all.rp_filter': '2',
        'net.ipv4.conf.default.rp_filter': '2'}


def load_ha():
    services, hostvars, groups = load_inventory('ha')
    with open(os.path.join(INVENTORIES, 'ha', 'group_vars', 'all.yml')) as handle:
        keepalived = yaml.safe_load(handle)['lvs_keepalived']
    return services, hostvars, groups, keepalived


def test_ha_directors_start_keepalived_and_keep_sync():
    plans = plan_cluster(*load_ha())
    for host in ('lb1', 'lb2'):
        assert plans[host]['host'] == {
            'kernel_modules': ['ip_vs', 'ip_vs_wrr'],
            # NAT beside DR: forwarding; keepalived mode: sloppy TCP.
            'sysctls': dict({'net.ipv4.ip_forward': '1', 'net.ipv4.vs.sloppy_tcp': '1'},
                            **DIRECTOR_DEFAULTS),
            'nft_table': {'state': 'absent'},
            'nat_routing': None,
            'routes': [],
            'ipvs_timeouts': None,
            # keepalived's: the VIPs and the table.
            'addresses': [],
            'ipvs_table': None,
            # keepalived's VIPs: never removed by lvs_host (a static run may have recorded them).
            'address_record': dict(RECORD, release=['192.0.2.100', '192.0.2.101']),
            'services': [{'name': 'keepalived', 'started': True}, LVS_CLUSTER], 'boot': BOOT,
            # Two directors: connection sync on, its daemons are keepalived's.
            'stop_sync_daemons': False,
        }
    # The NAT replies go to the gateway VIP keepalived moves (nat_gateway).
    assert plans['rs1']['host']['nat_routing'] == nat_routing([
        {'from': '192.0.2.11', 'protocol': 'tcp', 'port': 8080, 'via': '192.0.2.1'}])


def test_ha_with_sync_off_stops_the_sync_daemons():
    services, hostvars, groups, keepalived = load_ha()
    plans = plan_cluster(services, hostvars, groups, dict(keepalived, sync_daemon=False))
    assert plans['lb1']['host']['stop_sync_daemons'] is True


def test_settings_shape_the_director():
    settings = {'lvs_conf_dir': '/srv/lvs', 'director_conntrack': 1, 'director_sloppy_tcp': 0,
                'director_sysctls': {'net.ipv4.ip_local_port_range': '32768   60999',
                                     'net/ipv4/conf/eth0.10/rp_filter': 2},
                'lvs_ipvs_timeouts': {'tcp': 900, 'tcpfin': 120}}
    plans = plan_cluster(*load_inventory('nat'), settings=settings)
    host = plans['director']['host']
    assert host['sysctls'] == {
        'net.ipv4.ip_forward': '1', 'net.ipv4.vs.expire_nodest_conn': '1',
        'net.ipv4.vs.expire_quiescent_template': '1', 'net.ipv4.vs.conntrack': '1',
        # One space between fields (the kernel's tab is compared by lvs_host); the slashed
        # key with a dotted interface is kept as written.
        'net.ipv4.ip_local_port_range': '32768 60999', 'net/ipv4/conf/eth0.10/rp_filter': '2'}
    # sloppy_tcp is for keepalived directors only.
    assert 'net.ipv4.vs.sloppy_tcp' not in host['sysctls']
    assert host['nft_table'] == {'state': 'present', 'ruleset': '/srv/lvs/fwmark.nft'}
    assert host['ipvs_timeouts'] == {'tcp': 900, 'tcpfin': 120}
    assert plans['rs1']['host']['ipvs_timeouts'] is None
    assert plans['rs1']['conf_dir'] == '/srv/lvs'
    # The boot state lives in lvs_conf_dir (the unit and init script read the plan's path);
    # the files it replaced are removed from there.
    assert plans['rs1']['host']['boot'] == dict(BOOT, state='/srv/lvs/host.json')
    assert plans['rs1']['boot'] == {'service': 'lvs-cluster', 'modules_load_file': '/etc/modules-load.d/lvs-cluster.conf',
                                    'retired_files': ['/srv/lvs/lvs-cluster.sh', '/srv/lvs/ipvs.rules']}


def test_realserver_sysctl_file_setting():
    plans = plan_cluster(*load_inventory('dr'), settings={'realserver_sysctl_file': '/etc/sysctl.d/50-arp.conf'})
    assert plans['rs1']['realserver']['sysctl_file'] == '/etc/sysctl.d/50-arp.conf'


@pytest.mark.parametrize('settings, error', [
    ({'lvs_ipvs_timeouts': {'tcp': 0}}, 'lvs_ipvs_timeouts.tcp: 0 is out of range (1..2147483)'),
    ({'lvs_ipvs_timeouts': {'tcp': 'long'}}, "lvs_ipvs_timeouts.tcp: 'long' is not a number"),
    ({'lvs_ipvs_timeouts': {'tcp_fin': 10}}, 'lvs_ipvs_timeouts.tcp_fin: unknown timeout'),
    ({'lvs_ipvs_timeouts': {}}, 'lvs_ipvs_timeouts: give at least one of tcp, tcpfin, udp'),
    ({'lvs_ipvs_timeouts': 300}, 'lvs_ipvs_timeouts: must be a mapping'),
    ({'director_conntrack': 'yes'}, "director_conntrack: 'yes' is not a number"),
    ({'director_sysctls': ['net.core.somaxconn']}, 'director_sysctls: must be a mapping'),
    ({'director_sysctls': {'net.core.so maxconn': 1}}, "director_sysctls['net.core.so maxconn']: not a sysctl key"),
    ({'director_sysctls': {'net.core.somaxconn': True}}, "director_sysctls['net.core.somaxconn']: True is not"),
    ({'lvs_conf_dir': 'etc/lvs'}, "lvs_conf_dir: 'etc/lvs' is not an absolute path"),
    ({'realserver_sysctl_file': '/etc/sysctl.d/lvs'},
     "realserver_sysctl_file: '/etc/sysctl.d/lvs' is not a file of its own in a sysctl.d directory"),
    ({'realserver_sysctl_file': '/etc/sysctl.conf'},
     "realserver_sysctl_file: '/etc/sysctl.conf' is not a file of its own in a sysctl.d directory"),
    ({'realserver_sysctl_file': '/etc/sysctl.d/90-lvs-director.conf'},
     "realserver_sysctl_file: '/etc/sysctl.d/90-lvs-director.conf' is not a file of its own"),
])
def test_bad_settings_name_the_field(settings, error):
    with pytest.raises(ClusterError) as caught:
        plan_cluster(*load_inventory('dr'), settings=settings)
    assert any(e.startswith(error) for e in caught.value.errors), caught.value.errors
