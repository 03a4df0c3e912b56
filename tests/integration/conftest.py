"""Integration fixtures: real Ansible runs against the real kernel of the lab guest.

Every test gets a fresh network namespace in the guest (so its own IPVS table, its own
`lo`, its own /proc/sys/net) and drives `ansible-playbook` against it.  Oracles are
independent programs run in the same namespace: ipvsadm, ip, /proc/sys.

Run them from the host side of a lab session, like the scenarios (ansible-playbook runs
natively and reaches the guest over SSH; each module runs in the test's namespace through
an interpreter wrapper), or inside the guest (`connection: local`, ip netns exec):

    tests/lab/session python3 -m pytest tests/integration
    tests/lab/run python3 -m pytest tests/integration

Paths are the same on both sides: the checkout is shared into the guest, and in a session
the guest gets a link from this checkout's path to it; pytest's temporary directories are
made inside the checkout (pytest_configure), so a file a test writes is the file the
module reads, and the other way round.
"""
import itertools
import json
import os
import shlex
import subprocess
import tempfile

import pytest
import yaml
from lab_guest import IN_GUEST, SSH_CONFIG, guest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
_counter = itertools.count()

# Another pyroute2 line for the modules than the guest's own (PyPI's, in /usr/local):
# LVS_ITEST_PYROUTE2 names an unpacked python3-pyroute2 .deb on this side
# (tests/lab/debian-pyroute2) and LVS_ITEST_PYROUTE2_VERSION the version it must be.
# It is copied into the guest and put first on the modules' path.
PYROUTE2_TREE = os.environ.get("LVS_ITEST_PYROUTE2")
PYROUTE2_VERSION = os.environ.get("LVS_ITEST_PYROUTE2_VERSION")
GUEST_PYROUTE2 = "/run/lvs-itest/pyroute2"
GUEST_PYTHONPATH = GUEST_PYROUTE2 + "/usr/lib/python3/dist-packages"


def pytest_configure(config):
    if not IN_GUEST and SSH_CONFIG and not config.option.basetemp:
        # Temporary files where the guest sees them under the same path (module docstring).
        config.option.basetemp = os.path.join(REPO, ".integration-tmp-%d" % os.getpid())


def pytest_sessionstart(session):
    # A test that cannot fail is a defect: without the lab's kernel these prove nothing.
    if IN_GUEST:
        return
    if not SSH_CONFIG or guest("test -e /proc/net/ip_vs")[0] != 0:
        pytest.exit("integration tests need the lab's kernel with ip_vs: run them as "
                    "`tests/lab/session python3 -m pytest tests/integration`", returncode=3)
    rc, _out, err = guest("mkdir -p %s && ln -sfn /repo %s"
                          % (shlex.quote(os.path.dirname(REPO)), shlex.quote(REPO)))
    if rc != 0:
        pytest.exit("could not link %s to the checkout in the guest: %s" % (REPO, err), returncode=3)
    if PYROUTE2_TREE:
        _install_pyroute2_line()


def _install_pyroute2_line():
    """Copy the pyroute2 line under test into the guest; check the modules' Python gets it."""
    tar = subprocess.Popen(["tar", "-C", PYROUTE2_TREE, "-c", "usr/lib/python3/dist-packages"],
                           stdout=subprocess.PIPE)
    untar = subprocess.run(["ssh", "-F", SSH_CONFIG, "lab-guest",
                            "rm -rf {d} && mkdir -p {d} && tar -C {d} -x".format(d=GUEST_PYROUTE2)],
                           stdin=tar.stdout, capture_output=True, text=True, check=False)
    tar.stdout.close()
    if tar.wait() != 0 or untar.returncode != 0:
        pytest.exit("could not copy %s into the guest: %s" % (PYROUTE2_TREE, untar.stderr), returncode=3)
    rc, out, err = guest("PYTHONPATH=%s python3 -c 'import importlib.metadata as m, pyroute2; "
                         "print(m.version(\"pyroute2\"), pyroute2.__file__)'" % GUEST_PYTHONPATH)
    found = out.split()
    if rc != 0 or len(found) != 2 or not found[1].startswith(GUEST_PYTHONPATH + "/"):
        pytest.exit("the guest's python3 does not take pyroute2 from %s: %s%s" % (GUEST_PYROUTE2, out, err),
                    returncode=3)
    if PYROUTE2_VERSION and found[0] != PYROUTE2_VERSION:
        pytest.exit("pyroute2 %s in the guest, %s expected" % (found[0], PYROUTE2_VERSION), returncode=3)


