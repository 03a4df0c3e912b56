# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The read-only host check of the roles (lvs.cluster.host_check): what a host lacks.

check() reads a host's plan (lvs_plan: its roles, packages, kernel modules, interfaces)
and asks a Probe about the host; it returns one "missing: ... (the fix)" line per
problem and the packages the roles will install instead of reporting them. Standard
library only: it runs before anything is installed, under the interpreter Ansible uses
for the host (so pyroute2 is looked for where the modules will look for it).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import importlib
import os
import sys

# The pyroute2 the rtnetlink modules (lvs_vip, ipip_tunnel) work with: Debian 12's
# python3-pyroute2 (0.7.2) up to PyPI's 0.9 line (module_utils/base.py).
PYROUTE2_FLOOR = (0, 7, 2)
PYROUTE2_CEILING = (0, 10)
PYROUTE2_SPEC = 'pyroute2>=0.7.2,<0.10'

# Per package: the command that shows it is there (pyroute2: the import) and why the
# host needs it (cluster.host_packages decides which host gets which).
PACKAGES = {
    'ipvsadm': ('ipvsadm', "the operator's view of the table; it stops the sync daemons"),
    'nftables': ('nft', 'fwmark services mark packets with nftables'),
    'keepalived': ('keepalived', 'it owns the VIPs and the table on HA directors'),
    'python3-pyroute2': (None, 'lvs_vip and ipip_tunnel speak rtnetlink through it'),
}
# Where systemd runs, it made this directory at boot (sd_booted()).
SYSTEMD_RUNTIME = '/run/systemd/system'
# Distribution families whose package manager the roles drive, by os-release ID/ID_LIKE.
FAMILIES = (
    (('debian', 'ubuntu'), ('apt-get',), 'apt'),
    (('rhel', 'fedora', 'centos'), ('dnf',), 'dnf'),
)


def version_tuple(text):
    parts = []
    for part in str(text).split('.')[:3]:
        digits = ''
        for char in part:
            if not char.isdigit():
                break
            digits += char
        if digits == '':
            break
        parts.append(int(digits))
    return tuple(parts)


def pyroute2_version():
    """The version of the pyroute2 this interpreter imports: None when it has none,
    'unknown' when it has one without metadata."""
    try:
        from importlib import util as importlib_util
        if importlib_util.find_spec('pyroute2') is None:
            return None
    except (ImportError, ValueError):
        return None
    try:
        from importlib.metadata import version
        return version('pyroute2')
    except Exception:   # no importlib.metadata (Python < 3.8), or no metadata
        pass
    try:
        return getattr(importlib.import_module('pyroute2'), '__version__', 'unknown')
    except Exception:
        return None


def os_release(path='/etc/os-release'):
    """{KEY: value} of os-release (empty when unreadable)."""
    values = {}
    try:
        with open(path) as handle:
            for line in handle:
                key, sep, value = line.strip().partition('=')
                if sep:
                    values[key] = value.strip().strip('"\'')
    except (IOError, OSError):
        pass
    return values


def package_manager(release, which):
    """('apt' | 'dnf' | 'yum' | None, what the host is) for RELEASE (os_release())."""
    ids = [release.get('ID', '')] + release.get('ID_LIKE', '').split()
    what = 'ID=%s' % (release.get('ID') or 'unknown')
    for names, programs, manager in FAMILIES:
        if any(i in names for i in ids):
            for program in programs:
                if which(program):
                    return manager or program, what
            return None, '%s without %s' % (what, ' or '.join(programs))
    return None, what


def service_manager(which):
    """How the host enables boot services: 'systemd' where systemd runs, else sysv init's
    'update-rc.d' or 'chkconfig' (WHICH finds a command), else None."""
    if os.path.isdir(SYSTEMD_RUNTIME):
        return 'systemd'
    for name in ('update-rc.d', 'chkconfig'):
        if which(name):
            return name
    return None


class Probe(object):
    """What check() asks about the host; the module answers it, unit tests fake it."""

    python = sys.executable

    def address_on_host(self, address):
        raise NotImplementedError

    def which(self, name):
        raise NotImplementedError

    def kernel_module(self, name):
        raise NotImplementedError

    def link(self, name):
        raise NotImplementedError

    def executable(self, path):
        return os.path.isfile(path) and os.access(path, os.X_OK)

    def ip_rule_ipproto(self):
        raise NotImplementedError

    def pyroute2(self):
        return pyroute2_version()

    def service_manager(self):
        return service_manager(self.which)

    def release(self):
        return os_release()

    def vrrp(self, interface, vrid, family, seconds, field, ours):
        raise NotImplementedError


def _fix(package):
    return 'apt-get install %s / dnf install %s' % (package, package)


