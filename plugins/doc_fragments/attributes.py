# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # Shared attribute docs: every module in this collection supports check and diff mode.
    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying the kernel.
    support: full
  diff_mode:
    description: Will return details on what has changed (or would change in check mode) in diff mode.
    support: full
  platform:
    description: Runs on Linux hosts; talks to the kernel over netlink with pyroute2.
    support: full
    platforms: linux
'''
