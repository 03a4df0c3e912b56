"""Bad inputs to lvs_vip, arp_suppress and ipip_tunnel, on the real kernel.

Each task must fail with a message naming the offending option, and the namespace
(addresses, routes, links, every arp_* / rp_filter value) and the sysctl.d directory
must be byte-identical before and after: the cases only the running kernel refuses
(interfaces that are not there or not what was asked) and one refused on its input per
module.  Every input-only case runs on the host (tests/unit/test_bad_inputs_on_the_host.py).
All cases run in one playbook (one ansible-playbook start in the emulated guest).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "unit"))
import bad_input_cases  # noqa: E402  (the unit tests' table)


def snapshot(ns, directory):
    kernel = ns.sh("ip -o addr; ip -o -d link; ip route show table all; ip -6 route show table all; "
                   "grep . /proc/sys/net/ipv4/conf/*/arp_ignore /proc/sys/net/ipv4/conf/*/arp_announce "
                   "/proc/sys/net/ipv4/conf/*/rp_filter")
    files = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        with open(path, "rb") as fh:
            files[name] = (oct(os.stat(path).st_mode), fh.read())
    return kernel, files


def cases(tmp):
    """The cases only the kernel refuses, and one of the others per module (the host's unit
    tests run all of those in-process: tests/unit/test_bad_inputs_on_the_host.py)."""
    table = bad_input_cases.net_cases(tmp)
    return [table[i] for i in bad_input_cases.LAB_NET + bad_input_cases.LAB_NET_SAMPLE]


def test_bad_inputs_fail_by_name_and_change_nothing(netns, tmp_path):
    ns = netns
    ns.sh("ip link add bad0 type veth peer name bad1 && echo 1 > /proc/sys/net/ipv6/conf/bad1/disable_ipv6")
    tmp = str(tmp_path)
    with open(os.path.join(tmp, "90-lvs.conf"), "w") as fh:
        fh.write("vm.swappiness = 10\n")
    table = cases(tmp)
    before = snapshot(ns, tmp)

    tasks = [{"name": "%d %s" % (i, field), module: args, "ignore_errors": True}
             for i, (field, module, args) in enumerate(table)]
    results = ns.playbook(tasks, expect_failure=True)

    assert len(results) == len(table)
    problems = []
    for (field, module, args), result in zip(table, results):
        if not result.get("failed"):
            problems.append("%s %r did not fail: %r" % (module, args, result))
        elif field not in result.get("msg", ""):
            problems.append("%s %r: message does not name %s: %s" % (module, args, field, result.get("msg")))
    assert not problems, "\n".join(problems)
    assert snapshot(ns, tmp) == before
