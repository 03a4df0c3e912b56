"""ipvs_timeouts run in-process against a fake IPVS session (no kernel needed).

Its argument checks happen before netlink is opened: with no timeout at all the task
fails (required_one_of) without reading or setting anything.
"""
import json

import pytest

from ansible.module_utils import basic
from ansible_collections.lvs.cluster.plugins.modules import ipvs_timeouts


class FakeSession(object):
    def __init__(self, live):
        self.live = dict(live)
        self.sets = []
        self.closed = False

    def timeouts(self):
        return dict(self.live)

    def set_timeouts(self, changes):
        self.sets.append(dict(changes))
        self.live.update(changes)

    def close(self):
        self.closed = True


def run(capsys, monkeypatch, args, session, check=False):
    opened = []

    def open_session(module):
        opened.append(module)
        return session
    monkeypatch.setattr(ipvs_timeouts, 'open_session', open_session)
    args = dict(args, _ansible_check_mode=check, _ansible_diff=True)
    monkeypatch.setattr(basic, '_ANSIBLE_ARGS', json.dumps({'ANSIBLE_MODULE_ARGS': args}).encode('utf-8'))
    monkeypatch.setattr(basic, '_ANSIBLE_PROFILE', 'legacy', raising=False)
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        ipvs_timeouts.main()
    return info.value.code, json.loads(capsys.readouterr().out), opened


def test_no_timeout_is_refused_before_netlink_is_opened(capsys, monkeypatch):
    session = FakeSession({'tcp': 900, 'tcpfin': 120, 'udp': 300})
    code, result, opened = run(capsys, monkeypatch, {}, session)
    assert code == 1 and result['failed']
    assert 'tcp, tcpfin, udp' in result['msg']
    assert not opened and not session.sets


def test_one_timeout_is_enough_and_only_it_is_set(capsys, monkeypatch):
    session = FakeSession({'tcp': 900, 'tcpfin': 120, 'udp': 300})
    code, result, opened = run(capsys, monkeypatch, {'udp': 60}, session)
    assert code == 0 and result['changed']
    assert session.sets == [{'udp': 60}] and session.closed
    assert result['timeouts'] == {'tcp': 900, 'tcpfin': 120, 'udp': 60}
    assert result['diff'] == {'before': {'tcp': 900, 'tcpfin': 120, 'udp': 300},
                              'after': {'tcp': 900, 'tcpfin': 120, 'udp': 60}}


def test_check_mode_sets_nothing(capsys, monkeypatch):
    session = FakeSession({'tcp': 900, 'tcpfin': 120, 'udp': 300})
    code, result, opened = run(capsys, monkeypatch, {'tcp': 300, 'udp': 300}, session, check=True)
    assert code == 0 and result['changed']
    assert not session.sets
    assert result['timeouts'] == {'tcp': 300, 'tcpfin': 120, 'udp': 300}
