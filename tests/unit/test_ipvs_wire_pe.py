"""The persistence engine (ipvsadm --pe) on the wire and in the plan.

The attribute number is written here from include/uapi/linux/ip_vs.h (enum IPVS_SVC_ATTR_*:
UNSPEC, AF, PROTOCOL, ADDR, PORT, FWMARK, SCHED_NAME, FLAGS, TIMEOUT, NETMASK, STATS, PE_NAME
-> 11; a NUL-terminated string of at most IP_VS_PENAME_MAXLEN = 16 bytes), not taken from
the codec.  That the kernel keeps the engine through a SET is proven in the lab
(tests/integration/test_ipvs_save_oracle.py).
"""
import pytest

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_plan import (
    build_wanted_service, build_wanted_table, plan_service,
)
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_wire import (
    encode_op, encode_service_key, encode_service_settings, parse_nlas, service_from_wire,
)

IPVS_SVC_ATTR_PE_NAME = 11
IPVS_CMD_ATTR_SERVICE = 1
IP_VS_PENAME_MAXLEN = 16


def sip_service(**kw):
    entry = dict(protocol='udp', address='192.0.2.10', port=5060, scheduler='rr', persistence_timeout=60,
                 pe='sip', realservers=[])
    entry.update(kw)
    return build_wanted_service(entry)


def service_attrs(op):
    _cmd, attrs = encode_op(op)
    return parse_nlas(parse_nlas(attrs)[IPVS_CMD_ATTR_SERVICE])


def test_pe_name_is_attribute_11_nul_terminated():
    attrs = parse_nlas(encode_service_settings(sip_service()))
    assert attrs[IPVS_SVC_ATTR_PE_NAME] == b'sip\0'
    assert len(attrs[IPVS_SVC_ATTR_PE_NAME]) <= IP_VS_PENAME_MAXLEN


def test_no_engine_sends_no_pe_name():
    assert IPVS_SVC_ATTR_PE_NAME not in parse_nlas(encode_service_settings(sip_service(pe='none')))


def test_pe_name_read_back():
    raw = encode_service_key(sip_service()) + encode_service_settings(sip_service())
    assert service_from_wire(raw, with_stats=False)['pe'] == 'sip'
    plain = sip_service(pe='none')
    assert service_from_wire(encode_service_key(plain) + encode_service_settings(plain), False)['pe'] is None


def live_sip():
    svc = sip_service()
    svc['realservers'] = {}
    return svc


def test_set_keeps_the_live_engine_when_pe_is_not_managed():
    # ipvs_service without pe: the scheduler changes, the engine must ride along in the SET
    # (the kernel drops the engine of a SET that has no IPVS_SVC_ATTR_PE_NAME).
    wanted = build_wanted_service(dict(protocol='udp', address='192.0.2.10', port=5060, scheduler='wrr',
                                       persistence_timeout=60, realservers=[]))
    assert 'pe' not in wanted
    ops = plan_service(live_sip(), wanted)
    assert [(op.action, op.kind) for op in ops] == [('set', 'service')]
    assert service_attrs(ops[0])[IPVS_SVC_ATTR_PE_NAME] == b'sip\0'


def test_unmanaged_pe_with_nothing_else_to_change_is_no_change():
    wanted = build_wanted_service(dict(protocol='udp', address='192.0.2.10', port=5060, scheduler='rr',
                                       persistence_timeout=60, realservers=[]))
    assert plan_service(live_sip(), wanted) == []


def test_pe_none_removes_the_engine():
    ops = plan_service(live_sip(), sip_service(pe='none'))
    assert [(op.action, op.kind) for op in ops] == [('set', 'service')]
    assert IPVS_SVC_ATTR_PE_NAME not in service_attrs(ops[0])


def test_pe_added_to_a_live_service():
    live = sip_service(pe='none')
    ops = plan_service(live, sip_service())
    assert service_attrs(ops[0])[IPVS_SVC_ATTR_PE_NAME] == b'sip\0'


def test_table_entries_without_pe_have_none():
    assert build_wanted_table([dict(protocol='udp', address='192.0.2.10', port=5060, persistence_timeout=60)])[0]['pe'] is None


@pytest.mark.parametrize('kw, needle', [
    (dict(persistence_timeout=0), 'pe: the sip persistence engine only acts on a persistent service'),
    (dict(protocol='tcp'), 'pe: the sip persistence engine reads SIP Call-IDs from UDP datagrams only'),
    (dict(pe='http'), "pe: 'http' is not a persistence engine"),
])
def test_pe_validation(kw, needle):
    with pytest.raises(LVSError) as err:
        sip_service(**kw)
    assert needle in str(err.value)


def test_fwmark_service_may_use_sip():
    assert sip_service(protocol='fwmark', address=None, port=None, fwmark=5)['pe'] == 'sip'


def test_missing_engine_module_is_named():
    import errno
    from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_plan import Op
    from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_session import KernelError, _explain
    message = _explain(Op('add', 'service', sip_service()), KernelError(errno.ENOENT))
    assert 'ip_vs_pe_sip' in message and 'ip_vs_rr' in message
