"""tests/lab/guest-cmd: the command and the LVS_*/CI environment reach the lab guest as they
were on the host, whatever they hold.

tests/lab/run sends guest-cmd's line over SSH; the guest's sshd runs it as `SHELL -c LINE`
(root's shell); here with every POSIX sh found.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
GUEST_CMD = os.path.join(REPO, "tests", "lab", "guest-cmd")

AWKWARD = [
    "it's", "'", "''", "a'b'c", "$HOME", "${HOME}", "`id`", "$(id)", "back\\slash", "\\'",
    'double "quoted"', "new\nline", "trailing newline\n", "  spaces  ", "", "*", "tab\there",
    "\u00e9t\u00e9 \u00fcn\u00efcode", "%s %q %%", "!event", "-n", "a;b|c&d>e<f", "#not a comment",
    "x=y z", "\\n literal",
]
SHELLS = sorted(set(os.path.realpath(path) for path in (shutil.which("dash"), "/bin/sh", shutil.which("bash")) if path))

# Prints its arguments and the LVS_* and CI variables it sees.
PROBE = ("import json, os, sys; print(json.dumps([sys.argv[1:], "
         "{k: v for k, v in os.environ.items() if k.startswith('LVS_') or k == 'CI'}]))")


def line(env, argv):
    return subprocess.run(["bash", GUEST_CMD] + argv, env=env, check=True,
                          stdout=subprocess.PIPE).stdout.decode("utf-8")


def in_guest(shell, command_line):
    """What the guest's sshd does with the line (its `cd /repo` made a no-op here)."""
    clean = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8"}
    run = subprocess.run([shell, "-c", "cd() { :; }\n" + command_line], env=clean,
                         stdout=subprocess.PIPE, check=True)
    return json.loads(run.stdout.decode("utf-8"))


@pytest.mark.parametrize("shell", SHELLS)
def test_awkward_values_and_arguments_arrive_unchanged(shell):
    env = {"PATH": os.environ["PATH"], "CI": "true", "OTHER": "not passed",
           "LVS_LAB_SSH_CONFIG": "/host/ssh_config", "LVS_LAB_CACHE": "/host/only", "LVS_LAB_MEM": "1", "LVS_LAB_SMP": "1", "LVS_LAB_ACCEL": "tcg",
           "LVS_LAB_TIMEOUT": "3000", "LVS_SANITY_ARGS": "--test pep8 --python '3.11'", "CIX": "no"}
    for i, value in enumerate(AWKWARD):
        env["LVS_X%d" % i] = value
    argv = [sys.executable, "-c", PROBE] + AWKWARD
    args, seen = in_guest(shell, line(env, argv))
    assert args == AWKWARD
    expected = dict((k, v) for k, v in env.items()
                    if (k.startswith("LVS_") or k == "CI")
                    and k not in ("LVS_LAB_SSH_CONFIG", "LVS_LAB_CACHE", "LVS_LAB_MEM", "LVS_LAB_SMP", "LVS_LAB_ACCEL"))
    assert seen == expected


def test_nothing_to_pass_is_only_the_command_at_the_repo():
    assert line({"PATH": os.environ["PATH"]}, ["true"]) == "cd /repo && exec 'true'\n"
