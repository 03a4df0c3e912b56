# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lvs_host's converge: read a host, decide with host_plan, write, in one run.

Shared by the module (lvs.cluster.lvs_host, through AnsibleModule) and the boot program
(host_boot, at boot, without Ansible): both call converge() with an object that has the
AnsibleModule methods run() uses (params, check_mode, _diff, run_command, get_bin_path,
fail_json), so what a reboot restores is applied by the code the playbook run was tested
with.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import glob
import json
import os
import stat
import sys
import tempfile

from ansible_collections.lvs.cluster.plugins.module_utils import host_boot, host_check
from ansible_collections.lvs.cluster.plugins.module_utils.host_lock import LOCK_PATH, host_lock
from ansible_collections.lvs.cluster.plugins.module_utils import host_plan as hp
from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_plan import apply_ops_to_table, plan_table
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_rules import render_save
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_session import RefusedOps
from ansible_collections.lvs.cluster.plugins.module_utils.net_iproute import (
    add_address, del_address, link_state, list_addresses, open_iproute, set_link_up,
)
from ansible_collections.lvs.cluster.plugins.module_utils.net_sysctl import (
    check_ipv6_usable, key_path, key_text, normalize_value, read_text_file, write_sysctl,
)

# lvs_host's options (the module's argument_spec; the boot program validates its state
# file with the same spec).
ARGUMENT_SPEC = dict(
    kernel_modules=dict(type="list", elements="str", default=[]),
    sysctls=dict(type="dict", default={}),
    nft_table=dict(type="dict", options=dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        ruleset=dict(type="path"),
    )),
    nat_routing=dict(type="dict", options=dict(
        table=dict(type="int", required=True),
        priority=dict(type="int", required=True),
        replies=dict(type="list", elements="dict", default=[], options=dict(
            **{"from": dict(type="str", required=True),
               "protocol": dict(type="str", choices=["tcp", "udp", "sctp"], required=True),
               "port": dict(type="int", default=0),
               "via": dict(type="str", required=True)})),
    )),
    routes=dict(type="list", elements="dict", default=[], options=dict(
        to=dict(type="str", required=True),
        via=dict(type="str", required=True),
    )),
    ipvs_timeouts=dict(type="dict", options=dict(
        tcp=dict(type="int"), tcpfin=dict(type="int"), udp=dict(type="int"),
    )),
    services=dict(type="list", elements="dict", default=[], options=dict(
        name=dict(type="str", required=True),
        started=dict(type="bool", default=False),
    )),
    stop_sync_daemons=dict(type="bool", default=False),
    addresses=dict(type="list", elements="dict", default=[], options=dict(
        address=dict(type="str", required=True),
        prefix=dict(type="int"),
        interface=dict(type="str", required=True),
        up=dict(type="bool", default=False),
    )),
    ipvs_table=dict(type="dict", options=dict(
        rules=dict(type="str", required=True),
        purge=dict(type="bool", default=True),
    )),
    address_record=dict(type="dict", options=dict(
        path=dict(type="path", required=True),
        release=dict(type="list", elements="str", default=[]),
    )),
    boot=dict(type="dict", options=dict(
        program=dict(type="path", required=True),
        state=dict(type="path", required=True),
    )),
)

SYS_MODULE = "/sys/module"
RC_DIR = "/etc"
PROC = "/proc"


