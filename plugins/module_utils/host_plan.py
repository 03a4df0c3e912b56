# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What lvs_host must change on a host: pure decisions, no kernel, no commands.

Each area has a validator (the module's options -> a normalized wanted state, or LVSError
naming the option and the fix) and a planner (live state, as read by the module, + wanted
-> the actions).  The module reads, asks these functions, then writes; the unit tests
drive them with live states written by hand.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import re

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_model import MAX_TIMEOUT
from ansible_collections.lvs.cluster.plugins.module_utils.net_sysctl import key_text, normalize_value, parse_key

NFT_TABLE = "inet lvs_cluster"
PROTOCOLS = {"tcp": 6, "udp": 17, "sctp": 132}
_MODULE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# An init service name (systemd unit stem, /etc/init.d script): no path, no option.
SERVICE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,127}$")
_SYSCTL_PART = re.compile(r"^[A-Za-z0-9_.:@+-]+$")
# Tables the kernel reserves: unspec, default, main, local.
_RESERVED_TABLES = (0, 253, 254, 255)


# -- kernel modules ------------------------------------------------------------

def validate_kernel_modules(names, field="kernel_modules"):
    out = []
    for index, name in enumerate(names or []):
        if not isinstance(name, str) or not _MODULE_NAME.match(name):
            raise LVSError("%s[%d]: %r is not a kernel module name (letters, digits, _ and -), e.g. ip_vs_rr"
                           % (field, index, name))
        if name not in out:
            out.append(name)
    return out


def sys_module_name(name):
    """The name of a module's /sys/module directory (the kernel spells '-' as '_')."""
    return name.replace("-", "_")


def modules_to_load(wanted, loaded):
    """WANTED names whose /sys/module entry is not in LOADED (a set of directory names)."""
    return [name for name in wanted if sys_module_name(name) not in loaded]


# -- sysctls -------------------------------------------------------------------

def validate_sysctls(values, field="sysctls"):
    """{key text: value} -> {key tuple: value as the kernel prints it}, in the given order.

    Keys are dotted (net.ipv4.ip_forward) or slashed (net/ipv4/conf/eth0.10/rp_filter,
    for an interface name with a dot); values strings or integers, several numbers
    separated by spaces or tabs (net.ipv4.ip_local_port_range: "32768 60999")."""
    out = {}
    for text, value in (values or {}).items():
        where = "%s[%r]" % (field, text)
        if not isinstance(text, str) or not text.strip():
            raise LVSError("%s: a sysctl key is required, such as net.ipv4.ip_forward" % where)
        key = parse_key(text)
        if text.strip().startswith("-") or not key or any(p in (".", "..") or not _SYSCTL_PART.match(p)
                                                          for p in key):
            raise LVSError("%s: not a sysctl key; write it dotted (net.ipv4.ip_forward) or, when a part holds "
                           "a dot, slashed (net/ipv4/conf/eth0.10/rp_filter)" % where)
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise LVSError("%s: %r is not a number or a string; quote it, e.g. \"1\" or \"32768 60999\""
                           % (where, value))
        normal = normalize_value(value)
        if normal == "" or "\n" in str(value):
            raise LVSError("%s: %r is empty or has a line break; give the value on one line" % (where, value))
        if key in out and out[key] != normal:
            raise LVSError("%s: %s is given twice with different values (%s, %s); keep one"
                           % (where, key_text(key), out[key], normal))
        out[key] = normal
    return out


def sysctl_actions(wanted, live):
    """[(key, before, after)] for every WANTED key whose LIVE value (as read, None when the
    key does not exist yet) is not the wanted one, compared as the kernel prints them:
    whitespace-separated fields, so "32768 60999" equals the kernel's "32768\\t60999"."""
    out = []
    for key, value in wanted.items():
        before = live.get(key)
        if before is None or normalize_value(before) != value:
            out.append((key, before, value))
    return out


def missing_sysctls(wanted, live):
    """Keys of WANTED that do not exist (live value None)."""
    return [key for key in wanted if live.get(key) is None]


