"""lvs.cluster.lvs_vip on the real kernel: ip addr / ip route are the oracles.

One namespace, three playbook runs (each run costs 10-20 s in the emulated guest):
apply -> oracle; re-apply (changed=false) + check mode and diff on changes -> oracle
unchanged; absent (twice) -> only what the module owns is gone.
"""


def vip(**args):
    return {"lvs.cluster.lvs_vip": args}


def checked(task):
    return dict(task, check_mode=True)


def addrs(ns, dev, family="-4"):
    """`ip -o addr` lines of DEV reduced to 'address/prefix label' (IPv4) or 'address/prefix'."""
    out = []
    for line in ns.sh("ip -o %s addr show dev %s" % (family, dev)).splitlines():
        words = line.split()
        cidr = words[3]
        if family == "-4":
            # ... scope global lo:0\ valid_lft ...: the label is the word before the backslash
            label = line.split("\\")[0].split()[-1]
            out.append("%s %s" % (cidr, label))
        else:
            out.append(cidr)
    return sorted(out)


def main_routes(ns, family="-4"):
    return ns.sh("ip %s route show table main" % family)


REALSERVER_V4 = vip(address="192.0.2.10", label="lo:0", host_route=True)
REALSERVER_V6 = vip(address="2001:db8::10")
DIRECTOR = vip(address="198.51.100.10", prefix=24, interface="vnic0", label="vnic0:0")
REPLACED = vip(address="192.0.2.20")  # exists as /24 before: must become /32


def test_lvs_vip_lifecycle(netns):
    ns = netns
    ns.sh("ip link add vnic0 type veth peer name vnic1 && ip link set vnic0 up && ip link set vnic1 up")
    # Not the module's: must survive everything below.
    ns.sh("ip addr add 192.0.2.99/32 dev lo label lo:9 && ip addr add 192.0.2.20/24 dev lo")
    unrelated_v4 = "192.0.2.99/32 lo:9"

    # 1. apply
    res = ns.playbook([REALSERVER_V4, REALSERVER_V6, DIRECTOR, REPLACED])
    assert [r["changed"] for r in res] == [True, True, True, True]
    assert addrs(ns, "lo") == sorted(["127.0.0.1/8 lo", "192.0.2.10/32 lo:0", unrelated_v4,
                                      "192.0.2.20/32 lo"])
    assert addrs(ns, "lo", "-6") == sorted(["::1/128", "2001:db8::10/128"])
    assert addrs(ns, "vnic0") == ["198.51.100.10/24 vnic0:0"]
    assert "brd 198.51.100.255" in ns.sh("ip -o -4 addr show dev vnic0")
    # route add -host 192.0.2.10 dev lo  ==  192.0.2.10 dev lo scope link
    assert "192.0.2.10 dev lo " in main_routes(ns) and "scope link" in main_routes(ns)
    assert res[0]["address"] == "192.0.2.10/32" and res[0]["label"] == "lo:0" and res[0]["host_route"] is True
    assert res[1]["address"] == "2001:db8::10/128" and res[1]["label"] is None

    # 2. idempotence, then check mode on changes (with diff): nothing may move
    snapshot = (ns.sh("ip -o addr"), ns.sh("ip route show table all"), ns.sh("ip -6 route show table all"))
    res = ns.playbook([
        REALSERVER_V4, REALSERVER_V6, DIRECTOR, REPLACED,
        checked(vip(address="192.0.2.11", label="lo:1", host_route=True)),  # would add
        checked(vip(address="192.0.2.10", label="lo:0", host_route=True, state="absent")),  # would remove
        checked(vip(address="198.51.100.10", prefix=25, interface="vnic0", label="vnic0:0")),  # would replace
    ], diff=True)
    assert [r["changed"] for r in res] == [False, False, False, False, True, True, True]
    assert (ns.sh("ip -o addr"), ns.sh("ip route show table all"), ns.sh("ip -6 route show table all")) == snapshot
    add_diff, del_diff, replace_diff = res[4]["diff"], res[5]["diff"], res[6]["diff"]
    assert add_diff["before"] == {"addresses": [], "host_route": False}
    assert add_diff["after"] == {"addresses": ["192.0.2.11/32 label lo:1"], "host_route": True}
    assert del_diff["before"] == {"addresses": ["192.0.2.10/32 label lo:0"], "host_route": True}
    assert del_diff["after"] == {"addresses": [], "host_route": False}
    assert replace_diff["before"]["addresses"] == ["198.51.100.10/24 label vnic0:0"]
    assert replace_diff["after"]["addresses"] == ["198.51.100.10/25 label vnic0:0"]
    assert res[0]["diff"]["before"] == res[0]["diff"]["after"]

    # 3. absent, twice: gone, and only what the module owns
    absent = [dict((k, dict(v, state="absent")) for k, v in t.items())
              for t in (REALSERVER_V4, REALSERVER_V6, DIRECTOR, REPLACED)]
    res = ns.playbook(absent + [absent[0]])
    assert [r["changed"] for r in res] == [True, True, True, True, False]
    assert addrs(ns, "lo") == sorted(["127.0.0.1/8 lo", unrelated_v4])
    assert addrs(ns, "lo", "-6") == ["::1/128"]
    assert addrs(ns, "vnic0") == []
    assert "192.0.2.10" not in main_routes(ns)
    assert "2001:db8::10" not in ns.sh("ip -6 route show table all")