class Host(object):
    """The reads and writes of one run (commands through the module)."""

    def __init__(self, module):
        self.module = module

    def tool(self, name, field):
        path = self.module.get_bin_path(name)
        if path is None:
            raise LVSError("%s: needs the %s command, which is not installed here (install %s)"
                           % (field, name, {"nft": "nftables", "ip": "iproute2", "unshare": "util-linux",
                                            "modprobe": "kmod"}.get(name, name)))
        return path

    def run(self, argv, what, ok_rcs=(0,)):
        rc, out, err = self.module.run_command(argv)
        if rc not in ok_rcs:
            raise LVSError("%s failed (%s, rc %d): %s" % (what, " ".join(argv), rc, (err or out).strip()))
        return rc, out, err

    def ip_json(self, args, what):
        argv = [self.tool("ip", what), "-N", "-j"] + args
        rc, out, err = self.module.run_command(argv)
        if rc != 0 and "table does not exist" in err:
            return []   # a routing table with no route yet: empty, not an error
        if rc != 0:
            raise LVSError("%s failed (%s, rc %d): %s" % (what, " ".join(argv), rc, (err or out).strip()))
        try:
            return json.loads(out) if out.strip() else []
        except ValueError:
            raise LVSError("%s: cannot read the output of ip %s as JSON" % (what, " ".join(args)))


def loaded_modules():
    try:
        return set(os.listdir(SYS_MODULE))
    except OSError:
        return set()


def read_live_sysctl(key):
    try:
        with open(key_path(key)) as fh:
            return normalize_value(fh.read())
    except (IOError, OSError):
        return None


def service_manager(host):
    """The host's service manager, as the boot services are installed for it."""
    manager = host_check.service_manager(host.module.get_bin_path)
    if manager is None:
        raise LVSError("services: no service manager found (systemd, update-rc.d, chkconfig) to enable %s at boot"
                       % ", ".join(s["name"] for s in host.module.params["services"]))
    return manager


def service_enabled(host, manager, name):
    if manager == "systemd":
        rc = host.module.run_command([host.tool("systemctl", "services"), "-q", "is-enabled", name + ".service"])[0]
        return rc == 0
    if manager == "update-rc.d":
        return bool(glob.glob(os.path.join(RC_DIR, "rc2.d", "S*" + name)))
    return host.module.run_command([host.tool("chkconfig", "services"), name])[0] == 0


def units_changed_on_disk(host, manager, names):
    """The services of NAMES whose unit file changed since systemd loaded it (an upgrade
    rewrote lvs-cluster.service): systemd keeps the old definition until a daemon-reload."""
    if manager != "systemd":
        return []
    systemctl = host.tool("systemctl", "services")
    return [name for name in names
            if host.module.run_command([systemctl, "show", "-p", "NeedDaemonReload", "--value",
                                        name + ".service"])[1].strip() == "yes"]


def enable_service(host, manager, name):
    what = "services: enabling %s at boot" % name
    if manager == "systemd":
        host.run([host.tool("systemctl", "services"), "-q", "enable", name + ".service"], what)
    elif manager == "update-rc.d":
        # Links there (a package's, disabled): enable flips them; none yet: defaults makes them.
        links = glob.glob(os.path.join(RC_DIR, "rc[0-6S].d", "[SK][0-9][0-9]" + name))
        host.run([host.tool("update-rc.d", "services"), name, "enable" if links else "defaults"], what)
    else:
        chkconfig = host.tool("chkconfig", "services")
        host.run([chkconfig, "--add", name], what)
        host.run([chkconfig, name, "on"], what)


def process_running(name):
    """Whether a process whose command name (/proc/PID/comm, 15 characters) is NAME runs."""
    for path in glob.glob(os.path.join(PROC, "[0-9]*", "comm")):
        try:
            with open(path) as fh:
                if fh.read().strip() == name[:15]:
                    return True
        except (IOError, OSError):
            continue   # the process ended while we looked
    return False


def start_service(host, manager, name):
    if manager == "systemd":
        host.run([host.tool("systemctl", "services"), "start", name + ".service"], "services: starting %s" % name)
    else:
        host.run([host.tool("service", "services"), name, "start"], "services: starting %s" % name)


def running_sync_daemons(host):
    """master/backup sync daemons the kernel runs (ipvsadm -L --daemon), [] without ipvsadm."""
    ipvsadm = host.module.get_bin_path("ipvsadm")
    if ipvsadm is None:
        return None, []
    rc, out, err = host.module.run_command([ipvsadm, "-L", "--daemon"])
    if rc != 0:
        return ipvsadm, []
    return ipvsadm, [state for state in ("master", "backup")
                     if any(line.startswith(state + " ") for line in out.splitlines())]


