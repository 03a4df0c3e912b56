"""Real-server tunnels (tun_type, tun_port, tun_csum): wire, rules text, validation, plan.

Pure logic and wire encoding only.  The independent encoder/decoder is pyroute2's own
IPVS message class (pyroute2.netlink.generic.ipvs.ipvsmsg, its "dest" nla map); that the
kernel keeps these attributes through a weight edit is proven in the lab
(tests/integration/test_ipvs_tunnels.py, oracle ipvsadm -S -n).

pyroute2 0.9.7 types IPVS_DEST_ATTR_TUN_PORT "uint16" (host order); the kernel reads it
with nla_get_be16 and ipvsadm sends htons(port), so pyroute2 is given htons(port) here.
"""
import socket
import struct

import pytest
from pyroute2.netlink.generic.ipvs import ipvsmsg

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_model import (
    normalize_realserver, public_dest, service_key,
)
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_plan import (
    build_wanted_service, Op, plan_dest, plan_table,
)
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_rules import render_save, wanted_from_rules
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_wire import (
    CMD_ATTR_DEST, CMD_SET_DEST, DEST_ATTR_TUN_FLAGS, DEST_ATTR_TUN_PORT, DEST_ATTR_TUN_TYPE, dest_from_wire,
    encode_dest, encode_op, parse_nlas,
)

VIP = '192.0.2.10'


def service(*realservers):
    return build_wanted_service(dict(protocol='tcp', address=VIP, port=80, scheduler='wrr',
                                     realservers=list(realservers)))


def only_dest(svc):
    (dest,) = svc['realservers'].values()
    return dest


def frame(cmd, attrs):
    """A whole generic netlink message around ATTRS, as the session frames it."""
    body = struct.pack('=BBH', cmd, 1, 0) + attrs
    return struct.pack('=IHHII', 16 + len(body), 0x20, 1, 1, 0) + body


def pyroute2_dest(cmd, dest_attrs):
    """pyroute2's encoding of an IPVS command carrying one dest (nested attributes)."""
    msg = ipvsmsg()
    msg['cmd'] = cmd
    msg['version'] = 1
    msg['attrs'] = [('IPVS_CMD_ATTR_DEST', {'attrs': dest_attrs})]
    msg.encode()
    data = bytes(msg.data[:msg['header']['length']])
    return parse_nlas(parse_nlas(data, 20)[CMD_ATTR_DEST])


GUE = dict(address='198.51.100.21', forwarding='tun', tun_type='gue', tun_port=6080, tun_csum='remcsum')
GRE = dict(address='198.51.100.22', forwarding='tun', tun_type='gre', tun_csum='csum')


# -- wire -------------------------------------------------------------------

@pytest.mark.parametrize('server, code, port, flags', [
    (GUE, 1, 6080, 2),
    (GRE, 2, 0, 1),
    (dict(address='198.51.100.23', forwarding='tun'), 0, 0, 0),
    (dict(address='198.51.100.24', forwarding='tun', tun_type='gue', tun_port=65535, tun_csum='nocsum'),
     1, 65535, 0),
])
def test_tunnel_attributes_equal_pyroute2s_encoding(server, code, port, flags):
    svc = service(server)
    cmd, attrs = encode_op(Op('set', 'dest', svc, only_dest(svc)))
    ours = parse_nlas(parse_nlas(attrs)[CMD_ATTR_DEST])
    theirs = pyroute2_dest(cmd, [('IPVS_DEST_ATTR_FWD_METHOD', 2),
                                 ('IPVS_DEST_ATTR_WEIGHT', 1),
                                 ('IPVS_DEST_ATTR_TUN_TYPE', code),
                                 ('IPVS_DEST_ATTR_TUN_PORT', socket.htons(port)),
                                 ('IPVS_DEST_ATTR_TUN_FLAGS', flags)])
    for name in ('IPVS_DEST_ATTR_FWD_METHOD', 'IPVS_DEST_ATTR_WEIGHT', 'IPVS_DEST_ATTR_TUN_TYPE',
                 'IPVS_DEST_ATTR_TUN_PORT', 'IPVS_DEST_ATTR_TUN_FLAGS'):
        number = [entry[0] for entry in ipvsmsg.dest.nla_map].index(name)     # pyroute2's numbering
        assert ours[number] == theirs[number], name
    assert ours[DEST_ATTR_TUN_PORT] == struct.pack('!H', port)      # be16 on the wire


