"""IPVSSession over a fake netlink socket: framing, batches, errors by sequence number,
refusals (what was applied, what was refused, what was not sent, and the modules' results),
dumps, recovery, wait_drained.

The fake speaks the netlink byte protocol as it is defined (nlmsghdr, NLMSG_ERROR with a
negative errno and the request's sequence number, NLMSG_DONE, multipart dumps, several
messages per datagram) and answers what each test tells it to.  It claims nothing about
what the kernel answers when: that is proven in the lab (tests/integration).

The session is built by its own constructor; the one netlink socket it opens is swapped
for the fake in the ``kernel`` fixture, the one place that knows where the session module
finds it.  The fake also plays generic netlink's controller (the family id by name) and
the IPVS config commands (timeouts).
"""
import collections
import errno
import json
import os
import socket
import struct

import pytest

from ansible.module_utils import basic
from ansible_collections.lvs.cluster.plugins.module_utils import ipvs_session as session_mod
from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_plan import Op
from ansible_collections.lvs.cluster.plugins.modules import ipvs_realserver, ipvs_service, ipvs_table

# Netlink and include/uapi/linux/ip_vs.h values, written here by hand (not the module's).
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK, NLM_F_DUMP, NLM_F_CAPPED = 0x1, 0x2, 0x4, 0x300, 0x100
NLMSG_ERROR, NLMSG_DONE = 2, 3
SOL_NETLINK, NETLINK_CAP_ACK, NETLINK_GENERIC = 270, 10, 16
CMD = dict(NEW_SERVICE=1, SET_SERVICE=2, DEL_SERVICE=3, GET_SERVICE=4, NEW_DEST=5, SET_DEST=6,
           DEL_DEST=7, GET_DEST=8, SET_CONFIG=12, GET_CONFIG=13)
CMD_ATTR_SERVICE, CMD_ATTR_DEST = 1, 2
CMD_ATTR_TIMEOUT = dict(tcp=4, tcpfin=5, udp=6)
SVC_AF, SVC_PROTOCOL, SVC_ADDR, SVC_PORT, SVC_FWMARK, SVC_SCHED, SVC_FLAGS, SVC_TIMEOUT, SVC_NETMASK = range(1, 10)
DEST_ADDR, DEST_PORT, DEST_FWD, DEST_WEIGHT, DEST_UTHRESH, DEST_LTHRESH, DEST_ACTIVE, DEST_INACT = range(1, 9)
DEST_FAMILY = 11
FAMILY_ID = 0x23        # the generic netlink id the fake resolves "IPVS" to
# include/uapi/linux/genetlink.h: the controller, its GETFAMILY/NEWFAMILY, FAMILY_ID/_NAME
GENL_ID_CTRL, CTRL_CMD_NEWFAMILY, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME = 0x10, 1, 3, 1, 2


# --- netlink, independently -----------------------------------------------------------

def attr(kind, payload):
    return struct.pack('=HH', 4 + len(payload), kind) + payload + b'\0' * (-len(payload) % 4)


def attrs_of(buf):
    out, offset = {}, 0
    while offset + 4 <= len(buf):
        size, kind = struct.unpack_from('=HH', buf, offset)
        out[kind & 0x3fff] = bytes(buf[offset + 4:offset + size])
        offset += (size + 3) & ~3
    return out


def nlmsg(kind, flags, seq, payload):
    return struct.pack('=IHHII', 16 + len(payload), kind, flags, seq, 4242) + payload


def ack(seq, code=0, request=b''):
    """NLMSG_ERROR: struct nlmsgerr {int error; struct nlmsghdr msg;} (+ request if not capped)."""
    return nlmsg(NLMSG_ERROR, NLM_F_CAPPED if not request[16:] else 0, seq,
                 struct.pack('=i', -code) + request)


def done(seq):
    return nlmsg(NLMSG_DONE, NLM_F_MULTI, seq, struct.pack('=i', 0))


def dump_part(seq, cmd, cmd_attr, payload):
    return nlmsg(FAMILY_ID, NLM_F_MULTI, seq, struct.pack('=BBH', cmd, 1, 0) + attr(cmd_attr, payload))


Request = collections.namedtuple('Request', 'seq flags cmd service dest raw')


def ipv4(text):
    return socket.inet_aton(text)


def service_payload(address, port=80, scheduler=b'wlc'):
    """A dumped service (attributes by the hand-written header numbers)."""
    return (attr(SVC_AF, struct.pack('=H', socket.AF_INET)) + attr(SVC_PROTOCOL, struct.pack('=H', 6))
            + attr(SVC_ADDR, ipv4(address)) + attr(SVC_PORT, struct.pack('!H', port))
            + attr(SVC_SCHED, scheduler + b'\0') + attr(SVC_FLAGS, struct.pack('=II', 2, 0xFFFFFFFF))
            + attr(SVC_TIMEOUT, struct.pack('=I', 0)) + attr(SVC_NETMASK, struct.pack('=I', 0xFFFFFFFF)))


