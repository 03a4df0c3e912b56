# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster model: one description (lvs_services + the inventory) -> what each host does.

Pure logic, run on the controller by the cluster_plan action before any host is touched.
plan_cluster() validates the whole description and returns, per inventory host, the slice
the roles apply: the director's VIPs, IPVS rules (ipvsadm-save text), kernel modules,
sysctls and packet-marking rules; a real server's VIPs on lo (DR) or tunl0 (TUN) and its
NAT reply routes; a router's forwarding and routes. Every error names the variable path
(lvs_services[1].realservers[0].port, hostvars.rs1.lvs_address) and the fix.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import re

from ansible_collections.lvs.cluster.plugins.module_utils import host_plan as hp
from ansible_collections.lvs.cluster.plugins.module_utils import keepalived as ka
from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_model import (
    dest_key, format_service_key, normalize_address, normalize_realserver, service_key,
)
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_plan import build_wanted_service
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_rules import render_save

GROUPS = {'director': 'lvs_directors', 'realserver': 'lvs_realservers', 'router': 'lvs_routers'}
# Where every role keeps its generated files (lvs_conf_dir; lvs_plan.conf_dir).
DEFAULT_CONF_DIR = '/etc/lvs-cluster'
# Role settings named with their role's prefix; the older lvs_ names work until 0.2.0.
DEPRECATED_VARS = (
    ('lvs_director_expire_nodest_conn', 'director_expire_nodest_conn'),
    ('lvs_director_expire_quiescent_template', 'director_expire_quiescent_template'),
    ('lvs_director_conntrack', 'director_conntrack'),
    ('lvs_director_sloppy_tcp', 'director_sloppy_tcp'),
    ('lvs_director_sysctls', 'director_sysctls'),
    ('lvs_realserver_sysctl_file', 'realserver_sysctl_file'),
)

SERVICE_KEYS = ('name', 'protocol', 'address', 'port', 'fwmark', 'match', 'scheduler',
                'scheduler_flags', 'persistence_timeout', 'persistence_netmask', 'one_packet',
                'forwarding', 'realservers') + ka.SERVICE_KEYS
REALSERVER_KEYS = ('host', 'address', 'port', 'weight', 'forwarding', 'upper_threshold',
                   'lower_threshold', 'tun_type', 'tun_port', 'tun_csum')
MATCH_KEYS = ('protocol', 'address', 'ports')
FORWARDINGS = ('nat', 'dr', 'tun')
# The IPVS modules also take sctp; the cluster (keepalived checks, real-server setup,
# packet marking) is written for these.
CLUSTER_PROTOCOLS = ('tcp', 'udp', 'fwmark')

# The distribution packages a host's roles use (the same name on Debian and RHEL-family
# hosts); lvs_plan.packages lists a host's, the roles install them (lvs_install_packages).
PACKAGE_IPVSADM = 'ipvsadm'             # every director: the operator's view of the table; sync daemons
PACKAGE_NFTABLES = 'nftables'           # a director that marks fwmark traffic: nft
PACKAGE_KEEPALIVED = 'keepalived'       # a director in keepalived mode
PACKAGE_PYROUTE2 = 'python3-pyroute2'   # a host with VIPs of its own (lvs_host addresses)

# Policy-routing table and rule priority a NAT real server's replies use (see realserver role).
NAT_TABLE = 240
NAT_RULE_PRIORITY = 31000

# The director's net.ipv4.vs.* settings: (role variable, sysctl key, default). The role
# defaults (roles/director/defaults) give the same defaults; the action passes the values.
# director-sysctl.conf.j2 says why each one is set.
DIRECTOR_SETTINGS = (
    ('director_expire_nodest_conn', 'net.ipv4.vs.expire_nodest_conn', 1),
    ('director_expire_quiescent_template', 'net.ipv4.vs.expire_quiescent_template', 1),
    ('director_conntrack', 'net.ipv4.vs.conntrack', 0),
)
# Only in keepalived mode (mid-stream pick-up after a failover).
DIRECTOR_HA_SETTING = ('director_sloppy_tcp', 'net.ipv4.vs.sloppy_tcp', 1)
# The boot service every host gets (BOOT_PROGRAM STATE: lvs_host's code restoring
# conf_dir/BOOT_STATE, module_utils/host_boot.py), the kernel modules the OS loads at boot
# before it applies sysctl.d (MODULES_LOAD_FILE), and the file the director's nft table is
# loaded from (conf_dir/NFT_RULESET).
BOOT_SERVICE = 'lvs-cluster'
BOOT_PROGRAM = '/usr/local/lib/lvs-cluster/lvs-cluster-boot'
BOOT_STATE = 'host.json'
MODULES_LOAD_FILE = '/etc/modules-load.d/lvs-cluster.conf'
# Files of conf_dir that releases before 0.2.0 wrote and nothing reads now (the boot script
# and the static table it restored with ipvsadm-restore): removed by the files step.
RETIRED_FILES = ('lvs-cluster.sh', 'ipvs.rules')
NFT_RULESET = 'fwmark.nft'
# Where lvs_host records the VIPs it put up on a host, so that a VIP taken out of
# lvs_services is removed by the next run and no address it did not put up ever is.
ADDRESS_RECORD = '/var/lib/lvs-cluster/addresses.json'
# A DR or TUN real server's ARP suppression and tunl0's rp_filter persist here.
DEFAULT_REALSERVER_SYSCTL_FILE = '/etc/sysctl.d/90-lvs-realserver.conf'
# DR and TUN real servers never answer ARP for a VIP (seed 003): arp_ignore 1 answers only
# for addresses of the receiving interface, arp_announce 2 never sources ARP from the VIP;
# the kernel uses the larger of all's value and the interface's, so all gets them too.
REALSERVER_ARP = (('arp_ignore', '1'), ('arp_announce', '2'))

