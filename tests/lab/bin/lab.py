"""lab: lab hosts made of Linux namespaces, inside the lab guest.

A lab host is what a container is, built by hand so it stays cheap under emulation:
  - its own network namespace (/run/netns/lab-NAME), NICs are veth pairs into a bridge
    per segment (the segment's "switch"), addresses and default route from the topology;
  - its own mount, UTS, IPC, PID and cgroup namespaces (its cgroup tree is
    /sys/fs/cgroup/lab/NAME of the guest);
  - its own root filesystem: an overlay of the guest's root with a private upper layer,
    so /etc, /var, /srv ... are its own and survive a stop/start (a reboot), while /run
    and /tmp are fresh tmpfs at every start, as on a server;
  - an init (the topology's `init:`, or LVS_LAB_HOST_INIT for every host): systemd
    (the default) as PID 1, booting multi-user.target with its units, sysctl.d and
    modules-load.d, stopped by a real shutdown; or sysv, where lab-host-init applies
    /etc/sysctl.d and starts the services enabled in /etc/rc2.d, with tini as PID 1.

Commands (`lab` is a shell front end; `exec` never pays for a Python start):
  lab up TOPOLOGY            create and start every host of a topology file
  lab down [TOPOLOGY]        destroy the topology's hosts (default: every lab host)
  lab create NAME [--topology T] | destroy NAME
  lab start NAME...          boot the hosts side by side
  lab stop NAME... [--power-cut]
                             shut the hosts down side by side through their init
                             (systemd: poweroff; sysv hosts and --power-cut: every
                             process killed at once, as a pulled power cord)
  lab exec NAME CMD...       run CMD inside a host
  lab inventory TOPOLOGY [--connection ssh|lvs_lab]
                             Ansible inventory (YAML) for the topology's hosts: over SSH
                             from the host side (default), or lvs_lab (nsenter) in the guest

From the host side (a lab session, tests/lab/session) the same commands go over SSH into
the guest; a lab host is reached as SSH user NAME, whose login shell (lab-login) enters it.
  lab ls                     list hosts and their state
"""
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time

STATE = "/run/lab/hosts"
BOOT_SECONDS = 120
CGROUPS = "/sys/fs/cgroup/lab"
INITS = ("systemd", "sysv")
HERE = os.path.dirname(os.path.realpath(__file__))
LOGIN_SHELL = os.path.join(HERE, "lab-login")
TOPOLOGIES = os.path.join(os.path.dirname(HERE), "topologies")


def die(msg):
    sys.stderr.write("lab: error: %s\n" % msg)
    sys.exit(2)


def sh(*argv, check=True, **kw):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kw)
    if check and proc.returncode != 0:
        die("%s failed: %s" % (" ".join(argv), proc.stderr.strip() or proc.stdout.strip()))
    return proc.stdout


def load_topology(name_or_path):
    import yaml  # only topology commands pay for it
    path = name_or_path
    if not os.path.exists(path):
        path = os.path.join(TOPOLOGIES, name_or_path + ".yml")
    if not os.path.exists(path):
        die("no topology %r (looked in %s)" % (name_or_path, TOPOLOGIES))
    with open(path) as fh:
        topo = yaml.safe_load(fh)
    topo["_path"] = os.path.abspath(path)
    for hname, host in topo["hosts"].items():
        if host.get("init", "systemd") not in INITS:
            die("%s: host %s: init is one of %s, not %r" % (path, hname, ", ".join(INITS), host["init"]))
        for i, nic in enumerate(host.get("nics", [])):
            nic.setdefault("name", "eth%d" % i)
            if nic["segment"] not in topo["segments"]:
                die("%s: host %s nic %s is on unknown segment %r"
                    % (path, hname, nic["name"], nic["segment"]))
    return topo


# --- per-host state -------------------------------------------------------------------

def hdir(name):
    return os.path.join(STATE, name)


def read_spec(name):
    try:
        with open(os.path.join(hdir(name), "spec.json")) as fh:
            return json.load(fh)
    except FileNotFoundError:
        die("no lab host named %r" % name)


def leader_pid(name):
    try:
        with open(os.path.join(hdir(name), "pid")) as fh:
            pid = int(fh.read())
    except (FileNotFoundError, ValueError):
        return None
    return pid if os.path.exists("/proc/%d" % pid) else None


def netns(name):
    return "lab-" + name


# --- network plumbing (a host's "hardware" and boot-time network config) --------------

