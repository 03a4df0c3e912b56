"""lvs_files, run in-process as Ansible unit tests do, on files under tmp_path.

Several files in one run: written only when content or mode differ, nothing in check
mode, and a failing validate leaves every file of the list as it was.
"""
import json
import os
import re
import stat

import pytest

from ansible.module_utils import basic
from ansible_collections.lvs.cluster.plugins.modules import lvs_files


def run(capsys, files, check=False, diff=True, absent=None):
    """Run the module with FILES (and ABSENT); return (exit code, result)."""
    args = {'files': files, '_ansible_check_mode': check, '_ansible_diff': diff}
    if absent is not None:
        args['absent'] = absent
    basic._ANSIBLE_ARGS = json.dumps({'ANSIBLE_MODULE_ARGS': args}).encode('utf-8')
    basic._ANSIBLE_PROFILE = 'legacy'
    capsys.readouterr()
    try:
        with pytest.raises(SystemExit) as info:
            lvs_files.main()
    finally:
        basic._ANSIBLE_ARGS = None
        basic._ANSIBLE_PROFILE = None
    return info.value.code, json.loads(capsys.readouterr().out)


def mode_of(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


def tree(root):
    """Every file under ROOT (relative path -> content): leftover temp files show up."""
    found = {}
    for directory, _dirs, names in os.walk(str(root)):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, 'rb') as handle:
                found[os.path.relpath(path, str(root))] = handle.read()
    return found


def test_new_files_are_written_with_their_mode(tmp_path, capsys):
    first = tmp_path / 'sysctl.conf'
    second = tmp_path / 'lvs' / 'rules.save'          # parent made by the module
    code, result = run(capsys, [
        {'path': str(first), 'content': 'net.ipv4.ip_forward = 1\n'},
        {'path': str(second), 'content': '-A -t 192.0.2.100:80 -s wrr\n', 'mode': '0600'},
    ])
    assert code == 0, result
    assert result['changed'] is True
    assert result['changed_files'] == [str(first), str(second)]
    assert first.read_text() == 'net.ipv4.ip_forward = 1\n'
    assert second.read_text() == '-A -t 192.0.2.100:80 -s wrr\n'
    assert mode_of(first) == 0o644
    assert mode_of(second) == 0o600
    umask = os.umask(0)
    os.umask(umask)
    assert mode_of(tmp_path / 'lvs') == 0o750 & ~umask
    assert sorted(tree(tmp_path)) == ['lvs/rules.save', 'sysctl.conf']
    assert result['diff'] == [
        {'before_header': str(first), 'after_header': str(first),
         'before': '', 'after': 'net.ipv4.ip_forward = 1\n'},
        {'before_header': str(second), 'after_header': str(second),
         'before': '', 'after': '-A -t 192.0.2.100:80 -s wrr\n'}]


def test_unchanged_files_report_no_change(tmp_path, capsys):
    files = [{'path': str(tmp_path / 'a'), 'content': 'one\n', 'mode': '0640'},
             {'path': str(tmp_path / 'b'), 'content': 'two\n'}]
    assert run(capsys, files)[1]['changed'] is True
    stamps = dict((name, os.stat(str(tmp_path / name)).st_ino) for name in ('a', 'b'))
    code, result = run(capsys, files)
    assert code == 0
    assert result['changed'] is False
    assert result['changed_files'] == []
    assert result['diff'] == []
    # Not rewritten either: same inodes (a write goes through a renamed temp file).
    assert stamps == dict((name, os.stat(str(tmp_path / name)).st_ino) for name in ('a', 'b'))


def test_only_the_differing_file_is_written(tmp_path, capsys):
    (tmp_path / 'same').write_text('same\n')
    os.chmod(str(tmp_path / 'same'), 0o644)
    (tmp_path / 'mode').write_text('mode\n')
    os.chmod(str(tmp_path / 'mode'), 0o644)
    code, result = run(capsys, [
        {'path': str(tmp_path / 'same'), 'content': 'same\n'},
        {'path': str(tmp_path / 'mode'), 'content': 'mode\n', 'mode': '0600'},
    ])
    assert code == 0
    assert result['changed_files'] == [str(tmp_path / 'mode')]
    assert mode_of(tmp_path / 'mode') == 0o600
    assert mode_of(tmp_path / 'same') == 0o644


def test_check_mode_writes_nothing_and_reports_the_diffs(tmp_path, capsys):
    old = tmp_path / 'old.conf'
    old.write_text('before\n')
    os.chmod(str(old), 0o644)
    new = tmp_path / 'sub' / 'new.conf'
    code, result = run(capsys, [
        {'path': str(old), 'content': 'after\n'},
        {'path': str(new), 'content': 'fresh\n', 'validate': 'false %s'},
    ], check=True)
    assert code == 0, result
    assert result['changed'] is True
    assert result['changed_files'] == [str(old), str(new)]
    assert result['diff'] == [
        {'before_header': str(old), 'after_header': str(old), 'before': 'before\n',
         'after': 'after\n'},
        {'before_header': str(new), 'after_header': str(new), 'before': '', 'after': 'fresh\n'}]
    assert tree(tmp_path) == {'old.conf': b'before\n'}
    assert not (tmp_path / 'sub').exists()


def test_validate_checks_the_new_content(tmp_path, capsys):
    target = tmp_path / 'fwmark.nft'
    code, result = run(capsys, [{'path': str(target), 'content': 'table ok\n',
                                 'validate': 'grep -q ok %s'}])
    assert code == 0, result
    assert target.read_text() == 'table ok\n'
    code, result = run(capsys, [{'path': str(target), 'content': 'table bad\n',
                                 'validate': 'grep -q ok %s'}])
    assert code == 1
    assert target.read_text() == 'table ok\n'


