"""lvs.cluster.lvs_host on the real kernel, in a fresh network namespace.

Oracles are independent programs in the same namespace: /proc/sys, `ip rule`, `ip route`,
`nft list table inet lvs_cluster`, `ipvsadm -L --timeout`.  The namespace gets a dummy
eth0 with a VLAN eth0.10 (a dotted interface name for the slash-form sysctl key).
"""
TABLE, PRIO = 240, 31000
RULESET = """table inet lvs_cluster
delete table inet lvs_cluster
table inet lvs_cluster {
    chain prerouting {
        type filter hook prerouting priority mangle; policy accept;
        ip daddr 192.0.2.100 tcp dport { 80, 443 } meta mark set 1
    }
    chain output {
        type route hook output priority mangle; policy accept;
        ip daddr 192.0.2.100 tcp dport { 80, 443 } meta mark set 1
    }
}
"""
# A module no lab test loads: proves the modprobe path (skipped if it is loaded already).
SPARE_MODULE = "tcp_vegas"


def host(**args):
    return {"lvs.cluster.lvs_host": args}


def state(ns):
    """Everything lvs_host manages, read by other programs."""
    return {
        "sysctl": ns.sh("cat /proc/sys/net/ipv4/ip_local_port_range /proc/sys/net/ipv4/conf/eth0.10/rp_filter "
                        "/proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/vs/conntrack"),
        "rules": ns.sh("ip -4 rule show priority %d" % PRIO),
        "table": ns.sh("ip -4 route show table %d" % TABLE, check=False),
        "route": ns.sh("ip -4 route show exact 192.0.2.100/32"),
        "nft": ns.sh("nft list table inet lvs_cluster 2>&1 || true"),
        "timeouts": ns.sh("ipvsadm -L --timeout"),
    }


