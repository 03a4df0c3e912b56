# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""sysctl values: live in /proc/sys (per network namespace, like the kernel itself) and
the optional persistent copy in a sysctl.d file, for arp_suppress, ipip_tunnel and lvs_vip.

sysctl.d files are *merged*, not owned: the keys a module manages are replaced in
place (later duplicates of such a key are dropped, since the last one would win at
boot), missing keys are appended, and every other line is kept byte for byte.  So
one file such as /etc/sysctl.d/90-lvs.conf can be shared by arp_suppress,
ipip_tunnel and hand-written settings.  A file whose last managed key is removed
and that holds nothing else but our header is deleted.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import os
import tempfile

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError

PROC_SYS = "/proc/sys"
SYSCTL_FILE_HEADER = "# Managed in part by the lvs.cluster collection; other lines are kept as they are."
SYSCTL_FILE_MODE = 0o644


def validate_sysctl_file(path, field="sysctl_file"):
    """The sysctl.d file must be an absolute path in an existing directory."""
    if path is None:
        return None
    if not isinstance(path, str) or not os.path.isabs(path):
        raise LVSError("%s: %r is not an absolute path; use e.g. /etc/sysctl.d/90-lvs.conf" % (field, path))
    if path.endswith("/"):
        raise LVSError("%s: %r names a directory; name a file such as %s90-lvs.conf" % (field, path, path))
    if not path.endswith(".conf"):
        # systemd-sysctl and `sysctl --system` only read *.conf in sysctl.d.
        raise LVSError("%s: %r does not end in .conf; sysctl.d only reads *.conf files" % (field, path))
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise LVSError("%s: directory %s does not exist; create it first or choose another path"
                       % (field, parent))
    if os.path.exists(path) and not os.path.isfile(path):
        raise LVSError("%s: %s exists and is not a regular file" % (field, path))
    return path


def conf_key(ifname, leaf, family="ipv4"):
    """The key net.<family>.conf.<ifname>.<leaf> as a tuple of path components."""
    return ("net", family, "conf", ifname, leaf)


def parse_key(text):
    """Split a sysctl key as written in sysctl.d into components.

    Both spellings are accepted: dotted (net.ipv4.conf.all.rp_filter) and slashed
    (net/ipv4/conf/eth0.10/rp_filter, needed when a component contains a dot).
    """
    text = text.strip()
    if text.startswith("-"):
        text = text[1:].strip()
    if "/" in text:
        return tuple(p for p in text.strip("/").split("/") if p)
    return tuple(p for p in text.split(".") if p)


def key_text(key):
    """Render KEY for sysctl.d: dotted, unless a component holds a dot (e.g. eth0.10)."""
    if any("." in part for part in key):
        return "/".join(key)
    return ".".join(key)


def key_path(key):
    return os.path.join(PROC_SYS, *key)


def normalize_value(value):
    return " ".join(to_text(value).split())


def read_sysctl(key, missing_hint=None):
    """The live value of KEY (a string), read from /proc/sys."""
    path = key_path(key)
    try:
        with open(path, "r") as fh:
            return normalize_value(fh.read())
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            raise LVSError(missing_hint or ("%s does not exist in this network namespace" % path))
        raise LVSError("cannot read %s: %s" % (path, exc))


def check_ipv6_usable(ifname, field="address"):
    """Fail before any change when IPv6 addresses cannot be added to IFNAME."""
    if not os.path.isdir(os.path.join(PROC_SYS, "net", "ipv6")):
        raise LVSError("%s: this kernel has no IPv6 (load the ipv6 kernel module (modprobe ipv6) "
                       "or drop ipv6.disable=1 from the kernel command line)" % field)
    key = ("net", "ipv6", "conf", ifname, "disable_ipv6")
    if os.path.exists(key_path(key)) and read_sysctl(key) == "1":
        raise LVSError("%s: IPv6 is disabled on %s (%s = 1); enable it or use an IPv4 VIP"
                       % (field, ifname, key_text(key)))


def write_sysctl(key, value):
    path = key_path(key)
    try:
        with open(path, "w") as fh:
            fh.write("%s\n" % value)
    except (IOError, OSError) as exc:
        raise LVSError("cannot write %s = %s: %s" % (path, value, exc))


def sysctl_changes(wanted, live):
    """Keys of WANTED (key -> value) whose LIVE value differs, in WANTED's order."""
    return [key for key, value in wanted.items() if normalize_value(value) != live.get(key)]


