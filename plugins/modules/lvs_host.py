#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: lvs_host
short_description: Converge the runtime state of an LVS cluster host in one run
version_added: 0.2.0
description:
  - Makes the live host match the runtime part of its plan, reading before it writes, in one remote Python run -
    kernel modules, sysctls (ARP suppression and rp_filter of a real server among them), the nft table
    C(inet lvs_cluster), the NAT reply policy routing of a real server, the routes of a router, the IPVS connection
    timeouts, the VIPs (links up, addresses) and the IPVS table of a static director.
  - Every option is validated, and every value read, before anything is changed. An option left out leaves its
    area alone.
  - Kernel modules are loaded first (the C(net.ipv4.vs.*) sysctls exist only once C(ip_vs) is loaded, C(tunl0)
    once C(ipip) is); sysctls come before the VIPs (a real server's VIP never answers ARP); the VIPs before the
    IPVS table; the services of O(services) last, once the kernel state they rely on is there.
author:
  - lvs.cluster contributors (@lvs-cluster)
extends_documentation_fragment:
  - lvs.cluster.attributes
attributes:
  check_mode:
    support: full
    details:
      - Everything is read and nothing is changed. A sysctl that exists only once a module of O(kernel_modules)
        is loaded is reported with an unknown value (C(null)) before.
      - An O(nft_table.ruleset) file that does not exist yet (its writer ran in check mode too) is reported as a
        load, with no listing after.
      - With C(ip_vs) not loaded yet, the IPVS table is read as empty (every service would be added); with C(ipip)
        not loaded yet, C(tunl0) as down and without addresses. The O(address_record) file is read, not written.
  diff_mode:
    support: full
    details:
      - One before/after per area that would change (modules, sysctls, the nft table listing, rules, routes,
        timeouts, links and addresses, the IPVS table as C(ipvsadm-save -n) prints it, services, sync daemons). The
        O(address_record) file is reported in RV(changes) only.
  platform:
    support: full
    platforms: linux
    details: Works in the network namespace it runs in (kernel modules are the kernel's, for every namespace).
requirements:
  - pyroute2 (C(python3-pyroute2)) for O(addresses), and for an O(address_record) that names addresses
  - C(modprobe) for O(kernel_modules), C(nft) and C(unshare) for O(nft_table), C(ip) (iproute2) for
    O(nat_routing) and O(routes); for O(services) systemd (C(systemctl)) or sysv init (C(update-rc.d) or
    C(chkconfig), and C(service)); C(ipvsadm) for O(stop_sync_daemons)
options:
  kernel_modules:
    description:
      - Kernel modules to load with C(modprobe) when C(/sys/module/NAME) is absent, in this order, for example
        C(ip_vs), C(ip_vs_wrr), C(ipip). Modules are never unloaded.
      - Every module to load is looked up with C(modprobe -n) first; one that does not exist fails the run before
        anything is changed.
    type: list
    elements: str
    default: []
  sysctls:
    description:
      - Live values for C(/proc/sys), key to value, written where the live value differs.
      - Values are compared the way the kernel prints them, field by field, so C("32768 60999") equals the
        kernel's C(32768<TAB>60999).
      - Keys are dotted (C(net.ipv4.ip_forward)) or slashed where a part holds a dot
        (C(net/ipv4/conf/eth0.10/rp_filter)).
      - This writes the live values only; the sysctl.d files that restore them at boot are written elsewhere
        (M(lvs.cluster.lvs_files)).
    type: dict
    default: {}
  nft_table:
    description:
      - The nft table C(inet lvs_cluster) (packet marks of fwmark services). Left alone when omitted.
    type: dict
    suboptions:
      state:
        description:
          - V(present) loads O(nft_table.ruleset) with C(nft -f) when the live table is absent or differs from it.
          - V(absent) deletes the table if it exists (no fwmark service left).
        type: str
        choices: [present, absent]
        default: present
      ruleset:
        description:
          - The ruleset file, which must define the table C(inet lvs_cluster) and nothing else, and replace it
            atomically when loaded (C(table inet lvs_cluster) / C(delete table inet lvs_cluster) first).
          - It is compared as nft lists it, by loading it into an empty network namespace of its own first; so it
            must not depend on this namespace (use C(iifname), not C(iif)).
        type: path
  nat_routing:
    description:
      - A NAT real server's replies routed back through the director by policy routing; the main table and the
        management route are left alone. Left alone when omitted.
      - The table holds one default route via the director; one C(ip rule) per reply at O(nat_routing.priority),
        where rules that are not wanted are removed.
      - With no O(nat_routing.replies) the rules at that priority and the table's default route are removed.
    type: dict
    suboptions:
      table:
        description: The routing table number (not 0, 253, 254 or 255).
        type: int
        required: true
      priority:
        description: The C(ip rule) priority the collection owns; every rule there is managed.
        type: int
        required: true
      replies:
        description: The replies, as the cluster plan lists them (C(lvs_plan.realserver.nat_replies)).
        type: list
        elements: dict
        default: []
        suboptions:
          from:
            description: The real server's IPv4 address.
            type: str
            required: true
          protocol:
            description: The service's protocol.
            type: str
            choices: [tcp, udp, sctp]
            required: true
          port:
            description: The real server's port the replies leave from; V(0) for every port.
            type: int
            default: 0
          via:
            description: The director's address on the real servers' segment (the same for every reply).
            type: str
            required: true
  routes:
    description:
      - A router's routes to VIPs behind the director, in the main table, replaced when the gateway differs
        (C(ip route replace TO via VIA)). Routes not listed are left alone.
    type: list
    elements: dict
    default: []
    suboptions:
      to:
        description: The network, such as V(192.0.2.100/32).
        type: str
        required: true
      via:
        description: The gateway.
        type: str
        required: true
  ipvs_timeouts:
    description:
      - The IPVS connection timeouts in seconds (1..2147483), as M(lvs.cluster.ipvs_timeouts) sets them; those left
        out are not changed. Needs C(ip_vs) (list it in O(kernel_modules)).
    type: dict
    suboptions:
      tcp:
        description: Established TCP connections.
        type: int
      tcpfin:
        description: TCP connections after a FIN.
        type: int
      udp:
        description: UDP flows.
        type: int
  addresses:
    description:
      - Addresses (VIPs) to have on their interfaces, as M(lvs.cluster.lvs_vip) and M(lvs.cluster.ipip_tunnel) put
        them up; an entry of the same address with another prefix on that interface is replaced (the wanted one is
        added first). Other addresses are left alone, except those O(address_record) retires.
    type: list
    elements: dict
    default: []
    suboptions:
      address:
        description: The address, IPv4 or IPv6.
        type: str
        required: true
      prefix:
        description: The prefix length; the host prefix (32 or 128) when omitted.
        type: int
      interface:
        description:
          - The interface, such as V(eth0) (a director's client side), V(lo) (a DR real server) or V(tunl0) (a TUN
            real server; it exists once the C(ipip) module is loaded, list it in O(kernel_modules)).
        type: str
        required: true
      up:
        description: Bring the interface up first (V(true) for C(tunl0), which the kernel creates down).
        type: bool
        default: false
  ipvs_table:
    description:
      - The IPVS table, as M(lvs.cluster.ipvs_table) with O(ipvs_table.rules) makes it - services and real servers
        added or changed in place, never deleted and added again; stale ones removed last with
        O(ipvs_table.purge). Needs C(ip_vs) (list it in O(kernel_modules)). Left alone when omitted.
    type: dict
    suboptions:
      rules:
        description: The table in C(ipvsadm-save -n) / C(ipvsadm -S) format (C(lvs_plan.director.rules)).
        type: str
        required: true
      purge:
        description: Remove the services not in O(ipvs_table.rules), and the real servers not listed under theirs.
        type: bool
        default: true
  address_record:
    description:
      - Owns the addresses of O(addresses) - a file where each run records them, so that the next run removes, from
        its interface, an address an earlier run recorded that O(addresses) no longer lists (a VIP taken out of
        the cluster). An address never recorded is never removed, whoever put it there.
      - The record is written before an address is added and rewritten once the retired ones are gone, so a run
        that fails part way forgets nothing it owns. Without the option, addresses not listed are left alone.
    type: dict
    suboptions:
      path:
        description: The record file (JSON), e.g. V(/var/lib/lvs-cluster/addresses.json); its directory is made.
        type: path
        required: true
      release:
        description:
          - Addresses that are another owner's now (a director's VIPs once keepalived holds them) - never removed,
            and dropped from the record unless O(addresses) lists them.
        type: list
        elements: str
        default: []
  services:
    description:
      - Init services to have enabled at boot, in this order, and with O(services[].started) running. Services are
        never stopped, restarted or reloaded (a keepalived restart drops every VIP; reloading a changed
        configuration is the caller's).
      - The service manager is systemd when C(/run/systemd/system) exists (C(systemctl enable NAME.service)), else
        sysv init with C(update-rc.d) (enabled when C(/etc/rc2.d/S*NAME) exists; C(update-rc.d NAME enable)
        when the init script has links already, C(update-rc.d NAME defaults) when it has none) or C(chkconfig)
        (C(chkconfig --add NAME), C(chkconfig NAME on)). A host with none fails before anything is changed.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The service's name (its unit is C(NAME.service), its init script C(/etc/init.d/NAME)).
        type: str
        required: true
      started:
        description:
          - Start it (C(systemctl start), C(service NAME start)) when no process of that name runs (the kernel's
            C(/proc/PID/comm)). V(false) for a oneshot service that runs at boot only.
        type: bool
        default: false
  stop_sync_daemons:
    description:
      - Stop the kernel's IPVS connection sync daemons (master and backup) that run, with C(ipvsadm --stop-daemon).
      - For a keepalived director whose connection sync was turned off, a reload does not stop the daemons
        keepalived started (keepalived 2.2.7 keeps them until the host boots). Nothing is done without C(ipvsadm).
    type: bool
    default: false
notes:
  - Sysctls, the nft table, rules, routes, addresses and the IPVS table belong to the network namespace the module
    runs in; IPVS timeouts too.
seealso:
  - module: lvs.cluster.lvs_files
  - module: lvs.cluster.ipvs_timeouts
  - module: lvs.cluster.ipvs_table
  - module: lvs.cluster.lvs_vip
'''

EXAMPLES = r'''
- name: A director with a fwmark service and shorter timeouts
  lvs.cluster.lvs_host:
    kernel_modules: [ip_vs, ip_vs_wrr]
    sysctls:
      net.ipv4.vs.expire_nodest_conn: 1
      net.ipv4.ip_local_port_range: "32768 60999"
    nft_table:
      ruleset: /etc/lvs-cluster/fwmark.nft
    ipvs_timeouts: {tcp: 300, tcpfin: 30, udp: 60}

- name: A keepalived director, its boot service enabled; reload keepalived only when this run did not start it
  lvs.cluster.lvs_host:
    kernel_modules: [ip_vs, ip_vs_wrr]
    services:
      - {name: keepalived, started: true}
      - {name: lvs-cluster}
  register: host_state
- name: Reload keepalived for a changed keepalived.conf
  ansible.builtin.service:
    name: keepalived
    state: reloaded
  when: "'keepalived' not in host_state.services.started"

- name: The runtime part of a host's cluster plan (what the lvs.cluster roles do, every option from the plan)
  lvs.cluster.lvs_host:
    kernel_modules: "{{ lvs_plan.host.kernel_modules }}"
    sysctls: "{{ lvs_plan.host.sysctls }}"
    nft_table: "{{ lvs_plan.host.nft_table }}"
    nat_routing: "{{ lvs_plan.host.nat_routing }}"
    routes: "{{ lvs_plan.host.routes }}"
    ipvs_timeouts: "{{ lvs_plan.host.ipvs_timeouts }}"
    addresses: "{{ lvs_plan.host.addresses }}"
    address_record: "{{ lvs_plan.host.address_record }}"
    ipvs_table: "{{ lvs_plan.host.ipvs_table }}"
    services: "{{ lvs_plan.host.services }}"
    stop_sync_daemons: "{{ lvs_plan.host.stop_sync_daemons }}"

- name: A static DR director - the VIP on eth0 (one an earlier run put up and this one no longer lists goes), its table
  lvs.cluster.lvs_host:
    kernel_modules: [ip_vs, ip_vs_wrr]
    addresses:
      - {address: 192.0.2.100, interface: eth0}
    address_record:
      path: /var/lib/lvs-cluster/addresses.json
    ipvs_table:
      rules: |
        -A -t 192.0.2.100:80 -s wrr
        -a -t 192.0.2.100:80 -r 198.51.100.11:80 -g -w 1
        -a -t 192.0.2.100:80 -r 198.51.100.12:80 -g -w 1

- name: A TUN real server - ARP suppressed, rp_filter off for tunl0, the VIP on tunl0
  lvs.cluster.lvs_host:
    kernel_modules: [ipip]
    sysctls:
      net.ipv4.conf.all.arp_ignore: 1
      net.ipv4.conf.all.arp_announce: 2
      net.ipv4.conf.all.rp_filter: 0
      net.ipv4.conf.tunl0.rp_filter: 0
    addresses:
      - {address: 192.0.2.100, interface: tunl0, up: true}

- name: A NAT real server
  lvs.cluster.lvs_host:
    nat_routing:
      table: 240
      priority: 31000
      replies:
        - {from: 198.51.100.11, protocol: tcp, port: 80, via: 198.51.100.1}

- name: A router
  lvs.cluster.lvs_host:
    sysctls: {net.ipv4.ip_forward: 1, net.ipv4.conf.all.rp_filter: 2}
    routes:
      - {to: 192.0.2.100/32, via: 198.51.100.2}
'''

RETURN = r'''
changes:
  description: One line per change made (in check mode, that would be made), in the order they are made.
  returned: always
  type: list
  elements: str
  sample: ["kernel module ip_vs_wrr loaded", "sysctl net.ipv4.vs.conntrack: 0 -> 1"]
kernel_modules:
  description: What was done with O(kernel_modules).
  returned: always
  type: dict
  contains:
    loaded:
      description: The modules loaded by this run.
      type: list
      elements: str
sysctls:
  description:
    - The keys of O(sysctls) and their live values after the run (as the kernel prints them, fields separated by
      one space). Read them with brackets, the keys hold dots.
  returned: always
  type: dict
  sample: {"net.ipv4.ip_local_port_range": "32768 60999"}
nft_table:
  description: The table C(inet lvs_cluster).
  returned: always
  type: dict
  contains:
    action:
      description: V(load), V(delete) or C(null) (nothing to do, or the option was omitted).
      type: str
    present:
      description: Whether the table exists after the run (C(null) when the option was omitted).
      type: bool
nat_routing:
  description: The NAT reply routing.
  returned: always
  type: dict
  contains:
    rules_added:
      description: The rules added, as C(ip rule) arguments after the priority.
      type: list
      elements: str
    rules_removed:
      description: The rules removed.
      type: list
      elements: str
    default_route:
      description: V(replace), V(delete) or C(null).
      type: str
routes:
  description: The routes of O(routes) replaced, as C(TO via VIA).
  returned: always
  type: list
  elements: str
ipvs_timeouts:
  description: The IPVS timeouts after the run (C({}) when the option was omitted).
  returned: always
  type: dict
  contains:
    tcp: {description: Established TCP connections., type: int}
    tcpfin: {description: TCP connections after a FIN., type: int}
    udp: {description: UDP flows., type: int}
services:
  description: What was done with O(services).
  returned: always
  type: dict
  contains:
    manager:
      description: V(systemd), V(update-rc.d), V(chkconfig), or C(null) when O(services) is empty.
      type: str
    enabled:
      description: The services this run enabled at boot.
      type: list
      elements: str
    started:
      description: The services this run started (a caller reloads only a service it did not just start).
      type: list
      elements: str
  sample: {"manager": "systemd", "enabled": ["lvs-cluster"], "started": ["keepalived"]}
sync_daemons_stopped:
  description: The IPVS connection sync daemons stopped (V(master), V(backup)).
  returned: always
  type: list
  elements: str
addresses:
  description: What was done with O(addresses).
  returned: always
  type: dict
  contains:
    links_up:
      description: The interfaces brought up.
      type: list
      elements: str
    added:
      description: The addresses added, as C(ADDRESS/PREFIX on INTERFACE).
      type: list
      elements: str
    removed:
      description:
        - The addresses removed - those O(address_record) names that are no longer planned, and the entries of a
          wanted address with another prefix.
      type: list
      elements: str
  sample: {"links_up": [], "added": ["192.0.2.100/32 on lo"], "removed": []}
ipvs_table:
  description: What was done with O(ipvs_table).
  returned: always
  type: dict
  contains:
    operations:
      description: The table operations, in the order made (as M(lvs.cluster.ipvs_table) returns them).
      type: list
      elements: str
  sample: {"operations": ["add service tcp 192.0.2.100:80", "add dest tcp 192.0.2.100:80 realserver 198.51.100.11:80"]}
'''

import glob
import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

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

SYS_MODULE = "/sys/module"
SYSTEMD_RUNTIME = "/run/systemd/system"
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
    if os.path.isdir(SYSTEMD_RUNTIME):
        return "systemd"
    for name in ("update-rc.d", "chkconfig"):
        if host.module.get_bin_path(name):
            return name
    raise LVSError("services: no service manager found (systemd, update-rc.d, chkconfig) to enable %s at boot"
                   % ", ".join(s["name"] for s in host.module.params["services"]))


def service_enabled(host, manager, name):
    if manager == "systemd":
        rc = host.module.run_command([host.tool("systemctl", "services"), "-q", "is-enabled", name + ".service"])[0]
        return rc == 0
    if manager == "update-rc.d":
        return bool(glob.glob(os.path.join(RC_DIR, "rc2.d", "S*" + name)))
    return host.module.run_command([host.tool("chkconfig", "services"), name])[0] == 0


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

    manager = service_manager(host) if services else None
    to_enable = [s["name"] for s in services if not service_enabled(host, manager, s["name"])]
    to_start = [s["name"] for s in services if s["started"] and not process_running(s["name"])]
    ipvsadm, sync_running = running_sync_daemons(host) if p["stop_sync_daemons"] else (None, [])

    # 3. Change, in order: modules, sysctls, nft, rules, routes, timeouts, services, sync daemons.
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

    enabled, started = [], []
    for service in services:
        name = service["name"]
        if name in to_enable:
            changes.append("service %s enabled at boot (%s)" % (name, manager))
            if not check:
                enable_service(host, manager, name)
            enabled.append(name)
        if name in to_start:
            changes.append("service %s started" % name)
            if not check:
                start_service(host, manager, name)
            started.append(name)
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
        "services": {"manager": manager, "enabled": enabled, "started": started},
        "sync_daemons_stopped": list(sync_running),
        "addresses": {"links_up": links_up,
                      "added": [hp.address_text(e["address"], e["prefix"], e["interface"]) for e in addr_adds],
                      "removed": [hp.address_text(e["address"], e["prefix"], n) for n, e in retired + addr_removes]},
        "ipvs_table": {"operations": [op.describe() for op in table_ops]},
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


def write_record(path, text):
    """Replace the address record atomically (its directory made when missing)."""
    directory = os.path.dirname(path)
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".lvs-record-")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())   # the record must survive a crash right after
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)        # same directory: atomic
    except (IOError, OSError) as exc:
        raise LVSError("address_record: cannot write %s: %s" % (path, exc))


class Resources(object):
    """The netlink sockets a run opens, closed when it ends however it ends."""

    def __init__(self):
        self.session = None
        self.ipr = None

    def close(self):
        for handle in (self.session, self.ipr):
            if handle is not None:
                handle.close()


def main():
    module = AnsibleModule(
        argument_spec=dict(
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
        ),
        supports_check_mode=True,
    )
    changes = []
    resources = Resources()
    try:
        try:
            result = run(module, changes, resources)
        finally:
            resources.close()
    except LVSError as exc:
        # What was changed before the failure (nothing when validation or a read failed).
        module.fail_json(msg=str(exc), changes=changes, changed=bool(changes) and not module.check_mode)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
