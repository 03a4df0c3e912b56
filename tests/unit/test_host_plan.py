"""lvs_host's decisions (module_utils/host_plan.py): pure functions, no kernel.

Live states are written here the way the module reads them (/proc/sys text, decoded
`ip -N -j` JSON, `nft list` text); what the kernel really prints is proven by
tests/integration/test_lvs_host.py in the lab.
"""
import ipaddress

import pytest

from ansible_collections.lvs.cluster.plugins.module_utils import host_plan as hp
from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError

PORTS = ("net", "ipv4", "ip_local_port_range")
VLAN_RP = ("net", "ipv4", "conf", "eth0.10", "rp_filter")


# -- kernel modules

def test_modules_loaded_only_when_sys_module_is_absent():
    wanted = hp.validate_kernel_modules(["ip_vs", "ip_vs_wrr", "ip_vs", "ipip"])
    assert wanted == ["ip_vs", "ip_vs_wrr", "ipip"]
    assert hp.modules_to_load(wanted, {"ip_vs", "ipip"}) == ["ip_vs_wrr"]
    assert hp.modules_to_load(wanted, {"ip_vs", "ip_vs_wrr", "ipip"}) == []
    # /sys/module spells a dash as an underscore
    assert hp.modules_to_load(["nf-conntrack"], {"nf_conntrack"}) == []


@pytest.mark.parametrize("name", ["", "ip vs", "../x", "a;b", 7])
def test_bad_module_names_name_the_option(name):
    with pytest.raises(LVSError, match=r"^kernel_modules\[1\]: "):
        hp.validate_kernel_modules(["ip_vs", name])


# -- sysctls

def test_multi_value_sysctl_equals_the_kernels_tab_form():
    wanted = hp.validate_sysctls({"net.ipv4.ip_local_port_range": "32768 60999"})
    assert hp.sysctl_actions(wanted, {PORTS: "32768\t60999"}) == []
    assert hp.sysctl_actions(wanted, {PORTS: "32768\t61000"}) == [(PORTS, "32768\t61000", "32768 60999")]


def test_slash_key_keeps_a_dotted_interface():
    wanted = hp.validate_sysctls({"net/ipv4/conf/eth0.10/rp_filter": 2})
    assert list(wanted) == [VLAN_RP]
    assert wanted[VLAN_RP] == "2"
    assert hp.sysctl_actions(wanted, {VLAN_RP: "2"}) == []
    assert hp.sysctl_actions(wanted, {VLAN_RP: "0"}) == [(VLAN_RP, "0", "2")]


def test_missing_sysctl_is_a_change_with_unknown_before():
    wanted = hp.validate_sysctls({"net.ipv4.vs.conntrack": "1"})
    key = ("net", "ipv4", "vs", "conntrack")
    assert hp.missing_sysctls(wanted, {key: None}) == [key]
    assert hp.sysctl_actions(wanted, {key: None}) == [(key, None, "1")]


@pytest.mark.parametrize("values, match", [
    ({"": "1"}, "a sysctl key is required"),
    ({"net.ipv4..x/../y": "1"}, "not a sysctl key"),
    ({"net/ipv4/../../etc": "1"}, "not a sysctl key"),
    ({"-net.ipv4.ip_forward": "1"}, "not a sysctl key"),
    ({"net.ipv4.ip_forward": True}, "not a number or a string"),
    ({"net.ipv4.ip_forward": [1]}, "not a number or a string"),
    ({"net.ipv4.ip_forward": " "}, "empty"),
    ({"net.ipv4.ip_forward": "1\n0"}, "line break"),
    ({"net.ipv4.ip_forward": "1", "net/ipv4/ip_forward": "0"}, "given twice"),
])
def test_bad_sysctls_name_the_key(values, match):
    with pytest.raises(LVSError, match=r"^sysctls\[.*" + match):
        hp.validate_sysctls(values)