def ensure_segment(seg):
    bridge = "br-" + seg
    if not os.path.exists("/sys/class/net/" + bridge):
        sh("ip", "link", "add", bridge, "type", "bridge")
        # No STP/forward delay: ports forward at once, like a simple switch.
        sh("ip", "link", "set", bridge, "type", "bridge", "forward_delay", "0", "stp_state", "0")
        sh("ip", "link", "set", bridge, "up")
    return bridge


def plumb(name, spec):
    ns = netns(name)
    sh("ip", "netns", "add", ns)
    sh("ip", "-n", ns, "link", "set", "lo", "up")
    for nic in spec.get("nics", []):
        bridge = ensure_segment(nic["segment"])
        # netns deletion is asynchronous: a fresh peer name every time, never reused.
        peer = "v" + secrets.token_hex(5)
        # A NIC keeps its MAC across a reboot, as hardware does: neighbours' ARP caches
        # stay valid (a fresh MAC would blackhole them until their entries expire).
        digest = hashlib.sha256(("%s/%s" % (name, nic["name"])).encode()).hexdigest()
        mac = "02:" + ":".join(digest[i:i + 2] for i in range(0, 10, 2))
        sh("ip", "link", "add", peer, "type", "veth", "peer", "name", nic["name"], "address", mac,
           "netns", ns)
        sh("ip", "link", "set", peer, "master", bridge, "up")
        if nic.get("address"):
            sh("ip", "-n", ns, "addr", "add", nic["address"], "dev", nic["name"])
        sh("ip", "-n", ns, "link", "set", nic["name"], "up")
    if spec.get("gateway"):
        sh("ip", "-n", ns, "route", "add", "default", "via", spec["gateway"])
    for route in spec.get("routes", []):
        sh("ip", "-n", ns, "route", "add", route["to"], "via", route["via"])
    if spec.get("forwarding"):
        # A router host: forwarding is part of what it is, set at every boot.
        sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")


# --- lifecycle ---------------------------------------------------------------------------

def ensure_login(name):
    """The guest account NAME (uid 0) whose login shell enters lab host NAME: how the host
    side reaches it over SSH. Made once per guest boot, on the host's first create."""
    import pwd
    try:
        shell = pwd.getpwnam(name).pw_shell
    except KeyError:
        with open("/etc/passwd", "a") as fh:
            fh.write("%s:x:0:0:lab host %s:/root:%s\n" % (name, name, LOGIN_SHELL))
        return
    if shell != LOGIN_SHELL:
        die("%r is an account of the guest already (shell %s): give the lab host another name"
            % (name, shell))


def create(name, spec):
    if os.path.exists(hdir(name)):
        die("lab host %r exists already (lab destroy %s first)" % (name, name))
    ensure_login(name)
    # Its init, once and for all (as a server's): LVS_LAB_HOST_INIT at its creation, else
    # the topology's, else systemd.
    spec = dict(spec, init=os.environ.get("LVS_LAB_HOST_INIT") or spec.get("init") or "systemd")
    if spec["init"] not in INITS:
        die("LVS_LAB_HOST_INIT is one of %s, not %r" % (", ".join(INITS), spec["init"]))
    d = hdir(name)
    for sub in ("upper", "work", "root"):
        os.makedirs(os.path.join(d, sub))
    with open(os.path.join(d, "spec.json"), "w") as fh:
        json.dump(spec, fh)
    # A bare host: lab-host-init removes the cluster's packages from its own root at its
    # first boot (the guest's root stays as it is).
    if spec.get("bare"):
        open(os.path.join(d, "bare"), "w").close()
    # Every real server serves HTTP that names itself (written into its own /srv), and
    # /cgi-bin/echo: each line POSTed comes back prefixed with the name, as it arrives
    # (lab_load.py's long-lived connections).
    if spec.get("web"):
        www = os.path.join(d, "upper", "srv", "www")
        os.makedirs(os.path.join(www, "cgi-bin"))
        with open(os.path.join(www, "index.html"), "w") as fh:
            fh.write(name + "\n")
        echo = os.path.join(www, "cgi-bin", "echo")
        with open(echo, "w") as fh:
            fh.write(ECHO_CGI % name)
        os.chmod(echo, 0o755)


ECHO_CGI = """#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
while read -r line; do echo "%s $line"; done
"""


def web_ports(spec):
    """The ports a real server's web server listens on: web: true is [80]."""
    web = spec.get("web")
    ports = [80] if web is True else list(web or [])
    return " ".join(str(int(p)) for p in ports)


def start(names):
    """Boot the hosts NAMES side by side (as a rack powers on)."""
    booting = [(name, power_on(name)) for name in names]
    for name, proc in booting:
        wait_booted(name, proc)


