"""Every bad-input case that needs no kernel, on the host: the module fails naming the
field, before it opens a netlink socket, reads /proc/sys or /sys, or opens a file to
write (bad_input_cases.py has the cases; the lab runs the rest and a sample of these
through ansible-playbook against the real kernel)."""
import builtins
import importlib
import json
import socket

import pytest

from ansible.module_utils import basic

import bad_input_cases as cases


class Touched(Exception):
    """The module reached for the kernel or wrote a file while its input was bad."""


def run_guarded(monkeypatch, capsys, module, args):
    """Run MODULE's main() in-process with ARGS; its JSON result. Touched if it opened a
    netlink socket, read kernel state or opened a file for writing."""
    name = module.split('.')[-1]
    code = importlib.import_module('ansible_collections.lvs.cluster.plugins.modules.' + name)
    real_socket, real_open = socket.socket, builtins.open

    def no_netlink(family=-1, *rest, **kw):
        if family == socket.AF_NETLINK:
            raise Touched('a netlink socket')
        return real_socket(family, *rest, **kw)

    def no_kernel_no_write(file, mode='r', *rest, **kw):
        path = str(file)
        if any(c in mode for c in 'wax+') or path.startswith(('/proc/sys', '/sys/')):
            raise Touched('open(%r, %r)' % (path, mode))
        return real_open(file, mode, *rest, **kw)

    monkeypatch.setattr(basic, '_ANSIBLE_ARGS', json.dumps({'ANSIBLE_MODULE_ARGS': args}).encode('utf-8'))
    monkeypatch.setattr(basic, '_ANSIBLE_PROFILE', 'legacy', raising=False)
    capsys.readouterr()
    monkeypatch.setattr(socket, 'socket', no_netlink)
    monkeypatch.setattr(builtins, 'open', no_kernel_no_write)
    try:
        with pytest.raises(SystemExit):
            code.main()
    finally:
        monkeypatch.setattr(builtins, 'open', real_open)
        monkeypatch.setattr(socket, 'socket', real_socket)
    return json.loads(capsys.readouterr().out)


def check(result, field):
    assert result.get('failed'), result
    assert field in result.get('msg', ''), result
    assert not result.get('changed'), result


IPVS = [(i, c) for i, c in enumerate(cases.IPVS_CASES) if i not in cases.LAB_IPVS]


@pytest.mark.parametrize('module, args, field', [c for i, c in IPVS], ids=['ipvs-%d' % i for i, c in IPVS])
def test_ipvs_modules_refuse_bad_input_before_the_kernel(monkeypatch, capsys, module, args, field):
    check(run_guarded(monkeypatch, capsys, module, args), field)


NET_IDS = [i for i in range(len(cases.net_cases('/tmp'))) if i not in cases.LAB_NET]


@pytest.mark.parametrize('index', NET_IDS, ids=['net-%d' % i for i in NET_IDS])
def test_net_modules_refuse_bad_input_before_the_kernel(monkeypatch, capsys, tmp_path, index):
    (tmp_path / '90-lvs.conf').write_text('vm.swappiness = 10\n')
    field, module, args = cases.net_cases(str(tmp_path))[index]
    check(run_guarded(monkeypatch, capsys, module, args), field)
    assert (tmp_path / '90-lvs.conf').read_text() == 'vm.swappiness = 10\n'


def test_the_guard_catches_a_module_that_reaches_the_kernel(monkeypatch, capsys):
    # A valid service: the module goes on to open its netlink session, and the guard
    # says so (a guard that lets that through would make every case above pass).
    with pytest.raises(Touched):
        run_guarded(monkeypatch, capsys, cases.SVC, dict(cases.WEB))


def test_the_lab_cases_do_need_the_kernel(monkeypatch, capsys, tmp_path):
    # The cases left to the lab are refused only once the kernel is asked: if one became
    # pure, it belongs on this side.
    net = cases.net_cases(str(tmp_path))
    for module, args, field in [cases.IPVS_CASES[i] for i in cases.LAB_IPVS] + \
            [(m, a, f) for f, m, a in (net[i] for i in cases.LAB_NET)]:
        try:
            result = run_guarded(monkeypatch, capsys, module, args)
        except Exception:   # Touched, or the guard broke what reaches for the kernel
            continue
        assert not (result.get('failed') and field in result.get('msg', '')), (module, args, result)


def test_case_tables_are_unique(tmp_path):
    keys = [(m, repr(sorted(a.items()))) for m, a, f in cases.IPVS_CASES]
    assert len(keys) == len(set(keys))
    keys = [(m, repr(sorted(a.items()))) for f, m, a in cases.net_cases(str(tmp_path))]
    assert len(keys) == len(set(keys))
    assert len(cases.IPVS_CASES) >= 60 and len(keys) >= 40
