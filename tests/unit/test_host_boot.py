"""The boot program (module_utils/host_boot.py), host-only: how lvs_host packs its own
payload into the program, what the state file holds, how the program validates it and
reports. What it restores on a real kernel after a real boot is the lab's (every
scenario's reboot check, tests/integration/test_lvs_host.py)."""
import io
import json
import os
import subprocess
import sys
import zipfile

import pytest

import ansible
from ansible_collections.lvs.cluster.plugins.module_utils import host_boot
from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.host_converge import ARGUMENT_SPEC

COLLECTION = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
ANSIBLE_MODULE_UTILS = os.path.join(os.path.dirname(ansible.__file__), 'module_utils')


def fake_payload(path):
    """A zip shaped like lvs_host's AnsiballZ payload: ansible-core's module_utils and this
    collection's, the module, and the wrapper's sitecustomize.py naming its temp dir."""
    with zipfile.ZipFile(path, 'w') as zf:
        zf.writestr('ansible/__init__.py', '')
        for top, prefix in ((ANSIBLE_MODULE_UTILS, 'ansible/module_utils'),
                            (os.path.join(COLLECTION, 'plugins', 'module_utils'),
                             'ansible_collections/lvs/cluster/plugins/module_utils')):
            for root, dirs, files in os.walk(top):
                dirs[:] = [d for d in dirs if d != '__pycache__']
                for name in files:
                    if name.endswith('.py'):
                        full = os.path.join(root, name)
                        zf.write(full, prefix + full[len(top):])
        for name in ('ansible_collections/__init__.py', 'ansible_collections/lvs/__init__.py',
                     'ansible_collections/lvs/cluster/__init__.py',
                     'ansible_collections/lvs/cluster/plugins/__init__.py',
                     'ansible_collections/lvs/cluster/plugins/module_utils/__init__.py'):
            if name not in zf.namelist():
                zf.writestr(name, '')
        zf.write(os.path.join(COLLECTION, 'plugins', 'modules', 'lvs_host.py'),
                 'ansible_collections/lvs/cluster/plugins/modules/lvs_host.py')
        zf.writestr('sitecustomize.py', 'import sys\nsys.path.insert(0, "/tmp/ansible_x_payload_1")\n')
    return str(path)


def test_payload_archive_is_the_zip_the_code_came_from(tmp_path):
    archive = fake_payload(tmp_path / 'ansible_lvs_host_payload.zip')
    inside = archive + '/ansible_collections/lvs/cluster/plugins/module_utils/host_boot.py'
    assert host_boot.payload_archive(inside) == archive
    # Imported from a checkout (the unit tests, ansible-test): no payload.
    assert host_boot.payload_archive() is None


def test_program_carries_the_payload_trees_and_a_main_but_not_the_wrappers_leftovers(tmp_path):
    members = host_boot.program_members(fake_payload(tmp_path / 'payload.zip'))
    assert 'sitecustomize.py' not in members
    assert all(n.startswith(('ansible/', 'ansible_collections/')) or n == '__main__.py' for n in members)
    assert 'ansible/module_utils/common/arg_spec.py' in members
    assert 'ansible_collections/lvs/cluster/plugins/module_utils/host_converge.py' in members
    assert members['__main__.py'].endswith(b'sys.exit(main())\n')
    # Not a payload of lvs_host: refused, named.
    other = tmp_path / 'other.zip'
    with zipfile.ZipFile(str(other), 'w') as zf:
        zf.writestr('ansible/module_utils/basic.py', '')
    with pytest.raises(LVSError, match=r'^boot: .*other\.zip is not an lvs_host payload'):
        host_boot.program_members(str(other))


def test_packing_is_reproducible_and_reads_back(tmp_path):
    members = host_boot.program_members(fake_payload(tmp_path / 'payload.zip'))
    first = host_boot.pack_program('/usr/bin/python3', members)
    assert first == host_boot.pack_program('/usr/bin/python3', dict(reversed(list(members.items()))))
    assert first.startswith(b'#!/usr/bin/python3\n')
    program = tmp_path / 'lvs-cluster-boot'
    program.write_bytes(first)
    assert host_boot.read_program(str(program)) == ('/usr/bin/python3', members)
    # Another interpreter or another member is another program; junk or nothing is none.
    assert host_boot.read_program(str(program)) != ('/usr/bin/python3.13', members)
    program.write_bytes(b'#!/bin/sh\nexit 0\n')
    assert host_boot.read_program(str(program)) is None
    assert host_boot.read_program(str(tmp_path / 'missing')) is None


