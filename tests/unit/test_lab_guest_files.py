"""tests/lab/guest-files: the command and the LVS_*/CI environment reach the lab guest as they
were on the host, whatever they hold.

The guest reads them the way tests/lab/guest-init does (`. /lab-out/env`, then
`sh /lab-out/cmd`) with the guest's /bin/sh, dash; here with every POSIX sh found.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
GUEST_FILES = os.path.join(REPO, "tests", "lab", "guest-files")

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


def write(tmp_path, env, argv):
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["bash", GUEST_FILES, str(out)] + argv, env=env, check=True)
    return out


def in_guest(shell, out):
    """What the guest's init does with the two files."""
    script = '[ -f "$1/env" ] && . "$1/env"\nsh "$1/cmd"\n'
    clean = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8"}
    run = subprocess.run([shell, "-c", script, "guest-init", str(out)], env=clean,
                         stdout=subprocess.PIPE, check=True)
    return json.loads(run.stdout.decode("utf-8"))


@pytest.mark.parametrize("shell", SHELLS)
def test_awkward_values_and_arguments_arrive_unchanged(tmp_path, shell):
    env = {"PATH": os.environ["PATH"], "CI": "true", "OTHER": "not passed",
           "LVS_LAB_CACHE": "/host/only", "LVS_LAB_MEM": "1", "LVS_LAB_SMP": "1", "LVS_LAB_ACCEL": "tcg",
           "LVS_LAB_TIMEOUT": "3000", "LVS_SANITY_ARGS": "--test pep8 --python '3.11'", "CIX": "no"}
    for i, value in enumerate(AWKWARD):
        env["LVS_X%d" % i] = value
    argv = [sys.executable, "-c", PROBE] + AWKWARD
    out = write(tmp_path, env, argv)

    args, seen = in_guest(shell, out)
    assert args == AWKWARD
    expected = dict((k, v) for k, v in env.items()
                    if (k.startswith("LVS_") or k == "CI")
                    and k not in ("LVS_LAB_CACHE", "LVS_LAB_MEM", "LVS_LAB_SMP", "LVS_LAB_ACCEL"))
    assert seen == expected


def test_nothing_to_pass_writes_an_empty_env(tmp_path):
    out = write(tmp_path, {"PATH": os.environ["PATH"]}, ["true"])
    assert (out / "env").read_text() == ""
    assert (out / "cmd").read_text() == "'true'\n"