def dest_payload(address, port=80, weight=1, active=0, inactive=0):
    return (attr(DEST_ADDR, ipv4(address)) + attr(DEST_PORT, struct.pack('!H', port))
            + attr(DEST_FWD, struct.pack('=I', 3)) + attr(DEST_WEIGHT, struct.pack('=I', weight))
            + attr(DEST_UTHRESH, struct.pack('=I', 0)) + attr(DEST_LTHRESH, struct.pack('=I', 0))
            + attr(DEST_ACTIVE, struct.pack('=I', active)) + attr(DEST_INACT, struct.pack('=I', inactive))
            + attr(DEST_FAMILY, struct.pack('=H', socket.AF_INET)))


class FakeKernel(object):
    """The raw netlink socket the session sends service and dest messages on.

    ANSWER(request) returns an errno (0 = done) or, for a dump, a list of payloads.  Like
    netlink, every request is answered in order; a refused one gets NLMSG_ERROR whether
    or not it asked for an ack, an accepted one only if it did.  STALE[i] are whole
    messages put in front of the i-th datagram of the next answer.
    """

    def __init__(self):
        self.answer = lambda request: 0
        self.sends = []         # [[Request, ...] per send()]
        self.outbox = collections.deque()
        self.stale = []
        self.dump_chunk = 2     # dump messages per datagram
        self.options = {}
        self.bound = None
        self.closed = False
        self.families = {'IPVS': FAMILY_ID}     # what the controller knows
        self.resolved = []      # the family names asked for
        self.timeouts = dict(tcp=900, tcpfin=120, udp=300)

    # the socket API the session uses
    def bind(self, address):
        self.bound = address

    def setsockopt(self, level, option, value):
        self.options[(level, option)] = value

    def close(self):
        self.closed = True

    def send(self, data):
        requests = []
        offset = 0
        while offset < len(data):
            size, kind, flags, seq, _port = struct.unpack_from('=IHHII', data, offset)
            raw = data[offset:offset + size]
            if kind == GENL_ID_CTRL:
                assert len(data) == size, 'the family request goes alone'
                self.outbox.append(self._controller(raw, seq, flags))
                return len(data)
            assert kind == FAMILY_ID, 'message type %d is not the resolved family' % kind
            cmd, version, _reserved = struct.unpack_from('=BBH', raw, 16)
            assert version == 1
            nested = attrs_of(raw[20:])
            requests.append(Request(seq, flags, cmd, attrs_of(nested.get(CMD_ATTR_SERVICE, b'')),
                                    attrs_of(nested.get(CMD_ATTR_DEST, b'')), raw))
            offset += (size + 3) & ~3
        self.sends.append(requests)
        datagrams = []
        for request in requests:
            datagrams.extend(self._answer(request))
        for index, stale in enumerate(self.stale):
            if index < len(datagrams):
                datagrams[index] = b''.join(stale) + datagrams[index]
            else:
                datagrams.append(b''.join(stale))
        self.stale = []
        self.outbox.extend(datagrams)
        return len(data)

    def _controller(self, raw, seq, flags):
        """Generic netlink's controller: the id of the family named, or ENOENT."""
        cmd, _version, _reserved = struct.unpack_from('=BBH', raw, 16)
        assert cmd == CTRL_CMD_GETFAMILY and flags == NLM_F_REQUEST | NLM_F_ACK
        name = attrs_of(raw[20:])[CTRL_ATTR_FAMILY_NAME]
        assert name.endswith(b'\0')
        name = name[:-1].decode()
        self.resolved.append(name)
        if name not in self.families:
            return ack(seq, errno.ENOENT, raw[:16])
        body = (struct.pack('=BBH', CTRL_CMD_NEWFAMILY, 2, 0) + attr(CTRL_ATTR_FAMILY_NAME, name.encode() + b'\0')
                + attr(CTRL_ATTR_FAMILY_ID, struct.pack('=H', self.families[name])))
        return nlmsg(GENL_ID_CTRL, 0, seq, body) + ack(seq, 0, raw[:16])

    def _answer(self, request):
        capped = self.options.get((SOL_NETLINK, NETLINK_CAP_ACK))
        echo = request.raw[:16] if capped else request.raw
        if request.cmd == CMD['GET_CONFIG']:
            body = struct.pack('=BBH', CMD['SET_CONFIG'], 1, 0) + b''.join(
                attr(CMD_ATTR_TIMEOUT[name], struct.pack('=I', value)) for name, value in sorted(self.timeouts.items()))
            return [nlmsg(FAMILY_ID, 0, request.seq, body) + ack(request.seq, 0, echo)]
        result = self.answer(request)
        if request.flags & NLM_F_DUMP == NLM_F_DUMP:
            if isinstance(result, int):
                return [ack(request.seq, result, echo)]
            cmd, kind = ((CMD['NEW_SERVICE'], CMD_ATTR_SERVICE) if request.cmd == CMD['GET_SERVICE']
                         else (CMD['NEW_DEST'], CMD_ATTR_DEST))
            parts = [dump_part(request.seq, cmd, kind, payload) for payload in result]
            chunks = [b''.join(parts[i:i + self.dump_chunk]) for i in range(0, len(parts), self.dump_chunk)]
            return chunks + [done(request.seq)]
        assert isinstance(result, int)
        if result or request.flags & NLM_F_ACK:
            return [ack(request.seq, result, echo)]
        return []

    def recv(self, size):
        assert self.outbox, 'the session waits for a reply that will never come'
        datagram = self.outbox.popleft()
        assert len(datagram) <= size
        return datagram

    # what tests look at
    @property
    def requests(self):
        return [request for batch in self.sends for request in batch]

    @property
    def config(self):
        """(cmd, {attr: payload}, flags) of each config request."""
        return [(r.cmd, attrs_of(r.raw[20:]), r.flags) for r in self.requests
                if r.cmd in (CMD['GET_CONFIG'], CMD['SET_CONFIG'])]