def test_lvs_host_lifecycle(netns, tmp_path):
    ns = netns
    ns.sh("ip link add eth0 type dummy && ip link add link eth0 name eth0.10 type vlan id 10 && "
          "ip link set eth0 up && ip link set eth0.10 up && ip addr add 10.0.10.5/24 dev eth0.10")
    # A stale rule at our priority, left by an older plan: removed.
    ns.sh("ip rule add priority %d from 10.0.10.9 lookup %d" % (PRIO, TABLE))
    ruleset = str(tmp_path / "fwmark.nft")
    with open(ruleset, "w") as fh:
        fh.write(RULESET)
    spare_loaded = ns.sh("test -d /sys/module/%s && echo yes || true" % SPARE_MODULE).strip() == "yes"

    replies = [{"from": "10.0.10.5", "protocol": "tcp", "port": 80, "via": "10.0.10.1"},
               {"from": "10.0.10.5", "protocol": "udp", "port": 0, "via": "10.0.10.1"}]
    wanted = dict(
        kernel_modules=["ip_vs", "ip_vs_wrr", SPARE_MODULE],
        sysctls={"net.ipv4.ip_local_port_range": "20000 40000",
                 "net/ipv4/conf/eth0.10/rp_filter": 2,
                 "net.ipv4.ip_forward": "1",
                 "net.ipv4.vs.conntrack": 1},
        nft_table={"ruleset": ruleset},
        nat_routing={"table": TABLE, "priority": PRIO, "replies": replies},
        routes=[{"to": "192.0.2.100/32", "via": "10.0.10.1"}],
        ipvs_timeouts={"tcp": 300, "tcpfin": 30, "udp": 60},
    )

    # 1. apply, then the same again: nothing to do (multi-value and dotted-interface keys too)
    res = ns.playbook([host(**wanted), host(**wanted)])
    first, again = res
    assert first["changed"] is True
    assert again["changed"] is False, again["changes"]
    assert again["changes"] == []
    assert ("kernel module %s loaded" % SPARE_MODULE in first["changes"]) is not spare_loaded
    assert "sysctl net.ipv4.ip_local_port_range: 32768 60999 -> 20000 40000" in first["changes"]
    assert [c for c in first["changes"] if c.startswith("sysctl net/ipv4/conf/eth0.10/rp_filter: ")][0].endswith(" -> 2")
    assert "rule removed: priority 31000 from 10.0.10.9 lookup 240" in first["changes"]
    assert first["nat_routing"]["rules_added"] == ["from 10.0.10.5 ipproto tcp sport 80 lookup 240",
                                                   "from 10.0.10.5 ipproto udp lookup 240"]
    assert first["nft_table"] == {"action": "load", "present": True}
    assert first["ipvs_timeouts"] == {"tcp": 300, "tcpfin": 30, "udp": 60}
    assert again["sysctls"]["net/ipv4/conf/eth0.10/rp_filter"] == "2"

    live = state(ns)
    assert live["sysctl"].split("\n")[:4] == ["20000\t40000", "2", "1", "1"]
    rules = [line.split(":", 1)[1].split() for line in live["rules"].splitlines()]
    assert rules == [["from", "10.0.10.5", "ipproto", "tcp", "sport", "80", "lookup", "240"],
                     ["from", "10.0.10.5", "ipproto", "udp", "lookup", "240"]]
    assert live["table"].startswith("default via 10.0.10.1 dev eth0.10")
    assert live["route"].startswith("192.0.2.100 via 10.0.10.1 dev eth0.10")
    assert "meta mark set" in live["nft"] and live["nft"].count("chain ") == 2
    assert "Timeout (tcp tcpfin udp): 300 30 60" in live["timeouts"]
    assert ns.sh("test -d /sys/module/%s && echo yes" % SPARE_MODULE).strip() == "yes"

    # 2. someone edits the live table by hand: reloaded
    ns.sh("nft add rule inet lvs_cluster output meta mark set 7")
    res = ns.playbook([host(nft_table={"ruleset": ruleset})])
    assert res[0]["changes"] == ["nft table inet lvs_cluster loaded from %s" % ruleset]
    assert state(ns)["nft"] == live["nft"]

    # 3. check mode on changes, with diff: the kernel does not move
    changed = dict(
        kernel_modules=["ip_vs"],
        sysctls={"net.ipv4.ip_local_port_range": "30000 50000", "net/ipv4/conf/eth0.10/rp_filter": 1},
        nft_table={"state": "absent"},
        nat_routing={"table": TABLE, "priority": PRIO, "replies": replies[:1]},
        routes=[{"to": "192.0.2.100/32", "via": "10.0.10.2"}],
        ipvs_timeouts={"tcp": 900},
    )
    res = ns.playbook([dict(host(**changed), check_mode=True)], diff=True)
    assert state(ns) == live
    out = res[0]
    assert out["changed"] is True
    assert out["changes"] == [
        "sysctl net.ipv4.ip_local_port_range: 20000 40000 -> 30000 50000",
        "sysctl net/ipv4/conf/eth0.10/rp_filter: 2 -> 1",
        "nft table inet lvs_cluster deleted (no fwmark service left)",
        "rule removed: priority 31000 from 10.0.10.5 ipproto udp lookup 240",
        "route 192.0.2.100/32 via 10.0.10.2",
        "IPVS timeouts: tcp 300 -> 900",
    ]
    diff = dict((d["before_header"], d) for d in out["diff"])
    assert diff["/proc/sys"]["before"] == ("net.ipv4.ip_local_port_range = 20000 40000\n"
                                           "net/ipv4/conf/eth0.10/rp_filter = 2\n")
    assert diff["/proc/sys"]["after"] == ("net.ipv4.ip_local_port_range = 30000 50000\n"
                                          "net/ipv4/conf/eth0.10/rp_filter = 1\n")
    assert "meta mark set" in diff["nft list table inet lvs_cluster"]["before"]
    assert diff["nft list table inet lvs_cluster"]["after"] == ""
    assert diff["IPVS timeouts"]["before"]["tcp"] == 300 and diff["IPVS timeouts"]["after"]["tcp"] == 900

    # 4. no fwmark service and no NAT reply left: the table, the rules and the route go
    gone = dict(nft_table={"state": "absent"}, nat_routing={"table": TABLE, "priority": PRIO})
    res = ns.playbook([host(**gone), host(**gone)])
    assert [r["changed"] for r in res] == [True, False]
    after = state(ns)
    assert after["rules"] == "" and after["table"] == ""
    assert "No such file or directory" in after["nft"]

    # 5. a kernel module that does not exist: named, and nothing changed
    before = state(ns)
    res = ns.playbook([host(kernel_modules=["ip_vs", "lvs_no_such_module"],
                            sysctls={"net.ipv4.ip_forward": 0})], expect_failure=True)
    assert res[0]["failed"] is True
    assert res[0]["msg"].startswith("kernel_modules: the kernel module lvs_no_such_module is not available")
    assert state(ns) == before

    # 6. check mode before the ruleset file is written (a new host): a load to report, no
    #    error, nothing changed; for real, the missing file is named
    missing = str(tmp_path / "not-yet.nft")
    res = ns.playbook([dict(host(nft_table={"ruleset": missing}), check_mode=True)])
    assert res[0]["changes"] == ["nft table inet lvs_cluster loaded from %s" % missing]
    assert state(ns) == before
    res = ns.playbook([host(nft_table={"ruleset": missing})], expect_failure=True)
    assert res[0]["msg"].startswith("nft_table.ruleset: %s does not exist" % missing)
    assert state(ns) == before