_IFNAME = re.compile(r'^[A-Za-z0-9_.-]{1,15}$')


class ClusterError(Exception):
    """Every problem found in the description, one per line."""

    def __init__(self, errors):
        self.errors = list(errors)
        super(ClusterError, self).__init__('\n'.join(self.errors))


class _Errors(object):
    def __init__(self):
        self.items = []

    def add(self, path, text):
        self.items.append('%s: %s' % (path, text))


def _interface_address(value, path, errors):
    """hostvars.X.lvs_address: an address with its prefix (192.0.2.11/24)."""
    if value is None or str(value).strip() == '':
        errors.add(path, 'missing: set the host\'s address on the cluster network with its '
                   'prefix, e.g. lvs_address: 192.0.2.11/24')
        return None
    text = str(value).strip()
    if '/' not in text:
        errors.add(path, '%r has no prefix length; write it as the interface has it, e.g. %s/24'
                   % (value, text))
        return None
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        errors.add(path, '%r is not an address with prefix (e.g. 192.0.2.11/24)' % (value,))
        return None
    if iface.network.prefixlen == iface.max_prefixlen:
        errors.add(path, '%s is a single host; give the prefix of its segment (e.g. /24) so '
                   'segments can be checked' % text)
        return None
    return iface


def _vip(value, path, errors):
    """A fwmark match's VIP, through the modules' own address validation."""
    try:
        text = normalize_address(value, path)[1]
    except LVSError as exc:
        errors.items.append('%s (the VIP to mark)' % exc)
        return None
    address = ipaddress.ip_address(text)
    if address.is_loopback:
        errors.add(path, '%s is not a usable VIP (loopback)' % address)
        return None
    return address


def _port(value, path, errors, low=1):
    if isinstance(value, bool) or not isinstance(value, int) and not str(value).isdigit():
        errors.add(path, '%r is not a port number (%d..65535)' % (value, low))
        return None
    port = int(value)
    if port < low or port > 65535:
        errors.add(path, '%d is out of range, use %d..65535' % (port, low))
        return None
    return port


def _unknown_keys(item, known, path, errors):
    for key in sorted(set(item) - set(known), key=str):
        errors.add('%s.%s' % (path, key), 'unknown key; use one of %s' % ', '.join(known))


class _Host(object):
    def __init__(self, name, hostvars, groups, errors):
        self.name = name
        self.roles = [role for role, group in GROUPS.items() if name in groups.get(group, ())]
        hv = hostvars.get(name) or {}
        if not isinstance(hv, dict):
            errors.add('hostvars.%s' % name, 'expected the host\'s variables (a mapping)')
            hv = {}
        self.vip_interface = hv.get('lvs_vip_interface') or 'eth0'
        # The interface holding lvs_address: VRRP and connection sync run there.
        self.interface = hv.get('lvs_interface') or self.vip_interface
        for key, value in (('lvs_vip_interface', self.vip_interface),
                           ('lvs_interface', self.interface)):
            if not _IFNAME.match(str(value)):
                errors.add('hostvars.%s.%s' % (name, key),
                           '%r is not an interface name (as ip link shows it, e.g. eth0)' % (value,))
        self.vrrp_priority = hv.get('lvs_vrrp_priority')
        # Real servers and directors need an address; a router's is optional (it only
        # decides which VIPs need a route); hosts outside the cluster groups have none.
        raw = hv.get('lvs_address')
        self.address = None
        if self.roles and (self.roles != ['router'] or raw is not None):
            self.address = _interface_address(raw, 'hostvars.%s.lvs_address' % name, errors)


def _service_path(index):
    return 'lvs_services[%d]' % index


