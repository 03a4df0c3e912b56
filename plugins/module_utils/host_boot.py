# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The boot program: what a reboot loses, restored by lvs_host's own converge code.

At boot the kernel has lost the VIPs, tunl0's state, the nft table, the reply rules and
routes, the IPVS table and its timeouts. The OS restores what it can (kernel modules from
modules-load.d, sysctls from sysctl.d); the rest is restored by the boot program, which
the lvs-cluster service (systemd unit or sysv init script) runs with the state file:

    /usr/local/lib/lvs-cluster/lvs-cluster-boot /etc/lvs-cluster/host.json

The program is a Python zip application (PEP 441) that lvs_host writes from its own module
payload (the zip Ansible sent it: this collection's module_utils and the ansible-core
module_utils they import), so boot runs exactly the code the playbook run was tested with,
on the interpreter Ansible used; no Ansible is needed on the host. The state file is the
options of the last lvs_host run, validated again at boot with the same argument spec.
Boot never enables, starts or stops services: the init system does that.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError

# What the program runs: main() below.
PROGRAM_MAIN = (b"# The lvs.cluster boot program (see host_boot.py): restores this host's cluster state.\n"
                b"import sys\n"
                b"from ansible_collections.lvs.cluster.plugins.module_utils.host_boot import main\n"
                b"sys.exit(main())\n")
# The trees of the payload the program carries; the rest (the wrapper's sitecustomize.py,
# which names the run's temporary directory) stays behind.
PROGRAM_TREES = ("ansible/", "ansible_collections/")
# Fixed member times: the same code gives the same members, whenever it is packed.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
# Options that belong to a playbook run, not to a boot.
RUN_ONLY = ("services", "stop_sync_daemons", "boot")
# Where the commands are at boot (a unit's PATH may lack the sbin directories).
BOOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def payload_archive(origin=None):
    """The zip this code was imported from (the module payload Ansible sent), or None
    (imported from a directory, as in the unit tests or a collection checkout)."""
    path = os.path.abspath(origin or __file__)
    while True:
        parent = os.path.dirname(path)
        if parent == path:
            return None
        if os.path.isfile(path) and zipfile.is_zipfile(path):
            return path
        path = parent


def program_members(archive):
    """{name: bytes} of the program packed from ARCHIVE (a payload zip)."""
    members = {}
    with zipfile.ZipFile(archive) as src:
        for name in src.namelist():
            if name.startswith(PROGRAM_TREES) and not name.endswith("/"):
                members[name] = src.read(name)
    if not any(name.endswith("/module_utils/host_boot.py") for name in members):
        raise LVSError("boot: %s is not an lvs_host payload (no host_boot module in it)" % archive)
    members["__main__.py"] = PROGRAM_MAIN
    return members


def pack_program(interpreter, members):
    """The program's bytes: '#!INTERPRETER' and a zip of MEMBERS, sorted, at fixed times."""
    buf = io.BytesIO()
    buf.write(b"#!" + interpreter.encode() + b"\n")
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, members[name])
    return buf.getvalue()


def read_program(path):
    """(interpreter, members) of the program at PATH; None when it is missing or is not one
    (then it is replaced)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except (IOError, OSError):
        return None
    first = data.split(b"\n", 1)[0]
    if not first.startswith(b"#!"):
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = dict((name, zf.read(name)) for name in zf.namelist())
    except (zipfile.BadZipfile, IOError, OSError, ValueError):
        return None
    return first[2:].decode("utf-8", "replace"), members


def state_text(params):
    """The state file's text: PARAMS (lvs_host's options) without the run-only ones."""
    state = dict((k, v) for k, v in params.items() if k not in RUN_ONLY)
    return json.dumps(state, indent=1, sort_keys=True) + "\n"


class BootModule(object):
    """The part of AnsibleModule that host_converge.run() uses, at boot: the state file's
    options validated with lvs_host's argument spec, commands run with subprocess."""

    check_mode = False
    _diff = False

    def __init__(self, params):
        self.params = params

    def run_command(self, argv):
        env = dict(os.environ, LC_ALL="C", LANG="C", PATH=BOOT_PATH)
        # At boot there is no AnsibleModule, whose run_command this stands in for.
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,  # pylint: disable=ansible-bad-function
                                env=env)
        out, err = proc.communicate()
        return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def get_bin_path(self, name):
        return shutil.which(name, path=BOOT_PATH)

    def fail_json(self, msg, **kwargs):
        raise LVSError(msg)


def load_state(path):
    """The options in the state file PATH, validated and completed with lvs_host's argument
    spec; LVSError naming the file and the problem."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    from ansible_collections.lvs.cluster.plugins.module_utils.host_converge import ARGUMENT_SPEC

    try:
        with open(path) as fh:
            params = json.load(fh)
    except (IOError, OSError) as exc:
        raise LVSError("cannot read the state file %s: %s" % (path, exc))
    except ValueError as exc:
        raise LVSError("the state file %s is not JSON: %s" % (path, exc))
    if not isinstance(params, dict):
        raise LVSError("the state file %s holds no options (a JSON object)" % path)
    result = ArgumentSpecValidator(ARGUMENT_SPEC).validate(params)
    if result.error_messages:
        raise LVSError("the state file %s: %s" % (path, "; ".join(result.error_messages)))
    params = result.validated_parameters
    params.update(services=[], stop_sync_daemons=False, boot=None)
    return params


def main(argv=None, out=None, err=None):
    """lvs-cluster-boot STATE_FILE: converge the host to STATE_FILE, one line per change.
    Exit 0 when the host matches it, 1 when a step failed (the lines say what was done
    before), 2 for a bad call or state file."""
    argv = sys.argv[1:] if argv is None else argv
    out = out or sys.stdout
    err = err or sys.stderr
    if len(argv) != 1 or argv[0].startswith("-"):
        err.write("usage: lvs-cluster-boot STATE_FILE   (e.g. /etc/lvs-cluster/host.json)\n")
        return 2
    from ansible_collections.lvs.cluster.plugins.module_utils.host_converge import ConvergeFailed, converge
    try:
        module = BootModule(load_state(argv[0]))
    except LVSError as exc:
        err.write("lvs-cluster: error: %s\n" % exc)
        return 2
    try:
        result = converge(module)
    except ConvergeFailed as exc:
        for line in exc.changes:
            out.write("lvs-cluster: %s\n" % line)
        err.write("lvs-cluster: error: %s\n" % exc.msg)
        return 1
    for line in result["changes"]:
        out.write("lvs-cluster: %s\n" % line)
    out.write("lvs-cluster: host state restored from %s (%d changes)\n" % (argv[0], len(result["changes"])))
    return 0
