"""lvs.cluster.ipip_tunnel on the real kernel (the lab guest loads ipip, so tunl0 exists
in every namespace).  Oracles: `ip -d link show tunl0`, `ip -o addr`, /proc/sys.
"""
import os
import re
import stat


def tun(**args):
    return {"lvs.cluster.ipip_tunnel": args}


def checked(task):
    return dict(task, check_mode=True)


def link(ns):
    """(admin-up flag, kind line present) from `ip -d link show tunl0`."""
    out = ns.sh("ip -d link show tunl0")
    flags = re.search(r"<([^>]*)>", out).group(1).split(",")
    return "UP" in flags, bool(re.search(r"^\s*ipip ", out, re.M))


def tunl0_addrs(ns):
    return sorted(line.split()[3] for line in ns.sh("ip -o -4 addr show dev tunl0").splitlines())


def rp_filter(ns):
    return tuple(int(ns.sh("cat /proc/sys/net/ipv4/conf/%s/rp_filter" % n)) for n in ("all", "tunl0"))


def read(path):
    with open(path) as fh:
        return fh.read()


HEADER = "# Managed in part by the lvs.cluster collection; other lines are kept as they are.\n"


def test_ipip_tunnel_lifecycle(netns, tmp_path):
    ns = netns
    # The ipip device is there without anyone creating it, down and without addresses.
    assert link(ns) == (False, True)
    assert tunl0_addrs(ns) == []
    # Strict reverse path filtering first, so the module has something to change.
    ns.sh("echo 1 > /proc/sys/net/ipv4/conf/all/rp_filter && echo 1 > /proc/sys/net/ipv4/conf/tunl0/rp_filter")
    sysctl_file = str(tmp_path / "90-lvs-tun.conf")
    present = tun(address="192.0.2.10", sysctl_file=sysctl_file)

    # 1. apply, again (no change), then check mode on two changes with diff
    res = ns.playbook([
        present, present,
        checked(tun(address="192.0.2.30", sysctl_file=sysctl_file)),
        checked(tun(address="192.0.2.10", rp_filter=2, sysctl_file=sysctl_file)),
    ], diff=True)
    assert [r["changed"] for r in res] == [True, False, True, True]
    assert link(ns) == (True, True)
    assert tunl0_addrs(ns) == ["192.0.2.10/32"]          # not 192.0.2.30: that was check mode
    assert rp_filter(ns) == (0, 0)                        # not 2: that was check mode
    assert read(sysctl_file) == HEADER + ("net.ipv4.conf.all.rp_filter = 0\n"
                                          "net.ipv4.conf.tunl0.rp_filter = 0\n")
    assert stat.S_IMODE(os.stat(sysctl_file).st_mode) == 0o644
    assert res[0]["up"] is True and res[0]["address"] == "192.0.2.10/32"
    assert res[0]["sysctl"] == {"net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.tunl0.rp_filter": "0"}
    first = res[0]["diff"]
    assert first[0]["before"] == {"up": False, "addresses": []}
    assert first[0]["after"] == {"up": True, "addresses": ["192.0.2.10/32 label tunl0"]}
    assert first[1]["before"] == "net.ipv4.conf.all.rp_filter = 1\nnet.ipv4.conf.tunl0.rp_filter = 1\n"
    assert first[1]["after"] == "net.ipv4.conf.all.rp_filter = 0\nnet.ipv4.conf.tunl0.rp_filter = 0\n"
    assert first[2]["before"] == "" and first[2]["after"] == read(sysctl_file)
    assert res[2]["diff"][0]["after"]["addresses"] == ["192.0.2.10/32 label tunl0", "192.0.2.30/32 label tunl0"]
    assert "net.ipv4.conf.tunl0.rp_filter = 2\n" in res[3]["diff"][1]["after"]

    # 2. absent, twice: VIP gone, device down again, persisted keys (and so our file) gone.
    # Live rp_filter stays as it is (documented: the earlier value is unknown).
    absent = tun(address="192.0.2.10", sysctl_file=sysctl_file, state="absent")
    res = ns.playbook([absent, absent])
    assert [r["changed"] for r in res] == [True, False]
    assert tunl0_addrs(ns) == []
    assert link(ns) == (False, True)
    assert not os.path.exists(sysctl_file)
    assert rp_filter(ns) == (0, 0)