def run(module, changes, resources):
    """Converge; CHANGES (a list) collects one line per change as it is made, so a failure
    part way still says what was done. RESOURCES holds the sockets opened (closed by the caller)."""
    p = module.params
    check = module.check_mode
    # 1. Validate everything.
    modules = hp.validate_kernel_modules(p["kernel_modules"])
    sysctls = hp.validate_sysctls(p["sysctls"])
    nft = hp.validate_nft(p["nft_table"])
    nat = hp.validate_nat_routing(p["nat_routing"])
    routes = hp.validate_routes(p["routes"])
    timeouts = hp.validate_timeouts(p["ipvs_timeouts"])
    services = hp.validate_services(p["services"])
    addresses = hp.validate_addresses(p["addresses"])
    table = hp.validate_ipvs_table(p["ipvs_table"])
    record = hp.validate_address_record(p["address_record"])
    boot = hp.validate_boot(p["boot"])
    host = Host(module)

    # 2. Read everything (and look up what will be needed) before the first change.
    to_load = hp.modules_to_load(modules, loaded_modules())
    if to_load:
        modprobe = host.tool("modprobe", "kernel_modules")
        for name in to_load:
            rc, out, err = module.run_command([modprobe, "-n", "-q", name])
            if rc != 0:
                raise LVSError("kernel_modules: the kernel module %s is not available on this host (modprobe %s: "
                               "%s); install the package that ships it or drop it from kernel_modules"
                               % (name, name, (err or out).strip() or "not found"))
    live_sysctls = dict((key, read_live_sysctl(key)) for key in sysctls)
    missing = hp.missing_sysctls(sysctls, live_sysctls)
    if missing and not to_load:
        raise LVSError("sysctls[%r]: no such kernel setting (%s does not exist); check the key, or load its "
                       "kernel module (kernel_modules)" % (key_text(missing[0]), key_path(missing[0])))

    nft_live = nft_want = None
    ruleset_missing = False
    if nft is not None:
        if nft["state"] == "present" or host.module.get_bin_path("nft"):
            nft_bin = host.tool("nft", "nft_table")
            rc, out, err = module.run_command([nft_bin, "list", "table"] + hp.NFT_TABLE.split())
            nft_live = out if rc == 0 else None
        ruleset_missing = nft["state"] == "present" and not os.path.isfile(nft["ruleset"])
        if ruleset_missing and not check:
            raise LVSError("nft_table.ruleset: %s does not exist; write it first (lvs_files)" % nft["ruleset"])
        if nft["state"] == "present" and not ruleset_missing:
            unshare = host.tool("unshare", "nft_table")
            rc, out, err = host.run(
                [unshare, "-n", "sh", "-c", '"$1" -f "$2" && "$1" list tables && echo @@@ && '
                 '"$1" list table %s' % hp.NFT_TABLE, "sh", nft_bin, nft["ruleset"]],
                "nft_table.ruleset: loading %s into an empty network namespace" % nft["ruleset"])
            listed, nft_want = out.split("@@@\n", 1)
            extra = [t for t in hp.tables_listed(listed) if t != hp.NFT_TABLE]
            if extra:
                raise LVSError("nft_table.ruleset: %s defines table %s besides %s; it may hold only that table"
                               % (nft["ruleset"], extra[0], hp.NFT_TABLE))
    # Check mode before the file is written: it would be loaded (no listing to compare).
    nft_do = "load" if nft is not None and ruleset_missing else hp.nft_action(nft, nft_live, nft_want)

    rules_remove = rules_add = []
    route_do = None
    if nat is not None:
        live = hp.parse_ip_rules(host.ip_json(["-4", "rule", "show", "priority", str(nat["priority"])],
                                              "nat_routing"))
        wanted = [hp.wanted_rule(r, nat["table"]) for r in nat["rules"]]
        rules_remove, rules_add = hp.rule_actions(wanted, live)
        gateways = [e.get("gateway") for e in host.ip_json(
            ["-4", "route", "show", "table", str(nat["table"]), "default"], "nat_routing")]
        route_do = hp.default_route_action(nat["via"], gateways)

    live_routes = {}
    for route in routes:
        family = "-%d" % route["version"]
        entries = host.ip_json([family, "route", "show", "exact", route["to"]], "routes")
        live_routes[route["to"]] = [e.get("gateway") for e in entries
                                    if hp.route_dst(e, route["version"]) == route["to"]]
    routes_do = hp.route_actions(routes, live_routes)

    timeouts_before = None
    timeouts_changes = {}
    table_live = {}
    if timeouts is not None or table is not None:
        if "ip_vs" in loaded_modules():
            resources.session = open_session()
        elif "ip_vs" not in to_load:
            raise LVSError("%s: the ip_vs kernel module is not loaded; add ip_vs to kernel_modules"
                           % ("ipvs_timeouts" if timeouts is not None else "ipvs_table"))
    if resources.session is not None:
        # ip_vs to be loaded by this run: read once it is (check mode: nothing there yet).
        timeouts_before = resources.session.timeouts() if timeouts is not None else None
        table_live = resources.session.table() if table is not None else {}
    if timeouts is not None:
        timeouts_changes = hp.timeout_changes(timeouts, timeouts_before)

    recorded, record_text = [], None
    if record is not None:
        record_text = read_text(record["path"], "address_record")
        recorded = hp.parse_address_record(record_text, record["path"])
    live_links = {}
    if addresses or recorded:
        resources.ipr = open_iproute(module)
        deferred = "ipip" in to_load   # tunl0 appears when ipip is loaded
        for entry in addresses:
            if entry["address"].version == 6:
                check_ipv6_usable(entry["interface"], "addresses")
        live_links = read_links(resources.ipr, addresses, recorded, deferred)

    boot_do = read_boot(boot, p) if boot is not None else []

    manager = service_manager(host) if services else None
    to_reload = units_changed_on_disk(host, manager, [s["name"] for s in services])
    to_enable = [s["name"] for s in services if not service_enabled(host, manager, s["name"])]
    to_start = [s["name"] for s in services if s["started"] and not process_running(s["name"])]
    ipvsadm, sync_running = running_sync_daemons(host) if p["stop_sync_daemons"] else (None, [])

    # 3. Change, in order: modules, sysctls, nft, rules, routes, timeouts, addresses, the IPVS
    # table, the boot program and state, services, sync daemons.
    diffs = []
    for name in to_load:
        changes.append("kernel module %s loaded" % name)
        if not check:
            host.run([host.tool("modprobe", "kernel_modules"), name], "kernel_modules: loading %s" % name)
    if to_load:
        diffs.append({"before_header": "kernel modules", "after_header": "kernel modules",
                      "before": "".join("%s: not loaded\n" % n for n in to_load),
                      "after": "".join("%s: loaded\n" % n for n in to_load)})
    if to_load and not check:
        live_sysctls = dict((key, read_live_sysctl(key)) for key in sysctls)
        missing = hp.missing_sysctls(sysctls, live_sysctls)
        if missing:
            raise LVSError("sysctls[%r]: no such kernel setting even with kernel_modules loaded (%s does not "
                           "exist); check the key (loaded: %s)"
                           % (key_text(missing[0]), key_path(missing[0]), ", ".join(to_load)))
        if (timeouts is not None or table is not None) and resources.session is None:
            resources.session = open_session()
            if timeouts is not None:
                timeouts_before = resources.session.timeouts()
                timeouts_changes = hp.timeout_changes(timeouts, timeouts_before)
            if table is not None:
                table_live = resources.session.table()
        if addresses or recorded:
            live_links = read_links(resources.ipr, addresses, recorded, False)
    sysctl_do = hp.sysctl_actions(sysctls, live_sysctls)
    for key, before, after in sysctl_do:
        changes.append("sysctl %s: %s -> %s" % (key_text(key), "(not yet there)" if before is None else before,
                                                after))
        if not check:
            write_sysctl(key, after)
    if sysctl_do:
        diffs.append({"before_header": "/proc/sys", "after_header": "/proc/sys",
                      "before": "".join("%s = %s\n" % (key_text(k), "" if b is None else b)
                                        for k, b, a in sysctl_do),
                      "after": "".join("%s = %s\n" % (key_text(k), a) for k, b, a in sysctl_do)})

    if nft_do == "load":
        changes.append("nft table %s loaded from %s" % (hp.NFT_TABLE, nft["ruleset"]))
        if not check:
            host.run([host.tool("nft", "nft_table"), "-f", nft["ruleset"]], "nft_table: loading %s" % nft["ruleset"])
    elif nft_do == "delete":
        changes.append("nft table %s deleted (no fwmark service left)" % hp.NFT_TABLE)
        if not check:
            host.run([host.tool("nft", "nft_table"), "delete", "table"] + hp.NFT_TABLE.split(),
                     "nft_table: deleting the table")
    if nft_do:
        diffs.append({"before_header": "nft list table %s" % hp.NFT_TABLE,
                      "after_header": "nft list table %s" % hp.NFT_TABLE,
                      "before": nft_live or "", "after": (nft_want or "") if nft_do == "load" else ""})

    if nat is not None:
        ip = host.tool("ip", "nat_routing")
        prio = str(nat["priority"])
        if route_do == "replace":
            changes.append("table %d: default via %s" % (nat["table"], nat["via"]))
            if not check:
                host.run([ip, "-4", "route", "replace", "default", "via", nat["via"], "table", str(nat["table"])],
                         "nat_routing: the default route of table %d" % nat["table"])
        elif route_do == "delete":
            changes.append("table %d: default route removed (no NAT reply left)" % nat["table"])
            if not check:
                host.run([ip, "-4", "route", "del", "default", "table", str(nat["table"])],
                         "nat_routing: removing the default route of table %d" % nat["table"])
        for rule in rules_remove:
            changes.append("rule removed: priority %s %s" % (prio, hp.rule_text(rule)))
            if not check:
                host.run([ip, "-4", "rule", "del", "priority", prio] + hp.rule_args(rule), "nat_routing")
        for rule in rules_add:
            changes.append("rule added: priority %s %s" % (prio, hp.rule_text(rule)))
            if not check:
                host.run([ip, "-4", "rule", "add", "priority", prio] + hp.rule_args(rule), "nat_routing")
        if rules_remove or rules_add or route_do:
            diffs.append({"before_header": "ip rule priority %s, table %d" % (prio, nat["table"]),
                          "after_header": "ip rule priority %s, table %d" % (prio, nat["table"]),
                          "before": "".join(hp.rule_text(r) + "\n" for r in rules_remove)
                          + ("default route\n" if route_do == "delete" else ""),
                          "after": "".join(hp.rule_text(r) + "\n" for r in rules_add)
                          + ("default via %s\n" % nat["via"] if route_do == "replace" else "")})

    for route in routes_do:
        changes.append("route %s via %s" % (route["to"], route["via"]))
        if not check:
            host.run([host.tool("ip", "routes"), "-%d" % route["version"], "route", "replace", route["to"],
                      "via", route["via"]], "routes: %s via %s" % (route["to"], route["via"]))
    if routes_do:
        diffs.append({"before_header": "routes", "after_header": "routes",
                      "before": "".join("%s via %s\n" % (r["to"], " ".join(live_routes[r["to"]]) or "(none)")
                                        for r in routes_do),
                      "after": "".join("%s via %s\n" % (r["to"], r["via"]) for r in routes_do)})

    timeouts_after = {}
    if timeouts is not None:
        timeouts_after = dict(timeouts_before or {}, **timeouts)
        if timeouts_changes:
            changes.append("IPVS timeouts: %s" % ", ".join(
                "%s %s -> %d" % (k, "?" if timeouts_before is None else timeouts_before[k], v)
                for k, v in sorted(timeouts_changes.items())))
            if not check:
                resources.session.set_timeouts(timeouts_changes)
            diffs.append({"before_header": "IPVS timeouts", "after_header": "IPVS timeouts",
                          "before": timeouts_before or {}, "after": timeouts_after})

    # The VIPs: those an earlier run put up and the plan no longer has go first (only
    # those: the record says which), then the links up, then each address (another
    # prefix of it removed once the wanted one is there). The record names every address
    # before it is added.
    links_up, addr_removes, addr_adds = hp.address_actions(addresses, live_links)
    retired = hp.owned_address_actions(recorded, addresses, record["release"], live_links) if record else []
    record_after = hp.render_address_record(addresses) if record else None
    # No record yet and nothing to record (a host that never had a VIP): no file either.
    if record is not None and record_after != record_text and (addresses or record_text is not None):
        changes.append("address record %s: %s" % (record["path"], ", ".join(
            hp.address_text(e["address"], e["prefix"], e["interface"]) for e in addresses) or "none"))
        if not check:
            # Until the retired ones are gone, the record keeps them too.
            write_record(record["path"], hp.render_address_record(
                addresses + [dict(e, interface=n) for n, e in retired]))
    for name, entry in retired:
        text = hp.address_text(entry["address"], entry["prefix"], name)
        changes.append("address %s removed (no longer planned)" % text)
        if not check:
            del_address(resources.ipr, live_links[name]["index"], entry["address"], entry["prefix"])
    if retired and not check:
        write_record(record["path"], record_after)
    for name in links_up:
        changes.append("link %s up" % name)
        if not check:
            set_link_up(resources.ipr, live_links[name]["index"], True)
    # The wanted prefix first, then the other one: the address is never missing between.
    for entry in addr_adds:
        changes.append("address %s added" % hp.address_text(entry["address"], entry["prefix"], entry["interface"]))
        if not check:
            add_address(resources.ipr, live_links[entry["interface"]]["index"], entry["address"], entry["prefix"],
                        ifname=entry["interface"])
    for name, entry in addr_removes:
        text = hp.address_text(entry["address"], entry["prefix"], name)
        changes.append("address %s removed (another prefix is wanted)" % text)
        if not check:
            del_address(resources.ipr, live_links[name]["index"], entry["address"], entry["prefix"])
    if links_up or addr_removes or addr_adds or retired:
        diffs.append({"before_header": "links and addresses", "after_header": "links and addresses",
                      "before": "".join("%s: down\n" % n for n in links_up)
                      + "".join(hp.address_text(e["address"], e["prefix"], n) + "\n"
                                for n, e in retired + addr_removes),
                      "after": "".join("%s: up\n" % n for n in links_up)
                      + "".join(hp.address_text(e["address"], e["prefix"], e["interface"]) + "\n"
                                for e in addr_adds)})

    # The IPVS table: set in place, stale entries removed last (ipvs_plan.plan_table).
    table_ops = []
    if table is not None:
        table_ops = plan_table(table_live, table["wanted"], purge=table["purge"])
        if table_ops and not check:
            try:
                resources.session.apply_all(table_ops)
            except RefusedOps as exc:
                changes.extend("IPVS " + op.describe() for op in exc.applied)
                raise LVSError("ipvs_table: %s" % exc)
        changes.extend("IPVS " + op.describe() for op in table_ops)
        if table_ops:
            diffs.append({"before_header": "ipvsadm-save -n (before)", "after_header": "ipvsadm-save -n (after)",
                          "before": render_save(table_live.values()),
                          "after": render_save(apply_ops_to_table(table_live, table_ops).values())})

    # The boot program and its state before the services: the boot service runs them.
    for item in boot_do:
        changes.append(item["change"])
        if not check:
            write_file(item["path"], item["data"], item["mode"], "boot.%s" % item["key"])
    if boot_do:
        diffs.extend({"before_header": item["path"], "after_header": item["path"],
                      "before": item["before"], "after": item["after"]} for item in boot_do)

    if to_reload:
        changes.append("systemd: unit files reloaded (%s changed on disk)"
                       % ", ".join(n + ".service" for n in to_reload))
        if not check:
            host.run([host.tool("systemctl", "services"), "daemon-reload"],
                     "services: reloading systemd's unit files")
    # Every service enabled before any is started: systemctl enable reloads systemd's unit
    # files, and a reload in keepalived's first seconds (Debian 12: keepalived 2.2.7,
    # systemd 252) left its unit stuck in "reloading" at the next reload, so the next
    # systemctl reload keepalived waited for ever (seen in the lab; docs/develop/tests.md).
    enabled = [s["name"] for s in services if s["name"] in to_enable]
    started = [s["name"] for s in services if s["name"] in to_start]
    for name in enabled:
        changes.append("service %s enabled at boot (%s)" % (name, manager))
        if not check:
            enable_service(host, manager, name)
    for name in started:
        changes.append("service %s started" % name)
        if not check:
            start_service(host, manager, name)
    if enabled or started:
        diffs.append({"before_header": "services", "after_header": "services",
                      "before": "".join("%s: %s\n" % (n, ", ".join(
                          w for w, l in (("not enabled", to_enable), ("not running", to_start)) if n in l))
                          for n in sorted(set(enabled + started))),
                      "after": "".join("%s: %s\n" % (n, ", ".join(
                          w for w, l in (("enabled", enabled), ("running", started)) if n in l))
                          for n in sorted(set(enabled + started)))})
    for state in sync_running:
        changes.append("IPVS connection sync daemon (%s) stopped" % state)
        if not check:
            host.run([ipvsadm, "--stop-daemon", state], "stop_sync_daemons: stopping the %s daemon" % state)
    if sync_running:
        diffs.append({"before_header": "IPVS sync daemons", "after_header": "IPVS sync daemons",
                      "before": "".join("%s\n" % d for d in sync_running), "after": ""})

    result = {
        "changed": bool(changes),
        "changes": changes,
        "kernel_modules": {"loaded": to_load},
        "sysctls": dict((key_text(k), v) for k, v in sysctls.items()),
        "nft_table": {"action": nft_do,
                      "present": None if nft is None else (nft["state"] == "present")},
        "nat_routing": {"rules_added": [hp.rule_text(r) for r in rules_add],
                        "rules_removed": [hp.rule_text(r) for r in rules_remove],
                        "default_route": route_do},
        "routes": ["%s via %s" % (r["to"], r["via"]) for r in routes_do],
        "ipvs_timeouts": timeouts_after,
        "services": {"manager": manager, "enabled": enabled, "started": started, "reloaded": to_reload},
        "sync_daemons_stopped": list(sync_running),
        "addresses": {"links_up": links_up,
                      "added": [hp.address_text(e["address"], e["prefix"], e["interface"]) for e in addr_adds],
                      "removed": [hp.address_text(e["address"], e["prefix"], n) for n, e in retired + addr_removes]},
        "ipvs_table": {"operations": [op.describe() for op in table_ops]},
        "boot": {"written": [item["path"] for item in boot_do]},
    }
    if module._diff:
        result["diff"] = diffs
    return result