def pytest_unconfigure(config):
    if not IN_GUEST and SSH_CONFIG:
        subprocess.run(["rm", "-rf", os.path.join(REPO, ".integration-tmp-%d" % os.getpid())], check=False)


class Netns:
    """One network namespace in the guest with lo up, plus helpers to run things inside it."""

    def __init__(self, name):
        self.name = name
        # The interpreter Ansible runs the test's modules with: python3 in this namespace.
        self.python = "/run/lvs-itest/%s-python3" % name
        path = ("PYTHONPATH=%s " % GUEST_PYTHONPATH) if PYROUTE2_TREE else ""
        rc, _out, err = guest("ip netns add {ns} && ip -n {ns} link set lo up && mkdir -p /run/lvs-itest && "
                              "printf '#!/bin/sh\n{path}exec ip netns exec {ns} /usr/bin/python3 \"$@\"\n' > {py} && "
                              "chmod 755 {py}".format(ns=name, py=self.python, path=path))
        if rc != 0:
            raise AssertionError("could not make namespace %s: %s" % (name, err))

    def sh(self, cmd, check=True):
        """Run a shell command in the namespace; return stdout (text)."""
        rc, stdout, stderr = guest("ip netns exec %s sh -c %s" % (self.name, shlex.quote(cmd)))
        if check and rc != 0:
            raise AssertionError("%s failed (%d): %s%s" % (cmd, rc, stdout, stderr))
        return stdout

    def ipvs_save(self):
        """The independent oracle for IPVS state."""
        return self.sh("ipvsadm-save -n")

    def playbook(self, tasks, check=False, diff=False, expect_failure=False, extra_args=()):
        """Run TASKS (a list of task dicts) as one play on localhost inside the namespace.

        Returns the per-task results (list of dicts, in order).  A failing task is
        returned like any other (its result has failed=True) when expect_failure is set;
        otherwise a non-zero exit raises with Ansible's output.
        """
        play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
        if IN_GUEST:
            play[0]["connection"] = "local"
            inventory = {"all": {"hosts": {"localhost": {}}}}
            prefix = ["ip", "netns", "exec", self.name]
        else:
            # The guest over SSH as root; each module in the namespace (self.python).
            inventory = {"all": {"hosts": {"localhost": {
                "ansible_connection": "ssh", "ansible_host": "lab-guest", "ansible_user": "root",
                "ansible_python_interpreter": self.python}}}}
            prefix = []
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as fh:
            yaml.safe_dump(play, fh)
            path = fh.name
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as fh:
            yaml.safe_dump(inventory, fh)
            inventory_path = fh.name
        env = dict(os.environ,
                   # Our own stdout callback: the results as JSON (core has no json callback).
                   ANSIBLE_CALLBACK_PLUGINS=os.path.join(HERE, "callback_plugins"),
                   ANSIBLE_STDOUT_CALLBACK="lvs_results",
                   ANSIBLE_LOCALHOST_WARNING="False",
                   ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
                   ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3",
                   ANSIBLE_PIPELINING="True",
                   # ansible-core 2.24's default, here in the guest too (tests/lab/run).
                   ANSIBLE_INJECT_FACT_VARS="False")
        cmd = prefix + ["ansible-playbook", "-i", inventory_path, path]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        cmd.extend(extra_args)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        finally:
            os.unlink(path)
            os.unlink(inventory_path)
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
        guest("ip netns del %s; rm -f %s" % (self.name, self.python))


@pytest.fixture
def netns():
    # netns deletion is asynchronous: never reuse a name within one run.
    ns = Netns("itest%d_%d" % (os.getpid(), next(_counter)))
    try:
        yield ns
    finally:
        ns.delete()