# -- nft

def test_nft_load_only_when_the_listing_differs():
    present = hp.validate_nft({"state": "present", "ruleset": "/etc/lvs-cluster/fwmark.nft"})
    listing = "table inet lvs_cluster {\n\tchain output {\n\t}\n}\n"
    assert hp.nft_action(present, listing, listing) is None
    assert hp.nft_action(present, None, listing) == "load"
    assert hp.nft_action(present, listing.replace("output", "prerouting"), listing) == "load"
    absent = hp.validate_nft({"state": "absent", "ruleset": None})
    assert hp.nft_action(absent, listing) == "delete"
    assert hp.nft_action(absent, None) is None
    assert hp.nft_action(None, listing) is None


def test_nft_bad_input_and_foreign_tables():
    with pytest.raises(LVSError, match=r"^nft_table.ruleset: required"):
        hp.validate_nft({"state": "present", "ruleset": None})
    with pytest.raises(LVSError, match=r"^nft_table.ruleset: not used"):
        hp.validate_nft({"state": "absent", "ruleset": "/x.nft"})
    assert hp.tables_listed("table inet lvs_cluster\ntable ip filter\n") == ["inet lvs_cluster", "ip filter"]


# -- NAT reply routing

REPLIES = [{"from": "198.51.100.11", "protocol": "tcp", "port": 80, "via": "198.51.100.1"},
           {"from": "198.51.100.11", "protocol": "udp", "port": 0, "via": "198.51.100.1"}]


def nat(replies=None):
    return hp.validate_nat_routing({"table": 240, "priority": 31000,
                                    "replies": REPLIES if replies is None else replies})


def test_nat_rules_stale_removed_missing_added():
    plan = nat()
    wanted = [hp.wanted_rule(r, plan["table"]) for r in plan["rules"]]
    # `ip -N -j -4 rule show priority 31000`: numbers for protocol and table
    live = hp.parse_ip_rules([
        {"priority": 31000, "src": "198.51.100.11", "ipproto": "ipproto-6", "sport": 80, "table": "240"},
        {"priority": 31000, "src": "198.51.100.99", "table": "240"},
    ])
    remove, add = hp.rule_actions(wanted, live)
    assert [hp.rule_text(r) for r in remove] == ["from 198.51.100.99 lookup 240"]
    assert [hp.rule_text(r) for r in add] == ["from 198.51.100.11 ipproto udp lookup 240"]
    assert hp.rule_args(add[0]) == ["from", "198.51.100.11", "ipproto", "17", "lookup", "240"]
    assert hp.rule_actions(wanted, wanted) == ([], [])


def test_nat_rule_with_other_selectors_is_not_ours():
    plan = nat(REPLIES[:1])
    wanted = [hp.wanted_rule(r, 240) for r in plan["rules"]]
    live = hp.parse_ip_rules([{"priority": 31000, "src": "198.51.100.11", "ipproto": "tcp", "sport": 80,
                               "table": "240", "fwmark": "0x1"}])
    remove, add = hp.rule_actions(wanted, live)
    assert len(remove) == 1 and len(add) == 1
    assert hp.parse_ip_rules([{"src": "10.0.0.0", "srclen": 8, "table": "240"}])[0][0] == "10.0.0.0/8"


def test_nat_default_route():
    assert hp.default_route_action("198.51.100.1", ["198.51.100.1"]) is None
    assert hp.default_route_action("198.51.100.1", []) == "replace"
    assert hp.default_route_action("198.51.100.1", ["198.51.100.2"]) == "replace"
    assert hp.default_route_action(None, ["198.51.100.1"]) == "delete"
    assert hp.default_route_action(None, []) is None
    empty = nat([])
    assert empty["via"] is None and empty["rules"] == []


