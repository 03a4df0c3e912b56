# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stdout callback of the integration tests: every task's per-host result as one JSON
document, {"plays": [{"tasks": [{"task": {"name"}, "hosts": {HOST: RESULT}}]}]}, the shape
tests/integration/conftest.py reads. Test infrastructure, not part of the collection:
ansible-core has no JSON callback, and the controller side has no other collection."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: lvs_results
type: stdout
short_description: Task results as one JSON document (lvs.cluster's integration tests)
description:
  - Prints, at the end of the run, every task's result per host as JSON.
'''

import json

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'stdout'
    CALLBACK_NAME = 'lvs_results'

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self.plays = []

    def v2_playbook_on_play_start(self, play):
        self.plays.append({'play': {'name': play.get_name()}, 'tasks': []})

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.plays[-1]['tasks'].append({'task': {'name': task.get_name()}, 'hosts': {}})

    def _record(self, result, **flags):
        # The result as the module returned it, with the outcome Ansible decided on top:
        # 'failed' and 'skipped' are not always in the module's own dict.
        recorded = dict(result._result, action=result._task.action, **flags)
        self.plays[-1]['tasks'][-1]['hosts'][result._host.get_name()] = recorded

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, failed=True)

    def v2_runner_on_skipped(self, result):
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result):
        self._record(result, unreachable=True)

    def v2_playbook_on_stats(self, stats):
        self._display.display(json.dumps({'plays': self.plays}, default=str))