def test_the_packed_program_runs_on_a_state_without_ansible_on_the_path(tmp_path):
    program = tmp_path / 'lvs-cluster-boot'
    program.write_bytes(host_boot.pack_program(
        sys.executable, host_boot.program_members(fake_payload(tmp_path / 'payload.zip'))))
    program.chmod(0o755)
    state = tmp_path / 'host.json'
    state.write_text(host_boot.state_text({'kernel_modules': [], 'sysctls': {}}))
    # Python without site-packages (-S) and the environment (-I): only the program's own zip
    # provides ansible and lvs.cluster; its shebang is the interpreter it was packed for.
    run = [sys.executable, '-I', '-S', str(program), str(state)]
    assert subprocess.run([sys.executable, '-I', '-S', '-c', 'import ansible'], capture_output=True,
                          check=False).returncode == 1
    proc = subprocess.run(run, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert subprocess.run([str(program), str(state)], capture_output=True, check=False).returncode == 0
    assert proc.stdout == 'lvs-cluster: host state restored from %s (0 changes)\n' % state
    # A step that fails says so and exits 1 (here a module name no kernel has: caught by
    # the converge's validation, before anything is read or changed).
    state.write_text(json.dumps({'kernel_modules': ['../ip_vs']}))
    proc = subprocess.run(run, capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith('lvs-cluster: error: kernel_modules[0]: ')


def test_state_file_is_the_runs_options_without_the_run_only_ones():
    params = dict((key, None) for key in ARGUMENT_SPEC)
    params.update(kernel_modules=['ip_vs'], services=[{'name': 'keepalived', 'started': True}],
                  stop_sync_daemons=True, boot={'program': '/p', 'state': '/s'})
    state = json.loads(host_boot.state_text(params))
    assert 'services' not in state and 'stop_sync_daemons' not in state and 'boot' not in state
    assert state['kernel_modules'] == ['ip_vs']
    # Sorted keys: the same options, the same text.
    assert host_boot.state_text(params) == host_boot.state_text(dict(reversed(list(params.items()))))


def test_load_state_completes_with_the_modules_defaults_and_never_runs_services(tmp_path):
    path = tmp_path / 'host.json'
    path.write_text(json.dumps({'addresses': [{'address': '192.0.2.100', 'interface': 'lo'}],
                                'services': [{'name': 'keepalived', 'started': True}]}))
    params = host_boot.load_state(str(path))
    assert params['addresses'] == [{'address': '192.0.2.100', 'interface': 'lo', 'prefix': None, 'up': False}]
    assert params['kernel_modules'] == [] and params['ipvs_table'] is None
    assert params['services'] == [] and params['stop_sync_daemons'] is False and params['boot'] is None


@pytest.mark.parametrize('text, message', [
    ('{', r'the state file .*host\.json is not JSON'),
    ('[]', r'the state file .*host\.json holds no options'),
    ('{"kernel_module": []}', r'the state file .*host\.json: .*kernel_module'),
    ('{"addresses": [{"address": "192.0.2.1"}]}', r'the state file .*host\.json: .*interface'),
])
def test_a_bad_state_file_is_refused_naming_it(text, message, tmp_path):
    path = tmp_path / 'host.json'
    path.write_text(text)
    with pytest.raises(LVSError, match=message):
        host_boot.load_state(str(path))


def test_main_says_how_to_call_it_and_names_a_missing_state(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    assert host_boot.main([], out, err) == 2
    assert err.getvalue().startswith('usage: lvs-cluster-boot STATE_FILE')
    out, err = io.StringIO(), io.StringIO()
    assert host_boot.main([str(tmp_path / 'none.json')], out, err) == 2
    assert 'cannot read the state file' in err.getvalue() and out.getvalue() == ''