def test_failing_validate_changes_no_file_of_the_list(tmp_path, capsys):
    first = tmp_path / 'first.conf'
    first.write_text('first, old\n')
    os.chmod(str(first), 0o644)
    last = tmp_path / 'last.conf'
    last.write_text('last, old\n')
    os.chmod(str(last), 0o644)
    before = tree(tmp_path)
    code, result = run(capsys, [
        {'path': str(first), 'content': 'first, new\n', 'validate': 'true %s'},
        {'path': str(tmp_path / 'middle.conf'), 'content': 'middle, new\n'},
        {'path': str(last), 'content': 'last, new\n', 'validate': 'false %s'},
    ])
    assert code == 1
    assert result['failed'] is True
    assert result['msg'].startswith('%s: validation failed (false %%s)' % last)
    assert result['changed_files'] == []
    # The earlier files of the list were not replaced, the new one not created, no temp left.
    assert tree(tmp_path) == before
    assert mode_of(first) == 0o644


@pytest.mark.parametrize('files, message', [
    pytest.param([{'path': 'etc/lvs.conf', 'content': 'x'}],
                 'files[0].path: \'etc/lvs.conf\' is not absolute', id='relative-path'),
    pytest.param([{'path': '{tmp}/a', 'content': 'x'}, {'path': '{tmp}/b', 'content': 'y'},
                  {'path': '{tmp}/a', 'content': 'z'}],
                 'files[2].path: {tmp}/a is listed twice', id='duplicate-path'),
    pytest.param([{'path': '{tmp}/a', 'content': 'x', 'mode': 'rw-r--r--'}],
                 'files[0].mode: \'rw-r--r--\' is not an octal mode', id='bad-mode'),
    pytest.param([{'path': '{tmp}/a', 'content': 'x', 'mode': '17777'}],
                 'files[0].mode: \'17777\' is not an octal mode', id='mode-too-large'),
    pytest.param([{'path': '{tmp}/a', 'content': 'x', 'validate': 'nft -c -f'}],
                 'files[0].validate: needs %s', id='validate-without-placeholder'),
])
def test_bad_arguments_are_refused_before_any_write(tmp_path, capsys, files, message):
    files = [dict(spec, path=spec['path'].replace('{tmp}', str(tmp_path))) for spec in files]
    code, result = run(capsys, files)
    assert code == 1
    assert result['msg'].startswith(message.replace('{tmp}', str(tmp_path))), result['msg']
    assert tree(tmp_path) == {}


def test_missing_content_is_refused(tmp_path, capsys):
    code, result = run(capsys, [{'path': str(tmp_path / 'a')}])
    assert code == 1
    assert 'content' in result['msg']
    assert tree(tmp_path) == {}


# Gaps found while writing these tests, fixed since: kept as regression tests.

def test_validate_with_a_space_in_the_path(tmp_path, capsys):
    target = tmp_path / 'with space' / 'rules'
    target.parent.mkdir()
    code, result = run(capsys, [{'path': str(target), 'content': 'ok\n',
                                 'validate': 'grep -q ok %s'}])
    assert code == 0, result
    assert target.read_text() == 'ok\n'


def test_failing_validate_leaves_no_new_directory(tmp_path, capsys):
    code, result = run(capsys, [{'path': str(tmp_path / 'new' / 'rules'), 'content': 'x\n',
                                 'validate': 'false %s'}])
    assert code == 1, result
    assert os.listdir(str(tmp_path)) == []


def test_absent_files_are_removed_after_the_files_are_written_and_only_when_there(tmp_path, capsys):
    old, gone, kept = tmp_path / 'lvs-cluster.sh', tmp_path / 'ipvs.rules', tmp_path / 'host.json'
    old.write_text('#!/bin/sh\n')
    files = [{'path': str(kept), 'content': '{}\n'}]
    # Check mode: reported, nothing removed.
    code, result = run(capsys, files, check=True, absent=[str(old), str(gone)])
    assert code == 0 and result['changed'] is True
    assert result['changed_files'] == [str(kept), str(old)]
    assert old.exists() and not kept.exists()
    assert result['diff'][1] == {'before_header': str(old), 'after_header': '%s (removed)' % old,
                                 'before': '%s\n' % old, 'after': ''}
    code, result = run(capsys, files, absent=[str(old), str(gone)])
    assert code == 0 and result['changed_files'] == [str(kept), str(old)]
    assert not old.exists() and kept.read_text() == '{}\n'
    # Nothing left to remove: no change.
    code, result = run(capsys, files, absent=[str(old), str(gone)])
    assert code == 0 and result['changed'] is False


@pytest.mark.parametrize('absent, message', [
    (['relative/x'], r"^absent\[0\]: 'relative/x' is not absolute$"),
    (['{kept}'], r'^absent\[0\]: .*host\.json is also listed in files'),
    (['{dir}'], r'^absent\[0\]: .* is a directory; only files are removed$'),
])
def test_bad_absent_entries_fail_before_anything_is_written(absent, message, tmp_path, capsys):
    kept = tmp_path / 'host.json'
    absent = [a.format(kept=kept, dir=tmp_path) for a in absent]
    code, result = run(capsys, [{'path': str(kept), 'content': '{}\n'}], absent=absent)
    assert code == 1 and re.match(message, result['msg']), result['msg']
    assert not kept.exists()
