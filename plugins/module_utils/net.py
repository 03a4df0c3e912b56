# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The network layer of lvs_vip, arp_suppress and ipip_tunnel.

Three kinds of work live here, and nothing else:

* validation of what the user asked for (pure functions; every error names the
  option it is about and says how to fix it),
* sysctl values, read from and written to /proc/sys (per network namespace, like
  the kernel itself), plus the optional persistent copy in a sysctl.d file,
* addresses, host routes and link state over netlink with pyroute2's IPRoute.

Modules validate everything and read the live state first, compute a plan, and
only then apply it, so bad input never leaves a half-configured kernel.

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
import ipaddress
import os
import stat
import tempfile
import traceback

# pyroute2 is imported on first use (open_iproute), after all validation: bad input fails
# without paying for the import, which takes seconds on a slow host.
IPRoute = None
PYROUTE2_IMPORT_ERROR = None


class NetlinkError(Exception):
    """Stands for pyroute2's NetlinkError until pyroute2 is loaded (never raised itself)."""


def _load_pyroute2():
    global IPRoute, NetlinkError, PYROUTE2_IMPORT_ERROR
    if IPRoute is None and PYROUTE2_IMPORT_ERROR is None:
        try:
            from pyroute2 import IPRoute as iproute
            from pyroute2.netlink.exceptions import NetlinkError as netlink_error
        except ImportError:
            PYROUTE2_IMPORT_ERROR = traceback.format_exc()
        else:
            IPRoute, NetlinkError = iproute, netlink_error
    return IPRoute is not None


from ansible.module_utils.common.text.converters import to_text

PROC_SYS = "/proc/sys"
# Interface names are at most IFNAMSIZ - 1 = 15 bytes (include/uapi/linux/if.h).
IFNAMSIZ = 16
RT_TABLE_MAIN = 254
RT_SCOPE_LINK = 253
RT_SCOPE_NOWHERE = 255
SYSCTL_FILE_HEADER = "# Managed in part by the lvs.cluster collection; other lines are kept as they are."
SYSCTL_FILE_MODE = 0o644


class NetError(Exception):
    """A failure to report to the user as is (the module turns it into fail_json)."""


# --------------------------------------------------------------------------
# Validation (pure)
# --------------------------------------------------------------------------

def validate_ifname(name, field):
    """Check NAME against the kernel's rules for interface names (dev_valid_name)."""
    if not isinstance(name, str) or not name:
        raise NetError("%s: an interface name is required" % field)
    if len(name.encode("utf-8")) >= IFNAMSIZ:
        raise NetError("%s: interface name %r is longer than %d bytes, the kernel limit"
                       % (field, name, IFNAMSIZ - 1))
    if name in (".", "..") or "/" in name or ":" in name or any(c.isspace() for c in name):
        raise NetError("%s: %r is not a valid interface name (no '/', ':' or whitespace; not '.' or '..')"
                       "; use the device name as `ip link` shows it" % (field, name))
    return name


def parse_address(value, field="address", family=None):
    """Return VALUE as an ipaddress object usable as a VIP.

    FAMILY, when given (4 or 6), restricts the accepted family.
    """
    if value is None or str(value).strip() == "":
        raise NetError("%s: an IP address is required" % field)
    text = str(value).strip()
    if "/" in text:
        raise NetError("%s: %r contains a prefix length; give the bare address in `%s` "
                       "and the length in `prefix`" % (field, text, field))
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise NetError("%s: %r is not an IPv4 or IPv6 address" % (field, text))
    if family is not None and addr.version != family:
        raise NetError("%s: %s is an IPv%d address; this option takes IPv%d only"
                       % (field, addr, addr.version, family))
    if addr.is_unspecified or addr.is_multicast:
        raise NetError("%s: %s is not a unicast address; a VIP must be a unicast address" % (field, addr))
    if addr.version == 4 and addr == ipaddress.IPv4Address("255.255.255.255"):
        raise NetError("%s: 255.255.255.255 is the broadcast address, not a VIP" % field)
    if addr.is_loopback:
        raise NetError("%s: %s is a loopback address; a VIP must be reachable from other hosts" % (field, addr))
    if addr.version == 6 and addr.is_link_local:
        raise NetError("%s: %s is link-local; use a global or unique-local IPv6 VIP" % (field, addr))
    return addr


def default_prefix(addr):
    """A VIP is a single host unless told otherwise: /32 for IPv4, /128 for IPv6."""
    return 32 if addr.version == 4 else 128


def validate_prefix(prefix, addr, field="prefix"):
    maximum = default_prefix(addr)
    if prefix is None:
        return maximum
    if isinstance(prefix, bool) or not isinstance(prefix, int):
        raise NetError("%s: %r is not an integer prefix length" % (field, prefix))
    if prefix < 1 or prefix > maximum:
        raise NetError("%s: %d is out of range for IPv%d; use 1..%d (%d for a single-host VIP)"
                       % (field, prefix, addr.version, maximum, maximum))
    return prefix


