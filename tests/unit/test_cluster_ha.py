"""keepalived mode of the cluster model and its keepalived.conf template (host-only).

The good path renders keepalived.conf for every example inventory's directors (the ha
inventory as it is, the one-director ones with lvs_keepalived.enabled) and compares it
with golden files in tests/unit/golden/keepalived/, written by hand-checked renders; the
lab runs the real `keepalived -t` on the same files (tests/integration/test_keepalived_conf.py).
Regenerate after an intended change with LVS_UPDATE_GOLDEN=1 and read the diff.
The bad path: each broken HA description is refused naming its variable path.
"""
import os

import jinja2
import pytest
import yaml

from ansible_collections.lvs.cluster.plugins.module_utils.cluster import (
    ClusterError, plan_cluster,
)
from test_cluster_plan import INVENTORIES, REPO, load_inventory

TEMPLATE = os.path.join(REPO, 'roles', 'director', 'templates', 'keepalived.conf.j2')
GOLDEN = os.path.join(REPO, 'tests', 'unit', 'golden', 'keepalived')
EXAMPLES = ('ha', 'nat', 'dr', 'dr-routed', 'tun')
HA_TABLE = ('-A -t 192.0.2.100:80 -s wrr -p 60\n'
            '-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 3\n'
            '-a -t 192.0.2.100:80 -r 192.0.2.12:80 -g -w 3\n'
            '-A -t 192.0.2.101:80 -s wrr\n'
            '-a -t 192.0.2.101:80 -r 192.0.2.11:8080 -m -w 2\n'
            '-a -t 192.0.2.101:80 -r 192.0.2.12:8080 -m -w 1\n')


def keepalived_vars(inventory):
    with open(os.path.join(INVENTORIES, inventory, 'group_vars', 'all.yml')) as handle:
        conf = yaml.safe_load(handle).get('lvs_keepalived')
    # The one-director examples, run "when asked".
    return conf if conf is not None else {'enabled': True}


def render(plan, keepalived):
    with open(TEMPLATE) as handle:
        source = handle.read()
    env = jinja2.Environment(trim_blocks=True, undefined=jinja2.StrictUndefined)
    return env.from_string(source).render(lvs_plan=plan, lvs_keepalived=keepalived)


def rendered_examples():
    for inventory in EXAMPLES:
        conf = keepalived_vars(inventory)
        plans = plan_cluster(*load_inventory(inventory), keepalived=conf)
        for host, plan in sorted(plans.items()):
            if 'director' in plan['roles']:
                yield '%s-%s.conf' % (inventory, host), render(plan, conf)


@pytest.mark.parametrize('name, text', list(rendered_examples()))
def test_keepalived_conf_matches_its_golden_file(name, text):
    path = os.path.join(GOLDEN, name)
    if os.environ.get('LVS_UPDATE_GOLDEN'):
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, 'w') as handle:
            handle.write(text)
    with open(path) as handle:
        assert text == handle.read()


def test_every_golden_file_is_still_rendered():
    assert sorted(os.listdir(GOLDEN)) == sorted(name for name, text in rendered_examples())


def ha_plans():
    conf = keepalived_vars('ha')
    return plan_cluster(*load_inventory('ha'), keepalived=conf)


def test_ha_master_and_backup_from_the_director_order():
    plans = ha_plans()
    lb1, lb2 = plans['lb1']['director'], plans['lb2']['director']
    assert (lb1['keepalived']['state'], lb1['keepalived']['priority']) == ('MASTER', 100)
    assert (lb2['keepalived']['state'], lb2['keepalived']['priority']) == ('BACKUP', 99)
    # Each director's unicast peers are the others, never itself.
    assert lb1['keepalived']['unicast_src_ip'] == '192.0.2.2'
    assert lb1['keepalived']['unicast_peers'] == ['192.0.2.3']
    assert lb2['keepalived']['unicast_peers'] == ['192.0.2.2']
    # keepalived owns the VIPs and the table: nothing for lvs_vip; the rules are the declared
    # table (what keepalived makes; the role applies them only without keepalived).
    assert lb1['vips'] == [] and lb1['rules'] == HA_TABLE
    assert lb1['keepalived']['virtual_ipaddresses'] == [
        '192.0.2.100/32 dev eth0', '192.0.2.101/32 dev eth0', '192.0.2.1/32 dev eth0']
    assert lb1['keepalived']['sync_daemon'] is True


def test_ha_nat_real_servers_reply_through_the_gateway_vip():
    replies = ha_plans()['rs1']['realserver']['nat_replies']
    assert replies == [{'from': '192.0.2.11', 'protocol': 'tcp', 'port': 8080, 'via': '192.0.2.1'}]