def render_sysctl_values(values):
    """key = value lines, for diffs."""
    return "".join("%s = %s\n" % (key_text(key), value) for key, value in values.items())


def _setting_key(line):
    stripped = line.strip()
    if not stripped or stripped[0] in "#;" or "=" not in stripped:
        return None
    return parse_key(stripped.split("=", 1)[0])


def merge_sysctl_file(existing, settings):
    """Return the new text of a sysctl.d file.

    EXISTING is the current text (None when the file does not exist).  SETTINGS
    maps key tuples to a value to set, or to None to remove the key.  Returns None
    when the file should not exist (it would hold nothing but our header).
    """
    lines = existing.splitlines() if existing else []
    if existing is None or not existing.strip():
        lines = [SYSCTL_FILE_HEADER]
    out = []
    written = set()
    for line in lines:
        key = _setting_key(line)
        if key is None or key not in settings:
            out.append(line)
            continue
        value = settings[key]
        if value is None or key in written:
            # Removed, or a later duplicate that would override what we set.
            continue
        out.append("%s = %s" % (key_text(key), value))
        written.add(key)
    for key, value in settings.items():
        if value is not None and key not in written:
            out.append("%s = %s" % (key_text(key), value))
            written.add(key)
    if all(not line.strip() or line == SYSCTL_FILE_HEADER for line in out):
        return None
    return "\n".join(out) + "\n"


def read_text_file(path):
    """The file's text, or None when it does not exist."""
    try:
        with open(path, "r") as fh:
            return fh.read()
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise LVSError("cannot read %s: %s" % (path, exc))


def write_sysctl_file(module, path, text):
    """Atomically replace PATH with TEXT, or delete it when TEXT is None.

    An existing file keeps its mode and owner (atomic_move copies them); a new file
    gets 0644 like the files in /usr/lib/sysctl.d.
    """
    if text is None:
        try:
            os.unlink(path)
        except (IOError, OSError) as exc:
            if exc.errno != errno.ENOENT:
                raise LVSError("cannot remove %s: %s" % (path, exc))
        return
    existed = os.path.exists(path)
    fd, tmp = tempfile.mkstemp(prefix=".lvs-sysctl-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        module.atomic_move(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if not existed:
        os.chmod(path, SYSCTL_FILE_MODE)


class SysctlPlan(object):
    """Live values to set and an optional sysctl.d file to update, with the diff.

    LIVE_WANTED maps keys to values for /proc/sys (may be empty); FILE_SETTINGS maps
    keys to values or None (remove) for the sysctl.d file at PATH (may be None).
    Reading happens in the constructor, so a missing key fails before any write.
    """

    def __init__(self, live_wanted, path=None, file_settings=None, missing_hint=None):
        self.live_before = {}
        for key in live_wanted:
            hint = missing_hint(key) if missing_hint else None
            self.live_before[key] = read_sysctl(key, hint)
        self.live_wanted = live_wanted
        self.live_changes = sysctl_changes(live_wanted, self.live_before)
        self.path = path
        self.file_before = read_text_file(path) if path else None
        self.file_after = merge_sysctl_file(self.file_before, file_settings or {}) if path else None

    @property
    def file_changed(self):
        return self.path is not None and self.file_before != self.file_after

    @property
    def changed(self):
        return bool(self.live_changes) or self.file_changed

    def live_after(self):
        after = dict(self.live_before)
        after.update((k, normalize_value(v)) for k, v in self.live_wanted.items())
        return after

    def apply(self, module):
        for key in self.live_changes:
            write_sysctl(key, self.live_wanted[key])
        if self.file_changed:
            write_sysctl_file(module, self.path, self.file_after)

    def diffs(self):
        out = []
        if self.live_wanted:
            out.append({"before_header": "/proc/sys (live)", "after_header": "/proc/sys (live)",
                        "before": render_sysctl_values(self.live_before),
                        "after": render_sysctl_values(self.live_after())})
        if self.path:
            out.append({"before_header": self.path if self.file_before is not None else "%s (absent)" % self.path,
                        "after_header": self.path if self.file_after is not None else "%s (absent)" % self.path,
                        "before": self.file_before or "",
                        "after": self.file_after or ""})
        return out

    def result(self):
        """Values for the module's return: live values after the run, file state."""
        return {"sysctl": dict((key_text(k), v) for k, v in self.live_after().items()),
                "sysctl_file_changed": self.file_changed}