def _package_lines(plan, host, install, stage, probe):
    """(missing lines, packages to install) for the plan's packages."""
    missing, absent = [], []
    for package in plan.get('packages') or []:
        command, why = PACKAGES.get(package, (package, 'the roles use it'))
        if package == 'python3-pyroute2':
            found = probe.pyroute2()
            if found is None:
                absent.append(package)
            elif found != 'unknown' and not (
                    PYROUTE2_FLOOR <= version_tuple(found) < PYROUTE2_CEILING):
                # Installing the distribution's package would not replace it: say so.
                missing.append("missing: %s for %s on %s (found %s): upgrade or remove that "
                               "pyroute2 (pip install '%s', or %s)"
                               % (PYROUTE2_SPEC, probe.python, host, found, PYROUTE2_SPEC,
                                  _fix(package)))
        elif not probe.which(command):
            absent.append(package)
    if stage == 'installed':
        for package in absent:
            if package == 'python3-pyroute2':
                missing.append("missing: pyroute2 for %s, the interpreter Ansible uses on %s, "
                               "although python3-pyroute2 is installed: that interpreter does "
                               "not see the distribution's packages (a virtualenv?); pip install "
                               "'%s' into it, or set ansible_python_interpreter to the system "
                               "python3" % (probe.python, host, PYROUTE2_SPEC))
            else:
                missing.append('missing: %s on %s although package %s is installed: its '
                               'command is on no PATH directory (/usr/sbin, /sbin...)'
                               % (PACKAGES[package][0], host, package))
        return missing, []
    if install:
        return missing, absent
    for package in absent:
        if package == 'python3-pyroute2':
            missing.append("missing: pyroute2 for %s (the interpreter Ansible uses on %s): %s "
                           "(a virtualenv: pip install '%s' into it); lvs_install_packages is "
                           "false, so the roles do not install it"
                           % (probe.python, host, _fix(package), PYROUTE2_SPEC))
        else:
            command, why = PACKAGES[package]
            missing.append('missing: %s (%s): %s; lvs_install_packages is false, so the roles '
                           'do not install it' % (package, why, _fix(package)))
    return missing, []


def check(plan, host, address, install, probe, stage='check'):
    """What HOST lacks for PLAN: {'missing': [lines], 'install': [packages],
    'package_manager': str or None}.

    INSTALL: the roles install the plan's packages (lvs_install_packages), so a package
    that is not there is to be installed, not missing. STAGE 'installed' checks only the
    packages, after the roles installed them."""
    missing = []
    director = plan.get('director') or {}
    realserver = plan.get('realserver') or {}
    if stage != 'installed' and address:
        if not probe.address_on_host(address):
            missing.append('missing: lvs_address %s is on no interface of %s (ip -o addr); fix '
                           'hostvars.%s.lvs_address' % (address, host, host))
    package_missing, to_install = _package_lines(plan, host, install, stage, probe)
    manager = None
    if to_install:
        manager, what = package_manager(probe.release(), probe.which)
        if manager is None:
            names = ', '.join(to_install)
            package_missing.append(
                'missing: %s on %s, and the roles install packages only with apt (Debian '
                'family) or dnf (RHEL family); %s is neither: install %s yourself and set '
                'lvs_install_packages: false' % (names, host, what, names))
    missing.extend(package_missing)
    if stage == 'installed':
        return {'missing': missing, 'install': [], 'package_manager': None}
    if plan.get('roles') and probe.service_manager() is None:
        missing.append('missing: a service manager on %s to enable the lvs-cluster boot service at '
                       'boot (and keepalived): boot %s with systemd, or give its sysv init update-rc.d '
                       '(init-system-helpers) or chkconfig' % (host, host))
    for module in director.get('kernel_modules') or []:
        config = 'IP_VS' if module == 'ip_vs' else module.upper()
        if not probe.kernel_module(module):
            missing.append('missing: kernel module %s: not loaded and not loadable (modprobe %s); '
                           'a kernel with CONFIG_%s' % (module, module, config))
    conf = director.get('keepalived')
    if conf is not None:
        listen = conf['vrid_listen']
        if probe.link(conf['interface']):
            missing.extend(probe.vrrp(conf['interface'], conf['virtual_router_id'],
                                      listen['family'], listen['seconds'],
                                      'lvs_keepalived.virtual_router_id', listen['ours']))
        else:
            missing.append('missing: interface %s for VRRP: set hostvars.%s.lvs_interface (the '
                           'interface holding lvs_address)' % (conf['interface'], host))
        for program in conf.get('programs') or []:
            if not probe.executable(program['path']):
                missing.append('missing: %s: %s is not an executable file on %s; install it '
                               '(owned by root, writable by root only) or fix %s'
                               % (program['field'], program['path'], host, program['field']))
        for interface in conf.get('track_interfaces') or []:
            if not probe.link(interface):
                missing.append('missing: interface %s for the VIPs: set hostvars.%s.'
                               'lvs_vip_interface' % (interface, host))
    seen = set()
    for vip in director.get('vips') or []:
        if vip['interface'] not in seen:
            seen.add(vip['interface'])
            if not probe.link(vip['interface']):
                missing.append('missing: interface %s for the VIPs: set hostvars.%s.'
                               'lvs_vip_interface' % (vip['interface'], host))
    if realserver.get('tun_vips') and not probe.kernel_module('ipip'):
        missing.append('missing: kernel module ipip: not loaded and not loadable (modprobe ipip); '
                       'LVS-TUN real servers need CONFIG_NET_IPIP')
    if realserver.get('nat_replies') and not probe.ip_rule_ipproto():
        missing.append("missing: iproute2 with 'ip rule ... ipproto/sport' (>= 4.17) for NAT "
                       "replies")
    return {'missing': missing, 'install': to_install if not missing else [],
            'package_manager': manager}