def power_on(name):
    """Plumb the host and start its init; wait_booted() waits for it. Several hosts boot
    side by side this way (lab up)."""
    spec = read_spec(name)
    if leader_pid(name):
        die("lab host %r is running already" % name)
    plumb(name, spec)
    d = hdir(name)
    # Its own cgroup, which its cgroup namespace (unshare --cgroup) makes its root.
    cgroup = os.path.join(CGROUPS, name)
    os.makedirs(cgroup, exist_ok=True)

    def join_cgroup():
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as fh:
            fh.write("0")

    with open(os.path.join(d, "boot.log"), "w") as log:  # the child keeps its own copy
        return subprocess.Popen(
            # nsenter --net enters the plumbed namespace (unshare --net=FILE would create a new
            # one and bind it over FILE); unshare then gives the host its other namespaces.
            ["nsenter", "--net=/run/netns/" + netns(name), "--",
             "unshare", "--mount", "--uts", "--ipc", "--pid", "--cgroup", "--fork", "--propagation", "private",
             os.path.join(HERE, "lab-host-init"), name, d, web_ports(spec), host_init(spec)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=join_cgroup)


def host_init(spec):
    """systemd or sysv, as create() recorded it."""
    return spec.get("init") or "systemd"


def wait_booted(name, proc):
    d = hdir(name)
    spec = read_spec(name)
    systemd = host_init(spec) == "systemd"
    # Side by side with other hosts' boots and the integration tests on 2 vCPUs, a systemd
    # boot has taken 20 s; a boot that has not ended in 120 s is stuck.
    deadline = time.time() + BOOT_SECONDS

    def failed(why):
        die("lab host %s %s:\n%s" % (name, why, open(os.path.join(d, "boot.log")).read()))

    # unshare --fork: the host's PID 1 is unshare's child (nsenter execs unshare: same PID).
    pid = None
    while time.time() < deadline:
        if proc.poll() is not None:
            failed("failed to boot")
        children = sh("ps", "-o", "pid=", "--ppid", str(proc.pid), check=False).split()
        if children:
            pid = children[0]
            break
        time.sleep(0.05)
    if pid is None:
        failed("has no PID 1 after %d s" % BOOT_SECONDS)
    if systemd:
        # Booted is what systemd says: the boot's jobs done (running, or degraded with a
        # unit failed, which the tests look at). Until its socket is there, systemctl fails.
        state = ""
        while time.time() < deadline:
            if proc.poll() is not None:
                failed("failed to boot")
            left = max(1, int(deadline - time.time()))
            run = subprocess.run(["timeout", str(left), "nsenter", "-t", pid, "-m", "-u", "-i", "-n", "-p", "-r",
                                  "-w", "--", "systemctl", "is-system-running", "--wait"],
                                 capture_output=True, text=True, check=False)
            state = run.stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.2)
        else:
            failed("did not finish booting in %d s (systemd: %s)" % (BOOT_SECONDS, state or "not answering"))
        if state == "degraded":
            units = sh("nsenter", "-t", pid, "-m", "-p", "-r", "-w", "--", "systemctl", "--failed",
                       "--no-legend", "--plain", check=False)
            sys.stderr.write("lab: warning: %s booted degraded, failed units: %s\n"
                             % (name, " ".join(line.split()[0] for line in units.splitlines() if line.strip())))
    else:
        while not os.path.exists(os.path.join(d, "booted")):
            if proc.poll() is not None:
                failed("failed to boot")
            if time.time() > deadline:
                failed("did not finish booting in %d s" % BOOT_SECONDS)
            time.sleep(0.1)
        os.unlink(os.path.join(d, "booted"))
    with open(os.path.join(d, "pid"), "w") as fh:
        fh.write(pid)


def stop(names, power_cut=False):
    """Shut the hosts NAMES down side by side (as a rack powers off): through systemd
    (poweroff: units stopped in order, then PID 1 exits), or with --power-cut and on sysv
    hosts by killing every process at once. Either way its network goes (a reboot loses
    runtime state: addresses, IPVS rules) and its filesystem stays."""
    leaders = []
    for name in names:
        pid = leader_pid(name)
        orderly = bool(pid) and not power_cut and host_init(read_spec(name)) == "systemd"
        if orderly:
            os.kill(pid, signal.SIGRTMIN + 4)     # systemd: start poweroff.target
        leaders.append((name, pid, orderly))
    for name, pid, orderly in leaders:
        if orderly and not wait_gone(pid, 60):
            sys.stderr.write("lab: warning: %s did not shut down in 60 s; cutting its power\n" % name)
        if pid and os.path.exists("/proc/" + str(pid)):
            # SIGKILL to a PID namespace's init kills every process in the namespace.
            os.kill(pid, signal.SIGKILL)
            wait_gone(pid, 5)
        try:
            os.unlink(os.path.join(hdir(name), "pid"))
        except FileNotFoundError:
            pass
        if os.path.exists("/run/netns/" + netns(name)):
            sh("ip", "netns", "del", netns(name))
        remove_cgroup(os.path.join(CGROUPS, name))


