"""lvs.cluster.arp_suppress on the real kernel: /proc/sys of the test's namespace is the oracle.

/proc/sys/net is per network namespace, so the live values are the namespace's own.
The sysctl.d files go to a temporary directory the test passes in, never /etc/sysctl.d.
"""
import os
import stat


def arp(**args):
    return {"lvs.cluster.arp_suppress": args}


def checked(task):
    return dict(task, check_mode=True)


def values(ns, ifnames):
    """{ifname: (arp_ignore, arp_announce)} read from the namespace's /proc/sys."""
    out = {}
    for name in ifnames:
        text = ns.sh("cat /proc/sys/net/ipv4/conf/%s/arp_ignore /proc/sys/net/ipv4/conf/%s/arp_announce"
                     % (name, name))
        out[name] = tuple(int(v) for v in text.split())
    return out


def read(path):
    with open(path) as fh:
        return fh.read()


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


HEADER = "# Managed in part by the lvs.cluster collection; other lines are kept as they are.\n"
KEYS_12 = ("net.ipv4.conf.all.arp_ignore = 1\n"
           "net.ipv4.conf.all.arp_announce = 2\n"
           "net.ipv4.conf.lo.arp_ignore = 1\n"
           "net.ipv4.conf.lo.arp_announce = 2\n"
           "net.ipv4.conf.rs0.arp_ignore = 1\n"
           "net.ipv4.conf.rs0.arp_announce = 2\n")


def test_arp_suppress_lifecycle(netns, tmp_path):
    ns = netns
    ns.sh("ip link add rs0 type veth peer name rs1")
    ifnames = ["all", "lo", "rs0", "rs1"]
    assert values(ns, ifnames) == dict((n, (0, 0)) for n in ifnames)

    # A hand-written file the module must merge into, keeping its mode and other lines.
    shared = str(tmp_path / "90-lvs.conf")
    with open(shared, "w") as fh:
        fh.write("# site tuning\nvm.swappiness = 10\nnet.ipv4.conf.all.arp_ignore = 0\n")
    os.chmod(shared, 0o600)
    fresh = str(tmp_path / "91-new.conf")

    present = arp(interfaces=["lo", "rs0"], sysctl_file=shared)

    # 1. apply (twice: the second must change nothing), plus a brand-new file
    res = ns.playbook([present, present, arp(interfaces=["lo", "rs0"], sysctl_file=fresh)])
    assert [r["changed"] for r in res] == [True, False, True]
    assert values(ns, ifnames) == {"all": (1, 2), "lo": (1, 2), "rs0": (1, 2), "rs1": (0, 0)}
    # The stale all.arp_ignore line is replaced in place; the other keys are appended.
    assert read(shared) == "# site tuning\nvm.swappiness = 10\n" + KEYS_12
    assert mode(shared) == 0o600
    assert read(fresh) == HEADER + KEYS_12
    assert mode(fresh) == 0o644
    assert res[0]["sysctl"] == {"net.ipv4.conf.all.arp_ignore": "1", "net.ipv4.conf.all.arp_announce": "2",
                                "net.ipv4.conf.lo.arp_ignore": "1", "net.ipv4.conf.lo.arp_announce": "2",
                                "net.ipv4.conf.rs0.arp_ignore": "1", "net.ipv4.conf.rs0.arp_announce": "2"}
    assert res[1]["sysctl_file_changed"] is False

    # 2. check mode on changes, with diff: neither /proc/sys nor the files may move
    before = (values(ns, ifnames), read(shared), read(fresh))
    res = ns.playbook([
        present,
        checked(arp(interfaces=["lo", "rs0"], arp_announce=1, sysctl_file=shared)),
        checked(arp(interfaces=["lo", "rs0"], sysctl_file=shared, state="absent")),
        checked(arp(interfaces=["lo"], sysctl_file=str(tmp_path / "92-never.conf"))),
    ], diff=True)
    assert [r["changed"] for r in res] == [False, True, True, True]
    assert (values(ns, ifnames), read(shared), read(fresh)) == before
    assert not os.path.exists(str(tmp_path / "92-never.conf"))
    live, filed = res[1]["diff"]
    assert "net.ipv4.conf.lo.arp_announce = 2\n" in live["before"]
    assert "net.ipv4.conf.lo.arp_announce = 1\n" in live["after"]
    assert "net.ipv4.conf.lo.arp_ignore = 1\n" in live["after"]
    assert filed["before"] == read(shared) and "net.ipv4.conf.rs0.arp_announce = 1\n" in filed["after"]
    live, filed = res[2]["diff"]
    assert "net.ipv4.conf.all.arp_ignore = 0\n" in live["after"]
    assert filed["after"] == "# site tuning\nvm.swappiness = 10\n"
    assert res[3]["diff"][1]["before"] == "" and res[3]["diff"][1]["after"].startswith(HEADER)

    # 3. absent (twice): kernel defaults 0/0 back, our keys gone, other lines kept, our own file deleted
    absent = arp(interfaces=["lo", "rs0"], sysctl_file=shared, state="absent")
    res = ns.playbook([absent, absent, arp(interfaces=["lo", "rs0"], sysctl_file=fresh, state="absent")])
    assert [r["changed"] for r in res] == [True, False, True]
    assert values(ns, ifnames) == dict((n, (0, 0)) for n in ifnames)
    assert read(shared) == "# site tuning\nvm.swappiness = 10\n"
    assert mode(shared) == 0o600
    assert not os.path.exists(fresh)
