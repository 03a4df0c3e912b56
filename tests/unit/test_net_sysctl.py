"""sysctl keys, sysctl.d file merging and the live-value diff (pure logic, no kernel).

The SysctlPlan test points PROC_SYS at a temporary tree: it checks how the plan
compares and renders values, not what the kernel does (that is proven in the lab).
"""
import pytest

from ansible_collections.lvs.cluster.plugins.module_utils import net_sysctl
from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.net_sysctl import (
    SYSCTL_FILE_HEADER, SysctlPlan, conf_key, key_text, merge_sysctl_file, parse_key, render_sysctl_values,
    sysctl_changes,
)

IGN_ALL = conf_key("all", "arp_ignore")
ANN_ALL = conf_key("all", "arp_announce")
IGN_LO = conf_key("lo", "arp_ignore")


def test_key_spellings_round_trip():
    assert parse_key("net.ipv4.conf.all.arp_ignore") == IGN_ALL
    assert parse_key(" net/ipv4/conf/all/arp_ignore ") == IGN_ALL
    assert parse_key("-net.ipv4.conf.all.arp_ignore") == IGN_ALL
    assert key_text(IGN_ALL) == "net.ipv4.conf.all.arp_ignore"


def test_vlan_interface_key_uses_slashes():
    # A dot inside the interface name would split the dotted form in the wrong place.
    key = conf_key("eth0.10", "rp_filter")
    assert key_text(key) == "net/ipv4/conf/eth0.10/rp_filter"
    assert parse_key(key_text(key)) == key


def test_new_file_gets_header_and_keys_in_order():
    text = merge_sysctl_file(None, {IGN_ALL: 1, ANN_ALL: 2})
    assert text == ("%s\nnet.ipv4.conf.all.arp_ignore = 1\nnet.ipv4.conf.all.arp_announce = 2\n"
                    % SYSCTL_FILE_HEADER)


def test_merge_keeps_unrelated_lines_and_replaces_in_place():
    existing = ("# local tuning\n"
                "net.ipv4.ip_forward = 1\n"
                "net.ipv4.conf.all.arp_ignore=0\n"
                "\n"
                "; old style comment\n"
                "vm.swappiness = 10\n")
    text = merge_sysctl_file(existing, {IGN_ALL: 1, ANN_ALL: 2})
    assert text == ("# local tuning\n"
                    "net.ipv4.ip_forward = 1\n"
                    "net.ipv4.conf.all.arp_ignore = 1\n"
                    "\n"
                    "; old style comment\n"
                    "vm.swappiness = 10\n"
                    "net.ipv4.conf.all.arp_announce = 2\n")


def test_merge_drops_later_duplicates_that_would_win_at_boot():
    existing = "net.ipv4.conf.all.arp_ignore = 1\nnet/ipv4/conf/all/arp_ignore = 0\n"
    assert merge_sysctl_file(existing, {IGN_ALL: 1}) == "net.ipv4.conf.all.arp_ignore = 1\n"


def test_merge_is_a_fixed_point():
    once = merge_sysctl_file("vm.swappiness = 10\n", {IGN_ALL: 1, IGN_LO: 1})
    assert merge_sysctl_file(once, {IGN_ALL: 1, IGN_LO: 1}) == once


def test_removal_keeps_other_lines():
    existing = "vm.swappiness = 10\nnet.ipv4.conf.all.arp_ignore = 1\n"
    assert merge_sysctl_file(existing, {IGN_ALL: None, ANN_ALL: None}) == "vm.swappiness = 10\n"


def test_removing_last_key_of_our_file_deletes_it():
    ours = merge_sysctl_file(None, {IGN_ALL: 1})
    assert merge_sysctl_file(ours, {IGN_ALL: None}) is None


def test_removal_from_missing_file_keeps_it_missing():
    assert merge_sysctl_file(None, {IGN_ALL: None}) is None


def test_file_without_trailing_newline_gets_one():
    assert merge_sysctl_file("vm.swappiness = 10", {}) == "vm.swappiness = 10\n"


def test_sysctl_changes_compares_normalised_strings():
    live = {IGN_ALL: "1", ANN_ALL: "0"}
    assert sysctl_changes({IGN_ALL: 1, ANN_ALL: 2}, live) == [ANN_ALL]
    assert sysctl_changes({IGN_ALL: "1 "}, live) == []


def test_render_values_for_diff():
    assert render_sysctl_values({IGN_ALL: "1"}) == "net.ipv4.conf.all.arp_ignore = 1\n"


@pytest.fixture
def fake_proc(tmp_path, monkeypatch):
    root = tmp_path / "proc_sys"
    for ifname in ("all", "lo"):
        conf = root / "net" / "ipv4" / "conf" / ifname
        conf.mkdir(parents=True)
        (conf / "arp_ignore").write_text("0\n")
        (conf / "arp_announce").write_text("0\n")
    monkeypatch.setattr(net_sysctl, "PROC_SYS", str(root))
    return root


def test_plan_reports_only_differing_keys_and_both_diffs(fake_proc, tmp_path):
    (fake_proc / "net/ipv4/conf/all/arp_ignore").write_text("1\n")
    path = str(tmp_path / "90-lvs.conf")
    wanted = {IGN_ALL: 1, ANN_ALL: 2}
    plan = SysctlPlan(wanted, path, dict(wanted))
    assert plan.live_changes == [ANN_ALL]
    assert plan.changed and plan.file_changed
    live_diff, file_diff = plan.diffs()
    assert live_diff["before"] == "net.ipv4.conf.all.arp_ignore = 1\nnet.ipv4.conf.all.arp_announce = 0\n"
    assert live_diff["after"] == "net.ipv4.conf.all.arp_ignore = 1\nnet.ipv4.conf.all.arp_announce = 2\n"
    assert file_diff["before"] == "" and "net.ipv4.conf.all.arp_announce = 2\n" in file_diff["after"]
    assert plan.result()["sysctl"] == {"net.ipv4.conf.all.arp_ignore": "1",
                                       "net.ipv4.conf.all.arp_announce": "2"}


def test_plan_missing_key_fails_before_anything_with_hint(fake_proc):
    with pytest.raises(LVSError) as info:
        SysctlPlan({conf_key("eth9", "arp_ignore"): 1}, missing_hint=lambda key: "interfaces: no %s" % key[3])
    assert str(info.value) == "interfaces: no eth9"
