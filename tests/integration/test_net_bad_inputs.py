"""Bad inputs to lvs_vip, arp_suppress and ipip_tunnel, on the real kernel.

Each task must fail with a message naming the offending option, and the namespace
(addresses, routes, links, every arp_* / rp_filter value) and the sysctl.d directory
must be byte-identical before and after.  Several cases pair valid kernel-facing
options with one bad option, to prove validation happens before anything is written.
All cases run in one playbook (one ansible-playbook start in the emulated guest).
"""
import os


def snapshot(ns, directory):
    kernel = ns.sh("ip -o addr; ip -o -d link; ip route show table all; ip -6 route show table all; "
                   "grep . /proc/sys/net/ipv4/conf/*/arp_ignore /proc/sys/net/ipv4/conf/*/arp_announce "
                   "/proc/sys/net/ipv4/conf/*/rp_filter")
    files = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        with open(path, "rb") as fh:
            files[name] = (oct(os.stat(path).st_mode), fh.read())
    return kernel, files


def cases(tmp):
    good_file = os.path.join(tmp, "90-lvs.conf")
    vip = "lvs.cluster.lvs_vip"
    arp = "lvs.cluster.arp_suppress"
    tun = "lvs.cluster.ipip_tunnel"
    return [
        # (field the message must name, module, args)
        ("address", vip, {"address": "10.0.0.300"}),
        ("address", vip, {"address": "vip.example.com"}),
        ("address", vip, {"address": "10.0.0.1/32"}),
        ("address", vip, {"address": ""}),
        ("address", vip, {"address": "0.0.0.0"}),
        ("address", vip, {"address": "224.0.0.5"}),
        ("address", vip, {"address": "255.255.255.255"}),
        ("address", vip, {"address": "127.0.0.5"}),
        ("address", vip, {"address": "fe80::5"}),
        ("prefix", vip, {"address": "192.0.2.10", "prefix": 33}),
        ("prefix", vip, {"address": "192.0.2.10", "prefix": 0}),
        ("prefix", vip, {"address": "2001:db8::10", "prefix": 129}),
        ("prefix", vip, {"address": "192.0.2.10", "prefix": "wide"}),
        ("interface", vip, {"address": "192.0.2.10", "interface": "nope0"}),
        ("interface", vip, {"address": "192.0.2.10", "interface": "lo:0"}),
        ("interface", vip, {"address": "192.0.2.10", "interface": "x" * 16}),
        # bad1 has IPv6 switched off (set up in the test): refused before any change
        ("address", vip, {"address": "2001:db8::10", "interface": "bad1"}),
        ("label", vip, {"address": "192.0.2.10", "label": "eth1:0"}),
        ("label", vip, {"address": "192.0.2.10", "label": "lo"}),
        ("label", vip, {"address": "192.0.2.10", "label": "lo:0123456789abc"}),
        ("label", vip, {"address": "2001:db8::10", "label": "lo:0"}),
        ("state", vip, {"address": "192.0.2.10", "state": "gone"}),
        ("host_route", vip, {"address": "192.0.2.10", "host_route": "perhaps"}),
        ("interfaces", arp, {"interfaces": ["lo", "nope0"], "sysctl_file": good_file}),
        ("interfaces[1]", arp, {"interfaces": ["lo", "bad/name"]}),
        ("arp_ignore", arp, {"arp_ignore": 5}),
        ("arp_announce", arp, {"arp_announce": 3}),
        ("sysctl_file", arp, {"sysctl_file": "90-lvs.conf"}),
        ("sysctl_file", arp, {"sysctl_file": os.path.join(tmp, "missing", "90-lvs.conf")}),
        ("sysctl_file", arp, {"sysctl_file": os.path.join(tmp, "90-lvs.txt")}),
        ("sysctl_file", arp, {"sysctl_file": tmp + "/"}),
        ("state", arp, {"state": "off"}),
        ("device", tun, {"address": "192.0.2.10", "device": "tunl9"}),
        ("device", tun, {"address": "192.0.2.10", "device": "bad0"}),
        ("device", tun, {"address": "192.0.2.10", "device": "tun 0"}),
        ("address", tun, {"address": "2001:db8::10"}),
        ("address", tun, {"address": "192.0.2"}),
        ("prefix", tun, {"address": "192.0.2.10", "prefix": 40}),
        ("rp_filter", tun, {"address": "192.0.2.10", "rp_filter": 3}),
        ("sysctl_file", tun, {"address": "192.0.2.10", "sysctl_file": os.path.join(tmp, "nodir", "x.conf")}),
        ("state", tun, {"address": "192.0.2.10", "state": "down"}),
    ]


def test_bad_inputs_fail_by_name_and_change_nothing(netns, tmp_path):
    ns = netns
    ns.sh("ip link add bad0 type veth peer name bad1 && echo 1 > /proc/sys/net/ipv6/conf/bad1/disable_ipv6")
    tmp = str(tmp_path)
    with open(os.path.join(tmp, "90-lvs.conf"), "w") as fh:
        fh.write("vm.swappiness = 10\n")
    table = cases(tmp)
    assert len(table) >= 40
    before = snapshot(ns, tmp)

    tasks = [{"name": "%d %s" % (i, field), module: args, "ignore_errors": True}
             for i, (field, module, args) in enumerate(table)]
    results = ns.playbook(tasks, expect_failure=True)

    assert len(results) == len(table)
    problems = []
    for (field, module, args), result in zip(table, results):
        if not result.get("failed"):
            problems.append("%s %r did not fail: %r" % (module, args, result))
        elif field not in result.get("msg", ""):
            problems.append("%s %r: message does not name %s: %s" % (module, args, field, result.get("msg")))
    assert not problems, "\n".join(problems)
    assert snapshot(ns, tmp) == before


def test_case_table_is_unique(tmp_path):
    table = cases(str(tmp_path))
    keys = [(module, repr(sorted(args.items()))) for field, module, args in table]
    assert len(keys) == len(set(keys))
