"""plan_cluster: one description (lvs_services + inventory) -> each host's plan (pure logic).

The good path reads the example inventories under playbooks/inventories and compares the
plan with expectations written out by hand (ipvsadm-save -n text, VIPs, reply routes...),
not recomputed from the code. The bad path is a table of broken descriptions: each must be
refused with an error that starts with the variable path to fix and says how.
"""
import copy
import os

import pytest
import yaml

from ansible_collections.lvs.cluster.plugins.module_utils.cluster import (
    ClusterError, plan_cluster,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
INVENTORIES = os.path.join(REPO, 'playbooks', 'inventories')
GROUP_NAMES = ('lvs_directors', 'lvs_realservers', 'lvs_routers')


def load_inventory(name):
    """hosts.yml (YAML inventory: group -> hosts -> host -> vars) and group_vars/all.yml."""
    with open(os.path.join(INVENTORIES, name, 'hosts.yml')) as handle:
        inventory = yaml.safe_load(handle)
    with open(os.path.join(INVENTORIES, name, 'group_vars', 'all.yml')) as handle:
        all_vars = yaml.safe_load(handle)
    hostvars, groups = {}, {}
    for group, body in inventory.items():
        hosts = (body or {}).get('hosts') or {}
        groups[group] = list(hosts)
        for host, host_vars in hosts.items():
            hostvars.setdefault(host, {}).update(host_vars or {})
    return all_vars['lvs_services'], hostvars, groups


def plan_of(name):
    return plan_cluster(*load_inventory(name))


# ---------------------------------------------------------------------------
# Good path: the example inventories
# ---------------------------------------------------------------------------

def test_nat_director():
    plans = plan_of('nat')
    director = plans['director']
    assert plans['director']['roles'] == ['director']
    assert director['director']['rules'] == (
        '-A -t 203.0.113.100:80 -s wrr\n'
        '-a -t 203.0.113.100:80 -r 198.51.100.11:80 -m -w 2\n'
        '-a -t 203.0.113.100:80 -r 198.51.100.12:80 -m -w 1\n'
        '-A -f 10 -s rr -p 600\n'
        '-a -f 10 -r 198.51.100.11:0 -m -w 1\n'
        '-a -f 10 -r 198.51.100.12:0 -m -w 1\n')
    # Both services share the one VIP: it is put up once, on the public NIC.
    assert director['director']['vips'] == [
        {'address': '203.0.113.100', 'prefix': 32, 'interface': 'eth0'}]
    assert director['director']['kernel_modules'] == ['ip_vs', 'ip_vs_rr', 'ip_vs_wrr']
    assert director['director']['nat'] is True
    assert director['director']['ipv6'] is False
    assert director['director']['address'] == '198.51.100.1'
    assert director['director']['fwmarks'] == [
        {'fwmark': 10, 'protocol': 'tcp', 'address': '203.0.113.100', 'family': 'ipv4',
         'ports': [8080, 8443]}]
    assert 'realserver' not in director and 'router' not in director


@pytest.mark.parametrize('host, address', [('rs1', '198.51.100.11'), ('rs2', '198.51.100.12')])
def test_nat_realservers(host, address):
    plan = plan_of('nat')[host]
    assert plan['roles'] == ['realserver']
    rs = plan['realserver']
    assert rs['dr_vips'] == []
    assert rs['tun_vips'] == []
    # web answers from :80, the persistent fwmark service from the ports the client asked for.
    assert rs['nat_replies'] == [
        {'from': address, 'protocol': 'tcp', 'port': 80, 'via': '198.51.100.1'},
        {'from': address, 'protocol': 'tcp', 'port': 8080, 'via': '198.51.100.1'},
        {'from': address, 'protocol': 'tcp', 'port': 8443, 'via': '198.51.100.1'}]
    assert rs['arp_interfaces'] == ['lo']
    assert rs['nat_table'] == 240
    assert rs['nat_priority'] == 31000
    assert 'director' not in plan


DR_RULES = ('-A -t 192.0.2.100:80 -s wrr\n'
            '-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 2\n'
            '-a -t 192.0.2.100:80 -r 192.0.2.12:80 -g -w 1\n')


@pytest.mark.parametrize('inventory', ['dr', 'dr-routed'])
def test_dr(inventory):
    plans = plan_of(inventory)
    director = plans['director']['director']
    assert director['rules'] == DR_RULES
    assert director['vips'] == [{'address': '192.0.2.100', 'prefix': 32, 'interface': 'eth0'}]
    assert director['kernel_modules'] == ['ip_vs', 'ip_vs_wrr']
    assert director['nat'] is False
    assert director['fwmarks'] == []
    assert director['address'] == '192.0.2.2'
    for host in ('rs1', 'rs2'):
        rs = plans[host]['realserver']
        assert rs['dr_vips'] == ['192.0.2.100']
        assert rs['tun_vips'] == []
        assert rs['nat_replies'] == []
        assert rs['arp_interfaces'] == ['lo']


# A router of a DR/TUN cluster: no route (the VIP is on its segment), loose rp_filter.
LOOSE_ROUTER = {'routes': [], 'rp_filter': 2, 'ipv6': False,
                'sysctls': {'net.ipv4.ip_forward': '1', 'net.ipv4.conf.all.rp_filter': '2',
                            'net.ipv4.conf.default.rp_filter': '2'}}


def test_dr_routed_router():
    plans = plan_of('dr-routed')
    assert plans['router']['roles'] == ['router']
    # The VIP is on the router's own segment (192.0.2.0/24): no route, loose rp_filter.
    assert plans['router']['router'] == LOOSE_ROUTER
    assert sorted(plans) == ['director', 'router', 'rs1', 'rs2']


def test_tun():
    plans = plan_of('tun')
    director = plans['director']['director']
    assert director['rules'] == (
        '-A -t 192.0.2.100:80 -s wrr\n'
        '-a -t 192.0.2.100:80 -r 198.51.100.11:80 -i -w 2 --tun-type ipip\n'
        '-a -t 192.0.2.100:80 -r 198.51.100.12:80 -i -w 1 --tun-type ipip\n')
    assert director['vips'] == [{'address': '192.0.2.100', 'prefix': 32, 'interface': 'eth0'}]
    assert director['kernel_modules'] == ['ip_vs', 'ip_vs_wrr']
    assert director['nat'] is False
    for host in ('rs1', 'rs2'):
        rs = plans[host]['realserver']
        assert rs['dr_vips'] == []
        assert rs['tun_vips'] == ['192.0.2.100']
        assert rs['nat_replies'] == []
        assert rs['arp_interfaces'] == ['lo', 'tunl0']
    assert plans['router']['router'] == LOOSE_ROUTER


def test_router_routes_a_vip_outside_its_segment_to_the_director():
    services, hostvars, groups = load_inventory('dr-routed')
    services.append({'name': 'api', 'protocol': 'tcp', 'address': '198.18.0.100', 'port': 443,
                     'realservers': [{'host': 'rs1'}, {'host': 'rs2'}]})
    plans = plan_cluster(services, hostvars, groups)
    # 192.0.2.100 is on the router's 192.0.2.0/24; 198.18.0.100 is not.
    assert plans['router']['router']['routes'] == [{'to': '198.18.0.100/32', 'via': '192.0.2.2'}]
    assert plans['director']['director']['vips'] == [
        {'address': '192.0.2.100', 'prefix': 32, 'interface': 'eth0'},
        {'address': '198.18.0.100', 'prefix': 32, 'interface': 'eth0'}]
    assert plans['rs1']['realserver']['dr_vips'] == ['192.0.2.100', '198.18.0.100']


def test_nat_router_keeps_strict_rp_filter():
    services, hostvars, groups = load_inventory('nat')
    hostvars['gw'] = {'lvs_address': '203.0.113.1/24'}
    groups['lvs_routers'] = ['gw']
    plans = plan_cluster(services, hostvars, groups)
    assert plans['gw']['router'] == {
        'routes': [], 'rp_filter': None, 'ipv6': False, 'sysctls': {'net.ipv4.ip_forward': '1'}}


def test_nat_fwmark_without_port_mapping_replies_from_each_marked_port():
    services, hostvars, groups = load_inventory('nat')
    services[1]['realservers'] = [{'host': 'rs1'}]
    plans = plan_cluster(services, hostvars, groups)
    assert plans['rs1']['realserver']['nat_replies'] == [
        {'from': '198.51.100.11', 'protocol': 'tcp', 'port': 80, 'via': '198.51.100.1'},
        {'from': '198.51.100.11', 'protocol': 'tcp', 'port': 8080, 'via': '198.51.100.1'},
        {'from': '198.51.100.11', 'protocol': 'tcp', 'port': 8443, 'via': '198.51.100.1'}]
    assert '-a -f 10 -r 198.51.100.11:0 -m -w 1\n' in plans['director']['director']['rules']


def test_empty_description_plans_nothing_but_roles():
    services, hostvars, groups = load_inventory('dr')
    plans = plan_cluster([], hostvars, groups)
    assert plans['director']['director']['rules'] == ''
    assert plans['director']['director']['vips'] == []
    assert plans['rs1']['realserver']['dr_vips'] == []
    assert plan_cluster(None, {}, {}) == {}


def test_realserver_by_address_is_balanced_but_not_planned():
    services, hostvars, groups = load_inventory('dr')
    services[0]['realservers'].append({'address': '192.0.2.13', 'weight': 3})
    plans = plan_cluster(services, hostvars, groups)
    assert plans['director']['director']['rules'] == DR_RULES + (
        '-a -t 192.0.2.100:80 -r 192.0.2.13:80 -g -w 3\n')
    assert sorted(plans) == ['director', 'rs1', 'rs2']


# ---------------------------------------------------------------------------
# Bad descriptions: every error names the variable path and the fix
# ---------------------------------------------------------------------------

def base_hostvars():
    return {
        'director': {'lvs_address': '192.0.2.2/24', 'lvs_vip_interface': 'eth0'},
        'rs1': {'lvs_address': '192.0.2.11/24'},
        'rs2': {'lvs_address': '192.0.2.12/24'},
        'far': {'lvs_address': '198.51.100.13/24'},      # another segment
        'v6': {'lvs_address': '2001:db8::11/64'},
        'router': {'lvs_address': '192.0.2.1/24'},
    }


def base_groups():
    return {'lvs_directors': ['director'], 'lvs_realservers': ['rs1', 'rs2', 'far', 'v6'],
            'lvs_routers': ['router']}


def web(**changes):
    """A valid DR service; CHANGES set keys (None removes one)."""
    svc = {'name': 'web', 'protocol': 'tcp', 'address': '192.0.2.100', 'port': 80,
           'scheduler': 'wrr', 'forwarding': 'dr',
           'realservers': [{'host': 'rs1', 'weight': 2}, {'host': 'rs2'}]}
    for key, value in changes.items():
        if value is None:
            svc.pop(key, None)
        else:
            svc[key] = value
    return svc


def marked(**changes):
    """A valid fwmark service marking tcp 192.0.2.100:8080,8443."""
    svc = {'name': 'shop', 'protocol': 'fwmark', 'fwmark': 10, 'scheduler': 'rr',
           'persistence_timeout': 600, 'forwarding': 'dr',
           'match': {'protocol': 'tcp', 'address': '192.0.2.100', 'ports': [8080, 8443]},
           'realservers': [{'host': 'rs1'}]}
    for key, value in changes.items():
        if value is None:
            svc.pop(key, None)
        else:
            svc[key] = value
    return svc


def bad(case_id, path, word, services=None, hosts=None, groups=None):
    """One broken description: SERVICES (default [web()]); HOSTS updates hostvars
    ({host: {var: value}}, value None removes the var); GROUPS replaces groups."""
    return pytest.param(services, hosts or {}, groups or {}, path, word, id=case_id)


BAD = [
    bad('persistent-fwmark-port-mapping', 'lvs_services[0].realservers[0].port', 'listen on match.ports',
        [marked(forwarding='nat', realservers=[{'host': 'rs1', 'port': 80}])]),
    # The VIP and port of a service.
    bad('vip-missing', 'lvs_services[0].address', 'virtual IP',
        [web(address=None)]),
    bad('vip-malformed', 'lvs_services[0].address', 'not an IPv4',
        [web(address='192.0.2.300')]),
    bad('vip-is-a-network', 'lvs_services[0].address', 'without /prefix',
        [web(address='192.0.2.100/32')]),
    bad('vip-is-a-realserver-address', 'lvs_services[0].address', 'of its own',
        [web(address='192.0.2.11')]),
    bad('vip-is-the-director-address', 'lvs_services[0].address', 'of its own',
        [web(address='192.0.2.2')]),
    bad('port-missing', 'lvs_services[0].port', 'needs a port',
        [web(port=None)]),
    bad('port-out-of-range', 'lvs_services[0].port', '0..65535',
        [web(port=65536)]),
    bad('port-not-a-number', 'lvs_services[0].port', 'not an integer',
        [web(port='http')]),
    bad('port-0-without-persistence', 'lvs_services[0].port', 'persistence_timeout',
        [web(port=0)]),
    bad('unknown-protocol', 'lvs_services[0].protocol', 'tcp, udp, fwmark',
        [web(protocol='dccp')]),
    # The IPVS modules take sctp; the cluster roles do not (yet), and say so.
    bad('sctp-protocol', 'lvs_services[0].protocol', 'does not carry SCTP services',
        [web(protocol='sctp')]),
    bad('unknown-scheduler', 'lvs_services[0].scheduler', 'wlc',
        [web(scheduler='fastest')]),
    bad('unknown-forwarding-service', 'lvs_services[0].forwarding', 'nat, dr, tun',
        [web(forwarding='masq')]),
    bad('unknown-forwarding-realserver', 'lvs_services[0].realservers[1].forwarding',
        'nat, dr, tun', [web(realservers=[{'host': 'rs1'}, {'host': 'rs2', 'forwarding': 'gate'}])]),
    bad('unknown-key-service', 'lvs_services[0].weigth', 'one of',
        [web(weigth=3)]),
    bad('unknown-key-realserver', 'lvs_services[0].realservers[0].wieght', 'one of',
        [web(realservers=[{'host': 'rs1', 'wieght': 2}])]),
    bad('weight-out-of-range', 'lvs_services[0].realservers[0].weight', '0..65535',
        [web(realservers=[{'host': 'rs1', 'weight': 70000}])]),
    bad('netmask-without-timeout', 'lvs_services[0].persistence_netmask', 'persistence_timeout',
        [web(persistence_netmask='255.255.255.0')]),
    bad('one-packet-on-tcp', 'lvs_services[0].one_packet', 'udp',
        [web(one_packet=True)]),
    # How a real server is named.
    bad('realserver-host-and-address', 'lvs_services[0].realservers[0]', 'exactly one',
        [web(realservers=[{'host': 'rs1', 'address': '192.0.2.11'}])]),
    bad('realserver-neither-host-nor-address', 'lvs_services[0].realservers[0]', 'exactly one',
        [web(realservers=[{'weight': 2}])]),
    bad('realserver-not-a-mapping', 'lvs_services[0].realservers[0]', 'mapping',
        [web(realservers=['rs1'])]),
    bad('realservers-not-a-list', 'lvs_services[0].realservers', 'list',
        [web(realservers={'host': 'rs1'})]),
    bad('realserver-host-unknown', 'lvs_services[0].realservers[1].host', 'inventory',
        [web(realservers=[{'host': 'rs1'}, {'host': 'rs9'}])]),
    bad('realserver-host-not-in-group', 'lvs_services[0].realservers[0].host', 'lvs_realservers',
        [web(realservers=[{'host': 'router'}])]),
    bad('realserver-host-without-address', 'hostvars.rs1.lvs_address', 'prefix',
        hosts={'rs1': {'lvs_address': None}}),
    bad('lvs-address-without-prefix', 'hostvars.rs1.lvs_address', 'prefix',
        hosts={'rs1': {'lvs_address': '192.0.2.11'}}),
    bad('lvs-address-malformed', 'hostvars.rs2.lvs_address', 'address with prefix',
        hosts={'rs2': {'lvs_address': '192.0.2.x/24'}}),
    bad('lvs-address-host-route', 'hostvars.rs1.lvs_address', 'prefix of its segment',
        hosts={'rs1': {'lvs_address': '192.0.2.11/32'}}),
    bad('director-lvs-address-malformed', 'hostvars.director.lvs_address', 'prefix',
        hosts={'director': {'lvs_address': 'director.example/24'}}),
    bad('vip-interface-bad', 'hostvars.director.lvs_vip_interface', 'interface name',
        hosts={'director': {'lvs_vip_interface': 'eth0; reboot'}}),
    bad('vip-interface-too-long', 'hostvars.director.lvs_vip_interface', 'interface name',
        hosts={'director': {'lvs_vip_interface': 'a-very-long-ifname'}}),
    bad('group-host-without-variables', 'groups.lvs_realservers', 'inventory',
        groups={'lvs_realservers': ['rs1', 'rs2', 'far', 'v6', 'ghost']}),
    # Forwarding method against the network.
    bad('dr-port-mapping', 'lvs_services[0].realservers[0].port', 'nat',
        [web(realservers=[{'host': 'rs1', 'port': 8080}])]),
    bad('dr-realserver-off-segment', 'lvs_services[0].realservers[0]', 'tun',
        [web(realservers=[{'host': 'far'}])]),
    bad('dr-realserver-address-off-segment', 'lvs_services[0].realservers[1]', 'tun',
        [web(realservers=[{'host': 'rs1'}, {'address': '203.0.113.7'}])]),
    bad('nat-realserver-segment-without-director', 'lvs_services[0].realservers[0]',
        'hostvars.director.lvs_address', [web(forwarding='nat', realservers=[{'host': 'far'}])]),
    bad('conflicting-forwarding-same-vip', 'lvs_services[1].realservers[0].forwarding',
        'one forwarding method',
        [web(), web(name='tls', port=443, forwarding='nat', realservers=[{'host': 'rs1'}])]),
    bad('ipv6-realserver-in-ipv4-service', 'lvs_services[0].realservers[0].address', 'family',
        [web(realservers=[{'host': 'v6'}])]),
    bad('ipv6-realserver-address-in-ipv4-service', 'lvs_services[0].realservers[1].address',
        'family', [web(realservers=[{'host': 'rs1'}, {'address': '2001:db8::12'}])]),
    bad('tun-ipv6-vip', 'lvs_services[0].realservers[0].forwarding', 'dr or nat',
        [web(address='2001:db8::100', forwarding='tun', realservers=[{'host': 'v6'}])]),
    # Duplicates.
    bad('duplicate-service', 'lvs_services[1]', 'one entry per service',
        [web(), web(name='web-again')]),
    bad('duplicate-fwmark-service', 'lvs_services[1]', 'one entry per service',
        [marked(), marked(match={'protocol': 'tcp', 'address': '192.0.2.101', 'ports': [81]})]),
    bad('duplicate-realserver', 'lvs_services[0].realservers[1].address', 'twice',
        [web(realservers=[{'host': 'rs1'}, {'host': 'rs1', 'weight': 5}])]),
    # fwmark services and what they mark.
    bad('fwmark-number-missing', 'lvs_services[0].fwmark', 'firewall mark',
        [marked(fwmark=None)]),
    bad('fwmark-without-match', 'lvs_services[0].match', 'ports',
        [marked(match=None)]),
    bad('match-without-ports', 'lvs_services[0].match.ports', 'one or more ports',
        [marked(match={'protocol': 'tcp', 'address': '192.0.2.100'})]),
    bad('match-empty-ports', 'lvs_services[0].match.ports', 'one or more ports',
        [marked(match={'protocol': 'tcp', 'address': '192.0.2.100', 'ports': []})]),
    bad('match-bad-port', 'lvs_services[0].match.ports[1]', '1..65535',
        [marked(match={'protocol': 'tcp', 'address': '192.0.2.100', 'ports': [8080, 'https']})]),
    bad('match-port-0', 'lvs_services[0].match.ports[0]', '1..65535',
        [marked(match={'protocol': 'tcp', 'address': '192.0.2.100', 'ports': [0]})]),
    bad('match-duplicate-port', 'lvs_services[0].match.ports[2]', 'twice',
        [marked(match={'protocol': 'tcp', 'address': '192.0.2.100', 'ports': [8080, 8443, 8080]})]),
    bad('match-bad-protocol', 'lvs_services[0].match.protocol', 'tcp or udp',
        [marked(match={'protocol': 'icmp', 'address': '192.0.2.100', 'ports': [1]})]),
    bad('match-bad-address', 'lvs_services[0].match.address', 'VIP',
        [marked(match={'protocol': 'tcp', 'address': 'shop.example', 'ports': [8080]})]),
    bad('match-unknown-key', 'lvs_services[0].match.port', 'one of',
        [marked(match={'protocol': 'tcp', 'address': '192.0.2.100', 'ports': [8080],
                       'port': 8080})]),
    bad('match-on-tcp-service', 'lvs_services[0].match', 'protocol: fwmark',
        [web(match={'protocol': 'tcp', 'address': '192.0.2.100', 'ports': [80]})]),
    bad('same-port-marked-twice', 'lvs_services[1].match.ports', 'already marked',
        [marked(), marked(fwmark=11, match={'protocol': 'tcp', 'address': '192.0.2.100',
                                            'ports': [8443, 9000]})]),
    bad('tcp-service-also-marked', 'lvs_services[1]', 'remove one',
        [marked(), web(port=8443)]),
    # The cluster as a whole.
    bad('services-without-director', 'groups.lvs_directors', 'lvs_directors',
        groups={'lvs_directors': []}),
    bad('services-not-a-list', 'lvs_services', 'list',
        {'web': web()}),
    bad('service-not-a-mapping', 'lvs_services[1]', 'mapping',
        [web(), 'web2']),
]


def describe(services, hosts, groups):
    hostvars = base_hostvars()
    for host, changes in hosts.items():
        host_vars = hostvars.setdefault(host, {})
        for key, value in changes.items():
            if value is None:
                host_vars.pop(key, None)
            else:
                host_vars[key] = value
    all_groups = base_groups()
    all_groups.update(groups)
    return ([web()] if services is None else copy.deepcopy(services)), hostvars, all_groups


def test_base_description_is_valid():
    plans = plan_cluster(*describe(None, {}, {}))
    assert plans['rs1']['realserver']['dr_vips'] == ['192.0.2.100']
    assert plan_cluster(*describe([marked()], {}, {}))['director']['director']['fwmarks'] == [
        {'fwmark': 10, 'protocol': 'tcp', 'address': '192.0.2.100', 'family': 'ipv4',
         'ports': [8080, 8443]}]


@pytest.mark.parametrize('services, hosts, groups, path, word', BAD)
def test_bad_description(services, hosts, groups, path, word):
    with pytest.raises(ClusterError) as info:
        plan_cluster(*describe(services, hosts, groups))
    errors = info.value.errors
    hits = [e for e in errors if e.startswith(path + ': ')]
    assert hits, 'no error at %s in %r' % (path, errors)
    assert any(word in e for e in hits), 'no %r in %r' % (word, hits)
    assert str(info.value) == '\n'.join(errors)


def test_bad_table_is_large_enough():
    assert len(BAD) >= 30
    assert len(set(p.id for p in BAD)) == len(BAD)


def test_every_problem_is_reported_at_once():
    services = [
        web(scheduler='fastest', realservers=[{'host': 'rs1'}]),      # IPVS validation
        web(name='b', port=443, realservers=[{'host': 'rs9'}]),       # unknown host
        web(name='c', port=8080, colour='blue',                       # unknown key
            realservers=[{'host': 'rs2'}]),
        marked(match={'protocol': 'tcp', 'address': '192.0.2.100', 'ports': [8080, 8080]}),
        'not-a-service',
    ]
    # rs2 serves only service 2, whose unknown key is reported all the same.
    hosts = {'director': {'lvs_vip_interface': 'bad if'},
             'rs2': {'lvs_address': '192.0.2.12'}}
    with pytest.raises(ClusterError) as info:
        plan_cluster(*describe(services, hosts, {}))
    paths = [e.split(': ', 1)[0] for e in info.value.errors]
    for path in ('lvs_services[0].scheduler',
                 'lvs_services[1].realservers[0].host',
                 'lvs_services[2].colour',
                 'lvs_services[3].match.ports[1]',
                 'lvs_services[4]',
                 'hostvars.director.lvs_vip_interface',
                 'hostvars.rs2.lvs_address'):
        assert path in paths, '%s missing from %r' % (path, info.value.errors)


def test_every_problem_of_one_service_is_listed():
    """Not only the first per service: each broken part, and every real server's."""
    services = [
        web(forwarding='ipip', realservers=[{'host': 'nohost'}, {'host': 'rs1', 'port': 'http'},
                                            {'host': 'rs2', 'weight': -1}]),
        web(port=81, protocol='sctp', realservers=[{'host': 'rs1'}, {'hots': 'rs2'}]),
        web(port=82, scheduler='nope', realservers=[{'host': 'nohost'}]),
        web(port=83, realservers={'host': 'rs1'}, scheduler='nope'),
    ]
    with pytest.raises(ClusterError) as info:
        plan_cluster(*describe(services, {}, {}))
    paths = sorted(e.split(': ', 1)[0] for e in info.value.errors)
    assert paths == [
        'lvs_services[0].forwarding',
        'lvs_services[0].realservers[0].host',
        'lvs_services[0].realservers[1].port',
        'lvs_services[0].realservers[2].weight',
        'lvs_services[1].protocol',
        'lvs_services[1].realservers[1]',
        'lvs_services[1].realservers[1].hots',
        'lvs_services[2].realservers[0].host',
        'lvs_services[2].scheduler',
        'lvs_services[3].realservers',
        'lvs_services[3].scheduler',
    ], info.value.errors


# ---------------------------------------------------------------------------
# Gaps found while writing these tests, fixed since: kept as regression tests.
# ---------------------------------------------------------------------------

def test_vip_equal_to_router_address_is_refused():
    with pytest.raises(ClusterError) as info:
        plan_cluster(*describe([web(address='192.0.2.1')], {}, {}))
    assert any(e.startswith('lvs_services[0].address: ') for e in info.value.errors)


def test_router_bad_lvs_address_is_refused():
    with pytest.raises(ClusterError) as info:
        plan_cluster(*describe(None, {'router': {'lvs_address': '192.0.2.1'}}, {}))
    assert any(e.startswith('hostvars.router.lvs_address: ') for e in info.value.errors)


def test_duplicate_match_port_is_reported_once():
    services = [marked(match={'protocol': 'tcp', 'address': '192.0.2.100', 'ports': [80, 80]})]
    with pytest.raises(ClusterError) as info:
        plan_cluster(*describe(services, {}, {}))
    assert info.value.errors == [e for e in info.value.errors if 'already marked' not in e]


def test_nat_all_ports_service_plans_reply_routes():
    services = [web(port=0, persistence_timeout=300, forwarding='nat',
                    realservers=[{'host': 'rs1'}])]
    plans = plan_cluster(*describe(services, {}, {}))
    assert plans['rs1']['realserver']['nat_replies'] != []
