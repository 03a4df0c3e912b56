"""What lvs_vip, ipip_tunnel and arp_suppress decide to change (pure logic, no kernel).

The live state is given as net_iproute reads it; that the kernel then looks as planned
is proven in the lab (tests/integration/test_lvs_vip.py, test_ipip_tunnel.py).
"""
import ipaddress

from ansible_collections.lvs.cluster.plugins.module_utils.net_plan import (
    arp_sysctls, plan_tunnel, plan_vip, rp_filter_sysctls,
)
from ansible_collections.lvs.cluster.plugins.module_utils.net_sysctl import conf_key

VIP = ipaddress.ip_address("192.0.2.10")
VIP6 = ipaddress.ip_address("2001:db8::10")
OTHER = ipaddress.ip_address("192.0.2.99")


def entry(address, prefix, label=None):
    return {"address": address, "prefix": prefix, "label": label}


def vip(present=True, label=None, manage_route=False, addresses=(), route=None, addr=VIP, prefix=32,
        interface="lo"):
    return plan_vip(addr, prefix, label, interface, present, manage_route, list(addresses), route)


# -- lvs_vip ------------------------------------------------------------------

def test_vip_missing_is_added_with_the_interface_as_ipv4_label():
    plan = vip(addresses=[entry(OTHER, 32, "lo")])
    assert plan.add and not plan.stale and plan.changed
    assert plan.before_entries == []
    assert plan.after_entries == [entry(VIP, 32, "lo")]
    assert plan.after_label == "lo"
    assert plan.after_route is None and not plan.add_route


def test_ipv6_vip_has_no_label():
    plan = vip(addr=VIP6, prefix=128)
    assert plan.add and plan.after_entries == [entry(VIP6, 128, None)] and plan.after_label is None


def test_vip_in_place_is_no_change_and_any_label_matches_when_none_asked():
    plan = vip(addresses=[entry(VIP, 32, "lo:7")])
    assert not plan.changed and not plan.add and not plan.stale
    assert plan.after_label == "lo:7"


def test_vip_with_another_prefix_or_label_is_replaced():
    live = [entry(VIP, 24, "lo"), entry(VIP, 32, "lo:1")]
    plan = vip(label="lo:0", addresses=live)
    assert plan.stale == live and plan.add and plan.changed
    assert plan.after_entries == [entry(VIP, 32, "lo:0")]


def test_vip_host_route_added_when_managed_and_missing():
    plan = vip(manage_route=True, addresses=[entry(VIP, 32, "lo")], route=False)
    assert plan.add_route and not plan.del_route and plan.after_route is True and plan.changed
    plan = vip(manage_route=True, addresses=[entry(VIP, 32, "lo")], route=True)
    assert not plan.changed and plan.after_route is True


def test_vip_absent_removes_only_the_matching_entry_and_the_route():
    live = [entry(VIP, 32, "lo"), entry(VIP, 24, "lo"), entry(OTHER, 32, "lo")]
    plan = vip(present=False, manage_route=True, addresses=live, route=True)
    assert plan.stale == [entry(VIP, 32, "lo")]
    assert plan.del_route and not plan.add_route and not plan.add
    assert plan.after_entries == [entry(VIP, 24, "lo")]
    assert plan.after_route is False and plan.changed
    assert plan.after_label is None


def test_vip_absent_when_gone_is_no_change():
    plan = vip(present=False, manage_route=True, addresses=[entry(OTHER, 32)], route=False)
    assert not plan.changed and plan.after_entries == [] and plan.after_route is False


# -- ipip_tunnel ------------------------------------------------------------

def tunnel(present=True, addresses=(), up=False, prefix=32):
    return plan_tunnel(VIP, prefix, "tunl0", present, list(addresses), up)


def test_tunnel_present_adds_the_vip_and_brings_the_device_up():
    plan = tunnel(up=False)
    assert plan.add and plan.up and plan.link_change and plan.changed
    assert plan.after_entries == [entry(VIP, 32, "tunl0")]


def test_tunnel_present_in_place_is_no_change():
    plan = tunnel(addresses=[entry(VIP, 32, "tunl0")], up=True)
    assert not plan.changed and not plan.link_change and plan.up


def test_tunnel_present_replaces_another_prefix_and_keeps_other_addresses():
    live = [entry(OTHER, 32, "tunl0"), entry(VIP, 24, "tunl0")]
    plan = tunnel(addresses=live, up=True)
    assert plan.stale == [entry(VIP, 24, "tunl0")] and plan.add
    assert plan.after_entries == [entry(OTHER, 32, "tunl0"), entry(VIP, 32, "tunl0")]


def test_tunnel_absent_brings_the_device_down_when_the_vip_was_all():
    plan = tunnel(present=False, addresses=[entry(VIP, 32, "tunl0")], up=True)
    assert plan.stale == [entry(VIP, 32, "tunl0")]
    assert not plan.up and plan.link_change and plan.changed and plan.after_entries == []


def test_tunnel_absent_keeps_the_device_up_while_other_addresses_remain():
    plan = tunnel(present=False, addresses=[entry(VIP, 32), entry(OTHER, 32)], up=True)
    assert plan.stale == [entry(VIP, 32)] and plan.up and not plan.link_change
    assert plan.after_entries == [entry(OTHER, 32)]


def test_tunnel_absent_leaves_a_device_without_our_vip_alone():
    plan = tunnel(present=False, addresses=[], up=True)
    assert not plan.changed and plan.up
    plan = tunnel(present=False, addresses=[entry(VIP, 24)], up=True)    # not our prefix
    assert not plan.changed and plan.up and plan.after_entries == [entry(VIP, 24)]


# -- sysctls ----------------------------------------------------------------

def test_arp_sysctls_present_sets_live_and_file_in_interface_order():
    live, file_settings = arp_sysctls(["all", "lo"], 1, 2, True)
    assert list(live) == [conf_key("all", "arp_ignore"), conf_key("all", "arp_announce"),
                          conf_key("lo", "arp_ignore"), conf_key("lo", "arp_announce")]
    assert list(live.values()) == [1, 2, 1, 2]
    assert file_settings == live


def test_arp_sysctls_absent_resets_live_to_zero_and_removes_file_keys():
    live, file_settings = arp_sysctls(["all"], 1, 2, False)
    assert live == {conf_key("all", "arp_ignore"): 0, conf_key("all", "arp_announce"): 0}
    assert file_settings == {conf_key("all", "arp_ignore"): None, conf_key("all", "arp_announce"): None}


def test_rp_filter_sysctls_absent_leaves_live_values_and_removes_file_keys():
    keys = [conf_key("all", "rp_filter"), conf_key("tun.1", "rp_filter")]
    live, file_settings = rp_filter_sysctls("tun.1", 0, True)
    assert list(live.items()) == [(keys[0], 0), (keys[1], 0)] and file_settings == live
    live, file_settings = rp_filter_sysctls("tun.1", 0, False)
    assert live == {} and file_settings == {keys[0]: None, keys[1]: None}