def test_ha_conf_holds_the_secret_only_in_the_authentication_block():
    conf = keepalived_vars('ha')
    text = render(ha_plans()['lb1'], conf)
    assert text.count(conf['auth_pass']) == 1
    assert '        auth_pass %s\n' % conf['auth_pass'] in text


def test_nopreempt_makes_every_director_start_as_backup():
    conf = dict(keepalived_vars('ha'), preempt=False)
    plans = plan_cluster(*load_inventory('ha'), keepalived=conf)
    for name in ('lb1', 'lb2'):
        ka = plans[name]['director']['keepalived']
        assert ka['state'] == 'BACKUP' and ka['nopreempt'] is True
        assert 'nopreempt' in render(plans[name], conf)


def test_priority_override_and_misc_check_turn_on_script_security():
    services, hostvars, groups = load_inventory('ha')
    hostvars['lb2']['lvs_vrrp_priority'] = 150
    services[1]['healthcheck'] = {'type': 'misc', 'misc_path': '/usr/local/bin/probe'}
    conf = keepalived_vars('ha')
    plans = plan_cluster(services, hostvars, groups, keepalived=conf)
    assert plans['lb2']['director']['keepalived']['state'] == 'MASTER'
    assert plans['lb1']['director']['keepalived']['state'] == 'BACKUP'
    text = render(plans['lb1'], conf)
    assert 'enable_script_security' in text and 'misc_path "/usr/local/bin/probe"' in text


def test_udp_service_gets_a_udp_check_and_a_gue_real_server_its_tunnel():
    services, hostvars, groups = load_inventory('ha')
    services[0] = {'protocol': 'udp', 'address': '192.0.2.100', 'port': 53, 'forwarding': 'tun',
                   'realservers': [{'address': '192.0.2.11', 'tun_type': 'gue', 'tun_port': 6080}]}
    plans = plan_cluster(services, hostvars, groups, keepalived=keepalived_vars('ha'))
    text = render(plans['lb1'], keepalived_vars('ha'))
    assert 'UDP_CHECK {' in text and 'lvs_method TUN type gue port 6080' in text


# ---------------------------------------------------------------------------
# Bad HA descriptions
# ---------------------------------------------------------------------------

def bad(case_id, path, word, keepalived=None, services=None, hosts=None, groups=None):
    """A broken variant of the ha example: KEEPALIVED updates lvs_keepalived (value None
    removes a key), SERVICES maps an index to key updates of that service, HOSTS updates
    hostvars, GROUPS replaces groups."""
    return pytest.param(keepalived or {}, services or {}, hosts or {}, groups or {}, path, word,
                        id=case_id)


def describe(keepalived, services, hosts, groups):
    all_services, hostvars, all_groups = load_inventory('ha')
    conf = dict(keepalived_vars('ha'))
    for key, value in keepalived.items():
        if value is None:
            conf.pop(key, None)
        else:
            conf[key] = value
    for index, changes in services.items():
        while len(all_services) <= index:
            all_services.append(dict(all_services[0]))
        all_services[index].update(changes)
    for host, changes in hosts.items():
        hostvars.setdefault(host, {}).update(changes)
    all_groups.update(groups)
    return all_services, hostvars, all_groups, conf