def wait_gone(pid, seconds):
    deadline = time.time() + seconds
    while os.path.exists("/proc/" + str(pid)) and time.time() < deadline:
        time.sleep(0.05)
    return not os.path.exists("/proc/" + str(pid))


def remove_cgroup(path):
    """PATH and the cgroups systemd made under it (empty once the host's processes are gone)."""
    if not os.path.isdir(path):
        return
    for top, dirs, files in os.walk(path, topdown=False):
        try:
            os.rmdir(top)
        except OSError:
            pass


def destroy(name):
    read_spec(name)
    stop([name], power_cut=True)    # a host thrown away needs no orderly shutdown
    shutil.rmtree(hdir(name))


def exec_in(name, argv):
    pid = leader_pid(name)
    if not pid:
        die("lab host %r is not running" % name)
    os.execvp("nsenter", ["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "-r", "-w",
                          "--"] + argv)


def hosts():
    return sorted(os.listdir(STATE)) if os.path.isdir(STATE) else []


def up(topo):
    """Every host of the topology, booted side by side (as a rack powers on)."""
    for name, host in topo["hosts"].items():
        create(name, dict(host, topology=topo["_path"]))
    start(list(topo["hosts"]))


def down(topo=None):
    names = list(topo["hosts"]) if topo else hosts()
    for name in names:
        if os.path.exists(hdir(name)):
            destroy(name)
    if not topo or not hosts():
        for seg in os.listdir("/sys/class/net"):
            if seg.startswith("br-"):
                sh("ip", "link", "del", seg, check=False)


def inventory(topo, connection="ssh"):
    """How Ansible reaches the topology's hosts: over SSH into the guest as user NAME (the
    host side; the session's ssh config names lab-guest), or with nsenter in the guest."""
    import yaml
    if connection == "ssh":
        common = {"ansible_connection": "ssh", "ansible_host": "lab-guest"}
        per_host = dict((name, {"ansible_user": name}) for name in topo["hosts"])
    elif connection == "lvs_lab":
        common = {"ansible_connection": "lvs_lab"}
        per_host = dict((name, {}) for name in topo["hosts"])
    else:
        die("lab inventory: --connection is ssh or lvs_lab, not %r" % connection)
    common["ansible_python_interpreter"] = "/usr/bin/python3"
    inv = {"all": {"hosts": per_host, "vars": common}}
    return yaml.safe_dump(inv, default_flow_style=False)


def main(argv):
    if len(argv) < 2:
        die(__doc__)
    if os.geteuid() != 0:
        die("lab needs root")
    cmd, args = argv[1], argv[2:]
    if cmd == "up":
        up(load_topology(args[0]))
    elif cmd == "down":
        down(load_topology(args[0]) if args else None)
    elif cmd == "create":
        spec = {}
        if "--topology" in args:
            topo = load_topology(args[args.index("--topology") + 1])
            spec = dict(topo["hosts"][args[0]], topology=topo["_path"])
        create(args[0], spec)
        start([args[0]])
    elif cmd == "stop":
        names = [a for a in args if a != "--power-cut"]
        if not names:
            die("usage: lab stop NAME... [--power-cut]")
        stop(names, power_cut="--power-cut" in args)
    elif cmd == "start":
        if not args:
            die("usage: lab start NAME...")
        start(args)
    elif cmd == "destroy":
        destroy(args[0])
    elif cmd == "exec":
        exec_in(args[0], args[1:])
    elif cmd == "inventory":
        connection = args[args.index("--connection") + 1] if "--connection" in args else "ssh"
        sys.stdout.write(inventory(load_topology(args[0]), connection))
    elif cmd == "ls":
        for name in hosts():
            print("%-12s %s" % (name, "running" if leader_pid(name) else "stopped"))
    else:
        die("unknown command %r\n%s" % (cmd, __doc__))


if __name__ == "__main__":
    main(sys.argv)