def test_pyroute2_decodes_our_set_message():
    svc = service(GUE)
    cmd, attrs = encode_op(Op('set', 'dest', svc, only_dest(svc)))
    msg = ipvsmsg(frame(cmd, attrs))
    msg.decode()
    dest = msg.get_attr('IPVS_CMD_ATTR_DEST')
    assert msg['cmd'] == CMD_SET_DEST
    assert dest.get_attr('IPVS_DEST_ATTR_ADDR') == '198.51.100.21'
    assert dest.get_attr('IPVS_DEST_ATTR_FWD_METHOD') == 2
    assert dest.get_attr('IPVS_DEST_ATTR_TUN_TYPE') == 1
    assert dest.get_attr('IPVS_DEST_ATTR_TUN_PORT') == socket.htons(6080)
    assert dest.get_attr('IPVS_DEST_ATTR_TUN_FLAGS') == 2


def kernel_like_dest(**tun):
    """A dumped dest as the kernel fills it (ip_vs_genl_fill_dest), encoded by pyroute2."""
    attrs = [('IPVS_DEST_ATTR_ADDR_FAMILY', socket.AF_INET),
             ('IPVS_DEST_ATTR_ADDR', '198.51.100.21'),
             ('IPVS_DEST_ATTR_PORT', 80),
             ('IPVS_DEST_ATTR_FWD_METHOD', 2),
             ('IPVS_DEST_ATTR_WEIGHT', 4),
             ('IPVS_DEST_ATTR_U_THRESH', 0),
             ('IPVS_DEST_ATTR_L_THRESH', 0),
             ('IPVS_DEST_ATTR_ACTIVE_CONNS', 3),
             ('IPVS_DEST_ATTR_INACT_CONNS', 1),
             ('IPVS_DEST_ATTR_PERSIST_CONNS', 0)]
    attrs += [('IPVS_DEST_ATTR_' + name, value) for name, value in tun.items()]
    msg = ipvsmsg()
    msg['cmd'] = 5      # IPVS_CMD_NEW_DEST: what a dump answers with
    msg['version'] = 1
    msg['attrs'] = [('IPVS_CMD_ATTR_DEST', {'attrs': attrs})]
    msg.encode()
    return parse_nlas(bytes(msg.data[:msg['header']['length']]), 20)[CMD_ATTR_DEST]


def test_decode_a_kernel_dump_of_a_gue_real_server():
    raw = kernel_like_dest(TUN_TYPE=1, TUN_PORT=socket.htons(6080), TUN_FLAGS=2)
    dest = dest_from_wire(raw, 'ipv4', with_stats=False)
    assert (dest['forwarding'], dest['weight'], dest['active_connections']) == ('tun', 4, 3)
    assert (dest['tun_type'], dest['tun_port'], dest['tun_csum']) == ('gue', 6080, 'remcsum')
    assert public_dest(dest)['tun_port'] == 6080


def test_decode_gre_and_a_kernel_without_tunnel_attributes():
    gre = dest_from_wire(kernel_like_dest(TUN_TYPE=2, TUN_PORT=0, TUN_FLAGS=1), 'ipv4', with_stats=False)
    assert (gre['tun_type'], gre['tun_port'], gre['tun_csum']) == ('gre', 0, 'csum')
    old = dest_from_wire(kernel_like_dest(), 'ipv4', with_stats=False)      # Linux < 5.2
    assert (old['tun_type'], old['tun_port'], old['tun_csum']) == ('ipip', 0, 'nocsum')


def test_values_without_a_name_go_back_as_they_came():
    raw = kernel_like_dest(TUN_TYPE=7, TUN_PORT=socket.htons(9), TUN_FLAGS=3)
    dest = dest_from_wire(raw, 'ipv4', with_stats=False)
    assert (dest['tun_type'], dest['tun_port'], dest['tun_csum']) == (7, 9, 3)
    again = parse_nlas(encode_dest(service(), dest))
    original = parse_nlas(raw)
    for kind in (DEST_ATTR_TUN_TYPE, DEST_ATTR_TUN_PORT, DEST_ATTR_TUN_FLAGS):
        assert again[kind] == original[kind]


# -- rules text (ipvsadm 1.31 -S -n spelling) -------------------------------

SAVED = """\
-A -t 192.0.2.10:80 -s wrr
-a -t 192.0.2.10:80 -r 198.51.100.21:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum
-a -t 192.0.2.10:80 -r 198.51.100.22:80 -i -w 2 --tun-type gre --tun-csum
-a -t 192.0.2.10:80 -r 198.51.100.23:80 -i -w 1 --tun-type ipip
-a -t 192.0.2.10:80 -r 198.51.100.24:80 -i -w 3 --tun-type gue --tun-port 5555 --tun-remcsum -x 9
"""


def test_rules_with_tunnels_round_trip():
    table = wanted_from_rules(SAVED)
    dests = table[0]['realservers']
    assert dests[('198.51.100.21', 80)]['tun_type'] == 'gue'
    assert dests[('198.51.100.21', 80)]['tun_port'] == 6080
    assert dests[('198.51.100.21', 80)]['tun_csum'] == 'nocsum'
    assert render_save(table) == SAVED
    assert dests[('198.51.100.22', 80)]['tun_type'] == 'gre'
    assert dests[('198.51.100.24', 80)]['tun_csum'] == 'remcsum'