# -- nft table inet lvs_cluster ------------------------------------------------

def validate_nft(spec, field="nft_table"):
    if spec is None:
        return None
    state = spec.get("state") or "present"
    ruleset = spec.get("ruleset")
    if state == "present" and not ruleset:
        raise LVSError("%s.ruleset: required with state=present; name the file to load, e.g. "
                       "/etc/lvs-cluster/fwmark.nft (or state=absent to remove the table)" % field)
    if state == "absent" and ruleset:
        raise LVSError("%s.ruleset: not used with state=absent (the table is deleted); drop it" % field)
    return {"state": state, "ruleset": ruleset}


def tables_listed(text):
    """'family name' of each table in `nft list tables` output."""
    found = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "table":
            found.append("%s %s" % (parts[1], parts[2]))
    return found


def nft_action(wanted, live, want_listing=None):
    """'load', 'delete' or None.  LIVE is `nft list table inet lvs_cluster` (None when
    the table does not exist); WANT_LISTING the same listing of the ruleset file loaded
    into an empty network namespace, i.e. as the kernel and this nft print it."""
    if wanted is None:
        return None
    if wanted["state"] == "absent":
        return "delete" if live is not None else None
    if live is None or live.strip() != (want_listing or "").strip():
        return "load"
    return None


# -- NAT reply routing -----------------------------------------------------------

def _ipv4(text, where):
    try:
        addr = ipaddress.ip_address(str(text).strip())
    except ValueError:
        raise LVSError("%s: %r is not an IPv4 address" % (where, text))
    if addr.version != 4:
        raise LVSError("%s: %s is IPv6; NAT reply routing is IPv4 only (ip -4 rule)" % (where, addr))
    return str(addr)


def _int(value, where, low, high):
    if isinstance(value, bool):
        raise LVSError("%s: %r is not a number" % (where, value))
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise LVSError("%s: %r is not a number" % (where, value))
    if not low <= number <= high:
        raise LVSError("%s: %d is out of range (%d..%d)" % (where, number, low, high))
    return number


def validate_nat_routing(spec, field="nat_routing"):
    """{table, priority, replies: [{from, protocol, port, via}]} -> {table, priority, via,
    rules: [(from, protocol number, port)]}.  No replies: the rules and the default route
    of the table go."""
    if spec is None:
        return None
    table = _int(spec.get("table"), field + ".table", 1, 2 ** 32 - 1)
    if table in _RESERVED_TABLES:
        raise LVSError("%s.table: %d is a table the kernel reserves (default, main, local); pick another, "
                       "e.g. 240" % (field, table))
    priority = _int(spec.get("priority"), field + ".priority", 1, 32765)
    rules, via = [], None
    for index, reply in enumerate(spec.get("replies") or []):
        where = "%s.replies[%d]" % (field, index)
        if not isinstance(reply, dict):
            raise LVSError("%s: a dict with from, protocol, port and via is required" % where)
        unknown = sorted(set(reply) - set(("from", "protocol", "port", "via")))
        if unknown:
            raise LVSError("%s: unknown key %s; the keys are from, protocol, port, via" % (where, unknown[0]))
        src = _ipv4(reply.get("from"), where + ".from")
        protocol = str(reply.get("protocol", "")).lower()
        if protocol not in PROTOCOLS:
            raise LVSError("%s.protocol: %r is not tcp, udp or sctp" % (where, reply.get("protocol")))
        port = _int(reply.get("port", 0), where + ".port", 0, 65535)
        gateway = _ipv4(reply.get("via"), where + ".via")
        if via is not None and gateway != via:
            raise LVSError("%s.via: %s differs from %s of replies[0]; the table has one default route, so "
                           "every reply goes through the same director address" % (where, gateway, via))
        via = gateway
        rule = (src, PROTOCOLS[protocol], port)
        if rule not in rules:
            rules.append(rule)
    return {"table": table, "priority": priority, "via": via, "rules": rules}