@pytest.mark.parametrize("spec, match", [
    ({"table": 254, "priority": 31000}, r"^nat_routing.table: 254 is a table the kernel reserves"),
    ({"table": 240, "priority": 0}, r"^nat_routing.priority: 0 is out of range"),
    ({"table": 240, "priority": 31000, "replies": [dict(REPLIES[0], via="2001:db8::1")]},
     r"^nat_routing.replies\[0\].via: .* IPv4 only"),
    ({"table": 240, "priority": 31000, "replies": [REPLIES[0], dict(REPLIES[1], via="198.51.100.2")]},
     r"^nat_routing.replies\[1\].via: 198.51.100.2 differs"),
    ({"table": 240, "priority": 31000, "replies": [dict(REPLIES[0], protocol="icmp")]},
     r"^nat_routing.replies\[0\].protocol"),
    ({"table": 240, "priority": 31000, "replies": [dict(REPLIES[0], port=70000)]},
     r"^nat_routing.replies\[0\].port: 70000 is out of range"),
])
def test_bad_nat_routing(spec, match):
    with pytest.raises(LVSError, match=match):
        hp.validate_nat_routing(spec)


# -- router routes

def test_routes_replaced_only_when_the_gateway_differs():
    wanted = hp.validate_routes([{"to": "192.0.2.100/32", "via": "198.51.100.2"},
                                 {"to": "2001:db8::100/128", "via": "2001:db8:1::2"}])
    assert hp.route_dst({"dst": "192.0.2.100"}, 4) == "192.0.2.100/32"
    assert hp.route_dst({"dst": "default"}, 6) == "::/0"
    live = {"192.0.2.100/32": ["198.51.100.2"], "2001:db8::100/128": []}
    assert [r["to"] for r in hp.route_actions(wanted, live)] == ["2001:db8::100/128"]
    live["192.0.2.100/32"] = ["198.51.100.3"]
    assert len(hp.route_actions(wanted, live)) == 2


@pytest.mark.parametrize("routes, match", [
    ([{"to": "192.0.2.100/24", "via": "198.51.100.2"}], r"^routes\[0\].to: .*192.0.2.100/32"),
    ([{"to": "192.0.2.100/32", "via": "2001:db8::1"}], r"^routes\[0\].via: .* same family"),
    ([{"to": "192.0.2.100/32", "via": "x"}], r"^routes\[0\].via: 'x' is not an IP address"),
    ([{"to": "192.0.2.100/32", "via": "198.51.100.2"}, {"to": "192.0.2.100/32", "via": "198.51.100.3"}],
     r"^routes\[1\].to: .* twice"),
])
def test_bad_routes(routes, match):
    with pytest.raises(LVSError, match=match):
        hp.validate_routes(routes)


# -- IPVS timeouts

def test_timeouts_only_the_differing_ones():
    wanted = hp.validate_timeouts({"tcp": 300, "tcpfin": None, "udp": 60})
    assert wanted == {"tcp": 300, "udp": 60}
    assert hp.timeout_changes(wanted, {"tcp": 300, "tcpfin": 120, "udp": 300}) == {"udp": 60}
    assert hp.timeout_changes(wanted, {"tcp": 300, "tcpfin": 120, "udp": 60}) == {}
    assert hp.timeout_changes(wanted, None) == wanted   # ip_vs not loaded yet (check mode)
    assert hp.validate_timeouts(None) is None


@pytest.mark.parametrize("spec, match", [
    ({"tcp": 0}, r"^ipvs_timeouts.tcp: 0 is out of range"),
    ({"udp": 2147484}, r"^ipvs_timeouts.udp: .* out of range"),
    ({"tcp": None, "tcpfin": None, "udp": None}, r"^ipvs_timeouts: give at least one"),
])
def test_bad_timeouts(spec, match):
    with pytest.raises(LVSError, match=match):
        hp.validate_timeouts(spec)


# -- addresses (VIPs)

def entry(text, prefix, label=None):
    return {"address": ipaddress.ip_address(text), "prefix": prefix, "label": label}