def test_rules_long_order_and_old_ipvsadm_lines():
    text = ("-A -t 192.0.2.10:80 -s rr\n"
            "-a -t 192.0.2.10:80 -r 198.51.100.21 --tun-csum --tun-port 6080 --ipip --tun-type gue\n"
            "-a -t 192.0.2.10:80 -r 198.51.100.23:80 -i -w 1\n")         # ipvsadm < 1.30: no --tun-type
    assert render_save(wanted_from_rules(text)) == (
        "-A -t 192.0.2.10:80 -s rr\n"
        "-a -t 192.0.2.10:80 -r 198.51.100.21:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum\n"
        "-a -t 192.0.2.10:80 -r 198.51.100.23:80 -i -w 1 --tun-type ipip\n")


RS = "-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 198.51.100.21:80 "


@pytest.mark.parametrize('options, needle', [
    ("-i --tun-type vxlan", "realserver tun_type: 'vxlan' is not one of ipip, gue, gre"),
    ("-i --tun-type gue", "realserver tun_port: tun_type gue needs"),
    ("-i --tun-type gre --tun-port 6080", "realserver tun_port: only tun_type gue uses a port"),
    ("-i --tun-type gue --tun-port 0", "tun_port: 0 is out of range"),
    ("-i --tun-type gue --tun-port 65536", "tun_port: 65536 is out of range"),
    ("-i --tun-type ipip --tun-csum", "realserver tun_csum: ipip tunnels have no checksum"),
    ("-i --tun-type gre --tun-remcsum", "realserver tun_csum: remcsum"),
    ("-i --tun-type gue --tun-port 1 --tun-csum --tun-nocsum", "tun_csum: --tun-nocsum contradicts --tun-csum"),
    ("-g --tun-type gue --tun-port 6080", "realserver tun_type: tunnel options only apply to forwarding tun"),
    ("-m --tun-csum", "realserver tun_csum: tunnel options only apply to forwarding tun (forwarding is nat)"),
    ("-i --tun-type", "--tun-type: needs a value"),
])
def test_bad_tunnel_rules_name_line_and_field(options, needle):
    with pytest.raises(LVSError) as exc:
        wanted_from_rules(RS + options + "\n")
    assert str(exc.value).startswith('rules line 2 (')
    assert needle in str(exc.value), str(exc.value)


# -- validation ---------------------------------------------------------------

@pytest.mark.parametrize('params, message', [
    (dict(forwarding='dr', tun_type='gue', tun_port=6080),
     "tun_type: tunnel options only apply to forwarding tun (forwarding is dr); remove tun_type or set forwarding: tun"),
    (dict(forwarding='tun', tun_type='gue'), "tun_port: tun_type gue needs"),
    (dict(forwarding='tun', tun_port=6080), "tun_port: only tun_type gue uses a port (tun_type is ipip); remove tun_port"),
    (dict(forwarding='tun', tun_type='gre', tun_csum='remcsum'), "tun_csum: remcsum (remote checksum offload) is only"),
    (dict(forwarding='tun', tun_csum='csum'), "tun_csum: ipip tunnels have no checksum option"),
    (dict(forwarding='tun', tun_type='gue', tun_port='x'), "tun_port: 'x' is not an integer"),
])
def test_bad_tunnel_options_name_the_field_and_the_fix(params, message):
    with pytest.raises(LVSError) as exc:
        normalize_realserver(dict(params, address='10.0.0.1'), service(), 'realservers[0].')
    assert str(exc.value).startswith('realservers[0].' + message.split(':')[0] + ':'), str(exc.value)
    assert message in str(exc.value)


def live_gue(**kw):
    dest = dict(address='198.51.100.21', port=80, forwarding='tun', weight=1, upper_threshold=0,
                lower_threshold=0, tun_type='gue', tun_port=6080, tun_csum='csum')
    dest.update(kw)
    return dest


def test_options_left_out_keep_the_live_tunnel():
    # ipvs_realserver: only the weight is given
    dest = normalize_realserver(dict(address='198.51.100.21', weight=5), service(), base=live_gue())
    assert dest == live_gue(weight=5)
    # switching to gre keeps the checksum, and the unused port as the kernel has it
    dest = normalize_realserver(dict(address='198.51.100.21', tun_type='gre'), service(), base=live_gue())
    assert (dest['tun_type'], dest['tun_port'], dest['tun_csum']) == ('gre', 6080, 'csum')
    # a live remcsum does not fit gre: say so rather than send it
    with pytest.raises(LVSError, match='^tun_csum: remcsum'):
        normalize_realserver(dict(address='198.51.100.21', tun_type='gre'), service(),
                             base=live_gue(tun_csum='remcsum'))
    # leaving tun for dr keeps the tunnel values (unused by dr, not reset)
    dest = normalize_realserver(dict(address='198.51.100.21', forwarding='dr'), service(), base=live_gue())
    assert (dest['forwarding'], dest['tun_type'], dest['tun_port']) == ('dr', 'gue', 6080)