class SocketModule(object):
    """The socket module as the session module sees it, with socket() handing out the fake."""

    def __init__(self, kernel):
        self._kernel = kernel

    def socket(self, family, kind, protocol):
        assert (family, kind, protocol) == (socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        return self._kernel

    def __getattr__(self, name):
        return getattr(socket, name)


@pytest.fixture
def kernel(monkeypatch):
    fake = FakeKernel()
    # The session takes its socket from its module's ``socket``.
    monkeypatch.setattr(session_mod, 'socket', SocketModule(fake))
    return fake


@pytest.fixture
def session(kernel):
    with session_mod.IPVSSession() as opened:
        yield opened


# --- services and real servers as the session takes them ---------------------------------

def service(address='192.0.2.10', port=80, scheduler='wlc'):
    return dict(protocol='tcp', family='ipv4', address=address, port=port, fwmark=None, scheduler=scheduler,
                scheduler_flags=[], persistence_timeout=0, persistence_netmask='255.255.255.255',
                one_packet=False, realservers={})


def dest(address, port=80, weight=1):
    return dict(address=address, port=port, forwarding='dr', weight=weight, upper_threshold=0,
                lower_threshold=0, tun_type='ipip', tun_port=0, tun_csum='nocsum')


def dest_ops(count, action='add', svc=None):
    """COUNT ops on distinct real servers 10.1.x.y."""
    svc = svc or service()
    return [Op(action, 'dest', svc, dest('10.1.%d.%d' % (i // 250, i % 250 + 1))) for i in range(count)]


def address_of(request):
    return socket.inet_ntoa(request.dest[DEST_ADDR][:4])


def refuse(code, cmd, address):
    """An ANSWER refusing CMD on the real server ADDRESS with CODE."""
    def answer(request):
        if request.cmd == CMD[cmd] and request.dest and address_of(request) == address:
            return code
        return 0
    return answer


# --- the session's sockets ------------------------------------------------------------

def test_the_session_resolves_the_family_and_asks_for_capped_acks(kernel):
    with session_mod.IPVSSession() as opened:
        opened.apply(dest_ops(1)[0])
    assert kernel.resolved == ['IPVS']
    assert kernel.bound == (0, 0)
    assert kernel.options == {(SOL_NETLINK, NETLINK_CAP_ACK): 1}
    (request,) = kernel.requests
    # seq 1 was the family request
    assert (request.cmd, request.seq, request.flags) == (CMD['NEW_DEST'], 2, NLM_F_REQUEST | NLM_F_ACK)
    assert kernel.closed


def test_a_kernel_without_the_ipvs_family_says_which_module_to_load(kernel):
    kernel.families = {}
    with pytest.raises(LVSError, match=r'no IPVS generic netlink family: load the ip_vs kernel module \(modprobe ip_vs\)'):
        session_mod.IPVSSession()
    assert kernel.resolved == ['IPVS'] and kernel.closed


# --- batches ---------------------------------------------------------------------------

def test_ops_go_in_batches_of_256_each_acknowledged_once_at_its_end(session, kernel):
    ops = dest_ops(600)
    assert len(set(op.dest['address'] for op in ops)) == 600
    session.apply_all(ops)
    assert [len(batch) for batch in kernel.sends] == [256, 256, 88]
    for batch in kernel.sends:
        assert [r.flags for r in batch] == [NLM_F_REQUEST] * (len(batch) - 1) + [NLM_F_REQUEST | NLM_F_ACK]
    requests = kernel.requests
    assert [r.seq for r in requests] == list(range(2, 602))     # seq 1: the family request
    assert set(r.cmd for r in requests) == {CMD['NEW_DEST']}
    assert [address_of(r) for r in requests] == [op.dest['address'] for op in ops]
    assert not kernel.outbox


def test_a_batch_of_exactly_256_is_one_send_and_the_next_op_starts_a_new_one(session, kernel):
    session.apply_all(dest_ops(256))
    session.apply_all(dest_ops(1))
    assert [len(batch) for batch in kernel.sends] == [256, 1]
    assert kernel.requests[-1].seq == 258


@pytest.mark.parametrize('refused', [0, 100, 255, 256, 300, 599])
def test_a_refused_request_is_named_by_its_sequence_number(session, kernel, refused):
    ops = dest_ops(600)
    target = ops[refused].dest['address']
    kernel.answer = refuse(errno.EINVAL, 'NEW_DEST', target)
    with pytest.raises(LVSError) as caught:
        session.apply_all(ops)
    message = str(caught.value)
    assert message.startswith('add dest tcp 192.0.2.10:80 realserver %s:80: ' % target)
    assert os.strerror(errno.EINVAL) in message
    # The whole batch went (the kernel goes on after an error), the next one did not.
    assert len(kernel.requests) == min(600, (refused // 256 + 1) * 256)


def test_several_refusals_in_one_batch_are_recovered_in_order(session, kernel):
    ops = dest_ops(300)
    exist = {ops[3].dest['address'], ops[260].dest['address'], ops[299].dest['address']}

    def answer(request):
        if request.cmd == CMD['NEW_DEST'] and address_of(request) in exist:
            return errno.EEXIST
        return 0
    kernel.answer = answer
    session.apply_all(ops)
    cmds = [(r.cmd, address_of(r)) for r in kernel.requests]
    assert cmds[256] == (CMD['SET_DEST'], ops[3].dest['address'])      # after the first batch
    assert cmds[-2:] == [(CMD['SET_DEST'], ops[260].dest['address']), (CMD['SET_DEST'], ops[299].dest['address'])]
    assert len(cmds) == 303


def test_a_stale_refusal_before_a_batch_is_not_blamed_on_an_op_of_it(session, kernel):
    session.apply(dest_ops(1)[0])      # seq 2 (1: the family request)
    kernel.stale = [[ack(2, errno.EEXIST)]]
    session.apply_all(dest_ops(5))     # seq 3..7, all accepted
    assert [r.cmd for r in kernel.requests] == [CMD['NEW_DEST']] * 6


def test_replies_numbered_outside_a_batch_are_not_blamed_on_its_ops(session, kernel):
    # A datagram left unread behind the first batch's ack (a number past any request
    # sent so far), then a late refusal of seq 3: both reach the second batch (seq 5, 6;
    # the first was 2..4, seq 1 the family request).
    kernel.stale = [[], [ack(99, errno.EINVAL)]]
    session.apply_all(dest_ops(3))
    kernel.stale = [[ack(3, errno.EEXIST)]]
    session.apply_all(dest_ops(2))
    assert [r.cmd for r in kernel.requests] == [CMD['NEW_DEST']] * 5


# --- recovery: what each refusal means ------------------------------------------------------

def settings_of(request):
    return dict((kind, request.dest[kind]) for kind in (DEST_FWD, DEST_WEIGHT, DEST_UTHRESH, DEST_LTHRESH))


@pytest.mark.parametrize('via', ['apply', 'apply_all'])
def test_eexist_on_add_dest_becomes_a_set_with_the_same_settings(session, kernel, via):
    op = Op('add', 'dest', service(), dest('10.0.0.5', weight=7))
    kernel.answer = refuse(errno.EEXIST, 'NEW_DEST', '10.0.0.5')
    getattr(session, via)(op if via == 'apply' else [op])
    first, second = kernel.requests
    assert (first.cmd, second.cmd) == (CMD['NEW_DEST'], CMD['SET_DEST'])
    assert second.seq == first.seq + 1 and second.flags == NLM_F_REQUEST | NLM_F_ACK
    assert settings_of(second) == settings_of(first)
    assert struct.unpack('=I', second.dest[DEST_WEIGHT])[0] == 7
    assert second.service == first.service


@pytest.mark.parametrize('via', ['apply', 'apply_all'])
def test_eexist_on_add_service_becomes_a_set(session, kernel, via):
    op = Op('add', 'service', service(scheduler='rr'))
    kernel.answer = lambda request: errno.EEXIST if request.cmd == CMD['NEW_SERVICE'] else 0
    getattr(session, via)(op if via == 'apply' else [op])
    assert [r.cmd for r in kernel.requests] == [CMD['NEW_SERVICE'], CMD['SET_SERVICE']]
    assert kernel.requests[1].service[SVC_SCHED] == b'rr\0'
    assert kernel.requests[1].service == kernel.requests[0].service


@pytest.mark.parametrize('via', ['apply', 'apply_all'])
def test_enoent_on_set_dest_adds_it_back(session, kernel, via):
    op = Op('set', 'dest', service(), dest('10.0.0.6', weight=3))
    kernel.answer = refuse(errno.ENOENT, 'SET_DEST', '10.0.0.6')
    getattr(session, via)(op if via == 'apply' else [op])
    first, second = kernel.requests
    assert (first.cmd, second.cmd) == (CMD['SET_DEST'], CMD['NEW_DEST'])
    assert settings_of(second) == settings_of(first)


def test_esrch_on_set_service_adds_it_back(session, kernel):
    kernel.answer = lambda request: errno.ESRCH if request.cmd == CMD['SET_SERVICE'] else 0
    session.apply_all([Op('set', 'service', service())])
    assert [r.cmd for r in kernel.requests] == [CMD['SET_SERVICE'], CMD['NEW_SERVICE']]


def test_enoent_on_a_service_is_a_missing_scheduler(session, kernel):
    kernel.answer = lambda request: errno.ENOENT if request.cmd == CMD['SET_SERVICE'] else 0
    with pytest.raises(LVSError, match=r'^set service tcp 192\.0\.2\.10:80: scheduler lblcr is not '
                                       r'available in this kernel \(load ip_vs_lblcr'):
        session.apply(Op('set', 'service', service(scheduler='lblcr')))
    assert len(kernel.requests) == 1


@pytest.mark.parametrize('kind, code', [('dest', errno.ENOENT), ('dest', errno.ESRCH), ('service', errno.ESRCH)])
@pytest.mark.parametrize('via', ['apply', 'apply_all'])
def test_delete_of_something_already_gone_is_done(session, kernel, via, kind, code):
    op = Op('del', kind, service(), dest('10.0.0.7') if kind == 'dest' else None)
    kernel.answer = lambda request: code
    getattr(session, via)(op if via == 'apply' else [op])
    assert [r.cmd for r in kernel.requests] == [CMD['DEL_DEST' if kind == 'dest' else 'DEL_SERVICE']]


def test_enoent_on_delete_service_is_not_taken_for_gone(session, kernel):
    kernel.answer = lambda request: errno.ENOENT
    with pytest.raises(LVSError, match='^del service tcp 192.0.2.10:80: the kernel refused it'):
        session.apply(Op('del', 'service', service()))


def test_a_failed_recovery_names_the_op_and_the_second_error(session, kernel):
    kernel.answer = lambda request: {CMD['NEW_DEST']: errno.EEXIST, CMD['SET_DEST']: errno.EINVAL}[request.cmd]
    with pytest.raises(LVSError) as caught:
        session.apply_all([Op('add', 'dest', service(), dest('10.0.0.8'))])
    assert str(caught.value).startswith('add dest tcp 192.0.2.10:80 realserver 10.0.0.8:80: the kernel refused it')
    assert os.strerror(errno.EINVAL) in str(caught.value)
    assert [r.cmd for r in kernel.requests] == [CMD['NEW_DEST'], CMD['SET_DEST']]


# --- refusals nothing explains: what was applied, what was refused, what was not sent --------

def refused_codes(refusal):
    return [(op, exc.code) for op, exc in refusal.refused]


@pytest.mark.parametrize('refused', [0, 100, 255, 256, 300, 599])
def test_a_refusal_leaves_the_rest_of_its_batch_applied_and_stops_the_batches(session, kernel, refused):
    ops = dest_ops(600)
    kernel.answer = refuse(errno.EINVAL, 'NEW_DEST', ops[refused].dest['address'])
    with pytest.raises(session_mod.RefusedOps) as caught:
        session.apply_all(ops)
    end = min(600, (refused // 256 + 1) * 256)      # the end of the refused op's batch
    assert len(kernel.requests) == end
    assert caught.value.applied == ops[:refused] + ops[refused + 1:end]
    assert refused_codes(caught.value) == [(ops[refused], errno.EINVAL)]
    assert caught.value.not_sent == ops[end:]
    assert caught.value.refused_report() == [{'op': ops[refused].describe(),
                                              'error': 'EINVAL: %s' % os.strerror(errno.EINVAL)}]


def test_refusals_of_one_batch_are_all_resolved_before_it_stops(session, kernel):
    ops = dest_ops(300)
    exists, invalid, exists_then_invalid = (ops[i].dest['address'] for i in (2, 5, 7))

    def answer(request):
        address = address_of(request)
        if request.cmd == CMD['NEW_DEST'] and address in (exists, exists_then_invalid):
            return errno.EEXIST
        if address == invalid or (request.cmd == CMD['SET_DEST'] and address == exists_then_invalid):
            return errno.EINVAL
        return 0
    kernel.answer = answer
    with pytest.raises(session_mod.RefusedOps) as caught:
        session.apply_all(ops)
    # The batch, then the SETs of the recovery (op 2's succeeds, op 7's is refused).
    assert [(r.cmd, address_of(r)) for r in kernel.requests[256:]] == [
        (CMD['SET_DEST'], exists), (CMD['SET_DEST'], exists_then_invalid)]
    assert caught.value.applied == [op for i, op in enumerate(ops[:256]) if i not in (5, 7)]
    assert refused_codes(caught.value) == [(ops[5], errno.EINVAL), (ops[7], errno.EINVAL)]
    assert caught.value.not_sent == ops[256:]
    assert str(caught.value) == (
        'add dest tcp 192.0.2.10:80 realserver %s:80: the kernel refused it: EINVAL: %s; 1 more operations '
        'refused in the same batch; 254 operations were applied (see operations); the 44 after that batch '
        'were not sent' % (invalid, os.strerror(errno.EINVAL)))


def test_a_refused_service_names_the_missing_scheduler_and_its_real_servers_the_missing_service(session, kernel):
    svc = service(scheduler='twos')
    ops = [Op('add', 'service', svc)] + dest_ops(2, svc=svc)
    kernel.answer = lambda request: {CMD['NEW_SERVICE']: errno.ENOENT, CMD['NEW_DEST']: errno.ESRCH}[request.cmd]
    with pytest.raises(session_mod.RefusedOps) as caught:
        session.apply_all(ops)
    assert caught.value.applied == [] and caught.value.not_sent == []
    assert caught.value.refused_report() == [
        {'op': 'add service tcp 192.0.2.10:80',
         'error': 'ENOENT: scheduler twos is not available in this kernel (load ip_vs_twos, or pick another)'},
        {'op': ops[1].describe(), 'error': 'ESRCH: the service does not exist (any more)'},
        {'op': ops[2].describe(), 'error': 'ESRCH: the service does not exist (any more)'}]
    assert str(caught.value) == ('add service tcp 192.0.2.10:80: scheduler twos is not available in this kernel '
                                 '(load ip_vs_twos, or pick another); 2 more operations refused in the same batch')


# --- the modules' result on a refusal (in-process, over the same fake socket) ----------------

def run_module(capsys, monkeypatch, module, args):
    """MODULE.main() with ARGS; its session is a real IPVSSession over the fake kernel."""
    monkeypatch.setattr(module, 'open_session', lambda ansible_module: session_mod.IPVSSession())
    monkeypatch.setattr(basic, '_ANSIBLE_ARGS', json.dumps({'ANSIBLE_MODULE_ARGS': args}).encode('utf-8'))
    monkeypatch.setattr(basic, '_ANSIBLE_PROFILE', 'legacy', raising=False)
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        module.main()
    return info.value.code, json.loads(capsys.readouterr().out)


def live_table(services, dests=()):
    """An ANSWER with SERVICES (payloads) live, each with DESTS; changes accepted."""
    def answer(request):
        if request.cmd == CMD['GET_SERVICE']:
            return list(services)
        if request.cmd == CMD['GET_DEST']:
            return list(dests)
        return 0
    return answer


@pytest.mark.parametrize('refused', [0, 1, 254])
def test_ipvs_table_reports_what_the_kernel_applied_and_what_it_refused(capsys, monkeypatch, kernel, refused):
    # One new service with 300 real servers: 301 operations, the first batch the service
    # and 255 real servers.  Real server REFUSED is refused.
    servers = [{'address': '10.1.%d.%d' % (i // 250, i % 250 + 1)} for i in range(300)]
    target = servers[refused]['address']
    plain = live_table([])
    kernel.answer = lambda request: (errno.EINVAL if request.cmd == CMD['NEW_DEST'] and address_of(request) == target
                                     else plain(request))
    code, result = run_module(capsys, monkeypatch, ipvs_table,
                              {'services': [{'address': '192.0.2.10', 'port': 80, 'realservers': servers}]})
    assert code == 1 and result['failed'] and result['changed'] is True
    applied = ['add service tcp 192.0.2.10:80'] + [
        'add dest tcp 192.0.2.10:80 realserver %s:80' % server['address'] for server in servers[:255]
        if server['address'] != target]
    assert result['operations'] == applied
    assert result['summary'] == dict(services_added=1, services_changed=0, services_removed=0,
                                     realservers_added=254, realservers_changed=0, realservers_removed=0)
    assert result['refused'] == [{'op': 'add dest tcp 192.0.2.10:80 realserver %s:80' % target,
                                  'error': 'EINVAL: %s' % os.strerror(errno.EINVAL)}]
    # The dump of the live table, then one batch: nothing after it.
    assert [len(batch) for batch in kernel.sends] == [1, 256]
    assert result['msg'].startswith('add dest tcp 192.0.2.10:80 realserver %s:80: the kernel refused it' % target)


def test_ipvs_table_with_nothing_applied_is_failed_and_unchanged(capsys, monkeypatch, kernel):
    kernel.answer = lambda request: [] if request.cmd == CMD['GET_SERVICE'] else errno.ENOENT
    code, result = run_module(capsys, monkeypatch, ipvs_table, {'rules': '-A -t 192.0.2.20:80 -s twos\n'})
    assert code == 1 and result['failed'] and result['changed'] is False
    assert result['operations'] == [] and not any(result['summary'].values())
    assert [entry['op'] for entry in result['refused']] == ['add service tcp 192.0.2.20:80']


def test_ipvs_service_reports_the_service_as_the_kernel_left_it(capsys, monkeypatch, kernel):
    plain = live_table([service_payload('192.0.2.10', scheduler=b'wlc')])
    kernel.answer = lambda request: errno.ENOENT if request.cmd == CMD['SET_SERVICE'] else plain(request)
    code, result = run_module(capsys, monkeypatch, ipvs_service,
                              {'address': '192.0.2.10', 'port': 80, 'scheduler': 'twos',
                               'realservers': [{'address': '10.0.0.1'}], '_ansible_diff': True})
    assert code == 1 and result['failed'] and result['changed'] is True
    assert result['operations'] == ['add dest tcp 192.0.2.10:80 realserver 10.0.0.1:80']
    assert result['refused'] == [{'op': 'set service tcp 192.0.2.10:80', 'error': 'ENOENT: scheduler twos is not '
                                  'available in this kernel (load ip_vs_twos, or pick another)'}]
    assert result['service']['scheduler'] == 'wlc'
    assert [d['address'] for d in result['service']['realservers']] == ['10.0.0.1']
    assert result['diff']['after'] == '-A -t 192.0.2.10:80 -s wlc\n-a -t 192.0.2.10:80 -r 10.0.0.1:80 -g -w 1\n'


def test_ipvs_realserver_reports_the_refused_op_and_no_change(capsys, monkeypatch, kernel):
    plain = live_table([service_payload('192.0.2.10')])
    kernel.answer = lambda request: errno.EINVAL if request.cmd == CMD['NEW_DEST'] else plain(request)
    code, result = run_module(capsys, monkeypatch, ipvs_realserver,
                              {'service_address': '192.0.2.10', 'service_port': 80, 'address': '10.0.0.255'})
    assert code == 1 and result['failed'] and result['changed'] is False
    assert result['operations'] == []
    assert result['refused'] == [{'op': 'add dest tcp 192.0.2.10:80 realserver 10.0.0.255:80',
                                  'error': 'EINVAL: %s' % os.strerror(errno.EINVAL)}]


# --- dumps ---------------------------------------------------------------------------------

def stale_replies(seq):
    """Left-overs of request SEQ: an ack, a refusal, a dump part and the end of a dump."""
    return [ack(seq), ack(seq, errno.EEXIST),
            dump_part(seq, CMD['NEW_SERVICE'], CMD_ATTR_SERVICE, service_payload('203.0.113.99')),
            done(seq)]


def test_a_dump_reads_every_part_and_ignores_replies_to_earlier_requests(session, kernel):
    session.apply(dest_ops(1)[0])                     # seq 2 (1: the family request)
    addresses = ['192.0.2.%d' % i for i in range(1, 8)]
    kernel.answer = lambda request: [service_payload(a) for a in addresses]
    kernel.stale = [stale_replies(2), stale_replies(2)[::-1], [done(2)]]
    services = session.services()
    assert [svc['address'] for svc in services] == addresses
    (request,) = kernel.sends[-1]
    assert (request.cmd, request.seq, request.flags) == (CMD['GET_SERVICE'], 3, NLM_F_REQUEST | NLM_F_DUMP)
    assert not kernel.outbox


def test_dests_of_a_service_are_asked_by_its_key(session, kernel):
    kernel.answer = lambda request: [dest_payload('10.0.0.%d' % i, weight=i) for i in range(1, 4)]
    kernel.stale = [[ack(0, errno.ENOENT)]]
    dests = session.dests(service('192.0.2.20', 443))
    assert sorted((d['address'], d['weight']) for d in dests.values()) == [
        ('10.0.0.1', 1), ('10.0.0.2', 2), ('10.0.0.3', 3)]
    (request,) = kernel.requests
    assert request.cmd == CMD['GET_DEST'] and not request.dest
    assert (request.service[SVC_ADDR], request.service[SVC_PORT]) == (ipv4('192.0.2.20'), struct.pack('!H', 443))


def test_a_refused_dump_of_services_is_an_error_naming_what_was_read(session, kernel):
    kernel.answer = lambda request: errno.EPERM
    with pytest.raises(LVSError, match='^reading the IPVS services failed'):
        session.services()


@pytest.mark.parametrize('code', [errno.ESRCH, errno.ENOENT])
def test_dests_of_a_service_removed_under_us_are_none(session, kernel, code):
    kernel.answer = lambda request: code
    assert session.dests(service()) == {}


def test_table_reads_dests_only_for_the_keys_asked(session, kernel):
    def answer(request):
        if request.cmd == CMD['GET_SERVICE']:
            return [service_payload('192.0.2.1'), service_payload('192.0.2.2')]
        return [dest_payload('10.0.0.1')]
    kernel.answer = answer
    wanted = ('tcp', 'ipv4', '192.0.2.2', 80)
    table = session.table(keys={wanted})
    assert sorted(table) == [('tcp', 'ipv4', '192.0.2.1', 80), wanted]
    assert list(table[wanted]['realservers']) == [('10.0.0.1', 80)]
    assert table[('tcp', 'ipv4', '192.0.2.1', 80)]['realservers'] == {}
    assert [r.cmd for r in kernel.requests] == [CMD['GET_SERVICE'], CMD['GET_DEST']]


# --- config (timeouts) -------------------------------------------------------------

def test_timeouts_are_read_by_the_header_numbers(session, kernel):
    kernel.timeouts = dict(tcp=901, tcpfin=121, udp=301)
    assert session.timeouts() == {'tcp': 901, 'tcpfin': 121, 'udp': 301}
    ((cmd, attrs, flags),) = kernel.config
    assert (cmd, attrs, flags) == (CMD['GET_CONFIG'], {}, NLM_F_REQUEST | NLM_F_ACK)


def test_only_the_timeouts_given_are_sent_as_u32(session, kernel):
    session.set_timeouts({'tcp': 7200, 'udp': 30})
    session.set_timeouts({'tcpfin': 60})
    (cmd, first, flags), (_c, second, _f) = kernel.config
    assert cmd == CMD['SET_CONFIG'] and flags == NLM_F_REQUEST | NLM_F_ACK
    assert first == {CMD_ATTR_TIMEOUT['tcp']: struct.pack('=I', 7200), CMD_ATTR_TIMEOUT['udp']: struct.pack('=I', 30)}
    assert second == {CMD_ATTR_TIMEOUT['tcpfin']: struct.pack('=I', 60)}


# --- wait_drained -----------------------------------------------------------------------

class Clock(object):
    """time.monotonic and time.sleep for wait_drained: sleeping moves the clock."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert len(self.sleeps) < 50, 'wait_drained does not stop'
        self.sleeps.append(seconds)
        self.now += seconds


def counts_answer(script, address='10.0.0.9'):
    """Each GET_DEST dump answers the next (active, inactive) of SCRIPT (None = no such dest)."""
    polls = iter(script)

    def answer(request):
        step = next(polls)
        if step is None:
            return []
        return [dest_payload('10.0.0.1', active=50), dest_payload(address, active=step[0], inactive=step[1])]
    return answer


def drain(session, timeout, interval=1.0):
    clock = Clock()
    result = session_mod.wait_drained(session, service(), dest('10.0.0.9'), timeout, interval=interval,
                                      clock=clock, sleep=clock.sleep)
    return result, clock.sleeps


def test_wait_drained_polls_until_active_and_inactive_are_zero(session, kernel):
    kernel.answer = counts_answer([(4, 2), (0, 1), (0, 0)])
    result, sleeps = drain(session, timeout=60, interval=2.0)
    assert result == {'active_connections': 0, 'inactive_connections': 0, 'drained': True}
    assert sleeps == [2.0, 2.0]
    assert [r.cmd for r in kernel.requests] == [CMD['GET_DEST']] * 3


def test_wait_drained_gives_up_at_the_timeout_with_the_last_counts(session, kernel):
    kernel.answer = counts_answer([(5, 1), (4, 1), (3, 1), (2, 1)])
    result, sleeps = drain(session, timeout=2.5)
    assert result == {'active_connections': 2, 'inactive_connections': 1, 'drained': False}
    assert sleeps == [1.0, 1.0, 0.5]        # never past the deadline


def test_wait_drained_with_no_time_looks_once(session, kernel):
    kernel.answer = counts_answer([(1, 0)])
    result, sleeps = drain(session, timeout=0)
    assert result == {'active_connections': 1, 'inactive_connections': 0, 'drained': False} and sleeps == []


def test_a_real_server_gone_is_drained(session, kernel):
    kernel.answer = counts_answer([(3, 0), None])
    result, sleeps = drain(session, timeout=60)
    assert result == {'active_connections': 0, 'inactive_connections': 0, 'drained': True}
    assert sleeps == [1.0]


def test_a_service_gone_is_drained(session, kernel):
    kernel.answer = lambda request: errno.ESRCH
    result, sleeps = drain(session, timeout=60)
    assert result['drained'] is True and sleeps == []