def validate_label(label, interface, addr, field="label"):
    """An address label names an IPv4 alias such as eth0:0.

    The kernel stores any label, but iproute2 and ifconfig require it to start with
    the interface name; we require the ifconfig alias form INTERFACE:SUFFIX so the
    alias shows up where users look for it.
    """
    if label is None:
        return None
    if addr.version != 4:
        raise NetError("%s: labels exist for IPv4 addresses only; remove `%s` for %s" % (field, field, addr))
    if not isinstance(label, str) or not label:
        raise NetError("%s: must be a non-empty string like %s:0" % (field, interface))
    if not label.startswith(interface + ":") or len(label) == len(interface) + 1:
        raise NetError("%s: %r must start with the interface name followed by a colon and a suffix, "
                       "e.g. %s:0 (kernel/iproute2 rule: the label begins with the device name)"
                       % (field, label, interface))
    if len(label.encode("utf-8")) >= IFNAMSIZ:
        raise NetError("%s: %r is longer than %d bytes, the kernel limit for labels" % (field, label, IFNAMSIZ - 1))
    if any(c.isspace() for c in label) or "/" in label:
        raise NetError("%s: %r contains whitespace or '/'" % (field, label))
    return label


def validate_sysctl_file(path, field="sysctl_file"):
    """The sysctl.d file must be an absolute path in an existing directory."""
    if path is None:
        return None
    if not isinstance(path, str) or not os.path.isabs(path):
        raise NetError("%s: %r is not an absolute path; use e.g. /etc/sysctl.d/90-lvs.conf" % (field, path))
    if path.endswith("/"):
        raise NetError("%s: %r names a directory; name a file such as %s90-lvs.conf" % (field, path, path))
    if not path.endswith(".conf"):
        # systemd-sysctl and `sysctl --system` only read *.conf in sysctl.d.
        raise NetError("%s: %r does not end in .conf; sysctl.d only reads *.conf files" % (field, path))
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise NetError("%s: directory %s does not exist; create it first or choose another path"
                       % (field, parent))
    if os.path.exists(path) and not os.path.isfile(path):
        raise NetError("%s: %s exists and is not a regular file" % (field, path))
    return path


# --------------------------------------------------------------------------
# sysctl keys and live values in /proc/sys
# --------------------------------------------------------------------------

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
            raise NetError(missing_hint or ("%s does not exist in this network namespace" % path))
        raise NetError("cannot read %s: %s" % (path, exc))


def check_ipv6_usable(ifname, field="address"):
    """Fail before any change when IPv6 addresses cannot be added to IFNAME."""
    if not os.path.isdir(os.path.join(PROC_SYS, "net", "ipv6")):
        raise NetError("%s: this kernel has no IPv6 (load the ipv6 kernel module (modprobe ipv6) "
                       "or drop ipv6.disable=1 from the kernel command line)" % field)
    key = ("net", "ipv6", "conf", ifname, "disable_ipv6")
    if os.path.exists(key_path(key)) and read_sysctl(key) == "1":
        raise NetError("%s: IPv6 is disabled on %s (%s = 1); enable it or use an IPv4 VIP"
                       % (field, ifname, key_text(key)))


def write_sysctl(key, value):
    path = key_path(key)
    try:
        with open(path, "w") as fh:
            fh.write("%s\n" % value)
    except (IOError, OSError) as exc:
        raise NetError("cannot write %s = %s: %s" % (path, value, exc))


def sysctl_changes(wanted, live):
    """Keys of WANTED (key -> value) whose LIVE value differs, in WANTED's order."""
    return [key for key, value in wanted.items() if normalize_value(value) != live.get(key)]


def render_sysctl_values(values):
    """key = value lines, for diffs."""
    return "".join("%s = %s\n" % (key_text(key), value) for key, value in values.items())


# --------------------------------------------------------------------------
# sysctl.d file (merge semantics, see module docstring)
# --------------------------------------------------------------------------

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
        raise NetError("cannot read %s: %s" % (path, exc))


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
                raise NetError("cannot remove %s: %s" % (path, exc))
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


def file_mode(path):
    try:
        return "%04o" % stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None


# --------------------------------------------------------------------------
# Netlink (pyroute2 IPRoute)
# --------------------------------------------------------------------------

def open_iproute():
    if not _load_pyroute2():
        raise NetError("the pyroute2 Python library is required (pip install 'pyroute2>=0.9.5')")
    return IPRoute()


def link_index(ipr, ifname, field, missing_hint=None):
    found = ipr.link_lookup(ifname=ifname)
    if not found:
        raise NetError(missing_hint or ("%s: no interface named %r in this network namespace; "
                                        "check the name with `ip link`" % (field, ifname)))
    return found[0]