UDP = {'protocol': 'udp', 'port': 53, 'persistence_timeout': None, 'delay_loop': None}
BAD = [
    bad('two-directors-keepalived-off', 'groups.lvs_directors', 'enabled: false',
        keepalived={'enabled': False}),
    bad('enabled-not-bool', 'lvs_keepalived.enabled', 'true or false', keepalived={'enabled': 'yes'}),
    bad('unknown-key', 'lvs_keepalived.priority', 'unknown key', keepalived={'priority': 100}),
    bad('vrid-zero', 'lvs_keepalived.virtual_router_id', '1..255', keepalived={'virtual_router_id': 0}),
    bad('vrid-too-big', 'lvs_keepalived.virtual_router_id', '1..255',
        keepalived={'virtual_router_id': 256}),
    bad('priority-out-of-range', 'hostvars.lb2.lvs_vrrp_priority', '1..254',
        hosts={'lb2': {'lvs_vrrp_priority': 255}}),
    bad('priority-not-a-number', 'hostvars.lb1.lvs_vrrp_priority', 'whole number',
        hosts={'lb1': {'lvs_vrrp_priority': 'high'}}),
    bad('priorities-tied', 'hostvars.lb2.lvs_vrrp_priority', 'tied',
        hosts={'lb2': {'lvs_vrrp_priority': 100}}),
    bad('auth-pass-too-long', 'lvs_keepalived.auth_pass', 'at most 8',
        keepalived={'auth_pass': 'averylongsecret'}),
    bad('auth-pass-with-vrrpv3', 'lvs_keepalived.auth_pass', 'VRRPv3',
        keepalived={'vrrp_version': 3}),
    bad('subsecond-advert-with-vrrpv2', 'lvs_keepalived.advert_int', 'vrrp_version: 3',
        keepalived={'advert_int': 0.5}),
    bad('advert-not-a-number', 'lvs_keepalived.advert_int', 'seconds', keepalived={'advert_int': 'fast'}),
    bad('vrrp-version-4', 'lvs_keepalived.vrrp_version', '2 or 3', keepalived={'vrrp_version': 4}),
    bad('preempt-delay-without-preempt', 'lvs_keepalived.preempt_delay', 'preempt is false',
        keepalived={'preempt': False, 'preempt_delay': 10}),
    bad('mail-without-smtp', 'lvs_keepalived.smtp_server', 'smtp_server',
        keepalived={'notification_email': ['ops@example.com']}),
    bad('nat-without-gateway', 'lvs_keepalived.nat_gateway', 'missing', keepalived={'nat_gateway': None}),
    bad('gateway-off-segment', 'lvs_keepalived.nat_gateway', 'segment',
        keepalived={'nat_gateway': '198.51.100.1'}),
    bad('gateway-is-a-vip', 'lvs_keepalived.nat_gateway', 'VIP', keepalived={'nat_gateway': '192.0.2.100'}),
    bad('gateway-is-a-host', 'lvs_keepalived.nat_gateway', 'lb2', keepalived={'nat_gateway': '192.0.2.3'}),
    bad('gateway-not-an-address', 'lvs_keepalived.nat_gateway', 'not an address',
        keepalived={'nat_gateway': 'gw'}),
    bad('http-check-on-udp', 'lvs_services[0].healthcheck.type', 'UDP',
        services={0: dict(UDP, healthcheck={'type': 'http'})}),
    bad('tcp-check-on-udp', 'lvs_services[0].healthcheck.type', 'UDP',
        services={0: dict(UDP, healthcheck={'type': 'tcp'})}),
    bad('udp-check-on-tcp', 'lvs_services[0].healthcheck.type', 'tcp or http',
        services={0: {'healthcheck': {'type': 'udp'}}}),
    bad('unknown-check-type', 'lvs_services[0].healthcheck.type', 'one of',
        services={0: {'healthcheck': {'type': 'icmp'}}}),
    bad('unknown-check-key', 'lvs_services[0].healthcheck.url', 'unknown key',
        services={0: {'healthcheck': {'type': 'http', 'url': '/'}}}),
    bad('misc-without-path', 'lvs_services[0].healthcheck.misc_path', 'exit 0',
        services={0: {'healthcheck': {'type': 'misc'}}}),
    bad('http-path-without-slash', 'lvs_services[1].healthcheck.path', 'starts with /',
        services={1: {'healthcheck': {'type': 'http', 'path': 'health'}}}),
    bad('status-code-out-of-range', 'lvs_services[1].healthcheck.status_code', '100..599',
        services={1: {'healthcheck': {'type': 'http', 'status_code': 42}}}),
    bad('sorry-server-wrong-family', 'lvs_services[0].sorry_server.address', 'family',
        services={0: {'sorry_server': {'address': '2001:db8::50', 'port': 80}}}),
    bad('sorry-server-not-a-mapping', 'lvs_services[0].sorry_server', 'mapping',
        services={0: {'sorry_server': '192.0.2.50'}}),
    bad('delay-loop-zero', 'lvs_services[0].delay_loop', '1..86400', services={0: {'delay_loop': 0}}),
    bad('inhibit-not-bool', 'lvs_services[0].inhibit_on_failure', 'true or false',
        services={0: {'inhibit_on_failure': 'yes'}}),
    bad('dr-real-server-off-the-second-directors-segment', 'lvs_services[0].realservers[0]', 'lb2',
        hosts={'lb2': {'lvs_address': '198.51.100.3/24'}}),
    bad('bad-lvs-interface', 'hostvars.lb1.lvs_interface', 'interface name',
        hosts={'lb1': {'lvs_interface': 'eth 0'}}),
    bad('track-script-relative-path', 'lvs_keepalived.track_scripts[0].script', 'absolute path',
        keepalived={'track_scripts': [{'name': 'app', 'script': 'check-app --fast'}]}),
    bad('track-script-with-a-quote', 'lvs_keepalived.track_scripts[0].script', 'script file',
        keepalived={'track_scripts': [{'name': 'app', 'script': '/bin/sh -c "pidof app"'}]}),
    bad('track-script-names-tied', 'lvs_keepalived.track_scripts[1].name', 'its own',
        keepalived={'track_scripts': [{'name': 'app', 'script': '/bin/true'},
                                      {'name': 'app', 'script': '/bin/false'}]}),
    bad('track-script-bad-name', 'lvs_keepalived.track_scripts[0].name', 'letters',
        keepalived={'track_scripts': [{'name': 'my app', 'script': '/bin/true'}]}),
    bad('track-script-unknown-key', 'lvs_keepalived.track_scripts[0].user', 'unknown key',
        keepalived={'track_scripts': [{'name': 'app', 'script': '/bin/true', 'user': 'nobody'}]}),
    bad('track-script-weight-cannot-move-the-vips', 'lvs_keepalived.track_scripts[0].weight',
        'would not move', keepalived={'track_scripts': [{'name': 'app', 'script': '/bin/true',
                                                         'weight': -1}]}),
    bad('track-script-interval-zero', 'lvs_keepalived.track_scripts[0].interval', '1..3600',
        keepalived={'track_scripts': [{'name': 'app', 'script': '/bin/true', 'interval': 0}]}),
    bad('notify-unknown-state', 'lvs_keepalived.notify.primary', 'unknown key',
        keepalived={'notify': {'primary': '/bin/true'}}),
    bad('notify-relative-path', 'lvs_keepalived.notify.master', 'absolute path',
        keepalived={'notify': {'master': 'became-master'}}),
    bad('misc-check-relative-path', 'lvs_services[0].healthcheck.misc_path', 'absolute path',
        services={0: {'healthcheck': {'type': 'misc', 'misc_path': 'check-app'}}}),
]


