"""SCTP virtual services, and services of a protocol the modules have no name for.

Pure logic: validation, the wire key, the rules text, the plan.  The kernel numbers and
ipvsadm's spellings below are written by hand (IPPROTO_SCTP = 132; ipvsadm 1.31's
option_from_protocol: --sctp-service, and --xxx-service for any other number), never taken
from the code under test.  That Linux 6.1 and ipvsadm agree is tests/integration/
test_ipvs_sctp_sched_flags.py.
"""
import struct

import pytest

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_args import SERVICE_KEY_ARGS
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_model import (
    format_service_key, normalize_service, service_key, service_sort_key,
)
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_plan import Op, plan_table
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_rules import (
    ipvsadm_service_order, render_save, wanted_from_rules,
)
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_wire import (
    encode_op, encode_service_key, encode_service_settings, nla, parse_nlas, service_from_wire,
)

IPPROTO_SCTP = 132
SVC_ATTR_PROTOCOL = 2       # IPVS_SVC_ATTR_PROTOCOL
CMD_ATTR_SERVICE = 1


def sctp(**kw):
    params = dict(protocol='sctp', address='192.0.2.20', port=3868)
    params.update(kw)
    return normalize_service(params)


def test_sctp_service_is_keyed_like_tcp_and_udp():
    svc = sctp()
    assert service_key(svc) == ('sctp', 'ipv4', '192.0.2.20', 3868)
    assert format_service_key(service_key(svc)) == 'sctp 192.0.2.20:3868'
    assert service_key(sctp(address='2001:db8::20')) == ('sctp', 'ipv6', '2001:db8::20', 3868)
    assert sctp(port=0, persistence_timeout=60)['port'] == 0
    assert 'sctp' in SERVICE_KEY_ARGS['protocol']['choices']


@pytest.mark.parametrize('params, field, words', [
    (dict(port=None), 'port', 'a sctp service needs a port'),
    (dict(address=None), 'address', 'needs the virtual IP address'),
    (dict(port=0), 'port', 'persistence_timeout'),
    (dict(fwmark=5), 'fwmark', 'only valid with protocol fwmark'),
    # ipvsadm: "One-Packet Scheduling is only for UDP virtual services"
    (dict(one_packet=True), 'one_packet', 'not sctp'),
    # the kernel's sip engine fails on anything but UDP and the packet is dropped
    (dict(persistence_timeout=60, pe='sip'), 'pe', 'protocol is sctp'),
])
def test_sctp_refusals_name_the_field(params, field, words):
    with pytest.raises(LVSError) as caught:
        sctp(**params)
    assert str(caught.value).startswith(field + ':') and words in str(caught.value), str(caught.value)


def test_sctp_key_on_the_wire_is_protocol_132_and_reads_back():
    svc = sctp(scheduler='rr')
    key = parse_nlas(encode_service_key(svc))
    assert key[SVC_ATTR_PROTOCOL] == struct.pack('=H', IPPROTO_SCTP)
    back = service_from_wire(encode_service_key(svc) + encode_service_settings(svc), with_stats=False)
    assert back['protocol'] == 'sctp'
    assert dict((k, back[k]) for k in svc) == svc


def dumped(number, address='192.0.2.7', port=80, scheduler='rr'):
    """A service as the kernel dumps it, with protocol NUMBER (hand-packed attributes)."""
    return (nla(1, struct.pack('=H', 2)) + nla(2, struct.pack('=H', number))
            + nla(3, bytes(int(x) for x in address.split('.'))) + nla(4, struct.pack('!H', port))
            + nla(6, scheduler.encode() + b'\0') + nla(7, struct.pack('=II', 2, 0xFFFFFFFF))
            + nla(8, struct.pack('=I', 0)) + nla(9, struct.pack('=I', 0xFFFFFFFF)))


def test_an_unknown_protocol_reads_as_proto_n_and_goes_back_as_n():
    svc = service_from_wire(dumped(253), with_stats=False)
    assert svc['protocol'] == 'proto253'
    assert format_service_key(service_key(svc)) == 'proto253 192.0.2.7:80'
    assert parse_nlas(encode_service_key(svc))[SVC_ATTR_PROTOCOL] == struct.pack('=H', 253)


def test_purge_deletes_an_unknown_protocol_service_by_its_number():
    live_svc = service_from_wire(dumped(253), with_stats=False)
    live = {service_key(live_svc): live_svc}
    ops = plan_table(live, wanted_from_rules('-A --sctp-service 192.0.2.20:3868 -s rr\n'), purge=True)
    assert [op.describe() for op in ops] == ['add service sctp 192.0.2.20:3868',
                                             'del service proto253 192.0.2.7:80']
    cmd, attrs = encode_op(ops[1])
    nested = parse_nlas(parse_nlas(attrs)[CMD_ATTR_SERVICE])
    assert cmd == 3 and nested[SVC_ATTR_PROTOCOL] == struct.pack('=H', 253)     # IPVS_CMD_DEL_SERVICE


