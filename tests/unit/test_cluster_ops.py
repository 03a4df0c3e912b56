"""The operation playbooks' logic (module_utils/cluster_ops.py), host-only.

drain_targets: from the plans plan_cluster derives for the example inventories, in both
modes, the real server's entries come out with the inventory's weights, and each entry's
`rule` is how ipvsadm-save -n writes that real server (checked against the static plan's
rules text, which is written by an independent path for the same services). Bad inputs
are refused naming lvs_drain_host / lvs_drain_state / lvs_drain_timeout and the fix.
rolling_order: every real server in a service by default, in the group's order, with its
entries and the TCP ports to wait for; every bad input refused before any is drained.
status_lines: the VIP holders (one, none, two: split brain, a director that did not
answer) and the table rows, from hand-written ipvs_info results.
"""
import pytest

from ansible_collections.lvs.cluster.plugins.module_utils.cluster import plan_cluster
from ansible_collections.lvs.cluster.plugins.module_utils.cluster_ops import (
    OpsError, drain_targets, interface_addresses, planned_vips, rolling_order, status_lines, table_drift,
)
from test_cluster_ha import HA_TABLE
from test_cluster_plan import load_inventory


def plans(inventory, keepalived=None):
    return plan_cluster(*load_inventory(inventory), keepalived=keepalived)


def realservers(inventory):
    hostvars, groups = load_inventory(inventory)[1:]
    return dict((name, hostvars[name]['lvs_address']) for name in groups['lvs_realservers'])


def ha_keepalived():
    return {'virtual_router_id': 51, 'advert_int': 1, 'auth_pass': '1111', 'nat_gateway': '192.0.2.1'}


# ---------------------------------------------------------------------------
# drain_targets: good path
# ---------------------------------------------------------------------------

def test_keepalived_mode_every_service_of_the_host_on_every_director():
    # The same lines as molecule/ha checks in the directors' live ipvsadm -S -n.
    all_plans = plans('ha', ha_keepalived())
    expected = [
        {'service': 'tcp 192.0.2.100:80', 'protocol': 'tcp', 'service_address': '192.0.2.100',
         'service_port': 80, 'address': '192.0.2.11', 'port': 80, 'weight': 3,
         'rule': '-a -t 192.0.2.100:80 -r 192.0.2.11:80 '},
        {'service': 'tcp 192.0.2.101:80', 'protocol': 'tcp', 'service_address': '192.0.2.101',
         'service_port': 80, 'address': '192.0.2.11', 'port': 8080, 'weight': 2,
         'rule': '-a -t 192.0.2.101:80 -r 192.0.2.11:8080 '},
    ]
    for director in ('lb1', 'lb2'):
        plan = all_plans[director]['director']
        assert plan['rules'] == HA_TABLE    # the declared table keepalived makes
        assert drain_targets(plan, 'rs1', realservers('ha')) == expected
    rs2 = drain_targets(all_plans['lb1']['director'], 'rs2', realservers('ha'), 'present', '600')
    assert [(t['address'], t['port'], t['weight']) for t in rs2] == [
        ('192.0.2.12', 80, 3), ('192.0.2.12', 8080, 1)]


def test_static_mode_from_the_rules():
    plan = plans('dr')['director']['director']
    assert drain_targets(plan, 'rs1', realservers('dr')) == [
        {'service': 'tcp 192.0.2.100:80', 'protocol': 'tcp', 'service_address': '192.0.2.100',
         'service_port': 80, 'address': '192.0.2.11', 'port': 80, 'weight': 2,
         'rule': '-a -t 192.0.2.100:80 -r 192.0.2.11:80 '}]


def test_fwmark_service_in_both_modes_names_the_mark_and_family():
    static = plans('nat')['director']['director']
    keepalived = plans('nat', {'enabled': True})['director']['director']
    for plan in (static, keepalived):
        targets = drain_targets(plan, 'rs2', realservers('nat'))
        assert targets[1] == {'service': 'fwmark 10', 'protocol': 'fwmark', 'fwmark': 10,
                              'family': 'ipv4', 'address': '198.51.100.12', 'port': 0,
                              'weight': 1, 'rule': '-a -f 10 -r 198.51.100.12:0 '}
        assert targets[0]['weight'] == 1 and targets[0]['port'] == 80


@pytest.mark.parametrize('inventory', ['dr', 'dr-routed', 'nat', 'tun'])
def test_each_rule_is_how_ipvsadm_save_writes_that_real_server(inventory):
    # The static plan's rules are ipvsadm-save -n text, what the live table reads back as
    # (ipvs_info's save): every target's rule starts one of its lines, with the target's
    # weight, in static mode and in keepalived mode (one director, asked for).
    static = plans(inventory)
    rules = next(p['director']['rules'] for p in static.values() if 'director' in p)
    found = 0
    for all_plans in (static, plans(inventory, {'enabled': True})):
        for plan in (p['director'] for p in all_plans.values() if 'director' in p):
            for host in realservers(inventory):
                for target in drain_targets(plan, host, realservers(inventory)):
                    [line] = [x for x in rules.splitlines() if x.startswith(target['rule'])]
                    assert (line + ' ').split(' -w ')[1].split()[0] == str(target['weight'])
                    found += 1
    assert found == 2 * rules.count('-a ')


def test_ipv6_service_writes_the_addresses_in_brackets():
    services = [{'address': '2001:db8::100', 'port': 443, 'realservers': [{'host': 'rs1'}]}]
    hostvars = {'director': {'lvs_address': '2001:db8::2/64'}, 'rs1': {'lvs_address': '2001:db8::11/64'}}
    groups = {'lvs_directors': ['director'], 'lvs_realservers': ['rs1']}
    for keepalived in (None, {'enabled': True}):
        plan = plan_cluster(services, hostvars, groups, keepalived=keepalived)['director']['director']
        [target] = drain_targets(plan, 'rs1', {'rs1': '2001:db8::11/64'})
        assert target['rule'] == '-a -t [2001:db8::100]:443 -r [2001:db8::11]:443 '
        assert target['service'] == 'tcp [2001:db8::100]:443'


# ---------------------------------------------------------------------------
# drain_targets: refused inputs (before any director is touched)
# ---------------------------------------------------------------------------

REFUSED = [
    # (host, state, timeout, what the message must say)
    (None, 'drained', 300, 'lvs_drain_host: missing: name the real server by its inventory host, '
                           'e.g. -e lvs_drain_host=rs1 (lvs_realservers: rs1, rs2)'),
    ('  ', 'drained', 300, 'lvs_drain_host: missing'),
    ('rs9', 'drained', 300, "lvs_drain_host: 'rs9' is not a host of the lvs_realservers group; "
                            'name one of rs1, rs2, e.g. -e lvs_drain_host=rs1'),
    ('director', 'drained', 300, "lvs_drain_host: 'director' is not a host of the lvs_realservers"),
    ('rs1', 'up', 300, "lvs_drain_state: 'up' is not drained"),
    ('rs1', 'absent', 300, "lvs_drain_state: 'absent' is not drained (take the real server out, "
                           'the default) or present (bring it back with its inventory weight)'),
    ('rs1', 'drained', 'soon', "lvs_drain_timeout: 'soon' is not a number of seconds (0..2147483)"),
    ('rs1', 'drained', -1, 'lvs_drain_timeout: -1 is not'),
    ('rs1', 'drained', True, 'lvs_drain_timeout: True is not'),
    ('rs1', 'drained', 2147484, 'lvs_drain_timeout: 2147484 is not'),
]


@pytest.mark.parametrize('host, state, timeout, message', REFUSED)
def test_bad_inputs_are_refused_naming_the_variable(host, state, timeout, message):
    plan = plans('dr')['director']['director']
    with pytest.raises(OpsError) as exc:
        drain_targets(plan, host, realservers('dr'), state, timeout)
    assert str(exc.value).startswith(message.split(':')[0] + ':')
    assert message in str(exc.value)


def test_a_real_server_in_no_service_is_refused_naming_those_that_are():
    plan = plans('dr')['director']['director']
    servers = dict(realservers('dr'), rs3='192.0.2.13/24')
    with pytest.raises(OpsError) as exc:
        drain_targets(plan, 'rs3', servers)
    assert str(exc.value) == ('lvs_drain_host: rs3 (192.0.2.13) is in no service of lvs_services, '
                              'so no director sends it connections: nothing to drain; name a real '
                              'server that is (rs1, rs2)')


def test_an_empty_realserver_group_is_said_so():
    plan = plans('dr')['director']['director']
    with pytest.raises(OpsError) as exc:
        drain_targets(plan, 'rs1', {})
    assert 'lvs_drain_host: rs1: the lvs_realservers group of this inventory is empty' in str(exc.value)


# ---------------------------------------------------------------------------
# status_lines
# ---------------------------------------------------------------------------

def ipvs_service(weight_rs1=3, conns=12):
    def rs(address, weight, active, inactive):
        return {'address': address, 'port': 80, 'forwarding': 'dr', 'weight': weight,
                'active_connections': active, 'inactive_connections': inactive,
                'stats': {'connections': conns // 2, 'packets_in': 40, 'packets_out': 0,
                          'bytes_in': 2048000, 'bytes_out': 0}}
    return {'protocol': 'tcp', 'family': 'ipv4', 'address': '192.0.2.100', 'port': 80,
            'fwmark': None, 'scheduler': 'wrr', 'scheduler_flags': [], 'persistence_timeout': 60,
            'persistence_netmask': '255.255.255.255', 'one_packet': False,
            'stats': {'connections': conns, 'packets_in': 80, 'packets_out': 0,
                      'bytes_in': 4096000, 'bytes_out': 0},
            'realservers': [rs('192.0.2.11', weight_rs1, 1, 2), rs('192.0.2.12', 3, 0, 4)]}