@pytest.mark.parametrize('keepalived, services, hosts, groups, path, word', BAD)
def test_bad_ha_description(keepalived, services, hosts, groups, path, word):
    all_services, hostvars, all_groups, conf = describe(keepalived, services, hosts, groups)
    with pytest.raises(ClusterError) as info:
        plan_cluster(all_services, hostvars, all_groups, keepalived=conf)
    hits = [e for e in info.value.errors if e.startswith(path + ': ')]
    assert hits, 'no error at %s in %r' % (path, info.value.errors)
    assert any(word in e for e in hits), 'no %r in %r' % (word, hits)


def test_the_secret_is_never_in_an_error():
    services, hostvars, groups, conf = describe({'auth_pass': 'averylongsecret'}, {}, {}, {})
    with pytest.raises(ClusterError) as info:
        plan_cluster(services, hostvars, groups, keepalived=conf)
    assert 'averylongsecret' not in str(info.value)


def test_health_checks_need_keepalived():
    services, hostvars, groups = load_inventory('dr')
    services[0]['healthcheck'] = {'type': 'tcp'}
    with pytest.raises(ClusterError) as info:
        plan_cluster(services, hostvars, groups)
    assert any(e.startswith('lvs_services[0].healthcheck: ') and 'enabled: true' in e
               for e in info.value.errors), info.value.errors


def test_router_with_two_directors_is_refused():
    services, hostvars, groups = load_inventory('dr-routed')
    hostvars['director2'] = dict(hostvars['director'], lvs_address='192.0.2.3/24')
    groups['lvs_directors'].append('director2')
    # A router whose own segment is the clients': it would need a route to the VIP.
    hostvars['router']['lvs_address'] = '203.0.113.1/24'
    with pytest.raises(ClusterError) as info:
        plan_cluster(services, hostvars, groups)
    assert any(e.startswith('hostvars.router: ') for e in info.value.errors), info.value.errors


def test_bad_ha_table_is_large_enough():
    assert len(BAD) >= 25
    assert len(set(p.id for p in BAD)) == len(BAD)


def test_track_scripts_and_notify_reach_the_conf_and_the_host_check():
    conf = ha_plans()['lb1']['director']['keepalived']
    assert [t['name'] for t in conf['track_scripts']] == ['maintenance']
    assert conf['notify'] == {'notify_master': '/usr/bin/touch /run/lvs-master',
                              'notify_backup': '/usr/bin/rm -f /run/lvs-master',
                              'notify_fault': '/usr/bin/rm -f /run/lvs-master'}
    # Every program keepalived will run is checked on the host before anything changes.
    assert conf['programs'] == [
        {'field': 'lvs_keepalived.track_scripts[0].script', 'path': '/usr/bin/test'},
        {'field': 'lvs_keepalived.notify.backup', 'path': '/usr/bin/rm'},
        {'field': 'lvs_keepalived.notify.master', 'path': '/usr/bin/touch'},
    ]


def test_a_weight_beyond_the_priority_gap_is_accepted():
    services, hostvars, groups, conf = describe(
        {'track_scripts': [{'name': 'app', 'script': '/bin/true', 'weight': -2}]}, {}, {}, {})
    plans = plan_cluster(services, hostvars, groups, keepalived=conf)
    assert plans['lb1']['director']['keepalived']['track_scripts'][0]['weight'] == -2
