"""A failed host check fails with its "missing:" lines as the message (not "non-zero
return code" with the lines buried in the result). Runs the common role's check on the
controller itself, read-only, with an lvs_address no interface of it holds."""
import json
import os
import subprocess
import sys

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  vars:
    lvs_plan: {roles: [router], conf_dir: /etc/lvs-cluster, packages: [], install_packages: true}
    lvs_address: 203.0.113.250/24
  tasks:
    - block:
        - ansible.builtin.import_role:
            name: lvs.cluster.common
            tasks_from: check
      rescue:
        - ansible.builtin.copy:
            content: "{{ {'task': ansible_failed_task.name, 'result': ansible_failed_result} | to_json }}"
            dest: "{{ out }}"
"""


def test_failed_host_check_message_is_its_missing_lines(tmp_path):
    playbook = tmp_path / 'check.yml'
    playbook.write_text(PLAYBOOK)
    out = tmp_path / 'failed.json'
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'),
                           '-i', 'localhost,', '-c', 'local', '-e', 'out=%s' % out,
                           '-e', 'ansible_python_interpreter=%s' % sys.executable, str(playbook)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    failed = json.loads(out.read_text())
    assert failed['task'] == 'Check the host has what its cluster roles need (read-only)'
    assert failed['result']['msg'].splitlines() == [
        'localhost lacks what its cluster roles need, nothing was changed:',
        'missing: lvs_address 203.0.113.250/24 is on no interface of localhost (ip -o addr); '
        'fix hostvars.localhost.lvs_address',
    ]
    # It ran under the interpreter Ansible used, not whatever python3 is on PATH.
    assert failed['result']['python'] == sys.executable
