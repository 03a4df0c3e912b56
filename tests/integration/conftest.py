"""Integration fixtures: real Ansible runs against the real kernel, inside the lab guest.

Every test gets a fresh network namespace (so its own IPVS table, its own `lo`,
its own /proc/sys/net) and drives `ansible-playbook` inside it.  Oracles are
independent programs run in the same namespace: ipvsadm, ip, /proc/sys.

Run them with:  tests/lab/run python3 -m pytest tests/integration
"""
import itertools
import json
import os
import subprocess
import tempfile

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_counter = itertools.count()


def pytest_sessionstart(session):
    # A test that cannot fail is a defect: outside the lab these would prove nothing.
    if not os.path.exists("/proc/net/ip_vs") and not os.environ.get("LVS_LAB_GUEST"):
        pytest.exit("integration tests need a kernel with ip_vs: run them as "
                    "`tests/lab/run python3 -m pytest tests/integration`", returncode=3)


class Netns:
    """One network namespace with lo up, plus helpers to run things inside it."""

    def __init__(self, name):
        self.name = name
        subprocess.run(["ip", "netns", "add", name], check=True)
        self.sh("ip link set lo up")

    def sh(self, cmd, check=True):
        """Run a shell command in the namespace; return stdout (text)."""
        proc = subprocess.run(["ip", "netns", "exec", self.name, "sh", "-c", cmd],
                              capture_output=True, text=True, check=False)
        if check and proc.returncode != 0:
            raise AssertionError("%s failed (%d): %s%s" % (cmd, proc.returncode, proc.stdout, proc.stderr))
        return proc.stdout

    def ipvs_save(self):
        """The independent oracle for IPVS state."""
        return self.sh("ipvsadm-save -n")

    def playbook(self, tasks, check=False, diff=False, expect_failure=False, extra_args=()):
        """Run TASKS (a list of task dicts) as one play on localhost inside the namespace.

        Returns the per-task results (list of dicts, in order).  A failing task is
        returned like any other (its result has failed=True) when expect_failure is set;
        otherwise a non-zero exit raises with Ansible's output.
        """
        play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
                 "tasks": tasks}]
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as fh:
            yaml.safe_dump(play, fh)
            path = fh.name
        env = dict(os.environ,
                   # ansible.posix ships in the lab image (core has no json callback)
                   ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
                   ANSIBLE_LOCALHOST_WARNING="False",
                   ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
                   ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3",
                   ANSIBLE_PIPELINING="True")
        cmd = ["ip", "netns", "exec", self.name, "ansible-playbook", "-i", "localhost,", path]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        cmd.extend(extra_args)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        finally:
            os.unlink(path)
        try:
            out = json.loads(proc.stdout)
        except ValueError:
            raise AssertionError("ansible-playbook gave no JSON (rc=%d):\n%s\n%s"
                                 % (proc.returncode, proc.stdout, proc.stderr))
        results = [t["hosts"]["localhost"] for t in out["plays"][0]["tasks"]]
        if proc.returncode != 0 and not expect_failure:
            raise AssertionError("playbook failed (rc=%d):\n%s"
                                 % (proc.returncode, json.dumps(results, indent=1)))
        return results

    def delete(self):
        subprocess.run(["ip", "netns", "del", self.name], check=False)


@pytest.fixture
def netns():
    # netns deletion is asynchronous: never reuse a name within one run.
    ns = Netns("itest%d_%d" % (os.getpid(), next(_counter)))
    try:
        yield ns
    finally:
        ns.delete()
