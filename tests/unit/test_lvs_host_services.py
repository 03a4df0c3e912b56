"""lvs_host's services and sync-daemon reads (host-only): what counts as enabled and
running, and which command enables a service, on fake /etc and /proc trees. That the
commands do it on a real init is the lab's (the Molecule scenarios reboot every host)."""
from unittest import mock

import pytest

from ansible_collections.lvs.cluster.plugins.module_utils import host_check
from ansible_collections.lvs.cluster.plugins.module_utils import host_plan as hp
from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils import host_converge as lvs_host


class FakeHost(object):
    def __init__(self, bins=(), rcs=None, out='', outs=None):
        self.module = mock.MagicMock()
        self.module.get_bin_path.side_effect = lambda name: '/usr/sbin/' + name if name in bins else None
        self.module.run_command.side_effect = lambda argv: ((rcs or {}).get(tuple(argv[1:]), 0),
                                                            (outs or {}).get(tuple(argv[1:]), out), '')
        self.module.params = {'services': [{'name': 'keepalived'}]}
        self.ran = []

    def tool(self, name, field):
        return '/usr/sbin/' + name

    def run(self, argv, what, ok_rcs=(0,)):
        self.ran.append(argv)
        return 0, '', ''


def test_validate_services():
    assert hp.validate_services([{'name': 'keepalived', 'started': True}, {'name': 'lvs-cluster'}]) == [
        {'name': 'keepalived', 'started': True}, {'name': 'lvs-cluster', 'started': False}]
    with pytest.raises(LVSError, match=r"^services\[0\]\.name: '\.\./x' is not a service name"):
        hp.validate_services([{'name': '../x'}])
    with pytest.raises(LVSError, match=r"^services\[1\]\.name: keepalived is listed twice"):
        hp.validate_services([{'name': 'keepalived'}, {'name': 'keepalived'}])


def test_process_running_reads_comm(tmp_path, monkeypatch):
    for pid, comm in (('1', 'tini'), ('42', 'keepalived'), ('43', 'a-very-long-name-cut')):
        (tmp_path / pid).mkdir()
        (tmp_path / pid / 'comm').write_text(comm + '\n')
    monkeypatch.setattr(lvs_host, 'PROC', str(tmp_path))
    assert lvs_host.process_running('keepalived')
    assert not lvs_host.process_running('keepalive')
    assert not lvs_host.process_running('lvs-cluster')
    # The kernel keeps 15 characters of a command name.
    (tmp_path / '44').mkdir()
    (tmp_path / '44' / 'comm').write_text('a-very-long-nam\n')
    assert lvs_host.process_running('a-very-long-name')


def test_manager_systemd_first_then_update_rc_d_then_chkconfig(tmp_path, monkeypatch):
    monkeypatch.setattr(host_check, 'SYSTEMD_RUNTIME', str(tmp_path / 'none'))
    assert lvs_host.service_manager(FakeHost(bins=('update-rc.d', 'chkconfig'))) == 'update-rc.d'
    assert lvs_host.service_manager(FakeHost(bins=('chkconfig',))) == 'chkconfig'
    with pytest.raises(LVSError, match=r'^services: no service manager found .* to enable keepalived'):
        lvs_host.service_manager(FakeHost())
    monkeypatch.setattr(host_check, 'SYSTEMD_RUNTIME', str(tmp_path))
    assert lvs_host.service_manager(FakeHost(bins=('update-rc.d',))) == 'systemd'


def test_update_rc_d_enabled_is_an_s_link_and_enable_or_defaults(tmp_path, monkeypatch):
    monkeypatch.setattr(lvs_host, 'RC_DIR', str(tmp_path))
    for d in ('rc0.d', 'rc2.d'):
        (tmp_path / d).mkdir()
    host = FakeHost(bins=('update-rc.d',))
    # No link at all (a new init script): defaults makes them.
    assert not lvs_host.service_enabled(host, 'update-rc.d', 'lvs-cluster')
    lvs_host.enable_service(host, 'update-rc.d', 'lvs-cluster')
    assert host.ran[-1] == ['/usr/sbin/update-rc.d', 'lvs-cluster', 'defaults']
    # A package's links, disabled (K in rc2.d): enable flips them.
    (tmp_path / 'rc2.d' / 'K01keepalived').write_text('')
    (tmp_path / 'rc0.d' / 'K01keepalived').write_text('')
    assert not lvs_host.service_enabled(host, 'update-rc.d', 'keepalived')
    lvs_host.enable_service(host, 'update-rc.d', 'keepalived')
    assert host.ran[-1] == ['/usr/sbin/update-rc.d', 'keepalived', 'enable']
    (tmp_path / 'rc2.d' / 'S01keepalived').write_text('')
    assert lvs_host.service_enabled(host, 'update-rc.d', 'keepalived')


def test_systemd_enabled_is_is_enabled():
    host = FakeHost(rcs={('-q', 'is-enabled', 'keepalived.service'): 1})
    assert not lvs_host.service_enabled(host, 'systemd', 'keepalived')
    assert lvs_host.service_enabled(host, 'systemd', 'lvs-cluster')
    lvs_host.enable_service(host, 'systemd', 'keepalived')
    lvs_host.start_service(host, 'systemd', 'keepalived')
    assert host.ran == [['/usr/sbin/systemctl', '-q', 'enable', 'keepalived.service'],
                        ['/usr/sbin/systemctl', 'start', 'keepalived.service']]
    sysv = FakeHost()
    lvs_host.start_service(sysv, 'update-rc.d', 'keepalived')
    assert sysv.ran == [['/usr/sbin/service', 'keepalived', 'start']]


def test_a_unit_changed_on_disk_is_what_systemd_says_needs_a_reload():
    # systemctl show -p NeedDaemonReload --value prints yes or no per unit.
    host = FakeHost(outs={('show', '-p', 'NeedDaemonReload', '--value', 'lvs-cluster.service'): 'yes\n',
                          ('show', '-p', 'NeedDaemonReload', '--value', 'keepalived.service'): 'no\n'})
    assert lvs_host.units_changed_on_disk(host, 'systemd', ['keepalived', 'lvs-cluster']) == ['lvs-cluster']
    assert lvs_host.units_changed_on_disk(host, 'update-rc.d', ['keepalived', 'lvs-cluster']) == []


def test_sync_daemons_read_from_ipvsadm():
    listing = ('master sync daemon (mcast=eth0, syncid=51, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n'
               'backup sync daemon (mcast=eth0, syncid=51, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n')
    assert lvs_host.running_sync_daemons(FakeHost(bins=('ipvsadm',), out=listing))[1] == ['master', 'backup']
    assert lvs_host.running_sync_daemons(FakeHost(bins=('ipvsadm',), out=''))[1] == []
    # No ipvsadm: nothing to stop (as the script did).
    assert lvs_host.running_sync_daemons(FakeHost(out=listing)) == (None, [])
