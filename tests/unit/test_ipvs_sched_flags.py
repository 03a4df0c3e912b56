"""Scheduler flags of every scheduler (ipvsadm -b): names, validation, wire, rules, plan.

The kernel has three scheduler flag bits (IP_VS_SVC_F_SCHED1..3 = 0x08, 0x10, 0x20) and
ipvsadm 1.31 names them per scheduler (ipvsadm.c): parse_sched_flags takes flag-1/2/3 with
any scheduler and sh-*/mh-* only with sh/mh; print_sched_flags writes sh-fallback,sh-port
for sh, mh-fallback,mh-port for mh (their SCHED3 not at all) and flag-1,flag-2,flag-3 for
every other scheduler.  The numbers and spellings here are written by hand from that.
"""
import struct

import pytest

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_args import SERVICE_SETTING_ARGS
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_model import normalize_service, service_key
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_plan import plan_table
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_rules import render_save, wanted_from_rules
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_wire import (
    encode_op, encode_service_key, encode_service_settings, nla, parse_nlas, service_from_wire,
)

SCHED1, SCHED2, SCHED3 = 0x08, 0x10, 0x20
PERSISTENT, HASHED, ONEPACKET = 0x01, 0x02, 0x04
SVC_ATTR_FLAGS = 7
CMD_ATTR_SERVICE = 1


def svc(scheduler, flags, **kw):
    params = dict(protocol='tcp', address='192.0.2.10', port=80, scheduler=scheduler, scheduler_flags=flags)
    params.update(kw)
    return normalize_service(params)


def flags_sent(service):
    """(flags, mask) of IPVS_SVC_ATTR_FLAGS as encoded for NEW/SET."""
    return struct.unpack('=II', parse_nlas(encode_service_settings(service))[SVC_ATTR_FLAGS])


def read_back(scheduler, flags):
    """A dumped tcp service with SCHEDULER and the kernel FLAGS (HASHED set, as the kernel has it)."""
    raw = (nla(1, struct.pack('=H', 2)) + nla(2, struct.pack('=H', 6)) + nla(3, bytes([192, 0, 2, 10]))
           + nla(4, struct.pack('!H', 80)) + nla(6, scheduler.encode() + b'\0')
           + nla(SVC_ATTR_FLAGS, struct.pack('=II', flags | HASHED, 0xFFFFFFFF))
           + nla(8, struct.pack('=I', 0)) + nla(9, struct.pack('=I', 0xFFFFFFFF)))
    return service_from_wire(raw, with_stats=False)


@pytest.mark.parametrize('scheduler, bits, names', [
    ('rr', SCHED1 | SCHED3, ['flag-1', 'flag-3']),
    ('wlc', SCHED2, ['flag-2']),
    ('twos', SCHED1 | SCHED2 | SCHED3, ['flag-1', 'flag-2', 'flag-3']),
    ('sh', SCHED1 | SCHED2, ['sh-fallback', 'sh-port']),
    ('sh', SCHED3, ['flag-3']),
    ('sh', SCHED1 | SCHED2 | SCHED3, ['sh-fallback', 'sh-port', 'flag-3']),
    ('mh', SCHED2, ['mh-port']),
    ('mh', SCHED1 | SCHED3, ['mh-fallback', 'flag-3']),
    ('rr', 0, []),
])
def test_flags_read_back_named_as_ipvsadm_names_them(scheduler, bits, names):
    back = read_back(scheduler, bits)
    assert back['scheduler_flags'] == names
    # and sent back exactly, under a mask that leaves the kernel's HASHED alone
    assert flags_sent(back) == (bits, PERSISTENT | ONEPACKET | SCHED1 | SCHED2 | SCHED3)
    assert not flags_sent(back)[1] & HASHED


@pytest.mark.parametrize('scheduler, given, names', [
    ('rr', ['flag-3', 'flag-1'], ['flag-1', 'flag-3']),          # bit order
    ('lblcr', ['flag-2', 'flag-2'], ['flag-2']),
    ('sh', ['flag-1'], ['sh-fallback']),                          # ipvsadm: flag-1 is SCHED1, sh calls it so
    ('sh', ['sh-port', 'flag-2', 'flag-3'], ['sh-port', 'flag-3']),
    ('mh', ['flag-2', 'mh-fallback'], ['mh-fallback', 'mh-port']),
])
def test_declared_flags_are_named_as_they_read_back(scheduler, given, names):
    service = svc(scheduler, given)
    assert service['scheduler_flags'] == names
    bits = flags_sent(service)[0]
    assert read_back(scheduler, bits)['scheduler_flags'] == names


@pytest.mark.parametrize('scheduler, given, words', [
    ('rr', ['sh-port'], 'sh-port only applies to scheduler sh (scheduler is rr); the flags of any '
                        'scheduler are flag-1, flag-2, flag-3'),
    ('sh', ['mh-fallback'], 'only applies to scheduler mh'),
    ('rr', ['flag-4'], "'flag-4' is not one of flag-1, flag-2, flag-3, mh-fallback, mh-port, sh-fallback, sh-port"),
])
def test_bad_flags_name_the_field(scheduler, given, words):
    with pytest.raises(LVSError) as caught:
        svc(scheduler, given)
    assert str(caught.value).startswith('scheduler_flags: ') and words in str(caught.value), str(caught.value)