def _check_match(svc, path, errors):
    """A fwmark service's match: what the director marks (protocol, VIP, ports)."""
    match = svc.get('match')
    if not isinstance(match, dict):
        errors.add(path + '.match', 'a fwmark service needs the traffic it marks, e.g. '
                   'match: {protocol: tcp, address: 192.0.2.100, ports: [80, 443]}')
        return None
    _unknown_keys(match, MATCH_KEYS, path + '.match', errors)
    protocol = match.get('protocol', 'tcp')
    if protocol not in ('tcp', 'udp'):
        errors.add(path + '.match.protocol', '%r is not tcp or udp' % (protocol,))
        return None
    vip = _vip(match.get('address'), path + '.match.address', errors)
    ports = match.get('ports')
    if not isinstance(ports, list) or not ports:
        errors.add(path + '.match.ports', 'a list of one or more ports is needed, e.g. [80, 443]')
        return None
    good = []
    for i, port in enumerate(ports):
        number = _port(port, '%s.match.ports[%d]' % (path, i), errors)
        if number is not None and number in good:
            errors.add('%s.match.ports[%d]' % (path, i), 'port %d is listed twice' % number)
        elif number is not None:
            good.append(number)
    if vip is None or len(good) != len(ports):
        return None
    return {'protocol': protocol, 'address': str(vip), 'family': 'ipv%d' % vip.version,
            'ports': sorted(good)}


def _module_entry(svc, forwarding, servers):
    """The service in ipvs_table's option names, for the shared IPVS validation."""
    entry = dict((k, svc[k]) for k in ('protocol', 'address', 'port', 'fwmark', 'scheduler',
                                       'scheduler_flags', 'persistence_timeout',
                                       'persistence_netmask', 'one_packet') if k in svc)
    entry['realservers'] = [dict(s, forwarding=s.get('forwarding') or forwarding) for s in servers]
    return entry


def plan_cluster(services, hostvars, groups, keepalived=None, settings=None):
    """Validate the description and return {host: plan}; raise ClusterError listing every
    problem.

    SERVICES is lvs_services; HOSTVARS maps every inventory host to its variables (only
    lvs_address, lvs_vip_interface, lvs_interface and lvs_vrrp_priority are read); GROUPS
    maps group names to host lists (lvs_directors, lvs_realservers, lvs_routers), in
    inventory order (the directors' order gives their VRRP priorities); KEEPALIVED is
    lvs_keepalived (HA settings; on by itself for two or more directors). SETTINGS holds
    the variables that shape every host's runtime state (the action reads them):
    lvs_conf_dir, lvs_ipvs_timeouts, and the director role's director_* sysctl settings
    (DIRECTOR_SETTINGS, director_sysctls); what is left out takes its default.
    """
    errors = _Errors()
    host_settings = _host_settings(settings or {}, errors)
    hosts = dict((name, _Host(name, hostvars, groups, errors)) for name in sorted(hostvars))
    order = [n for n in groups.get(GROUPS['director'], ()) if n in hosts]
    unordered = [n for n in sorted(hosts) if 'director' in hosts[n].roles and n not in order]
    directors = [hosts[n] for n in order + unordered]
    for group in GROUPS.values():
        for name in groups.get(group, ()):
            if name not in hosts:
                errors.add('groups.%s' % group, 'host %s has no variables (not in the inventory?)'
                           % name)

    if services is None:
        services = []
    if not isinstance(services, list):
        errors.add('lvs_services', 'must be a list of services, got %s' % type(services).__name__)
        services = []
    if services and not directors:
        errors.add('groups.lvs_directors', 'no director: put the host that balances the '
                   'services in the lvs_directors group')
    ha = ka.settings(keepalived, directors, errors)
    prios = ka.priorities(directors, errors) if ha else {}
    if ha:
        ka.check_track_weights(ha, prios, errors)

    planned = []          # (index, normalized service, vip text or None, match, servers)
    virtual_servers = {}  # index -> keepalived virtual_server (keepalived mode)
    seen_keys = {}
    marked = {}           # (protocol, vip, port) -> fwmark service index
    for index, svc in enumerate(services):
        path = _service_path(index)
        if not isinstance(svc, dict):
            errors.add(path, 'each service is a mapping (protocol, address, port, realservers...)')
            continue
        _unknown_keys(svc, SERVICE_KEYS, path, errors)
        # Every problem of the service is listed: a broken part is reported and the
        # independent parts are still checked; a broken service is then left out.
        broken = False
        forwarding = svc.get('forwarding') or 'dr'
        if forwarding not in FORWARDINGS:
            errors.add(path + '.forwarding', '%r is not one of nat, dr, tun' % (forwarding,))
            broken, forwarding = True, 'dr'   # the real servers are checked as for dr
        protocol = svc.get('protocol') or 'tcp'
        if protocol not in CLUSTER_PROTOCOLS:
            why = (': lvs_services does not carry SCTP services (the lvs.cluster.ipvs_* modules do)'
                   if protocol == 'sctp' else '')
            errors.add(path + '.protocol', '%r is not one of %s%s' % (protocol, ', '.join(CLUSTER_PROTOCOLS), why))
            broken, protocol = True, None
        match = None
        if protocol == 'fwmark':
            match = _check_match(svc, path, errors)
        elif 'match' in svc and protocol is not None:
            errors.add(path + '.match', 'only a fwmark service has a match; set protocol: fwmark '
                       'and fwmark: N, or remove match')
        servers = svc.get('realservers')
        if servers is None:
            servers = []
        if not isinstance(servers, list):
            errors.add(path + '.realservers', 'must be a list of real servers')
            broken, servers = True, []
        resolved = []
        for rindex, server in enumerate(servers):
            rpath = '%s.realservers[%d]' % (path, rindex)
            resolved.append(_resolve_server(server, rpath, hosts, errors))
        if protocol is None:
            continue    # the IPVS checks below need a protocol the cluster carries
        entry = _module_entry(svc, forwarding, [])
        if match is not None:
            entry['family'] = match['family']
        try:
            wanted = build_wanted_service(entry, path + '.')
        except LVSError as exc:
            # The IPVS validation names the field already (lvs_services[i].x: problem).
            errors.items.append(str(exc))
            continue
        # Each real server on its own (as build_wanted_service would, without stopping at
        # the first); realservers keeps the listed order.
        for rindex, res in enumerate(resolved):
            if res is None:
                broken = True
                continue
            server = dict(res['entry'], forwarding=res['entry'].get('forwarding') or forwarding)
            rprefix = '%s.realservers[%d].' % (path, rindex)
            try:
                dest = normalize_realserver(server, wanted, rprefix)
            except LVSError as exc:
                errors.items.append(str(exc))
                broken = True
                continue
            if dest_key(dest) in wanted['realservers']:
                errors.items.append('%saddress: %s port %d is listed twice'
                                    % (rprefix, dest['address'], dest['port']))
                broken = True
                continue
            wanted['realservers'][dest_key(dest)] = res['dest'] = dest
        if broken:
            continue
        key = service_key(wanted)
        if key in seen_keys:
            errors.add(path, '%s is also lvs_services[%d]; one entry per service'
                       % (format_service_key(key), seen_keys[key]))
            continue
        seen_keys[key] = index
        vip = match['address'] if match else wanted['address']
        if match:
            if wanted['family'] != match['family']:
                errors.add(path + '.match.address', 'family differs from the service')
            for port in match['ports']:
                mkey = (match['protocol'], vip, port)
                if mkey in marked:
                    errors.add(path + '.match.ports', '%s %s:%d is already marked by '
                               'lvs_services[%d]' % (mkey[0], vip, port, marked[mkey]))
                marked[mkey] = index
        virtual_servers[index] = ka.virtual_server(svc, wanted, match, path, errors, ha is not None)
        planned.append((index, wanted, vip, match, resolved))

    _check_addresses(planned, hosts, directors, errors, ha)
    # A port both served directly and through a fwmark service: the mark wins in the kernel,
    # so the plain service would never see a packet.
    for index, wanted, vip, match, resolved in planned:
        if not match and (wanted['protocol'], vip, wanted['port']) in marked:
            errors.add(_service_path(index), '%s %s:%d is also marked by lvs_services[%d]; the '
                       'fwmark service would take all its packets: remove one'
                       % (wanted['protocol'], vip, wanted['port'],
                          marked[(wanted['protocol'], vip, wanted['port'])]))
    if errors.items:
        raise ClusterError(errors.items)
    plans = _build_plans(planned, hosts, directors, ha, prios, virtual_servers)
    for plan in plans.values():
        plan['conf_dir'] = host_settings['conf_dir']
        _runtime_plan(plan, host_settings)
    return plans


def _host_settings(settings, errors):
    """The SETTINGS of plan_cluster validated: {conf_dir, director: [(key, value)],
    director_ha: (key, value), director_sysctls: {key: value}, ipvs_timeouts}; each
    problem is named by its variable."""
    out = {'conf_dir': settings.get('lvs_conf_dir') or DEFAULT_CONF_DIR, 'director': []}
    if not isinstance(out['conf_dir'], str) or not out['conf_dir'].startswith('/'):
        errors.add('lvs_conf_dir', '%r is not an absolute path; the default is %s'
                   % (out['conf_dir'], DEFAULT_CONF_DIR))
        out['conf_dir'] = DEFAULT_CONF_DIR
    for var, key, default in DIRECTOR_SETTINGS + (DIRECTOR_HA_SETTING,):
        value = settings.get(var)
        if value is None:
            value = default
        if isinstance(value, bool) or not re.match(r'^[0-9]+$', str(value).strip()):
            errors.add(var, '%r is not a number; %s takes 0 or 1 (default %d)' % (value, key, default))
            value = default
        entry = (key, str(int(str(value).strip())))
        if var == DIRECTOR_HA_SETTING[0]:
            out['director_ha'] = entry
        else:
            out['director'].append(entry)
    extra = settings.get('director_sysctls')
    if extra is None:
        extra = {}
    if not isinstance(extra, dict):
        errors.add('director_sysctls', 'must be a mapping of sysctl key to value, e.g. '
                   '{net.core.somaxconn: 4096}')
        extra = {}
    path = settings.get('realserver_sysctl_file') or DEFAULT_REALSERVER_SYSCTL_FILE
    # The role writes the file whole: a directory sysctl.d reads, and a file of its own
    # (never /etc/sysctl.conf, another role's file, or one of the user's own by accident).
    if not isinstance(path, str) or not re.match(r'^/([^/]+/)*sysctl\.d/[^/]+\.conf$', path) \
            or path.rsplit('/', 1)[1] in ('90-lvs-director.conf', '90-lvs-router.conf'):
        errors.add('realserver_sysctl_file', '%r is not a file of its own in a sysctl.d directory (the role '
                   'writes it whole; sysctl.d reads only *.conf); the default is %s'
                   % (path, DEFAULT_REALSERVER_SYSCTL_FILE))
        path = DEFAULT_REALSERVER_SYSCTL_FILE
    out['realserver_sysctl_file'] = path
    out['director_sysctls'] = {}
    for key in sorted(extra, key=str):
        try:
            hp.validate_sysctls({key: extra[key]}, field='director_sysctls')
        except LVSError as exc:
            errors.items.append(str(exc))
            continue
        out['director_sysctls'][key] = ' '.join(str(extra[key]).split())
    timeouts = settings.get('lvs_ipvs_timeouts')
    out['ipvs_timeouts'] = None
    if timeouts is not None:
        if not isinstance(timeouts, dict):
            errors.add('lvs_ipvs_timeouts', 'must be a mapping with tcp, tcpfin and/or udp in '
                       'seconds, e.g. {tcp: 900, tcpfin: 120, udp: 300}')
        else:
            unknown = sorted(set(timeouts) - set(('tcp', 'tcpfin', 'udp')), key=str)
            for name in unknown:
                errors.add('lvs_ipvs_timeouts.%s' % name, 'unknown timeout; the timeouts are tcp, '
                           'tcpfin and udp (seconds)')
            try:
                if not unknown:
                    out['ipvs_timeouts'] = hp.validate_timeouts(timeouts, field='lvs_ipvs_timeouts')
            except LVSError as exc:
                errors.items.append(str(exc) + ' (seconds; leave a timeout out to keep the kernel\'s)')
    return out