def _protocol_number(value):
    if value is None:
        return 0
    text = str(value).lower()
    if text.startswith("ipproto-"):
        text = text[len("ipproto-"):]   # how `ip -N` prints a protocol number (iproute2 6.1)
    if text in PROTOCOLS:
        return PROTOCOLS[text]
    try:
        return int(text)
    except ValueError:
        return text


_RULE_KNOWN = ("priority", "src", "srclen", "ipproto", "sport", "table", "action")


def parse_ip_rules(rules):
    """`ip -N -j -4 rule show priority P` (decoded JSON) -> comparable rules:
    (src, protocol number, sport, table, other selectors).  A rule with selectors of its
    own (fwmark, iif, dport, ...) never equals a wanted one, so it is removed."""
    out = []
    for entry in rules:
        src = entry.get("src", "all")
        if src != "all" and entry.get("srclen") not in (None, 32):
            src = "%s/%s" % (src, entry["srclen"])
        sport = entry.get("sport", 0)
        other = tuple(sorted("%s=%s" % (k, v) for k, v in entry.items()
                             if k not in _RULE_KNOWN and k != "flags"))
        table = entry.get("table")
        try:
            table = int(table)
        except (TypeError, ValueError):
            pass
        try:
            sport = int(sport)
        except (TypeError, ValueError):
            pass
        out.append((src, _protocol_number(entry.get("ipproto")), sport, table, other))
    return out


def wanted_rule(rule, table):
    src, protocol, port = rule
    return (src, protocol, port, table, ())


def rule_text(rule):
    """A rule (as parse_ip_rules returns it) as `ip rule` arguments after the priority."""
    src, protocol, port, table, other = rule
    words = ["from", src]
    if protocol:
        names = dict((v, k) for k, v in PROTOCOLS.items())
        words += ["ipproto", names.get(protocol, str(protocol))]
    if port:
        words += ["sport", str(port)]
    words += ["lookup", str(table)]
    return " ".join(words) + ("".join(" (%s)" % o for o in other) if other else "")


def rule_args(rule):
    """`ip rule add|del` arguments of RULE (without priority): the selectors we know."""
    src, protocol, port, table, other = rule
    words = ["from", src]
    if protocol:
        words += ["ipproto", str(protocol)]
    if port:
        words += ["sport", str(port)]
    if table is not None:
        words += ["lookup", str(table)]
    return words


def rule_actions(wanted, live):
    """(to remove, to add): LIVE rules at our priority not wanted, WANTED ones missing."""
    remove = [rule for rule in live if rule not in wanted]
    add = [rule for rule in wanted if rule not in live]
    return remove, add


def default_route_action(via, live_gateways):
    """'replace', 'delete' or None for the NAT table's default route.  LIVE_GATEWAYS are the
    gateways of its default routes (empty: none)."""
    if via is None:
        return "delete" if live_gateways else None
    return None if live_gateways == [via] else "replace"


# -- router routes -----------------------------------------------------------------

def validate_routes(routes, field="routes"):
    out = []
    for index, route in enumerate(routes or []):
        where = "%s[%d]" % (field, index)
        if not isinstance(route, dict) or set(route) != set(("to", "via")):
            raise LVSError("%s: a dict with exactly to and via is required, e.g. {to: 192.0.2.100/32, "
                           "via: 198.51.100.2}" % where)
        try:
            net = ipaddress.ip_network(str(route["to"]).strip(), strict=True)
        except ValueError as exc:
            raise LVSError("%s.to: %r is not a network such as 192.0.2.100/32 (%s)" % (where, route["to"], exc))
        try:
            via = ipaddress.ip_address(str(route["via"]).strip())
        except ValueError:
            raise LVSError("%s.via: %r is not an IP address" % (where, route["via"]))
        if via.version != net.version:
            raise LVSError("%s.via: %s is IPv%d and to %s is IPv%d; use a gateway of the same family"
                           % (where, via, via.version, net, net.version))
        item = {"to": str(net), "via": str(via), "version": net.version}
        if any(r["to"] == item["to"] and r["via"] != item["via"] for r in out):
            raise LVSError("%s.to: %s is routed twice with different gateways; keep one" % (where, net))
        if item not in out:
            out.append(item)
    return out


