"""Bad inputs to the IPVS modules, on the real kernel, through ansible-playbook.

Each case must fail with a message naming the offending field, and the kernel's IPVS
table (`ipvsadm-save -n`) and timeouts must be byte-identical before and after: the
cases only the running kernel refuses (a scheduler it lacks, a batch it refuses, a
service that is not there) and one refused on its input per module.  Every input-only
case runs on the host (tests/unit/test_bad_inputs_on_the_host.py); each module run here
costs seconds in the emulated guest.  All cases run as tasks of one playbook.
"""
import os
import re
import sys

from lab_guest import GUEST_COLLECTIONS

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "unit"))
import bad_input_cases  # noqa: E402  (the unit tests' table)


SVC, TABLE, WEB = bad_input_cases.SVC, bad_input_cases.TABLE, bad_input_cases.WEB

# The newest schedulers first: a kernel may lack them, and which it lacks is probed, not
# assumed (the lab's Debian 6.1 kernel has no twos; later kernels have).
NEWER_SCHEDULERS = ('twos', 'ovf', 'mh', 'fo')


def kernel_has_scheduler(netns, name):
    """Whether the running kernel runs scheduler NAME: it loads ip_vs_NAME on demand, so add a
    service with it (ipvsadm, not the module under test) and take it away again."""
    probe = '-t 198.51.100.1:1'
    netns.sh('ipvsadm -A %s -s %s' % (probe, name), check=False)
    found = ('-A %s -s %s' % (probe, name)) in netns.ipvs_save()
    netns.sh('ipvsadm -D %s' % probe, check=False)
    assert netns.ipvs_save() == '', 'probe left a service behind'
    return found


def refused_batch(scheduler):
    """Valid rules the kernel refuses as a whole batch of 301 requests: the new service (its
    scheduler is absent from this kernel), then each of its real servers."""
    return '-A -t 192.0.2.20:80 -s %s\n' % scheduler + ''.join(
        '-a -t 192.0.2.20:80 -r 10.0.%d.%d:80 -g -w 1\n' % (i // 250, i % 250 + 1) for i in range(300))


# The cases only the kernel refuses, and one of the others per module (the host's unit
# tests run all of those in-process: tests/unit/test_bad_inputs_on_the_host.py).
CASES = [bad_input_cases.IPVS_CASES[i] for i in bad_input_cases.LAB_IPVS + bad_input_cases.LAB_IPVS_SAMPLE]

SEED = ("ipvsadm -A -t 192.0.2.10:80 -s wrr && ipvsadm -a -t 192.0.2.10:80 -r 10.0.0.1:80 -g -w 2"
        " && ipvsadm -a -t 192.0.2.10:80 -r 10.0.0.2:80 -g -w 1"
        " && ipvsadm -A -u [2001:db8::10]:53 -s rr && ipvsadm -a -u [2001:db8::10]:53 -r [2001:db8::11]:53 -m"
        " && ipvsadm -A -f 4 -s sh -p 120 && ipvsadm --set 900 120 300")


def test_bad_inputs_fail_naming_the_field_and_change_nothing(netns):
    cases = list(CASES)
    missing = [name for name in NEWER_SCHEDULERS if not kernel_has_scheduler(netns, name)]
    if missing:
        # A scheduler name the module accepts but this kernel lacks: the kernel refuses the
        # service; in a batch the first refusal is reported.
        cases.append((SVC, dict(WEB, scheduler=missing[0]), 'scheduler'))
        cases.append((TABLE, {'rules': refused_batch(missing[0])}, 'scheduler %s' % missing[0]))
    netns.sh(SEED)
    before = netns.ipvs_save()
    timeouts_before = netns.sh("ipvsadm -Ln --timeout")
    assert before.count('\n') == 6, before

    tasks = [{'name': 'case %d' % i, module: args, 'ignore_errors': True}
             for i, (module, args, dummy) in enumerate(cases)]
    results = netns.playbook(tasks, expect_failure=True)
    assert len(results) == len(cases)
    problems = []
    for i, ((module, args, field), result) in enumerate(zip(cases, results)):
        msg = str(result.get('msg', ''))
        if not result.get('failed'):
            problems.append('case %d %s %r did not fail: %r' % (i, module, args, result))
        elif field not in msg:
            problems.append('case %d %s %r: message does not name %r: %s' % (i, module, args, field, msg))
        elif result.get('changed'):
            problems.append('case %d reported changed' % i)
    assert not problems, '\n'.join(problems)

    assert netns.ipvs_save() == before
    assert netns.sh("ipvsadm -Ln --timeout") == timeouts_before


def test_absent_kernel_module_is_named(netns):
    # The lab guest has ip_vs, so ask the netlink layer for a generic netlink family
    # that does not exist: the same kernel answer (ENOENT) as an unloaded ip_vs. Asked
    # in the guest, of its kernel.
    out = netns.sh("PYTHONPATH=%s python3 - <<'EOF'\n"
                   "from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError\n"
                   "from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_session import IPVSSession\n"
                   "try:\n"
                   "    IPVSSession(family_name='IPVS_NOSUCH')   # genl names are < 16 chars\n"
                   "except LVSError as error:\n"
                   "    print(error)\n"
                   "EOF" % GUEST_COLLECTIONS)
    assert re.search(r'modprobe ip_vs', out), out


def test_twos_follows_the_running_kernel(netns):
    # twos is a valid name on every kernel; whether it works depends on the kernel: probed
    # with ipvsadm, then the module must agree either way.
    has_twos = kernel_has_scheduler(netns, 'twos')
    results = netns.playbook([{SVC: dict(WEB, scheduler='twos'), 'ignore_errors': True}],
                             expect_failure=not has_twos)
    if has_twos:
        assert results[0].get('changed') and not results[0].get('failed'), results[0]
        assert '-A -t 192.0.2.10:80 -s twos' in netns.ipvs_save()
    else:
        assert results[0].get('failed') and 'scheduler' in str(results[0].get('msg')), results[0]
        assert netns.ipvs_save() == ''