IP_LB1 = ('1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n'
          '2: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever\n'
          '2: eth0    inet 192.0.2.100/32 scope global eth0\\       valid_lft forever\n'
          '2: eth0    inet6 fe80::1/64 scope link \\       valid_lft forever preferred_lft forever\n')
IP_LB2 = '2: eth0    inet 192.0.2.3/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever\n'


def ha_directors(ip_lb1=IP_LB1, ip_lb2=IP_LB2):
    all_plans = plans('ha', ha_keepalived())
    return [{'name': name, 'plan': all_plans[name]['director'], 'services': [ipvs_service(0)],
             'addresses': text} for name, text in (('lb1', ip_lb1), ('lb2', ip_lb2))]


def test_status_names_the_holder_of_each_vip_and_prints_each_table():
    lines = status_lines(ha_directors(), ['lb1', 'lb2'])
    assert lines[:3] == ['VIP 192.0.2.100: lb1', 'VIP 192.0.2.101: no director',
                         'VIP 192.0.2.1: no director']
    table = lines[lines.index('lb1: IPVS table, 1 service (ipvsadm -Ln --stats; counters since '
                              'the service was added)'):]
    assert table[1].split() == ['Prot', 'LocalAddress:Port', 'Scheduler', 'Flags', 'Conns',
                                'InPkts', 'OutPkts', 'InBytes', 'OutBytes']
    assert table[2].split() == ['->', 'RemoteAddress:Port', 'Forward', 'Weight', 'Active', 'InAct']
    assert table[3].split() == ['TCP', '192.0.2.100:80', 'wrr', 'persistent', '60',
                                '12', '80', '0', '4096K', '0']
    assert table[4].split() == ['->', '192.0.2.11:80', 'Route', '0', '1', '2',
                                '6', '40', '0', '2048K', '0']
    # Columns line up: every counter ends where its header does.
    assert len(set(len(row) for row in (table[1], table[3], table[4]))) == 1
    assert lines[9].startswith('lb2: IPVS table, 1 service') and len(lines) == 15


def test_status_two_holders_is_split_brain_and_a_silent_director_is_named():
    both = status_lines(ha_directors(ip_lb2=IP_LB1), ['lb1', 'lb2'])
    assert both[0] == 'VIP 192.0.2.100: lb1, lb2 (more than one director: split brain, clients reach either)'
    alone = status_lines(ha_directors()[1:], ['lb1', 'lb2'])
    assert alone[0] == 'VIP 192.0.2.100: no director that answered'
    assert alone[3] == 'lb1: no answer (unreachable or failed above): its VIPs and table are unknown'


def test_status_says_nothing_of_a_table_as_declared_and_names_each_difference_with_the_fix():
    directors = ha_directors()
    for d in directors:
        d['save'] = HA_TABLE
    assert not any('differs' in line for line in status_lines(directors, ['lb1', 'lb2']))
    # On lb1 a real server deleted by hand and a weight changed.
    rs2 = '-a -t 192.0.2.100:80 -r 192.0.2.12:80 -g -w 3'
    assert rs2 in HA_TABLE.splitlines()
    hand_made = HA_TABLE.replace(rs2 + '\n', '')
    directors[0]['save'] = hand_made.replace('-r 192.0.2.11:8080 -m -w 2', '-r 192.0.2.11:8080 -m -w 5')
    lines = status_lines(directors, ['lb1', 'lb2'])
    drift = lines[lines.index('lb1: the IPVS table differs from the one lvs_services declares (ipvsadm -S -n):'):]
    assert drift[1:4] == ['  declared, not in the table: ' + rs2,
                          '  declared, not in the table: -a -t 192.0.2.101:80 -r 192.0.2.11:8080 -m -w 2',
                          '  in the table, not declared: -a -t 192.0.2.101:80 -r 192.0.2.11:8080 -m -w 5']
    assert drift[4].startswith('  keepalived owns this table') and 'restart keepalived on lb1' in drift[4]
    assert not any(line.startswith('lb2: the IPVS table differs') for line in lines)