def _runtime_plan(plan, settings):
    """PLAN['host']: the runtime state lvs_host converges on the host, for all its roles at
    once (the roles feed it to lvs.cluster.lvs_host as it is), and each role's sysctl.d
    values (PLAN['director'|'router'|'realserver']['sysctls'], what its file holds, in
    file order; the real server's file is PLAN['realserver']['sysctl_file'])."""
    director = plan.get('director')
    realserver = plan.get('realserver')
    router = plan.get('router')
    sysctls = {}
    modules = []
    host = {'nft_table': None, 'nat_routing': None, 'routes': [], 'ipvs_timeouts': None,
            'ipvs_table': None, 'services': [], 'stop_sync_daemons': False, 'boot': None}
    if router is not None:
        router['sysctls'] = {'net.ipv4.ip_forward': '1'}
        if router['ipv6']:
            router['sysctls']['net.ipv6.conf.all.forwarding'] = '1'
        if router['rp_filter'] is not None:
            router['sysctls']['net.ipv4.conf.all.rp_filter'] = str(router['rp_filter'])
            router['sysctls']['net.ipv4.conf.default.rp_filter'] = str(router['rp_filter'])
        host['routes'] = [dict(r) for r in router['routes']]
    if director is not None:
        values = {}
        if director['nat']:
            values['net.ipv4.ip_forward'] = '1'
            if director['ipv6']:
                values['net.ipv6.conf.all.forwarding'] = '1'
        values.update(settings['director'])
        keepalived = director.get('keepalived')
        if keepalived is not None:
            values[settings['director_ha'][0]] = settings['director_ha'][1]
        values.update(settings['director_sysctls'])
        director['sysctls'] = values
        modules.extend(director['kernel_modules'])
        # No fwmark service: a table left by an earlier one is deleted.
        host['nft_table'] = ({'state': 'present', 'ruleset': '%s/%s' % (settings['conf_dir'], NFT_RULESET)}
                             if director['fwmarks'] else {'state': 'absent'})
        host['ipvs_timeouts'] = settings['ipvs_timeouts']
        if keepalived is not None:
            # Enabled at boot and started when not running; a changed keepalived.conf is
            # the role's reload handler's (never a restart: that drops every VIP).
            host['services'].append({'name': 'keepalived', 'started': True})
            # keepalived 2.2.7 keeps the kernel's sync daemons when a reload turns sync off.
            host['stop_sync_daemons'] = not keepalived['sync_daemon']
    addresses = []
    if director is not None and director.get('keepalived') is None:
        # Static: the VIPs and the table are ours (keepalived's otherwise).
        addresses.extend(dict(v, up=False) for v in director['vips'])
        host['ipvs_table'] = {'rules': director['rules'], 'purge': True}
    if realserver is not None:
        values = {}
        if realserver['dr_vips'] or realserver['tun_vips']:
            for name in ['all'] + realserver['arp_interfaces']:
                for leaf, value in REALSERVER_ARP:
                    values['net.ipv4.conf.%s.%s' % (name, leaf)] = value
        if realserver['tun_vips']:
            # Decapsulated packets arrive on tunl0 with the client's source: strict or
            # loose reverse-path filtering drops them (the larger of all and tunl0 counts).
            values['net.ipv4.conf.all.rp_filter'] = '0'
            values['net.ipv4.conf.tunl0.rp_filter'] = '0'
        realserver['sysctls'] = values
        realserver['sysctl_file'] = settings['realserver_sysctl_file']
        taken = set(a['address'] for a in addresses)
        for vip in realserver['dr_vips']:
            if vip not in taken:
                addresses.append({'address': vip, 'prefix': 128 if ':' in vip else 32, 'interface': 'lo',
                                  'up': False})
        for vip in realserver['tun_vips']:
            if vip not in taken:
                addresses.append({'address': vip, 'prefix': 32, 'interface': 'tunl0', 'up': True})
        if realserver['tun_vips'] and 'ipip' not in modules:
            modules.append('ipip')
        # Every real server: rules at the collection's priority that no reply needs go.
        host['nat_routing'] = {'table': realserver['nat_table'], 'priority': realserver['nat_priority'],
                               'replies': [dict(r) for r in realserver['nat_replies']]}
    # In the order of the files (90-lvs-director.conf, 90-lvs-realserver.conf by default,
    # 90-lvs-router.conf), as systemd-sysctl and procps read them: the later wins.
    for role in (director, realserver, router):
        if role is not None:
            sysctls.update(role['sysctls'])
    host['kernel_modules'] = modules
    host['sysctls'] = sysctls
    host['addresses'] = addresses
    # Every host of the cluster: one that had a VIP and has none now loses it. A keepalived
    # director's VIPs are keepalived's, never removed by lvs_host (released from the record).
    host['address_record'] = {'path': ADDRESS_RECORD,
                              'release': list((director or {}).get('keepalived_vips', []))}
    if plan['roles']:
        # What a reboot loses, restored by the boot service: lvs_host writes its program
        # and this state (lvs_host's options); modules-load.d loads the kernel modules first.
        host['boot'] = {'program': BOOT_PROGRAM, 'state': '%s/%s' % (settings['conf_dir'], BOOT_STATE)}
        host['services'].append({'name': BOOT_SERVICE, 'started': False})
        plan['boot'] = {'service': BOOT_SERVICE, 'modules_load_file': MODULES_LOAD_FILE,
                        'retired_files': ['%s/%s' % (settings['conf_dir'], name) for name in RETIRED_FILES]}
    plan['host'] = host


