# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action side of lvs.cluster.cluster_plan: runs on the controller only (see the module doc)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.parsing.convert_bool import BOOLEANS_FALSE, BOOLEANS_TRUE
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.lvs.cluster.plugins.module_utils.cluster import (
    DEFAULT_CONF_DIR, DEPRECATED_VARS, DIRECTOR_HA_SETTING, DIRECTOR_SETTINGS, GROUPS, ClusterError, plan_cluster,
)

display = Display()

HOST_VARS = ('lvs_address', 'lvs_vip_interface', 'lvs_interface', 'lvs_vrrp_priority')
# Cluster-wide variables: every host must see the same value (group_vars/all).
CLUSTER_VARS = ('lvs_services', 'lvs_keepalived', 'lvs_ipvs_timeouts')
# What shapes the host's own runtime state (plan_cluster's SETTINGS): the director role's
# settings are role defaults over their deprecated lvs_ names, so they are templated here.
SETTING_VARS = ('lvs_conf_dir', 'lvs_ipvs_timeouts', 'director_sysctls', 'realserver_sysctl_file') + tuple(
    s[0] for s in DIRECTOR_SETTINGS + (DIRECTOR_HA_SETTING,))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset()

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        hostvars = task_vars.get('hostvars', {})
        groups = dict((g, list(task_vars.get('groups', {}).get(g, []))) for g in GROUPS.values())
        me = task_vars.get('inventory_hostname')
        services = task_vars.get('lvs_services', [])
        keepalived = task_vars.get('lvs_keepalived')
        cluster_hosts = sorted(set(h for names in groups.values() for h in names) | {me})
        problems = []
        inventory = {}
        for name in cluster_hosts:
            if name not in hostvars:
                continue
            hv = hostvars[name]
            inventory[name] = dict((k, hv.get(k)) for k in HOST_VARS)
            for var in CLUSTER_VARS:
                if name != me and hv.get(var) != task_vars.get(var):
                    problems.append('hostvars.%s.%s: differs from %s\'s; the cluster has one '
                                    'description: set %s once, in group_vars/all'
                                    % (name, var, me, var))
        if isinstance(keepalived, dict) and keepalived.get('auth_pass') is not None:
            # A vaulted secret arrives as a vault object: validate its text.
            keepalived = dict(keepalived, auth_pass=str(keepalived['auth_pass']))
        install = task_vars.get('lvs_install_packages', True)
        if install is None:
            install = True
        if isinstance(install, bool):
            pass
        elif str(install).lower() in [str(v).lower() for v in BOOLEANS_TRUE]:
            install = True
        elif str(install).lower() in [str(v).lower() for v in BOOLEANS_FALSE]:
            install = False
        else:
            problems.append('lvs_install_packages: %r is not true or false; true (the default) '
                            'installs the packages the roles use, false leaves them to you' % (install,))
        settings = {}
        for var in SETTING_VARS:
            value = task_vars.get(var)
            if value is None and var.startswith(('director_', 'realserver_')):
                value = task_vars.get('lvs_' + var)   # the deprecated name, until 0.2.0
            if value is not None:
                settings[var] = self._templar.template(value)
        try:
            plans = plan_cluster(services, inventory, groups, keepalived, settings)
        except ClusterError as exc:
            problems.extend(exc.errors)
        if problems:
            result['failed'] = True
            result['problems'] = problems
            # Every host of the play fails; one of them (the first by name) lists the
            # problems, the others point to it, so a list is printed once, not per host.
            active = task_vars.get('ansible_play_hosts') or [me]
            reporter = min(active) if me in active else me
            if me == reporter:
                result['msg'] = ('The cluster description has %d problem(s); no host was changed:\n%s'
                                 % (len(problems), '\n'.join('  - ' + p for p in problems)))
            else:
                result['msg'] = ('The cluster description has %d problem(s); no host was changed: '
                                 'listed under %s' % (len(problems), reporter))
            return result
        for old, new in DEPRECATED_VARS:
            if old in task_vars:
                display.deprecated('%s is renamed %s; the old name stops working in 0.2.0'
                                   % (old, new), version='0.2.0', collection_name='lvs.cluster')
        plan = dict(plans.get(me) or {'roles': [], 'conf_dir': settings.get('lvs_conf_dir') or DEFAULT_CONF_DIR})
        plan['install_packages'] = install
        result['changed'] = False
        # Under a result key, never ansible_facts: a fact is cached by a fact cache (a later
        # run would find a stale plan there) and read as a bare variable only through
        # INJECT_FACTS_AS_VARS (deprecated, off in ansible-core 2.24). The roles' planning
        # step (roles/common/tasks/plan.yml) makes it the host variable lvs_plan.
        result['plan'] = plan
        return result