def route_dst(entry, version):
    """The destination of a route of `ip -j route show` as a network string."""
    dst = entry.get("dst", "")
    if dst == "default":
        return "0.0.0.0/0" if version == 4 else "::/0"
    if "/" not in dst:
        dst += "/32" if version == 4 else "/128"
    return str(ipaddress.ip_network(dst, strict=False))


def route_actions(wanted, live):
    """Routes of WANTED to replace: LIVE maps 'to' -> the gateways of the main table's
    routes to exactly that network (from `ip -j route show exact TO`)."""
    return [r for r in wanted if r["via"] not in live.get(r["to"], [])]


# -- IPVS timeouts ---------------------------------------------------------------------

def validate_timeouts(spec, field="ipvs_timeouts"):
    if spec is None:
        return None
    out = {}
    for name in ("tcp", "tcpfin", "udp"):
        if spec.get(name) is not None:
            out[name] = _int(spec[name], "%s.%s" % (field, name), 1, MAX_TIMEOUT)
    if not out:
        raise LVSError("%s: give at least one of tcp, tcpfin, udp (seconds), or leave the option out" % field)
    return out


def timeout_changes(wanted, live):
    """{name: value} of WANTED that differ from LIVE (None: not readable yet, every one)."""
    if live is None:
        return dict(wanted)
    return dict((k, v) for k, v in wanted.items() if live.get(k) != v)


# -- services ------------------------------------------------------------------------

def validate_services(services, field="services"):
    out, seen = [], set()
    for index, service in enumerate(services or []):
        name = service.get("name")
        if not isinstance(name, str) or not SERVICE_NAME.match(name):
            raise LVSError("%s[%d].name: %r is not a service name (letters, digits, _ . @ and -), e.g. keepalived"
                           % (field, index, name))
        if name in seen:
            raise LVSError("%s[%d].name: %s is listed twice; list each service once" % (field, index, name))
        seen.add(name)
        out.append({"name": name, "started": bool(service.get("started"))})
    return out


# -- addresses (VIPs) ------------------------------------------------------------------

def validate_addresses(entries, field="addresses"):
    """[{address, prefix, interface, up}] -> the same, normalized: address an ipaddress
    object, prefix defaulted to the host prefix; each address listed once."""
    # Imported here: net_validate is not needed by a host without addresses.
    from ansible_collections.lvs.cluster.plugins.module_utils.net_validate import (
        parse_address, validate_ifname, validate_prefix,
    )
    out, seen = [], {}
    for index, entry in enumerate(entries or []):
        where = "%s[%d]" % (field, index)
        addr = parse_address(entry.get("address"), where + ".address")
        prefix = validate_prefix(entry.get("prefix"), addr, where + ".prefix")
        interface = validate_ifname(entry.get("interface"), where + ".interface")
        if addr in seen:
            raise LVSError("%s.address: %s is listed twice (also %s); list each address once"
                           % (where, addr, seen[addr]))
        seen[addr] = where
        out.append({"address": addr, "prefix": prefix, "interface": interface, "up": bool(entry.get("up"))})
    return out


def address_actions(wanted, live):
    """What to do for WANTED (validate_addresses) given LIVE: {interface: {"up": bool,
    "addresses": [entries of net_iproute.list_addresses, both families]}}, an interface
    absent from LIVE not existing yet (its kernel module is loaded by this run).

    Returns (links_up, removes, adds): the interfaces to bring up; (interface, entry) of
    an address of WANTED with another prefix on its interface; the wanted entries to add."""
    links_up, removes, adds = [], [], []
    for entry in wanted:
        name = entry["interface"]
        state = live.get(name)
        if entry["up"] and (state is None or not state["up"]) and name not in links_up:
            links_up.append(name)
        mine = [e for e in (state or {}).get("addresses", []) if e["address"] == entry["address"]]
        removes.extend((name, e) for e in mine if e["prefix"] != entry["prefix"])
        if not any(e["prefix"] == entry["prefix"] for e in mine):
            adds.append(entry)
    return links_up, removes, adds