def _resolve_server(server, rpath, hosts, errors):
    if not isinstance(server, dict):
        errors.add(rpath, 'each real server is a mapping: {host: rs1} or {address: 192.0.2.50}')
        return None
    _unknown_keys(server, REALSERVER_KEYS, rpath, errors)
    has_host, has_address = server.get('host') is not None, server.get('address') is not None
    if has_host == has_address:
        errors.add(rpath, 'name the real server by exactly one of host (an inventory host) or '
                   'address (a server this inventory does not manage)')
        return None
    entry = dict((k, v) for k, v in server.items() if k != 'host')
    host = None
    if has_host:
        name = server['host']
        if name not in hosts:
            errors.add(rpath + '.host', '%r is not an inventory host; add it to lvs_realservers '
                       'or name it by address' % (name,))
            return None
        host = hosts[name]
        if 'realserver' not in host.roles:
            errors.add(rpath + '.host', '%s is not in the lvs_realservers group, so nothing would '
                       'set its VIP; add it there' % name)
            return None
        if host.address is None:     # already reported as hostvars.NAME.lvs_address
            return None
        entry['address'] = str(host.address.ip)
    return {'entry': entry, 'host': host}


def _nat_gateway(directors, ha):
    """The address NAT real servers send their replies to: the director's own, or with
    several directors the gateway VIP keepalived moves with the client VIPs."""
    if ha and ha['nat_gateway'] is not None:
        return ha['nat_gateway']
    if len(directors) == 1 and directors[0].address is not None:
        return directors[0].address.ip
    return None