def test_addresses_validated_with_host_prefixes():
    wanted = hp.validate_addresses([
        {"address": "192.0.2.100", "interface": "eth0"},
        {"address": "2001:db8::100", "interface": "lo"},
        {"address": "192.0.2.101", "prefix": 24, "interface": "tunl0", "up": True}])
    assert wanted == [
        {"address": ipaddress.ip_address("192.0.2.100"), "prefix": 32, "interface": "eth0", "up": False},
        {"address": ipaddress.ip_address("2001:db8::100"), "prefix": 128, "interface": "lo", "up": False},
        {"address": ipaddress.ip_address("192.0.2.101"), "prefix": 24, "interface": "tunl0", "up": True}]


@pytest.mark.parametrize("entries, match", [
    ([{"address": "192.0.2.300", "interface": "lo"}], r"^addresses\[0\]\.address: "),
    ([{"address": "192.0.2.1", "interface": "lo"}, {"address": "192.0.2.2", "prefix": 33, "interface": "lo"}],
     r"^addresses\[1\]\.prefix: 33 is out of range"),
    ([{"address": "192.0.2.1", "interface": "a b"}], r"^addresses\[0\]\.interface: "),
    ([{"address": "192.0.2.1", "interface": "lo"}, {"address": "192.0.2.1", "interface": "eth0"}],
     r"^addresses\[1\]\.address: 192\.0\.2\.1 is listed twice \(also addresses\[0\]\)"),
])
def test_bad_addresses_name_the_entry(entries, match):
    with pytest.raises(LVSError, match=match):
        hp.validate_addresses(entries)


def test_address_actions_add_only_what_is_missing():
    wanted = hp.validate_addresses([{"address": "192.0.2.100", "interface": "lo"},
                                    {"address": "2001:db8::100", "interface": "lo"}])
    live = {"lo": {"up": True, "addresses": [entry("127.0.0.1", 8, "lo"), entry("192.0.2.100", 32, "lo")]}}
    links_up, removes, adds = hp.address_actions(wanted, live)
    assert (links_up, removes) == ([], [])
    assert [str(e["address"]) for e in adds] == ["2001:db8::100"]
    live["lo"]["addresses"].append(entry("2001:db8::100", 128))
    assert hp.address_actions(wanted, live) == ([], [], [])


def test_address_with_another_prefix_is_replaced():
    wanted = hp.validate_addresses([{"address": "192.0.2.100", "interface": "eth0"}])
    stale = entry("192.0.2.100", 24, "eth0")
    live = {"eth0": {"up": True, "addresses": [entry("192.0.2.2", 24, "eth0"), stale]}}
    links_up, removes, adds = hp.address_actions(wanted, live)
    # The host's own 192.0.2.2/24 is not ours: left alone.
    assert removes == [("eth0", stale)]
    assert adds == wanted


def test_tunl0_brought_up_and_not_there_yet():
    wanted = hp.validate_addresses([{"address": "192.0.2.100", "interface": "tunl0", "up": True}])
    # Down: up first. Absent (ipip loaded by this run, check mode): up and added.
    down = {"tunl0": {"up": False, "addresses": [entry("192.0.2.100", 32, "tunl0")]}}
    assert hp.address_actions(wanted, down) == (["tunl0"], [], [])
    assert hp.address_actions(wanted, {}) == (["tunl0"], [], wanted)
    up = {"tunl0": {"up": True, "addresses": [entry("192.0.2.100", 32, "tunl0")]}}
    assert hp.address_actions(wanted, up) == ([], [], [])


# -- the IPVS table