def test_an_unknown_protocol_is_never_declared():
    with pytest.raises(LVSError, match=r"^protocol: 'proto253' is not one of tcp, udp, sctp, fwmark"):
        normalize_service(dict(protocol='proto253', address='192.0.2.7', port=80))
    with pytest.raises(LVSError, match=r"option: '--xxx-service'"):
        wanted_from_rules('-A --xxx-service 192.0.2.7:80 -s rr\n')


# What ipvsadm 1.31 `ipvsadm -S -n` printed in the lab (Linux 6.1) for SCTP services.
SCTP_SAVED = """\
-A --sctp-service 192.0.2.5:3868 -s rr
-a --sctp-service 192.0.2.5:3868 -r 10.0.0.1:3868 -g -w 2
-a --sctp-service 192.0.2.5:3868 -r 10.0.0.2:3868 -m -w 2
-a --sctp-service 192.0.2.5:3868 -r 10.0.0.3:3868 -i -w 1 --tun-type ipip
-A --sctp-service 192.0.2.14:0 -s rr -p 60
-a --sctp-service 192.0.2.14:0 -r 10.0.0.5:0 -g -w 1
-A --sctp-service [2001:db8::5]:3868 -s wlc
-a --sctp-service [2001:db8::5]:3868 -r [2001:db8::6]:3868 -g -w 1
"""


def test_sctp_rules_parse_and_render_as_ipvsadm_save():
    table = wanted_from_rules(SCTP_SAVED)
    assert [service_key(svc) for svc in table] == [('sctp', 'ipv4', '192.0.2.5', 3868),
                                                   ('sctp', 'ipv4', '192.0.2.14', 0),
                                                   ('sctp', 'ipv6', '2001:db8::5', 3868)]
    assert table[0]['realservers'][('10.0.0.2', 3868)]['forwarding'] == 'nat'
    assert render_save(table) == SCTP_SAVED


def test_sctp_long_lines_and_real_server_lines_without_the_plain_form():
    text = ("--add-service --sctp-service 192.0.2.5:3868 --scheduler wrr\n"
            "-a --sctp-service 192.0.2.5:3868 -r 10.0.0.1 -m -w 3 -x 10\n"
            "-a --sctp-service 192.0.2.5:3868 -r 10.0.0.2:3868 -g -w 1\n")
    (svc,) = wanted_from_rules(text)
    assert svc['protocol'] == 'sctp' and svc['scheduler'] == 'wrr'
    assert sorted(svc['realservers']) == [('10.0.0.1', 3868), ('10.0.0.2', 3868)]
    assert svc['realservers'][('10.0.0.1', 3868)]['upper_threshold'] == 10


@pytest.mark.parametrize('text, needle', [
    ("-A -q 192.0.2.5:3868 -s rr\n", "'-q' is not an ipvsadm option; an SCTP service is --sctp-service"),
    ("-a --sctp-service 192.0.2.5:3868 -r 10.0.0.1 -g -w 1\n", 'no -A line'),
    ("-A --sctp-service 192.0.2.5:3868 -s rr -o\n", 'one_packet'),
    ("-A --sctp-service 192.0.2.5 -s rr\n", 'port 0'),
    ("-A --sctp-service 192.0.2.5:3868 -s rr\n-a -t 192.0.2.5:3868 -r 10.0.0.1 -g -w 1\n", 'no -A line'),
])
def test_bad_sctp_rules_name_the_line(text, needle):
    with pytest.raises(LVSError) as caught:
        wanted_from_rules(text)
    assert str(caught.value).startswith('rules line ') and needle in str(caught.value), str(caught.value)


def test_services_sort_by_protocol_number_as_ipvsadm_does():
    # ipvs_cmp_services: fwmark, family, protocol number (6 < 17 < 132 < 253), address, port
    services = [service_from_wire(dumped(253, '192.0.2.1'), with_stats=False),
                sctp(address='192.0.2.1', port=1), normalize_service(dict(address='192.0.2.9', port=80)),
                normalize_service(dict(protocol='udp', address='192.0.2.1', port=53))]
    order = [(svc['protocol'], svc['address']) for svc in ipvsadm_service_order(services)]
    assert order == [('tcp', '192.0.2.9'), ('udp', '192.0.2.1'), ('sctp', '192.0.2.1'), ('proto253', '192.0.2.1')]
    assert sorted(services, key=service_sort_key) == ipvsadm_service_order(services)
    text = render_save(services, thresholds=False)
    assert text.splitlines()[-1] == '-A --xxx-service 192.0.2.1:80 -s rr'


def test_sctp_op_describes_itself():
    assert Op('add', 'service', sctp()).describe() == 'add service sctp 192.0.2.20:3868'