def test_lvs_host_stops_the_sync_daemons(netns):
    # keepalived with sync turned off leaves the kernel's daemons running; they are per
    # network namespace, so this one's are ours alone.
    ns = netns
    ns.sh("ip link add eth0 type dummy && ip link set eth0 multicast on && ip link set eth0 up && "
          "ip addr add 10.0.10.5/24 dev eth0 && modprobe ip_vs && "
          "ipvsadm --start-daemon master --mcast-interface eth0 --syncid 51")
    assert ns.sh("ipvsadm -L --daemon").startswith("master sync daemon")
    res = ns.playbook([dict(host(stop_sync_daemons=True), check_mode=True),
                       host(stop_sync_daemons=True), host(stop_sync_daemons=True)])
    assert [r["changes"] for r in res] == [["IPVS connection sync daemon (master) stopped"]] * 2 + [[]]
    assert res[1]["sync_daemons_stopped"] == ["master"] and res[2]["changed"] is False
    assert ns.sh("ipvsadm -L --daemon").strip() == ""


def addresses(ns):
    """The VIPs' side of the host as `ip` prints it: (interface, address/prefix) and tunl0's flags."""
    found = set()
    for line in ns.sh("ip -o addr show").splitlines():
        fields = line.split()
        found.add((fields[1], fields[3]))
    return found, ns.sh("ip -o link show tunl0").split("<", 1)[1].split(">", 1)[0].split(",")