def test_module_choices_are_every_name():
    assert SERVICE_SETTING_ARGS['scheduler_flags']['choices'] == [
        'flag-1', 'flag-2', 'flag-3', 'mh-fallback', 'mh-port', 'sh-fallback', 'sh-port']


# ipvsadm -S -n in the lab (Linux 6.1, ipvsadm 1.31) for services made with -b.
SAVED = """\
-A -t 192.0.2.7:80 -s rr -b flag-1,flag-3
-A -t 192.0.2.8:80 -s sh -b \n\
-A -t 192.0.2.9:80 -s sh -b sh-fallback,sh-port
-A -t 192.0.2.10:80 -s mh -b mh-port
-A -f 9 -s rr -b flag-2
"""


def test_save_writes_flags_as_ipvsadm_save_does():
    services = [read_back('rr', SCHED1 | SCHED3), read_back('sh', SCHED3),
                read_back('sh', SCHED1 | SCHED2 | SCHED3), read_back('mh', SCHED2)]
    for address, service in zip(('192.0.2.7', '192.0.2.8', '192.0.2.9', '192.0.2.10'), services):
        service['address'] = address
    services.append(normalize_service(dict(protocol='fwmark', fwmark=9, scheduler='rr', scheduler_flags=['flag-2'])))
    # the sh flag-3 is unnamed: 192.0.2.8 has a bare "-b ", 192.0.2.9 the two names only
    assert render_save(services, thresholds=False) == SAVED
    # the text that feeds back names it, and reads back to the same flags
    complete = render_save(services)
    assert '-A -t 192.0.2.8:80 -s sh -b flag-3\n' in complete
    assert '-A -t 192.0.2.9:80 -s sh -b sh-fallback,sh-port,flag-3\n' in complete
    again = dict((service_key(s), s['scheduler_flags']) for s in wanted_from_rules(complete))
    assert again == dict((service_key(s), s['scheduler_flags']) for s in services)


def test_rules_take_generic_flags_and_a_bare_b_is_an_error():
    (service,) = wanted_from_rules('-A -u 192.0.2.1:53 -s wrr -b flag-1,flag-3\n')
    assert service['scheduler_flags'] == ['flag-1', 'flag-3']
    (service,) = wanted_from_rules('-A -t 192.0.2.1:80 -s sh -b flag-1,flag-2\n')
    assert service['scheduler_flags'] == ['sh-fallback', 'sh-port']
    # what ipvsadm -S writes for sh with only flag-3; ipvsadm-restore cannot read it either
    with pytest.raises(LVSError, match=r'^rules line 1 .*-b: needs a value'):
        wanted_from_rules('-A -t 192.0.2.8:80 -s sh -b \n')


RULES = """\
-A -t 192.0.2.7:80 -s rr -b flag-1,flag-3
-a -t 192.0.2.7:80 -r 10.0.0.1:80 -g -w %d
"""


def live_table():
    live = read_back('rr', SCHED1 | SCHED3)
    live['address'] = '192.0.2.7'
    (dest,) = wanted_from_rules(RULES % 1)[0]['realservers'].values()
    live['realservers'] = {('10.0.0.1', 80): dest}
    return {service_key(live): live}


def test_a_weight_change_leaves_a_flagged_service_alone():
    ops = plan_table(live_table(), wanted_from_rules(RULES % 5))
    assert [op.describe() for op in ops] == ['set dest tcp 192.0.2.7:80 realserver 10.0.0.1:80']
    assert plan_table(live_table(), wanted_from_rules(RULES % 1)) == []


def test_a_service_set_carries_the_flags_it_keeps_and_clears_the_ones_not_declared():
    ops = plan_table(live_table(), wanted_from_rules((RULES % 1).replace('-b flag-1,flag-3', '-p 60 -b flag-1,flag-3')))
    assert [op.describe() for op in ops] == ['set service tcp 192.0.2.7:80']
    nested = parse_nlas(parse_nlas(encode_op(ops[0])[1])[CMD_ATTR_SERVICE])
    mask = PERSISTENT | ONEPACKET | SCHED1 | SCHED2 | SCHED3
    assert struct.unpack('=II', nested[SVC_ATTR_FLAGS]) == (PERSISTENT | SCHED1 | SCHED3, mask)
    # declared without -b (as ipvsadm -E without -b would): the flags go
    ops = plan_table(live_table(), wanted_from_rules((RULES % 1).replace(' -b flag-1,flag-3', '')))
    assert [op.describe() for op in ops] == ['set service tcp 192.0.2.7:80']
    nested = parse_nlas(parse_nlas(encode_op(ops[0])[1])[CMD_ATTR_SERVICE])
    assert struct.unpack('=II', nested[SVC_ATTR_FLAGS])[0] == 0
    assert encode_service_key(ops[0].service) == encode_service_key(live_table()[('tcp', 'ipv4', '192.0.2.7', 80)])