def _check_addresses(planned, hosts, directors, errors, ha):
    host_addresses = dict((str(h.address.ip), h.name) for h in hosts.values() if h.address)
    gateway = _nat_gateway(directors, ha)
    vips = set(p[2] for p in planned)
    if ha and ha['nat_gateway'] is not None:
        where = str(ha['nat_gateway'])
        if where in host_addresses or where in vips:
            errors.add('lvs_keepalived.nat_gateway', '%s is already %s; the gateway is an address '
                       'of its own' % (where, 'host %s\'s address' % host_addresses[where]
                                       if where in host_addresses else 'a service VIP'))
        for d in directors:
            if d.address is not None and ha['nat_gateway'] not in d.address.network:
                errors.add('lvs_keepalived.nat_gateway', '%s is not on %s\'s segment %s (hostvars.'
                           '%s.lvs_address): the gateway VIP goes up on lvs_interface, beside '
                           'lvs_address' % (where, d.name, d.address.network, d.name))
    forwarding_of = {}    # (server address, vip) -> (forwarding, path)
    nat_needs_gateway = None
    for index, wanted, vip, match, resolved in planned:
        path = _service_path(index)
        if vip in host_addresses:
            errors.add(path + ('.match.address' if match else '.address'),
                       '%s is the address of host %s; a VIP must be an address of its own'
                       % (vip, host_addresses[vip]))
        for rindex, res in enumerate(resolved):
            rpath = '%s.realservers[%d]' % (path, rindex)
            dest = res['dest']
            fwd = dest['forwarding']
            if match and wanted['persistence_timeout'] and dest['port']:
                # ip_vs_sched_persist() forwards to the port the client asked for: the real
                # server's port is ignored, so a "mapped" port would silently not be.
                errors.add(rpath + '.port', 'a persistent fwmark service sends each connection to '
                           'the port the client asked for (the kernel ignores a real server port): '
                           'remove port and let the real server listen on match.ports')
            if fwd == 'nat' and wanted['family'] == 'ipv6' and res['host'] is not None:
                errors.add(rpath + '.forwarding', 'NAT reply routing is IPv4 only here; use dr for '
                           'an IPv6 VIP, or name the real server by address and route it yourself')
            if fwd == 'tun' and res['host'] is not None and dest.get('tun_type') not in (None, 'ipip'):
                errors.add(rpath + '.tun_type', 'the realserver role sets up ipip (tunl0) only; for %s '
                           'name the real server by address and set up its decapsulation yourself'
                           % dest['tun_type'])
            if fwd == 'tun' and wanted['family'] == 'ipv6':
                errors.add(rpath + '.forwarding', 'tun carries IPv4 only here (ipip); use dr or nat '
                           'for an IPv6 VIP')
            prev = forwarding_of.get((dest['address'], vip))
            if prev and prev[0] != fwd:
                errors.add(rpath + '.forwarding', '%s here but %s in %s for the same real server and '
                           'VIP; a real server takes one forwarding method per VIP'
                           % (fwd, prev[0], prev[1]))
            forwarding_of.setdefault((dest['address'], vip), (fwd, rpath))
            rs_ip = ipaddress.ip_address(dest['address'])
            for director in directors:
                if director.address is None:
                    continue
                if fwd == 'dr' and rs_ip.version == director.address.version \
                        and rs_ip not in director.address.network:
                    errors.add(rpath, 'DR: %s is not on the director\'s segment %s (hostvars.%s.'
                               'lvs_address); DR rewrites only the MAC, so director and real '
                               'server share a segment: use tun across routers' %
                               (rs_ip, director.address.network, director.name))
            if fwd != 'nat' or res['host'] is None or res['host'].address is None:
                continue
            if gateway is None:
                nat_needs_gateway = nat_needs_gateway or rpath
            elif gateway not in res['host'].address.network:
                errors.add(rpath, 'NAT: the gateway %s is not on %s\'s segment %s, so its replies '
                           'cannot be routed back through the director: %s'
                           % (gateway, res['host'].name, res['host'].address.network,
                              'set lvs_keepalived.nat_gateway on that segment' if len(directors) > 1
                              else 'put the director\'s inside address in hostvars.%s.lvs_address'
                              % directors[0].name if directors else ''))
    if nat_needs_gateway and len(directors) > 1:
        errors.add('lvs_keepalived.nat_gateway', 'missing: NAT real servers (%s) send replies '
                   'through the director, and with %d directors that is a VIP keepalived moves: '
                   'set an unused address on the real servers\' segment, e.g. nat_gateway: '
                   '198.51.100.1' % (nat_needs_gateway, len(directors)))
    if len(directors) > 1:
        for name, host in sorted(hosts.items()):
            if 'router' in host.roles and host.address is not None and any(
                    ipaddress.ip_address(p[2]) not in host.address.network for p in planned):
                errors.add('hostvars.%s' % name, 'a router would route the VIPs to one director; '
                           'with keepalived they move: route them yourself to an address both '
                           'directors share (not built yet), or put the router on the VIPs\' segment')


