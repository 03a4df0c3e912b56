#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: lvs_files
short_description: Write the files a cluster host needs, all in one task
version_added: 0.1.0
description:
  - Makes each listed file hold exactly the given content and mode, owned by root, the way
    M(ansible.builtin.copy) with O(ansible.builtin.copy#module:content) does, but for several files in one module
    run. The director, realserver and router roles write their generated files (sysctl.d, IPVS rules, the fwmark
    ruleset, the boot script and its service) with it, because every module run costs seconds under emulation.
  - Each file is read first and written only when its content or mode differs, through a temporary file in the same
    directory that is validated (O(files[].validate)) before it atomically replaces the old one.
  - Every file is validated before any file is replaced, so one bad file changes none.
  - Missing parent directories are created with mode 0750.
author:
  - lvs.cluster contributors (@lvs-cluster)
options:
  files:
    description: The files.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path of the file.
        type: path
        required: true
      content:
        description: The whole content of the file.
        type: str
        required: true
      mode:
        description: Octal mode as a string, such as V('0644').
        type: str
        default: '0644'
      validate:
        description:
          - A command that checks the new content before it is used, with V(%s) standing for the temporary file,
            such as V(nft -c -f %s). A non-zero exit fails the task and changes nothing.
        type: str
  absent:
    description:
      - Absolute paths of files to remove when they exist (files an earlier release of the roles wrote and nothing
        reads any more), after every file of O(files) is in place. Not a directory, and not a path of O(files).
    type: list
    elements: path
    default: []
attributes:
  check_mode:
    support: full
    description: Reports which files would change, with their diffs, and writes nothing.
  diff_mode:
    support: full
    description: One diff per changed file.
  platform:
    support: full
    platforms: posix
    description: Any POSIX host.
'''

EXAMPLES = r'''
- name: The director's generated files
  lvs.cluster.lvs_files:
    files:
      - path: /etc/sysctl.d/90-lvs-director.conf
        content: "{{ lookup('ansible.builtin.template', 'sysctl.conf.j2') }}"
      - path: /etc/lvs-cluster/fwmark.nft
        content: "{{ lookup('ansible.builtin.template', 'fwmark.nft.j2') }}"
        mode: '0640'
        validate: nft -c -f %s
'''

RETURN = r'''
changed_files:
  description: The paths written or removed (or that would be in check mode).
  returned: always
  type: list
  elements: str
  sample: [/etc/sysctl.d/90-lvs-director.conf]
'''

import os
import shlex
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule


def _read(path):
    try:
        with open(path, 'rb') as handle:
            return handle.read(), stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None, None


def _mode(text, field):
    try:
        mode = int(str(text), 8)
    except ValueError:
        raise ValueError('%s: %r is not an octal mode such as 0644' % (field, text))
    if mode < 0 or mode > 0o7777:
        raise ValueError('%s: %r is not an octal mode such as 0644' % (field, text))
    return mode


def main():
    module = AnsibleModule(
        argument_spec=dict(files=dict(type='list', elements='dict', required=True, options=dict(
            path=dict(type='path', required=True),
            content=dict(type='str', required=True),
            mode=dict(type='str', default='0644'),
            validate=dict(type='str'),
        )), absent=dict(type='list', elements='path', default=[])),
        supports_check_mode=True,
    )
    wanted = []
    seen = set()
    for index, spec in enumerate(module.params['files']):
        field = 'files[%d]' % index
        path = spec['path']
        if not os.path.isabs(path):
            module.fail_json(msg='%s.path: %r is not absolute' % (field, path))
        if path in seen:
            module.fail_json(msg='%s.path: %s is listed twice' % (field, path))
        seen.add(path)
        try:
            mode = _mode(spec['mode'], field + '.mode')
        except ValueError as exc:
            module.fail_json(msg=str(exc))
        if spec['validate'] is not None and '%s' not in spec['validate']:
            module.fail_json(msg='%s.validate: needs %%s where the file to check goes' % field)
        content = spec['content'].encode('utf-8')
        old, old_mode = _read(path)
        if old != content or old_mode != mode:
            wanted.append((path, content, mode, spec['validate'], old))

    remove = []
    for index, path in enumerate(module.params['absent']):
        field = 'absent[%d]' % index
        if not os.path.isabs(path):
            module.fail_json(msg='%s: %r is not absolute' % (field, path))
        if path in seen:
            module.fail_json(msg='%s: %s is also listed in files (or twice here)' % (field, path))
        seen.add(path)
        if os.path.isdir(path):
            module.fail_json(msg='%s: %s is a directory; only files are removed' % (field, path))
        if os.path.lexists(path):
            remove.append(path)

    diffs = [{'before_header': path, 'after_header': path,
              'before': '' if old is None else old.decode('utf-8', 'replace'),
              'after': content.decode('utf-8', 'replace')} for path, content, mode, check, old in wanted]
    diffs.extend({'before_header': path, 'after_header': '%s (removed)' % path, 'before': '%s\n' % path,
                  'after': ''} for path in remove)
    result = dict(changed=bool(wanted or remove), changed_files=[w[0] for w in wanted] + remove, diff=diffs)
    if module.check_mode or not (wanted or remove):
        module.exit_json(**result)

    # Stage and validate every file before replacing any: one bad file changes none (and
    # directories made for it are removed again).
    staged = []
    made = []
    try:
        for path, content, mode, check, old in wanted:
            directory = os.path.dirname(path)
            missing = []
            while not os.path.isdir(directory):
                missing.insert(0, directory)
                directory = os.path.dirname(directory)
            for directory in missing:
                os.mkdir(directory, 0o750)
                made.append(directory)
            directory = os.path.dirname(path)
            fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', dir=directory)
            staged.append((tmp, path))
            with os.fdopen(fd, 'wb') as handle:
                handle.write(content)
            os.chmod(tmp, mode)
            if check:
                rc, out, err = module.run_command(check.replace('%s', shlex.quote(tmp)))
                if rc != 0:
                    module.fail_json(msg='%s: validation failed (%s): %s'
                                     % (path, check, (err or out).strip()), changed_files=[])
        for tmp, path in staged:
            os.rename(tmp, path)
        staged = made = []
    finally:
        for tmp, path in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
        for directory in reversed(made):
            os.rmdir(directory)
    removed = []
    for path in remove:
        try:
            os.unlink(path)
        except OSError as exc:
            done = [w[0] for w in wanted] + removed
            module.fail_json(msg='absent: cannot remove %s: %s' % (path, exc), changed=bool(done),
                             changed_files=done)
        removed.append(path)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
