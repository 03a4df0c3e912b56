# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # What the attributes mean. Each module says itself how far it supports them
    # (support, and details where the support is partial), and on which platform it runs.
    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying the target.
  diff_mode:
    description: Will return details on what has changed (or would change in check mode) in diff mode.
  platform:
    description: Target OS/families that can be operated against.
'''

    # Modules that only read.
    INFO_MODULE = r'''
options: {}
attributes:
  check_mode:
    support: full
    details: This action does not modify state.
  diff_mode:
    support: N/A
    details: This action does not modify state.
'''

    # The IPVS modules' action group (meta/runtime.yml).
    ACTIONGROUP_IPVS = r'''
options: {}
attributes:
  action_group:
    description: Use C(group/lvs.cluster.ipvs) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - lvs.cluster.ipvs
'''

    # The network modules' action group (meta/runtime.yml).
    ACTIONGROUP_NET = r'''
options: {}
attributes:
  action_group:
    description: Use C(group/lvs.cluster.net) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - lvs.cluster.net
'''