def _build_plans(planned, hosts, directors, ha, prios, virtual_servers):
    plans = dict((name, {'roles': sorted(h.roles)}) for name, h in hosts.items())
    services = [p[1] for p in planned]
    gateway = _nat_gateway(directors, ha)
    for d in directors:
        vips, seen = [], set()
        for index, wanted, vip, match, resolved in planned:
            if vip not in seen:
                seen.add(vip)
                vips.append({'address': vip, 'prefix': 32 if ':' not in vip else 128,
                             'interface': d.vip_interface})
        schedulers = sorted(set(s['scheduler'] for s in services))
        plans[d.name]['director'] = {
            'vips': vips,
            'rules': render_save(services),
            'kernel_modules': ['ip_vs'] + ['ip_vs_' + s for s in schedulers],
            'nat': any(dest['forwarding'] == 'nat' for s in services
                       for dest in s['realservers'].values()),
            'ipv6': any(s['family'] == 'ipv6' for s in services),
            'fwmarks': [dict(match, fwmark=wanted['fwmark'])
                        for index, wanted, vip, match, resolved in planned if match],
            'address': str(d.address.ip) if d.address else None,
        }
        if ha:
            conf = ka.director_conf(ha, d, directors, prios, vips,
                                    [virtual_servers[p[0]] for p in planned])
            # keepalived owns the VIPs and the table: nothing for lvs_host. The rules stay
            # the declared table (the roles apply them only without keepalived).
            plans[d.name]['director'].update(keepalived=conf, vips=[],
                                             keepalived_vips=[v['address'] for v in vips])
    for index, wanted, vip, match, resolved in planned:
        for res in resolved:
            host = res['host']
            if host is None:
                continue
            rs = plans[host.name].setdefault('realserver', {'dr_vips': [], 'tun_vips': [],
                                                            'nat_replies': []})
            dest = res['dest']
            fwd = dest['forwarding']
            if fwd in ('dr', 'tun'):
                bucket = rs['%s_vips' % fwd]
                if vip not in bucket:
                    bucket.append(vip)
            else:
                # Port 0: the real server answers from the port the client asked for
                # (fwmark: the match's ports; a port-0 service: every port, no sport).
                ports = [dest['port']] if dest['port'] else (match['ports'] if match else [0])
                protocol = match['protocol'] if match else wanted['protocol']
                for port in ports:
                    reply = {'from': str(host.address.ip), 'protocol': protocol, 'port': port,
                             'via': str(gateway)}
                    if reply not in rs['nat_replies']:
                        rs['nat_replies'].append(reply)
    for name, host in hosts.items():
        if 'realserver' in host.roles:
            rs = plans[name].setdefault('realserver', {'dr_vips': [], 'tun_vips': [],
                                                       'nat_replies': []})
            rs['arp_interfaces'] = ['lo'] + (['tunl0'] if rs['tun_vips'] else [])
            rs['nat_table'] = NAT_TABLE
            rs['nat_priority'] = NAT_RULE_PRIORITY
        if 'router' in host.roles:
            plans[name]['router'] = _router_plan(host, planned, directors)
        plans[name]['packages'] = host_packages(plans[name])
    return plans


def host_packages(plan):
    """The distribution packages the roles of a host's PLAN use, sorted; nothing else.

    A static director's lvs_host run (and its boot service) puts its VIPs up (pyroute2); a
    keepalived director leaves VIPs and table to keepalived (no pyroute2), and uses ipvsadm
    to stop the kernel's connection sync daemons when sync is turned off (keepalived's
    reload leaves them running; Debian's keepalived recommends ipvsadm too); every director
    gets ipvsadm, the operator's view of its table (ipvsadm -Ln). nft marks fwmark traffic (a NAT director's
    forwarding and a NAT real server's reply routes are sysctls and ip rules: iproute2).
    DR and TUN real servers' lvs_host run puts the VIP up on lo or tunl0 (pyroute2); a
    NAT-only real server and a router have no VIP."""
    packages = set()
    director = plan.get('director')
    if director is not None:
        packages.add(PACKAGE_IPVSADM)
        if director.get('keepalived') is not None:
            packages.add(PACKAGE_KEEPALIVED)
        if director['vips']:
            packages.add(PACKAGE_PYROUTE2)
        if director['fwmarks']:
            packages.add(PACKAGE_NFTABLES)
    realserver = plan.get('realserver')
    if realserver is not None and (realserver['dr_vips'] or realserver['tun_vips']):
        packages.add(PACKAGE_PYROUTE2)
    return sorted(packages)


def _router_plan(host, planned, directors):
    """A router between clients and the cluster forwards; a VIP outside its own segment is
    routed to the director; with DR or TUN, replies carry the VIP as source from another
    segment, so reverse-path filtering must be loose."""
    routes = []
    director = directors[0] if directors else None
    for index, wanted, vip, match, resolved in planned:
        vip_ip = ipaddress.ip_address(vip)
        if host.address is not None and director is not None and director.address is not None \
                and vip_ip not in host.address.network:
            route = {'to': '%s/%d' % (vip, vip_ip.max_prefixlen), 'via': str(director.address.ip)}
            if route not in routes:
                routes.append(route)
    direct = any(d['forwarding'] in ('dr', 'tun') for p in planned for d in p[1]['realservers'].values())
    return {'routes': routes, 'rp_filter': 2 if direct else None,
            'ipv6': any(p[1]['family'] == 'ipv6' for p in planned)}