def link_state(ipr, index):
    """ifname, kind (e.g. 'ipip', None for lo) and whether the link is administratively up."""
    msg = list(ipr.get_links(index))[0]
    return {
        "ifname": msg.get("IFLA_IFNAME"),
        "kind": msg.get(("IFLA_LINKINFO", "IFLA_INFO_KIND")),
        "up": bool(msg["flags"] & 1),  # IFF_UP
    }


def set_link_up(ipr, index, up):
    ipr.link("set", index=index, state="up" if up else "down")


def list_addresses(ipr, index, version):
    """Addresses on the link as dicts: address (ipaddress object), prefix, label."""
    family = 2 if version == 4 else 10
    found = []
    for msg in ipr.get_addr(index=index, family=family):
        text = msg.get("IFA_LOCAL") if version == 4 else None
        text = text or msg.get("IFA_ADDRESS")
        if text is None:
            continue
        found.append({"address": ipaddress.ip_address(text),
                      "prefix": msg["prefixlen"],
                      "label": msg.get("IFA_LABEL")})
    return found


def format_address(entry):
    text = "%s/%d" % (entry["address"], entry["prefix"])
    if entry.get("label"):
        text += " label %s" % entry["label"]
    return text


def add_address(ipr, index, addr, prefix, label=None, ifname="<interface>"):
    kwargs = {"index": index, "address": str(addr), "prefixlen": prefix}
    if addr.version == 4:
        kwargs["local"] = str(addr)
        if prefix < 31:
            # What `ip addr add ... brd +` and ifconfig set: the subnet broadcast.
            kwargs["broadcast"] = str(ipaddress.ip_network("%s/%d" % (addr, prefix), strict=False)
                                      .broadcast_address)
        if label:
            kwargs["label"] = label
    try:
        ipr.addr("add", **kwargs)
    except NetlinkError as exc:
        if exc.code == errno.EEXIST:  # added concurrently: the outcome we wanted
            return
        if addr.version == 6 and exc.code == errno.EAFNOSUPPORT:
            raise NetError("address: cannot add %s: this kernel has no IPv6 (load the ipv6 kernel module "
                           "(modprobe ipv6) or drop ipv6.disable=1 from the kernel command line)" % addr)
        if addr.version == 6 and exc.code == errno.EACCES:
            raise NetError("address: cannot add %s: IPv6 is disabled on %s "
                           "(net.ipv6.conf.%s.disable_ipv6 = 1)" % (addr, ifname, ifname))
        raise NetError("cannot add %s/%d: %s" % (addr, prefix, exc))


def del_address(ipr, index, addr, prefix):
    try:
        ipr.addr("del", index=index, address=str(addr), prefixlen=prefix)
    except NetlinkError as exc:
        if exc.code not in (errno.EADDRNOTAVAIL, errno.ENOENT, errno.ESRCH):  # already gone
            raise NetError("cannot remove %s/%d: %s" % (addr, prefix, exc))


def _route_family(addr):
    return 2 if addr.version == 4 else 10


def find_host_route(ipr, addr, prefix, index):
    """True when the main table holds ADDR/PREFIX via device INDEX (`route add -host`)."""
    for msg in ipr.get_routes(family=_route_family(addr), table=RT_TABLE_MAIN):
        if msg.get("RTA_TABLE", msg.get("table")) != RT_TABLE_MAIN:
            continue
        if msg["dst_len"] != prefix or msg.get("RTA_OIF") != index:
            continue
        dst = msg.get("RTA_DST")
        if dst is not None and ipaddress.ip_address(dst) == addr:
            return True
    return False


def add_host_route(ipr, addr, prefix, index):
    kwargs = {"dst": str(addr), "dst_len": prefix, "oif": index, "table": RT_TABLE_MAIN}
    if addr.version == 4:
        kwargs["scope"] = RT_SCOPE_LINK  # what `route add -host X dev D` creates
    try:
        ipr.route("add", **kwargs)
    except NetlinkError as exc:
        if exc.code != errno.EEXIST:
            raise NetError("cannot add host route %s/%d: %s" % (addr, prefix, exc))


def del_host_route(ipr, addr, prefix, index):
    # protocol 0 and (IPv4) scope "nowhere" are the kernel's wildcards: match the route
    # whoever added it (`route add -host` uses proto boot), like `ip route del` does.
    kwargs = {"dst": str(addr), "dst_len": prefix, "oif": index, "table": RT_TABLE_MAIN, "proto": 0}
    if addr.version == 4:
        kwargs["scope"] = RT_SCOPE_NOWHERE
    try:
        ipr.route("del", **kwargs)
    except NetlinkError as exc:
        if exc.code not in (errno.ESRCH, errno.ENOENT):
            raise NetError("cannot remove host route %s/%d: %s" % (addr, prefix, exc))


# --------------------------------------------------------------------------
# sysctl plan shared by arp_suppress and ipip_tunnel
# --------------------------------------------------------------------------

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
