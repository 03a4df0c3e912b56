"""Input validation of the network modules (pure logic, no kernel).

Every rejection must name the option it is about, so the user knows what to fix.
"""
import ipaddress

import pytest

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.net_sysctl import validate_sysctl_file
from ansible_collections.lvs.cluster.plugins.module_utils.net_validate import (
    default_prefix, interface_list, parse_address, validate_ifname, validate_label, validate_prefix,
)


def rejects(func, *args, **kwargs):
    with pytest.raises(LVSError) as info:
        func(*args, **kwargs)
    return str(info.value)


@pytest.mark.parametrize("text, version", [
    ("192.168.58.200", 4), ("10.0.0.1", 4), ("2001:db8::200", 6), ("fd00::1", 6), (" 10.0.0.1 ", 4),
])
def test_parse_address_accepts_unicast_vips(text, version):
    assert parse_address(text).version == version


@pytest.mark.parametrize("text, hint", [
    ("", "required"),
    (None, "required"),
    ("10.0.0.256", "not an IPv4 or IPv6 address"),
    ("vip.example.com", "not an IPv4 or IPv6 address"),
    ("10.0.0.1/32", "prefix"),
    ("0.0.0.0", "unicast"),
    ("::", "unicast"),
    ("224.0.0.1", "unicast"),
    ("ff02::1", "unicast"),
    ("255.255.255.255", "broadcast"),
    ("127.0.0.2", "loopback"),
    ("::1", "loopback"),
    ("fe80::1", "link-local"),
])
def test_parse_address_rejects_with_field_name(text, hint):
    msg = rejects(parse_address, text, "address")
    assert msg.startswith("address: ")
    assert hint in msg


def test_parse_address_family_restriction_names_field():
    msg = rejects(parse_address, "2001:db8::1", "address", family=4)
    assert msg.startswith("address: ") and "IPv4 only" in msg


def test_default_prefix_is_single_host():
    assert default_prefix(ipaddress.ip_address("10.0.0.1")) == 32
    assert default_prefix(ipaddress.ip_address("2001:db8::1")) == 128


@pytest.mark.parametrize("prefix, text, expected", [
    (None, "10.0.0.1", 32), (None, "2001:db8::1", 128), (24, "10.0.0.1", 24), (64, "2001:db8::1", 64),
    (1, "10.0.0.1", 1),
])
def test_validate_prefix_accepts(prefix, text, expected):
    assert validate_prefix(prefix, ipaddress.ip_address(text)) == expected


@pytest.mark.parametrize("prefix, text, hint", [
    (0, "10.0.0.1", "1..32"), (33, "10.0.0.1", "1..32"), (129, "2001:db8::1", "1..128"),
    (-1, "10.0.0.1", "1..32"), ("24", "10.0.0.1", "integer"), (True, "10.0.0.1", "integer"),
])
def test_validate_prefix_rejects(prefix, text, hint):
    msg = rejects(validate_prefix, prefix, ipaddress.ip_address(text), "prefix")
    assert msg.startswith("prefix: ") and hint in msg


@pytest.mark.parametrize("name", ["lo", "eth0", "eth0.10", "enp0s31f6", "a" * 15, "tunl0", "br-lan"])
def test_validate_ifname_accepts(name):
    assert validate_ifname(name, "interface") == name


@pytest.mark.parametrize("name, hint", [
    ("", "required"), (None, "required"), ("a" * 16, "longer than 15"), ("eth0:0", "not a valid"),
    ("eth 0", "not a valid"), ("a/b", "not a valid"), (".", "not a valid"), ("..", "not a valid"),
])
def test_validate_ifname_rejects(name, hint):
    msg = rejects(validate_ifname, name, "interface")
    assert msg.startswith("interface: ") and hint in msg


V4 = ipaddress.ip_address("10.0.0.1")


@pytest.mark.parametrize("label, interface", [
    (None, "lo"), ("lo:0", "lo"), ("eth0:0", "eth0"), ("eth0:vip1", "eth0"), ("enp0s31f6:12345", "enp0s31f6"),
])
def test_validate_label_accepts_alias_form(label, interface):
    assert validate_label(label, interface, V4) == label


@pytest.mark.parametrize("label, interface, hint", [
    ("eth1:0", "eth0", "must start with the interface name"),
    ("lo0", "lo", "must start with the interface name"),
    ("lo", "lo", "must start with the interface name"),
    ("lo:", "lo", "must start with the interface name"),
    ("vip", "lo", "must start with the interface name"),
    ("enp0s31f6:123456", "enp0s31f6", "longer than 15"),
    ("lo:a b", "lo", "whitespace"),
    ("", "lo", "non-empty"),
])
def test_validate_label_rejects(label, interface, hint):
    msg = rejects(validate_label, label, interface, V4, "label")
    assert msg.startswith("label: ") and hint in msg


def test_validate_label_is_ipv4_only():
    msg = rejects(validate_label, "lo:0", "lo", ipaddress.ip_address("2001:db8::1"), "label")
    assert msg.startswith("label: ") and "IPv4" in msg


def test_validate_sysctl_file(tmp_path):
    good = str(tmp_path / "90-lvs.conf")
    assert validate_sysctl_file(good) == good
    assert validate_sysctl_file(None) is None
    for bad, hint in [("90-lvs.conf", "absolute"), (str(tmp_path) + "/", "directory"),
                      (str(tmp_path / "90-lvs"), ".conf"),
                      (str(tmp_path / "missing" / "90-lvs.conf"), "does not exist")]:
        msg = rejects(validate_sysctl_file, bad)
        assert msg.startswith("sysctl_file: ") and hint in msg, msg
    (tmp_path / "dir.conf").mkdir()
    assert "not a regular file" in rejects(validate_sysctl_file, str(tmp_path / "dir.conf"))


def test_interface_list_puts_all_first_once():
    assert interface_list(["lo", "eth0", "lo", "all"]) == ["all", "lo", "eth0"]
    assert interface_list([]) == ["all"]


def test_interface_list_names_the_bad_position():
    msg = rejects(interface_list, ["lo", "eth0:0"])
    assert msg.startswith("interfaces[1]: ")