def address_text(address, prefix, interface):
    return "%s/%d on %s" % (address, prefix, interface)


# -- the IPVS table ------------------------------------------------------------------

def validate_ipvs_table(spec, field="ipvs_table"):
    """{rules, purge} -> {wanted (ipvs_rules.wanted_from_rules), purge}, or None."""
    if spec is None:
        return None
    from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_rules import wanted_from_rules
    try:
        wanted = wanted_from_rules(spec.get("rules") or "")
    except LVSError as exc:
        raise LVSError("%s.rules: %s" % (field, exc))
    return {"wanted": wanted, "purge": bool(spec.get("purge", True))}


# -- the record of the addresses this collection put up ------------------------------------

def validate_address_record(spec, field="address_record"):
    """{path, release} -> {path, release (a set of ipaddress objects)}, or None."""
    if spec is None:
        return None
    path = spec.get("path")
    if not isinstance(path, str) or not path.startswith("/") or path.endswith("/"):
        raise LVSError("%s.path: %r is not an absolute file path, e.g. /var/lib/lvs-cluster/addresses.json"
                       % (field, path))
    release = set()
    for index, text in enumerate(spec.get("release") or []):
        try:
            release.add(ipaddress.ip_address(str(text).strip()))
        except ValueError:
            raise LVSError("%s.release[%d]: %r is not an IP address" % (field, index, text))
    return {"path": path, "release": release}


def validate_boot(spec, field="boot"):
    """{program, state} (absolute file paths, not the same) -> the same, or None."""
    if spec is None:
        return None
    out = {}
    for key, example in (("program", "/usr/local/lib/lvs-cluster/lvs-cluster-boot"),
                         ("state", "/etc/lvs-cluster/host.json")):
        path = spec.get(key)
        if not isinstance(path, str) or not path.startswith("/") or path.endswith("/"):
            raise LVSError("%s.%s: %r is not an absolute file path, e.g. %s" % (field, key, path, example))
        out[key] = path
    if out["program"] == out["state"]:
        raise LVSError("%s: program and state are the same file (%s); give each its own" % (field, out["state"]))
    return out


def parse_address_record(text, path):
    """The record file's JSON -> [{address, prefix, interface}] ([] for no file: TEXT None)."""
    import json
    if text is None:
        return []
    try:
        entries = json.loads(text)
        out = [{"address": ipaddress.ip_address(e["address"]), "prefix": int(e["prefix"]),
                "interface": str(e["interface"])} for e in entries["addresses"]]
    except (ValueError, TypeError, KeyError) as exc:
        raise LVSError("address_record: %s is not a record this module wrote (%s); remove it (the VIPs it "
                       "named are then left alone) and run again" % (path, exc))
    return out


def render_address_record(entries):
    import json
    return json.dumps({"addresses": [{"address": str(e["address"]), "prefix": e["prefix"],
                                      "interface": e["interface"]} for e in entries]},
                      indent=1, sort_keys=True) + "\n"


def owned_address_actions(record, wanted, release, live):
    """Addresses an earlier run recorded (RECORD) that WANTED no longer has and that are
    still on their interface (LIVE, as for address_actions): (interface, entry) to remove,
    in record order; an address of RELEASE (keepalived's now) is never removed. The new
    record is WANTED itself."""
    keep = set((e["address"], e["interface"]) for e in wanted)
    removes = []
    for entry in record:
        if (entry["address"], entry["interface"]) in keep or entry["address"] in release:
            continue
        state = live.get(entry["interface"])
        for found in (state or {}).get("addresses", []):
            if found["address"] == entry["address"] and found["prefix"] == entry["prefix"]:
                removes.append((entry["interface"], found))
    return removes