def test_ipvs_table_rules_parsed_and_purge_defaults_on():
    table = hp.validate_ipvs_table({"rules": "-A -t 192.0.2.100:80 -s wrr\n"
                                             "-a -t 192.0.2.100:80 -r 198.51.100.11:80 -g -w 1\n"})
    assert table["purge"] is True
    (service,) = table["wanted"]
    assert service["scheduler"] == "wrr"
    assert list(service["realservers"].values())[0]["weight"] == 1
    assert hp.validate_ipvs_table(None) is None
    assert hp.validate_ipvs_table({"rules": "", "purge": False}) == {"wanted": [], "purge": False}


def test_bad_ipvs_table_rules_name_the_option_and_line():
    with pytest.raises(LVSError, match=r"^ipvs_table\.rules: rules line 2 "):
        hp.validate_ipvs_table({"rules": "-A -t 192.0.2.100:80 -s wrr\n-a -t 192.0.2.100:80 -r 198.51.100.11:80 -w x\n"})


# -- the address record (owned VIPs)

def test_a_vip_no_longer_planned_is_removed_only_when_recorded():
    record = hp.parse_address_record(hp.render_address_record(hp.validate_addresses([
        {"address": "192.0.2.100", "interface": "lo"}, {"address": "192.0.2.101", "interface": "lo"},
        {"address": "192.0.2.102", "interface": "eth0"}])), "/r")
    wanted = hp.validate_addresses([{"address": "192.0.2.100", "interface": "lo"}])
    live = {"lo": {"up": True, "addresses": [entry("192.0.2.100", 32, "lo"), entry("192.0.2.101", 32, "lo"),
                                             # not ours: never recorded
                                             entry("198.51.100.7", 32, "lo")]},
            "eth0": {"up": True, "addresses": []}}
    # 192.0.2.101 goes; 192.0.2.102 is gone already; 198.51.100.7 was never ours.
    assert hp.owned_address_actions(record, wanted, set(), live) == [("lo", entry("192.0.2.101", 32, "lo"))]
    # keepalived's now: kept, whatever the record says
    assert hp.owned_address_actions(record, wanted, {ipaddress.ip_address("192.0.2.101")}, live) == []
    # the interface itself is gone: nothing to do
    assert hp.owned_address_actions(record, wanted, set(), {}) == []


def test_a_vip_moved_to_another_interface_leaves_the_old_one():
    record = hp.parse_address_record(hp.render_address_record(hp.validate_addresses([
        {"address": "192.0.2.100", "interface": "eth0"}])), "/r")
    wanted = hp.validate_addresses([{"address": "192.0.2.100", "interface": "eth1"}])
    live = {"eth0": {"up": True, "addresses": [entry("192.0.2.100", 32, "eth0")]},
            "eth1": {"up": True, "addresses": []}}
    assert hp.owned_address_actions(record, wanted, set(), live) == [("eth0", entry("192.0.2.100", 32, "eth0"))]


def test_address_record_round_trip_and_bad_records():
    wanted = hp.validate_addresses([{"address": "2001:db8::100", "interface": "lo"}])
    text = hp.render_address_record(wanted)
    assert hp.parse_address_record(text, "/r") == [
        {"address": ipaddress.ip_address("2001:db8::100"), "prefix": 128, "interface": "lo"}]
    assert hp.parse_address_record(None, "/r") == []
    for bad in ("", "[]", '{"addresses": [{"address": "x", "prefix": 32, "interface": "lo"}]}'):
        with pytest.raises(LVSError, match=r"^address_record: /r is not a record this module wrote"):
            hp.parse_address_record(bad, "/r")


@pytest.mark.parametrize("spec, match", [
    ({"path": "var/lib/x.json"}, r"^address_record\.path: 'var/lib/x\.json' is not an absolute file path"),
    ({"path": "/var/lib/", "release": []}, r"^address_record\.path: "),
    ({"path": "/r", "release": ["192.0.2.1", "nope"]}, r"^address_record\.release\[1\]: 'nope' is not an IP"),
])
def test_bad_address_record_names_the_option(spec, match):
    with pytest.raises(LVSError, match=match):
        hp.validate_address_record(spec)
