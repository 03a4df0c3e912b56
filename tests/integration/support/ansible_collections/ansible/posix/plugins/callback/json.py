# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-in for ansible.posix.json inside the lab guest (test support only).

ansible-core 2.19 redirects ``ansible.builtin.json`` to ``ansible.posix.json`` and the
guest has ansible-core only, so the integration harness's JSON callback does not load.
This writes the same shape the harness reads: {"plays": [{"tasks": [{"hosts": {H: R}}]}]}.
It is on the collections path only while the tests run (see tests/integration/posix_json_shim.py).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = '''
name: json
type: stdout
short_description: JSON stdout for the lab's integration harness
description: Prints the whole run as one JSON document.
'''

import json

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'stdout'
    CALLBACK_NAME = 'ansible.posix.json'

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self.results = []

    def v2_playbook_on_play_start(self, play):
        self.results.append({'play': {'name': play.get_name()}, 'tasks': []})

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.results[-1]['tasks'].append({'task': {'name': task.get_name()}, 'hosts': {}})

    def _record(self, result, **flags):
        host = result._host.get_name()
        data = dict(self._convert(result._result))
        data.update(flags)
        self.results[-1]['tasks'][-1]['hosts'][host] = data

    @staticmethod
    def _convert(value):
        # Round-trip through JSON with str() for anything exotic (tagged strings etc.).
        return json.loads(json.dumps(value, default=str))

    def v2_runner_on_ok(self, result, **kwargs):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._record(result, failed=True)

    def v2_runner_on_skipped(self, result, **kwargs):
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result, **kwargs):
        self._record(result, unreachable=True)

    def v2_playbook_on_stats(self, stats):
        summary = dict((h, stats.summarize(h)) for h in sorted(stats.processed.keys()))
        self._display.display(json.dumps({'plays': self.results, 'stats': summary}, indent=1, sort_keys=True))