def test_a_static_directors_drift_is_put_back_by_site():
    plan = plans('dr')['director']['director']
    assert table_drift('director', plan, plan['rules']) == []
    lines = table_drift('director', plan, '')          # ipvsadm -C
    assert len(lines) == 1 + len(plan['rules'].splitlines()) + 1
    assert lines[-1].startswith('  run lvs.cluster.site: it shows the difference (--diff) and puts the table back')


def test_planned_vips_in_both_modes():
    assert planned_vips(plans('ha', ha_keepalived())['lb1']['director']) == \
        ['192.0.2.100', '192.0.2.101', '192.0.2.1']
    assert planned_vips(plans('nat')['director']['director']) == ['203.0.113.100']


def test_interface_addresses_reads_ip_o_addr():
    assert interface_addresses(IP_LB1) == {'127.0.0.1', '192.0.2.2', '192.0.2.100', 'fe80::1'}
    assert interface_addresses('') == set()


# ---------------------------------------------------------------------------
# rolling_order (playbooks/rolling.yml)
# ---------------------------------------------------------------------------

def test_rolling_every_real_server_in_a_service_in_the_groups_order_with_the_ports_to_check():
    plan = plans('ha', ha_keepalived())['lb1']['director']
    servers = dict(realservers('ha'), rs3='192.0.2.13/24')     # rs3: in no service, left out
    order = rolling_order(plan, None, servers, 'systemctl restart nginx')
    assert [o['host'] for o in order] == ['rs1', 'rs2']
    assert order[0]['targets'] == drain_targets(plan, 'rs1', servers)
    # NAT's real server port (8080) is where the director reaches it
    assert order[1]['checks'] == [{'address': '192.0.2.12', 'port': 80}, {'address': '192.0.2.12', 'port': 8080}]


def test_rolling_the_hosts_named_in_their_order_udp_and_fwmark_not_port_checked():
    services = [{'address': '192.0.2.100', 'port': 53, 'protocol': 'udp', 'realservers': [{'host': 'rs1'}]},
                {'protocol': 'fwmark', 'fwmark': 5, 'match': {'protocol': 'tcp', 'address': '192.0.2.101', 'ports': [443]},
                 'realservers': [{'host': 'rs1'}, {'host': 'rs2'}]},
                {'address': '192.0.2.100', 'port': 80, 'realservers': [{'host': 'rs2'}, {'host': 'rs1'}]}]
    hostvars, groups = load_inventory('dr')[1:]
    plan = plan_cluster(services, hostvars, groups)['director']['director']
    order = rolling_order(plan, ['rs2', 'rs1'], realservers('dr'), 'true', '60')
    assert [o['host'] for o in order] == ['rs2', 'rs1']
    assert [len(o['targets']) for o in order] == [2, 3]
    assert order[1]['checks'] == [{'address': '192.0.2.11', 'port': 80}]


ROLLING_REFUSED = [
    # (hosts, command, timeout, what the message must say)
    (None, None, 300, 'lvs_rolling_command: missing: give the command that restarts the application on a '
                      'real server, e.g. -e "lvs_rolling_command=\'systemctl restart nginx\'"'),
    (None, '  ', 300, "lvs_rolling_command: not a command line: '  '"),
    (None, ['systemctl', 'restart'], 300, 'lvs_rolling_command: not a command line'),
    (None, 'true', 'soon', "lvs_drain_timeout: 'soon' is not a number of seconds"),
    ('rs1', 'true', 300, "lvs_rolling_hosts: 'rs1' is not a list of real servers; give one, e.g. "
                         '-e \'{"lvs_rolling_hosts": ["rs1", "rs2"]}\''),
    ([], 'true', 300, 'lvs_rolling_hosts: [] is not a list'),
    (['rs1', 'rs9'], 'true', 300, "lvs_rolling_hosts[1]: 'rs9' is not a host of the lvs_realservers group; "
                                  'name one of rs1, rs2, e.g. -e \'{"lvs_rolling_hosts": ["rs1"]}\''),
    (['rs1', 'rs1'], 'true', 300, 'lvs_rolling_hosts[1]: rs1 is named twice'),
]


@pytest.mark.parametrize('hosts, command, timeout, message', ROLLING_REFUSED)
def test_rolling_bad_inputs_are_refused_naming_the_variable(hosts, command, timeout, message):
    plan = plans('dr')['director']['director']
    with pytest.raises(OpsError) as exc:
        rolling_order(plan, hosts, realservers('dr'), command, timeout)
    assert message in str(exc.value)


def test_rolling_a_named_real_server_in_no_service_is_refused():
    plan = plans('dr')['director']['director']
    with pytest.raises(OpsError) as exc:
        rolling_order(plan, ['rs3'], dict(realservers('dr'), rs3='192.0.2.13/24'), 'true')
    assert str(exc.value).startswith('lvs_rolling_hosts[0]: rs3 (192.0.2.13) is in no service')
