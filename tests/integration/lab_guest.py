"""Where the integration tests run their commands: the lab guest, from either side.

From the host side of a lab session (tests/lab/session) every command goes over SSH into
the guest; inside the guest (tests/lab/run) it runs there directly.
"""
import os
import subprocess

IN_GUEST = bool(os.environ.get("LVS_LAB_GUEST"))
SSH_CONFIG = os.environ.get("LVS_LAB_SSH_CONFIG")
# Where the guest has this collection (the 9p share), for Python run there directly.
GUEST_COLLECTIONS = "/usr/share/ansible/collections"


def guest(cmd):
    """Run a shell command in the lab guest (outside every namespace): (rc, stdout, stderr)."""
    argv = ["sh", "-c", cmd] if IN_GUEST else ["ssh", "-F", SSH_CONFIG, "lab-guest", cmd]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr
