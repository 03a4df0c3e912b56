"""Diff computation: wanted vs live -> operations (pure logic, no kernel)."""
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_model import service_key
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_plan import (
    apply_ops_to_table, build_wanted_service, build_wanted_table, plan_service, plan_table,
)


def wanted(**kw):
    base = dict(protocol='tcp', address='192.0.2.10', port=80, scheduler='wrr',
                realservers=[{'address': '10.0.0.1', 'weight': 2}, {'address': '10.0.0.2'}])
    base.update(kw)
    return build_wanted_service(base)


def as_live(*services):
    return dict((service_key(s), s) for s in services)


def names(ops):
    return [op.describe() for op in ops]


def test_empty_table_adds_service_then_dests():
    ops = plan_table({}, [wanted()])
    assert names(ops) == ['add service tcp 192.0.2.10:80',
                          'add dest tcp 192.0.2.10:80 realserver 10.0.0.1:80',
                          'add dest tcp 192.0.2.10:80 realserver 10.0.0.2:80']


def test_identical_table_has_no_ops():
    assert plan_table(as_live(wanted()), [wanted()]) == []


def test_changes_are_set_in_place_never_delete_add():
    live = wanted()
    new = wanted(scheduler='rr', realservers=[{'address': '10.0.0.1', 'weight': 5}, {'address': '10.0.0.2'}])
    ops = plan_table(as_live(live), [new])
    assert names(ops) == ['set service tcp 192.0.2.10:80',
                          'set dest tcp 192.0.2.10:80 realserver 10.0.0.1:80']
    assert all(op.action == 'set' for op in ops)


def test_forwarding_change_is_a_set():
    live = wanted()
    new = wanted(realservers=[{'address': '10.0.0.1', 'weight': 2, 'forwarding': 'tun'}, {'address': '10.0.0.2'}])
    assert names(plan_table(as_live(live), [new])) == ['set dest tcp 192.0.2.10:80 realserver 10.0.0.1:80']


def test_stale_dest_and_service_removed_last():
    other = wanted(port=443)
    live = as_live(wanted(), other)
    new = wanted(realservers=[{'address': '10.0.0.3'}])
    ops = plan_table(live, [new], purge=True)
    assert names(ops) == ['add dest tcp 192.0.2.10:80 realserver 10.0.0.3:80',
                          'del dest tcp 192.0.2.10:80 realserver 10.0.0.1:80',
                          'del dest tcp 192.0.2.10:80 realserver 10.0.0.2:80',
                          'del service tcp 192.0.2.10:443']


def test_no_purge_leaves_other_services_alone():
    live = as_live(wanted(), wanted(port=443))
    assert plan_table(live, [wanted()], purge=False) == []


def test_unmanaged_realservers_left_alone_by_service_plan():
    live = wanted()
    new = wanted(scheduler='wrr', realservers=[])
    assert plan_service(live, new, manage_realservers=False) == []
    assert plan_service(live, new, manage_realservers=True, purge_realservers=False) == []
    assert len(plan_service(live, new, manage_realservers=True, purge_realservers=True)) == 2


def test_persistence_settings_ignored_when_not_persistent():
    live = wanted()
    live['persistence_netmask'] = '255.255.255.0'    # junk the kernel keeps, meaningless
    assert plan_table(as_live(live), [wanted()]) == []
    persistent = wanted(persistence_timeout=300, persistence_netmask='24')
    assert names(plan_table(as_live(live), [persistent])) == ['set service tcp 192.0.2.10:80']


def test_port_mapping_change_is_new_dest_plus_stale_removal():
    live = wanted(realservers=[{'address': '10.0.0.1', 'port': 8080, 'forwarding': 'nat'}])
    new = wanted(realservers=[{'address': '10.0.0.1', 'port': 8081, 'forwarding': 'nat'}])
    assert names(plan_table(as_live(live), [new])) == [
        'add dest tcp 192.0.2.10:80 realserver 10.0.0.1:8081',
        'del dest tcp 192.0.2.10:80 realserver 10.0.0.1:8080']


def test_apply_ops_to_table_predicts_the_result():
    live = as_live(wanted(), wanted(port=443))
    new = build_wanted_table([dict(protocol='tcp', address='192.0.2.10', port=80, scheduler='rr',
                                   realservers=[{'address': '10.0.0.9'}])])
    after = apply_ops_to_table(live, plan_table(live, new, purge=True))
    assert list(after) == [('tcp', 'ipv4', '192.0.2.10', 80)]
    svc = after[('tcp', 'ipv4', '192.0.2.10', 80)]
    assert svc['scheduler'] == 'rr'
    assert list(svc['realservers']) == [('10.0.0.9', 80)]
    # and the live table itself is untouched (check mode relies on it)
    assert len(live) == 2 and len(live[('tcp', 'ipv4', '192.0.2.10', 80)]['realservers']) == 2


def test_fwmark_and_ipv6_services_plan():
    ops = plan_table({}, build_wanted_table([
        dict(protocol='fwmark', fwmark=5, family='ipv6', realservers=[{'address': '2001:db8::2'}]),
        dict(protocol='udp', address='2001:db8::1', port=53, one_packet=True, realservers=[]),
    ]))
    assert names(ops) == ['add service fwmark 5 (ipv6)', 'add service udp [2001:db8::1]:53',
                          'add dest fwmark 5 (ipv6) realserver [2001:db8::2]:0']