def open_session():
    # Imported here: only a host with ipvs_timeouts or ipvs_table needs the IPVS netlink family.
    from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_session import IPVSSession
    return IPVSSession()


def read_links(ipr, addresses, recorded, deferred):
    """{interface: {index, up, addresses (both families)}} for the interfaces of ADDRESSES
    and of RECORDED (the address record's; one that is gone is left out). DEFERRED: the
    ipip module is loaded by this run, so tunl0 may not exist yet (left out)."""
    links = {}
    wanted = set(e["interface"] for e in addresses)
    for name in sorted(wanted | set(e["interface"] for e in recorded)):
        found = ipr.link_lookup(ifname=name)
        if not found:
            if (deferred and name == "tunl0") or name not in wanted:
                continue
            raise LVSError("addresses: no interface named %r in this network namespace%s"
                           % (name, "; tunl0 appears when the ipip kernel module is loaded (add ipip to "
                              "kernel_modules)" if name == "tunl0" else "; check the name with `ip link`"))
        index = found[0]
        links[name] = {"index": index, "up": link_state(ipr, index)["up"],
                       "addresses": list_addresses(ipr, index, 4) + list_addresses(ipr, index, 6)}
    return links


def read_text(path, field):
    """PATH's text, None when it does not exist; an error names FIELD."""
    try:
        return read_text_file(path)
    except LVSError as exc:
        raise LVSError("%s: %s" % (field, exc))