def test_lvs_host_vips_arp_and_the_table(netns):
    """A static DR director's and a TUN real server's state in one run each (what the roles
    pass from lvs_plan.host): ARP sysctls, tunl0 up with its VIP, the VIPs on eth0 and lo,
    the IPVS table in place with a stale service purged. Oracles: ip, /proc/sys, ipvsadm -S -n."""
    ns = netns
    ns.sh("ip link add eth0 type dummy && ip link set eth0 up && ip addr add 10.0.10.5/24 dev eth0 && "
          # The VIP left with another prefix (replaced), an address that is not ours (kept),
          # and a stale service of an older plan (purged).
          "ip addr add 192.0.2.100/24 dev eth0 && ip addr add 198.51.100.50/32 dev lo && "
          "modprobe ip_vs && modprobe ipip && ip link set tunl0 down && "
          "ipvsadm -A -t 192.0.2.200:80 -s rr")
    rules = ("-A -t 192.0.2.100:80 -s wrr\n"
             "-a -t 192.0.2.100:80 -r 10.0.10.11:80 -g -w 1\n"
             "-a -t 192.0.2.100:80 -r 10.0.10.12:80 -g -w 2\n")
    arp = {"net.ipv4.conf.%s.%s" % (name, leaf): value for name in ("all", "lo", "tunl0")
           for leaf, value in (("arp_ignore", 1), ("arp_announce", 2))}
    wanted = dict(
        kernel_modules=["ip_vs", "ip_vs_wrr", "ipip"],
        sysctls=dict(arp, **{"net.ipv4.conf.all.rp_filter": 0, "net.ipv4.conf.tunl0.rp_filter": 0}),
        addresses=[{"address": "192.0.2.100", "interface": "eth0"},
                   {"address": "192.0.2.101", "interface": "lo"},
                   {"address": "192.0.2.102", "interface": "tunl0", "up": True}],
        ipvs_table={"rules": rules},
        # Its directory does not exist yet: the module makes it.
        address_record={"path": "/run/lvs-itest/%s-record/addresses.json" % ns.name},
    )
    before = (addresses(ns), ns.ipvs_save())

    # check mode with diff: everything reported, nothing moves
    res = ns.playbook([dict(host(**wanted), check_mode=True)], diff=True)
    assert (addresses(ns), ns.ipvs_save()) == before
    out = res[0]
    assert out["addresses"] == {"links_up": ["tunl0"],
                                "added": ["192.0.2.100/32 on eth0", "192.0.2.101/32 on lo",
                                          "192.0.2.102/32 on tunl0"],
                                "removed": ["192.0.2.100/24 on eth0"]}
    assert "-A -t 192.0.2.200:80 -s rr" in [d for d in out["diff"]
                                            if d["before_header"] == "ipvsadm-save -n (before)"][0]["before"]

    # for real, then again: nothing to do
    first, again = ns.playbook([host(**wanted), host(**wanted)])
    # The table last, the stale service removed last of all.
    assert first["changes"][-4:] == [
        "IPVS add service tcp 192.0.2.100:80",
        "IPVS add dest tcp 192.0.2.100:80 realserver 10.0.10.11:80",
        "IPVS add dest tcp 192.0.2.100:80 realserver 10.0.10.12:80",
        "IPVS del service tcp 192.0.2.200:80",
    ], first["changes"]
    assert again["changed"] is False, again["changes"]
    (found, tunl0_flags) = addresses(ns)
    assert {("eth0", "192.0.2.100/32"), ("lo", "192.0.2.101/32"), ("tunl0", "192.0.2.102/32"),
            ("lo", "198.51.100.50/32"), ("eth0", "10.0.10.5/24")} <= found
    assert ("eth0", "192.0.2.100/24") not in found
    assert "UP" in tunl0_flags
    assert ns.ipvs_save().split("\n")[:3] == [
        "-A -t 192.0.2.100:80 -s wrr",
        "-a -t 192.0.2.100:80 -r 10.0.10.11:80 -g -w 1",
        "-a -t 192.0.2.100:80 -r 10.0.10.12:80 -g -w 2"]
    assert "192.0.2.200" not in ns.ipvs_save()
    assert ns.sh("cat /proc/sys/net/ipv4/conf/tunl0/arp_ignore /proc/sys/net/ipv4/conf/all/arp_announce "
                 "/proc/sys/net/ipv4/conf/tunl0/rp_filter").split() == ["1", "2", "0"]

    # a weight changed: set in place (the oracle's table otherwise as it was)
    reweighted = dict(wanted)
    reweighted["ipvs_table"] = {"rules": rules.replace("-w 2", "-w 5")}
    res = ns.playbook([host(**reweighted)])
    assert res[0]["ipvs_table"]["operations"] == ["set dest tcp 192.0.2.100:80 realserver 10.0.10.12:80"]
    assert "-a -t 192.0.2.100:80 -r 10.0.10.12:80 -g -w 5" in ns.ipvs_save()

    # 192.0.2.101 taken out of the plan: removed, being recorded; 198.51.100.50 on lo,
    # never recorded, stays. Check mode first: reported, nothing moves.
    record = wanted["address_record"]["path"]
    assert '"192.0.2.101"' in ns.sh("cat %s" % record)
    fewer = dict(reweighted)
    fewer["addresses"] = [a for a in wanted["addresses"] if a["address"] != "192.0.2.101"]
    before = addresses(ns)
    res = ns.playbook([dict(host(**fewer), check_mode=True)])
    assert res[0]["addresses"]["removed"] == ["192.0.2.101/32 on lo"]
    assert addresses(ns) == before and '"192.0.2.101"' in ns.sh("cat %s" % record)
    first, again = ns.playbook([host(**fewer), host(**fewer)])
    assert "address 192.0.2.101/32 on lo removed (no longer planned)" in first["changes"], first["changes"]
    assert again["changed"] is False, again["changes"]
    (found, _flags) = addresses(ns)
    assert ("lo", "192.0.2.101/32") not in found and ("lo", "198.51.100.50/32") in found
    assert '"192.0.2.101"' not in ns.sh("cat %s" % record) and '"192.0.2.100"' in ns.sh("cat %s" % record)

    # bad rules: named, nothing changed
    before = (addresses(ns), ns.ipvs_save())
    res = ns.playbook([host(addresses=[{"address": "192.0.2.103", "interface": "lo"}],
                            ipvs_table={"rules": "-A -t 192.0.2.100:80 -s nosuch\n"})], expect_failure=True)
    assert res[0]["msg"].startswith("ipvs_table.rules: rules line 1"), res[0]["msg"]
    assert (addresses(ns), ns.ipvs_save()) == before


