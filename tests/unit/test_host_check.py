"""The host check's logic (plugins/module_utils/host_check.py) with a fake host: what is a
failure and what is left to install, by lvs_install_packages, pyroute2 version and
distribution. That the module runs under Ansible's interpreter is
test_host_check_message.py; the lab's bare scenario runs it on hosts without packages."""
import pytest

from ansible_collections.lvs.cluster.plugins.module_utils import host_check

DEBIAN = {'ID': 'debian', 'VERSION_ID': '12'}


class FakeHost(host_check.Probe):
    python = '/usr/bin/python3'

    def __init__(self, commands=(), pyroute2=None, release=None, links=('eth0', 'lo'), manager='systemd'):
        self.commands = set(commands) | {'ip', 'apt-get', 'modprobe'}
        self.manager = manager
        self.version = pyroute2
        self.os = DEBIAN if release is None else release
        self.links = set(links)
        self.asked = []

    def address_on_host(self, address):
        return True

    def which(self, name):
        self.asked.append(name)
        return '/usr/sbin/' + name if name in self.commands else None

    def kernel_module(self, name):
        return True

    def link(self, name):
        return name in self.links

    def ip_rule_ipproto(self):
        return True

    def pyroute2(self):
        return self.version

    def release(self):
        return self.os

    def vrrp(self, *args):
        return []

    def service_manager(self):
        return self.manager


def plan(*packages):
    return {'roles': ['director'], 'packages': list(packages),
            'director': {'vips': [{'address': '192.0.2.100', 'interface': 'eth0'}],
                         'kernel_modules': ['ip_vs'], 'fwmarks': []}}


ALL = ('ipvsadm', 'nftables', 'python3-pyroute2')


def test_absent_packages_are_to_be_installed_not_missing():
    found = host_check.check(plan(*ALL), 'lb', '', True, FakeHost())
    assert found == {'missing': [], 'install': list(ALL), 'package_manager': 'apt'}


def test_present_packages_are_not_installed_again():
    host = FakeHost(commands=('ipvsadm', 'nft'), pyroute2='0.7.2')
    assert host_check.check(plan(*ALL), 'lb', '', True, host)['install'] == []


def test_without_installing_each_absent_package_is_missing_with_its_fix():
    found = host_check.check(plan(*ALL), 'lb', '', False, FakeHost(commands=('nft',)))
    assert found['install'] == []
    assert found['missing'] == [
        "missing: ipvsadm (the operator's view of the table; it stops the sync daemons): apt-get install "
        "ipvsadm / dnf install ipvsadm; lvs_install_packages is false, so the roles do not install it",
        "missing: pyroute2 for /usr/bin/python3 (the interpreter Ansible uses on lb): apt-get "
        "install python3-pyroute2 / dnf install python3-pyroute2 (a virtualenv: pip install "
        "'pyroute2>=0.7.2,<0.10' into it); lvs_install_packages is false, so the roles do not "
        "install it",
    ]


@pytest.mark.parametrize('version, good', [
    ('0.7.2', True), ('0.7.7', True), ('0.9.7', True), ('0.7.1', False), ('0.6.13', False),
    ('0.10.0', False), ('0.9.8.post1', True)])
def test_pyroute2_version_floor_and_ceiling(version, good):
    found = host_check.check(plan('python3-pyroute2'), 'rs1', '', True, FakeHost(pyroute2=version))
    assert found['install'] == []
    if good:
        assert found['missing'] == []
    else:
        # Installing the distribution's package would not replace it: a failure even so.
        assert len(found['missing']) == 1
        assert found['missing'][0].startswith(
            'missing: pyroute2>=0.7.2,<0.10 for /usr/bin/python3 on rs1 (found %s)' % version)


def test_only_the_plans_packages_are_looked_for():
    host = FakeHost()
    found = host_check.check({'roles': ['router'], 'packages': []}, 'gw', '', True, host)
    assert found == {'missing': [], 'install': [], 'package_manager': None}
    assert host.asked == []


@pytest.mark.parametrize('release, manager', [
    ({'ID': 'ubuntu', 'ID_LIKE': 'debian'}, 'apt'), ({'ID': 'rocky', 'ID_LIKE': 'rhel centos fedora'}, 'dnf'),
    ({'ID': 'fedora'}, 'dnf')])
def test_the_package_manager_by_family(release, manager):
    host = FakeHost(release=release)
    host.commands.add('dnf')
    assert host_check.check(plan('keepalived'), 'lb', '', True, host)['package_manager'] == manager


def test_an_unknown_distribution_names_the_host_the_packages_and_the_fix():
    found = host_check.check(plan('keepalived', 'nftables'), 'lb', '', True,
                             FakeHost(release={'ID': 'alpine'}))
    assert found['install'] == []
    assert found['missing'] == [
        'missing: keepalived, nftables on lb, and the roles install packages only with apt '
        '(Debian family) or dnf (RHEL family); ID=alpine is neither: install keepalived, '
        'nftables yourself and set lvs_install_packages: false']


def test_after_installing_a_pyroute2_the_interpreter_cannot_see_is_named():
    host = FakeHost(commands=('ipvsadm',))
    host.python = '/opt/venv/bin/python'
    found = host_check.check(plan('ipvsadm', 'python3-pyroute2'), 'lb', '', False, host,
                             stage='installed')
    assert found['missing'] == [
        "missing: pyroute2 for /opt/venv/bin/python, the interpreter Ansible uses on lb, although "
        "python3-pyroute2 is installed: that interpreter does not see the distribution's "
        "packages (a virtualenv?); pip install 'pyroute2>=0.7.2,<0.10' into it, or set "
        "ansible_python_interpreter to the system python3"]


def test_version_tuple():
    assert host_check.version_tuple('0.7.2') == (0, 7, 2)
    assert host_check.version_tuple('0.9.8.post1') == (0, 9, 8)
    assert host_check.version_tuple('0.10rc1') == (0, 10)


def test_a_host_without_a_service_manager_is_refused_before_anything_changes(tmp_path, monkeypatch):
    # The boot service (and keepalived) must be enabled at boot: systemd, or sysv init
    # with update-rc.d or chkconfig. None: the host check stops the run, naming the fix.
    found = host_check.check(plan('ipvsadm'), 'lb', '', True, FakeHost(commands=('ipvsadm',), manager=None))
    assert found['missing'] == [
        'missing: a service manager on lb to enable the lvs-cluster boot service at boot (and keepalived): '
        'boot lb with systemd, or give its sysv init update-rc.d (init-system-helpers) or chkconfig']
    assert found['install'] == []
    # What the module's probe answers: systemd where it runs, else the sysv tools.
    monkeypatch.setattr(host_check, 'SYSTEMD_RUNTIME', str(tmp_path / 'none'))
    probe = FakeHost(commands=('chkconfig',))
    assert host_check.Probe.service_manager(probe) == 'chkconfig'
    assert host_check.Probe.service_manager(FakeHost()) is None
    monkeypatch.setattr(host_check, 'SYSTEMD_RUNTIME', str(tmp_path))
    assert host_check.Probe.service_manager(FakeHost()) == 'systemd'