def write_file(path, data, mode, field):
    """Replace PATH with DATA (text or bytes) and MODE atomically, its directory made when
    missing; fsynced, so what a crash right after finds is the old file or the new one."""
    directory = os.path.dirname(path)
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".lvs-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data.encode("utf-8") if isinstance(data, str) else data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, mode)
            os.rename(tmp, path)        # same directory: atomic
        except BaseException:
            os.unlink(tmp)
            raise
    except (IOError, OSError) as exc:
        raise LVSError("%s: cannot write %s: %s" % (field, path, exc))


def write_record(path, text):
    write_file(path, text, 0o644, "address_record")


def read_boot(boot, params):
    """The boot program and state file this run would write ([] when both are current):
    dicts {key, path, data, mode, change, before, after}. The program is packed from this
    run's own payload (host_boot), for the interpreter running it."""
    archive = host_boot.payload_archive()
    if archive is None:
        raise LVSError("boot.program: lvs_host can write the boot program only when it runs as a module (from "
                       "the payload Ansible sends); it was imported from %s" % os.path.dirname(__file__))
    members = host_boot.program_members(archive)
    interpreter = sys.executable
    todo = []
    live = host_boot.read_program(boot["program"])
    if live != (interpreter, members) or file_mode(boot["program"]) != 0o755:
        if live is None:
            before = "absent\n"
        else:
            differ = sorted(n for n in set(live[1]) | set(members) if live[1].get(n) != members.get(n))
            before = "%d files, for %s\n%s" % (len(live[1]), live[0], "".join("  differs: %s\n" % n for n in differ))
        todo.append({"key": "program", "path": boot["program"], "mode": 0o755,
                     "data": host_boot.pack_program(interpreter, members),
                     "change": "boot program %s written (lvs_host's code, for %s)" % (boot["program"], interpreter),
                     "before": before, "after": "%d files, for %s\n" % (len(members), interpreter)})
    text = host_boot.state_text(params)
    live_text = read_text(boot["state"], "boot.state")
    if live_text != text or file_mode(boot["state"]) != 0o640:
        todo.append({"key": "state", "path": boot["state"], "mode": 0o640, "data": text,
                     "change": "boot state %s written" % boot["state"],
                     "before": live_text or "", "after": text})
    return todo


def file_mode(path):
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None


class Resources(object):
    """The netlink sockets a run opens, closed when it ends however it ends."""

    def __init__(self):
        self.session = None
        self.ipr = None

    def close(self):
        for handle in (self.session, self.ipr):
            if handle is not None:
                handle.close()


class ConvergeFailed(Exception):
    """A run that stopped part way: MSG, and CHANGES made before it stopped."""

    def __init__(self, msg, changes):
        super(ConvergeFailed, self).__init__(msg)
        self.msg = msg
        self.changes = changes


def converge(module, lock_path=LOCK_PATH):
    """run() with its sockets closed however it ends, one run at a time on the host (not in
    check mode, which changes nothing); ConvergeFailed on an LVSError."""
    changes = []
    resources = Resources()
    try:
        with host_lock(lock_path) if not module.check_mode else _no_lock():
            try:
                return run(module, changes, resources)
            finally:
                resources.close()
    except LVSError as exc:
        raise ConvergeFailed(str(exc), changes)


@contextlib.contextmanager
def _no_lock():
    yield
