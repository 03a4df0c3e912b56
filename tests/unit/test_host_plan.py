"""lvs_host's decisions (module_utils/host_plan.py): pure functions, no kernel.

Live states are written here the way the module reads them (/proc/sys text, decoded
`ip -N -j` JSON, `nft list` text); what the kernel really prints is proven by
tests/integration/test_lvs_host.py in the lab.
"""
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