def test_lvs_host_boot_program_restores_what_a_reboot_loses(netns, tmp_path):
    """boot: the run writes its own code as the boot program and its options as the state;
    the namespace then loses its runtime state as a reboot would (VIPs, tunl0 up, the
    table, timeouts, marks, rules, routes, a multi-value sysctl), and the program alone -
    no Ansible, the lvs-cluster service's command - brings every piece back, then finds
    nothing to do. Oracles: ip, /proc/sys, nft, ipvsadm -S -n and -L --timeout."""
    ns = netns
    # eth0.10: state() reads its rp_filter (left alone here).
    ns.sh("ip link add eth0 type dummy && ip link add link eth0 name eth0.10 type vlan id 10 && "
          "ip link set eth0 up && ip link set eth0.10 up && ip addr add 10.0.10.5/24 dev eth0 && "
          "modprobe ip_vs && modprobe ipip")
    ruleset = str(tmp_path / "fwmark.nft")
    with open(ruleset, "w") as fh:
        fh.write(RULESET)
    boot = {"program": str(tmp_path / "lib" / "lvs-cluster-boot"), "state": str(tmp_path / "etc" / "host.json")}
    wanted = dict(
        kernel_modules=["ip_vs", "ip_vs_wrr", "ipip"],
        sysctls={"net.ipv4.ip_local_port_range": "20000 40000", "net.ipv4.ip_forward": 1,
                 "net.ipv4.vs.conntrack": 1},
        nft_table={"ruleset": ruleset},
        nat_routing={"table": TABLE, "priority": PRIO,
                     "replies": [{"from": "10.0.10.5", "protocol": "tcp", "port": 80, "via": "10.0.10.1"}]},
        routes=[{"to": "192.0.2.100/32", "via": "10.0.10.1"}],
        ipvs_timeouts={"tcp": 300, "tcpfin": 30, "udp": 60},
        addresses=[{"address": "192.0.2.110", "interface": "eth0"},
                   {"address": "192.0.2.111", "interface": "tunl0", "up": True}],
        ipvs_table={"rules": "-A -t 192.0.2.110:80 -s wrr\n-a -t 192.0.2.110:80 -r 10.0.10.11:80 -g -w 2\n"},
        boot=boot,
    )
    first, again = ns.playbook([host(**wanted), host(**wanted)])
    assert first["boot"]["written"] == [boot["program"], boot["state"]]
    assert again["changed"] is False, again["changes"]
    live = (state(ns), addresses(ns), ns.ipvs_save())
    assert ("tunl0", "192.0.2.111/32") in live[1][0] and "UP" in live[1][1]

    # A reboot: the namespace's runtime state is gone (the files stay).
    ns.sh("ip addr del 192.0.2.110/32 dev eth0 && ip addr del 192.0.2.111/32 dev tunl0 && ip link set tunl0 down && "
          "ipvsadm -C && ipvsadm --set 900 120 300 && nft delete table inet lvs_cluster && "
          "ip rule del priority %d && ip route flush table %d && ip route del 192.0.2.100/32 && "
          "echo '32768 60999' > /proc/sys/net/ipv4/ip_local_port_range && echo 0 > /proc/sys/net/ipv4/ip_forward"
          % (PRIO, TABLE))
    assert (state(ns), addresses(ns), ns.ipvs_save()) != live
    # The boot service's command, with the interpreter the module ran under.
    out = ns.sh("%s %s %s" % (ns.python, boot["program"], boot["state"]))
    lines = out.splitlines()
    assert lines[-1] == "lvs-cluster: host state restored from %s (%d changes)" % (boot["state"], len(lines) - 1)
    assert "lvs-cluster: sysctl net.ipv4.ip_local_port_range: 32768 60999 -> 20000 40000" in lines
    assert "lvs-cluster: IPVS add service tcp 192.0.2.110:80" in lines
    assert (state(ns), addresses(ns), ns.ipvs_save()) == live
    # Started again (systemctl restart, a second boot): nothing to do.
    assert ns.sh("%s %s %s" % (ns.python, boot["program"], boot["state"])).splitlines() == [
        "lvs-cluster: host state restored from %s (0 changes)" % boot["state"]]
