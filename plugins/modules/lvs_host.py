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
  - One run at a time on a host - a run (not in check mode) holds an exclusive lock on C(/run/lvs-cluster.lock)
    from its first read to its last change, and the boot program takes the same lock. A second run started
    meanwhile (two C(lvs.cluster.site) runs at once) waits for it, up to 300 s, then reads a host the first one
    has converged; after 300 s it fails naming the PID that holds the lock.
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
        O(address_record) file is reported in RV(changes) only; the O(boot.state) file gets a diff of its text, the
        O(boot.program) its file count and interpreter.
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
  boot:
    description:
      - Makes the host restore this run's state at boot, with this run's own code - writes O(boot.program), a Python
        zip application packed from lvs_host's module payload (this collection's module_utils and the ansible-core
        ones they use) for the interpreter running the module, and O(boot.state), this run's options as JSON
        (without O(services), O(stop_sync_daemons) and O(boot)). Each is written only when it differs.
      - At boot, C(PROGRAM STATE) (the C(lvs-cluster) service of the lvs.cluster roles) validates the state with
        this module's argument spec and converges the host to it, as this module would, printing one line per
        change; it never enables, starts or stops services. No Ansible is needed on the host.
      - Written before O(services) are enabled, so the boot service finds them. Left alone when omitted.
    type: dict
    suboptions:
      program:
        description: The program, e.g. V(/usr/local/lib/lvs-cluster/lvs-cluster-boot) (mode 0755).
        type: path
        required: true
      state:
        description: The state file, e.g. V(/etc/lvs-cluster/host.json) (mode 0640).
        type: path
        required: true
  services:
    description:
      - Init services to have enabled at boot, in this order, and with O(services[].started) running. Services are
        never stopped, restarted or reloaded (a keepalived restart drops every VIP; reloading a changed
        configuration is the caller's). Every service is enabled before any is started (C(systemctl enable)
        reloads systemd, which must not happen while a service just started is settling).
      - The service manager is systemd when C(/run/systemd/system) exists (C(systemctl enable NAME.service)), else
        sysv init with C(update-rc.d) (enabled when C(/etc/rc2.d/S*NAME) exists; C(update-rc.d NAME enable)
        when the init script has links already, C(update-rc.d NAME defaults) when it has none) or C(chkconfig)
        (C(chkconfig --add NAME), C(chkconfig NAME on)). A host with none fails before anything is changed.
      - On systemd, a service whose unit file changed on disk since systemd loaded it (C(NeedDaemonReload), e.g. an
        upgrade rewrote it) gets C(systemctl daemon-reload) first, so that systemd runs what the file says.
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
    reloaded:
      description: The services whose changed unit file made this run reload systemd's unit files.
      type: list
      elements: str
  sample: {"manager": "systemd", "enabled": ["lvs-cluster"], "started": ["keepalived"], "reloaded": []}
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
boot:
  description: What was done with O(boot).
  returned: always
  type: dict
  contains:
    written:
      description: The files written (O(boot.program), O(boot.state)), or that would be in check mode.
      type: list
      elements: str
  sample: {"written": ["/etc/lvs-cluster/host.json"]}
'''


from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lvs.cluster.plugins.module_utils.host_converge import ARGUMENT_SPEC, ConvergeFailed, converge


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        result = converge(module)
    except ConvergeFailed as exc:
        # What was changed before the failure (nothing when validation or a read failed).
        module.fail_json(msg=exc.msg, changes=exc.changes, changed=bool(exc.changes) and not module.check_mode)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