def test_public_dest_shows_tunnel_fields_only_where_they_mean_something():
    assert public_dest(live_gue())['tun_port'] == 6080
    gre = public_dest(live_gue(tun_type='gre'))
    assert (gre['tun_type'], gre['tun_port'], gre['tun_csum']) == ('gre', None, 'csum')
    ipip = public_dest(live_gue(tun_type='ipip'))
    assert (ipip['tun_type'], ipip['tun_port'], ipip['tun_csum']) == ('ipip', None, None)
    dr = public_dest(live_gue(forwarding='dr'))
    assert (dr['tun_type'], dr['tun_port'], dr['tun_csum']) == (None, None, None)


# -- planning -------------------------------------------------------------------

def sent_tunnel(op):
    attrs = parse_nlas(parse_nlas(encode_op(op)[1])[CMD_ATTR_DEST])
    return (attrs[DEST_ATTR_TUN_TYPE][0], struct.unpack('!H', attrs[DEST_ATTR_TUN_PORT])[0],
            struct.unpack('=H', attrs[DEST_ATTR_TUN_FLAGS])[0])


def test_weight_edit_of_a_gue_server_sends_a_set_that_keeps_the_tunnel():
    svc = service()
    live = live_gue()
    # ipvs_realserver: weight only
    wanted = normalize_realserver(dict(address='198.51.100.21', weight=3), svc, base=live)
    (op,) = plan_dest(svc, live, wanted)
    assert op.action == 'set' and op.dest['weight'] == 3
    assert sent_tunnel(op) == (1, 6080, 1)
    # ipvs_table / ipvs_service: the real server declared in full
    live_svc = dict(service(), realservers={('198.51.100.21', 80): live})
    new = service(dict(address='198.51.100.21', weight=3, forwarding='tun', tun_type='gue', tun_port=6080,
                       tun_csum='csum'))
    (op,) = plan_table({service_key(live_svc): live_svc}, [new])
    assert (op.action, op.kind) == ('set', 'dest')
    assert sent_tunnel(op) == (1, 6080, 1)


def test_same_tunnel_is_no_change_and_a_type_change_is_a_set_in_place():
    svc = service()
    same = normalize_realserver(dict(address='198.51.100.21', forwarding='tun', tun_type='gue', tun_port=6080,
                                     tun_csum='csum'), svc)
    assert plan_dest(svc, live_gue(), same) == []
    for changed in (dict(tun_port=6081), dict(tun_csum='nocsum'), dict(tun_type='gre', tun_port=None),
                    dict(tun_type='ipip', tun_port=None, tun_csum=None)):
        params = dict(address='198.51.100.21', forwarding='tun', tun_type='gue', tun_port=6080, tun_csum='csum')
        params.update(changed)
        ops = plan_dest(svc, live_gue(), normalize_realserver(params, svc))
        assert [(op.action, op.kind) for op in ops] == [('set', 'dest')], changed


def test_unmanaged_tunnel_values_are_not_compared_and_are_sent_back_as_they_are():
    svc = service()
    # gre ignores the port; ipip ignores port and checksum; dr ignores them all
    gre_live = live_gue(tun_type='gre')
    gre = normalize_realserver(dict(address='198.51.100.21', forwarding='tun', tun_type='gre', tun_csum='csum'), svc)
    assert plan_dest(svc, gre_live, gre) == []
    (op,) = plan_dest(svc, gre_live, dict(gre, weight=9))
    assert sent_tunnel(op) == (2, 6080, 1)
    dr_live = live_gue(forwarding='dr')
    dr = normalize_realserver(dict(address='198.51.100.21', forwarding='dr'), svc)
    assert plan_dest(svc, dr_live, dr) == []
    (op,) = plan_dest(svc, dr_live, dict(dr, weight=9))
    assert sent_tunnel(op) == (1, 6080, 1)
    # gue -> ipip: the type changes, the port and checksum the kernel has stay
    ipip = normalize_realserver(dict(address='198.51.100.21', forwarding='tun'), svc)
    (op,) = plan_dest(svc, live_gue(), ipip)
    assert sent_tunnel(op) == (0, 6080, 1)
    # an add sends exactly what is wanted
    (op,) = plan_dest(svc, None, ipip)
    assert op.action == 'add' and sent_tunnel(op) == (0, 0, 0)
