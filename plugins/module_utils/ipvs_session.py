# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The netlink session with the kernel's IPVS table, for one module run.

Reads the live table and applies a plan: add what is missing, change in place with SET,
delete only what is stale; a request refused because of a concurrent change that already
did the job is not an error.

Everything goes over one plain netlink socket, packed by ipvs_wire: the family id asked
from generic netlink's controller, the services, real servers and timeouts.  No pyroute2:
its IPVS classes (``pyroute2.IPVS``/``IPVSService``) inject defaults (wlc, timeout 0, a
0xFFFF flag mask), its "update" command is a DELETE, the netmask is typed as an IPv4
address (IPv6 services carry a prefix length), the config timeouts are typed "hex" and
some releases drop the fwmark from the service key when dumping real servers; and its
generic netlink socket classes differ between the 0.7 releases the distributions ship
and 0.9.  So the IPVS modules need no library beyond Python's own.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import os
import socket
import time

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_model import (
    dest_key, format_service_key, service_key,
)
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_plan import Op
from ansible_collections.lvs.cluster.plugins.module_utils.ipvs_wire import (
    CMD_ATTR_DEST, CMD_ATTR_SERVICE, CMD_GET_CONFIG, CMD_GET_DEST, CMD_GET_SERVICE, CMD_SET_CONFIG,
    NETLINK_CAP_ACK, NETLINK_GENERIC, NLA_F_NESTED, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE,
    NLMSG_ERROR, SOL_NETLINK, dest_from_wire, encode_op, encode_service_key, encode_timeouts, error_code,
    family_id_from_wire, family_request, frame, message_attr, nla, service_from_wire, split_messages,
    timeouts_from_wire,
)

MODPROBE_HINT = "load the ip_vs kernel module (modprobe ip_vs)"

_GONE = (errno.ENOENT, errno.ESRCH)


class KernelError(Exception):
    """The kernel answered a request with an error (CODE is the errno)."""

    def __init__(self, code):
        Exception.__init__(self, '%s: %s' % (errno.errorcode.get(code, 'errno %d' % code), os.strerror(code)))
        self.code = code


class RefusedOps(LVSError):
    """The kernel refused operations of a batch and no concurrent change explains it.

    The kernel applies or refuses each request of a batch on its own, so the batch is
    neither all nor nothing: APPLIED are the operations carried out (every earlier batch
    and the rest of this one, in plan order), REFUSED [(Op, KernelError)] the ones
    refused, NOT_SENT the ones after this batch, which the session did not send.
    """

    def __init__(self, applied, refused, not_sent):
        op, exc = refused[0]
        msg = _explain(op, exc)
        if len(refused) > 1:
            msg += '; %d more operations refused in the same batch' % (len(refused) - 1)
        if applied:
            msg += '; %d operations were applied (see operations)' % len(applied)
        if not_sent:
            msg += '; the %d after that batch were not sent' % len(not_sent)
        LVSError.__init__(self, msg)
        self.applied = applied
        self.refused = refused
        self.not_sent = not_sent

    def refused_report(self):
        """[{op, error}] of the refused operations, the error as errno name: reason."""
        return [dict(op=op.describe(), error=_error_text(op, exc)) for op, exc in self.refused]


class IPVSSession(object):
    """The IPVS generic netlink family for one module run, over one netlink socket."""

    # Requests per sendmsg().  Only errors are acknowledged, plus the last request of
    # each batch; 256 error replies still fit the default receive buffer.
    BATCH = 256

    def __init__(self, family_name='IPVS'):
        self._wire = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        self._seq = 0
        self._service_keys = {}
        try:
            self._wire.bind((0, 0))
            try:
                self._wire.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
            except (OSError, socket.error):
                pass    # older kernels echo the request in errors: only bigger replies
            self._family = self._resolve(family_name)
        except Exception:
            self._wire.close()
            raise

    def _resolve(self, family_name):
        """The message type of FAMILY_NAME's requests, from generic netlink's controller
        (which loads the family's kernel module if it can, like modprobe)."""
        self._seq += 1
        try:
            replies = self._exchange(family_request(self._seq, family_name))
        except KernelError as exc:
            if exc.code == errno.ENOENT:
                raise LVSError("the kernel has no IPVS generic netlink family: %s" % MODPROBE_HINT)
            raise LVSError("cannot open the IPVS netlink family: %s" % (exc,))
        for payload in replies:
            family = family_id_from_wire(payload)
            if family:
                return family
        raise LVSError("cannot open the IPVS netlink family: the kernel's answer names no family id")

    def close(self):
        self._wire.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- the wire ----------------------------------------------------------

    def _frame(self, cmd, attrs, flags):
        self._seq += 1
        return frame(self._family, self._seq, cmd, attrs, flags)

    def _replies(self):
        """Yield (type, seq, payload) of each message the kernel sends us."""
        return split_messages(self._wire.recv(1 << 20))

    def _exchange(self, request):
        """Send one acknowledged REQUEST; the payloads of the replies before its ack.
        KernelError if refused."""
        self._wire.send(request)
        seq = self._seq
        out = []
        while True:
            for kind, msg_seq, payload in self._replies():
                if msg_seq != seq:
                    continue        # a late reply to something earlier
                if kind == NLMSG_ERROR:
                    code = error_code(payload)
                    if code:
                        raise KernelError(code)
                    return out
                out.append(payload)

    def _dump(self, cmd, attrs, attr_kind):
        """Raw payloads of ATTR_KIND in every message of a dump; KernelError on error."""
        self._wire.send(self._frame(cmd, attrs, NLM_F_REQUEST | NLM_F_DUMP))
        seq = self._seq
        out = []
        while True:
            for kind, msg_seq, payload in self._replies():
                if msg_seq != seq:
                    continue        # a late reply to something earlier
                if kind == NLMSG_DONE:
                    return out
                if kind == NLMSG_ERROR:
                    code = error_code(payload)
                    if code:
                        raise KernelError(code)
                    return out
                attr = message_attr(payload, attr_kind)
                if attr is not None:
                    out.append(attr)

    def _send_batch(self, requests):
        """Send REQUESTS, the ones framed last (the last one asks for an ack), in one
        sendmsg; return {seq: errno} of the ones the kernel refused."""
        self._wire.send(b''.join(requests))
        last = self._seq
        first = last - len(requests) + 1
        errors = {}
        while True:
            for kind, seq, payload in self._replies():
                if kind != NLMSG_ERROR:
                    continue
                # Only an answer to a request of this batch says anything about it.  One
                # with another sequence number answers an earlier request whose outcome
                # was settled (or did not matter) then: kept, it would be blamed on an
                # operation of this batch (and an EEXIST would get a SET nobody planned).
                if not first <= seq <= last:
                    continue
                code = error_code(payload)
                if code:
                    errors[seq] = code
                if seq == last:
                    return errors

    def _request(self, cmd, attrs):
        """One request, acknowledged; KernelError if refused."""
        errors = self._send_batch([self._frame(cmd, attrs, NLM_F_REQUEST | NLM_F_ACK)])
        if errors:
            raise KernelError(errors.popitem()[1])

    # -- reading ---------------------------------------------------------

    def services(self, with_stats=False):
        try:
            raw = self._dump(CMD_GET_SERVICE, b'', CMD_ATTR_SERVICE)
        except KernelError as exc:
            raise LVSError("reading the IPVS services failed: %s" % (exc,))
        return [service_from_wire(attr, with_stats) for attr in raw]

    def dests(self, svc, with_stats=False):
        try:
            raw = self._dump(CMD_GET_DEST, nla(CMD_ATTR_SERVICE | NLA_F_NESTED, encode_service_key(svc)),
                             CMD_ATTR_DEST)
        except KernelError as exc:
            if exc.code in _GONE:     # removed under us
                return {}
            raise LVSError("reading the real servers of %s failed: %s"
                           % (format_service_key(service_key(svc)), exc))
        dests = {}
        for attr in raw:
            dest = dest_from_wire(attr, svc['family'], with_stats)
            dests[dest_key(dest)] = dest
        return dests

    def table(self, keys=None, with_stats=False):
        """The live table {key: service with realservers}; dests only for KEYS if given.
        Statistics only WITH_STATS: planning never needs them."""
        table = {}
        for svc in self.services(with_stats):
            key = service_key(svc)
            if keys is None or key in keys:
                svc['realservers'] = self.dests(svc, with_stats)
            table[key] = svc
        return table

    def timeouts(self):
        try:
            replies = self._exchange(self._frame(CMD_GET_CONFIG, b'', NLM_F_REQUEST | NLM_F_ACK))
        except KernelError as exc:
            raise LVSError("reading the IPVS timeouts failed: %s" % (exc,))
        for payload in replies:
            found = timeouts_from_wire(payload)
            if found is not None:
                return found
        raise LVSError("the kernel sent no timeouts for IPVS GET_CONFIG")

    def set_timeouts(self, wanted):
        # 0 means "leave as is" to the kernel, so send only what changes.
        try:
            self._request(CMD_SET_CONFIG, encode_timeouts(wanted))
        except KernelError as exc:
            raise LVSError("setting the IPVS timeouts %s failed: %s" % (wanted, exc))

    # -- writing ---------------------------------------------------------

    def _op(self, op, action=None):
        if action is not None:
            op = Op(action, op.kind, op.service, op.dest)
        self._request(*encode_op(op, self._service_keys))

    def apply(self, op):
        """Run one Op; a concurrent change that already did the job is not an error."""
        try:
            self._apply(op)
        except KernelError as exc:
            raise LVSError(_explain(op, exc))

    def _apply(self, op):
        try:
            self._op(op)
        except KernelError as exc:
            self._recover(op, exc)

    def _recover(self, op, exc):
        """OP was refused with EXC: finish the job if a concurrent change explains it."""
        # The kernel says "no such service" with ESRCH and "no such real server" with
        # ENOENT; ENOENT on a service command means a missing scheduler module.
        code = exc.code
        if op.action == 'add' and code == errno.EEXIST:
            self._op(op, 'set')         # someone added it: make it ours
        elif op.action == 'set' and code == (errno.ESRCH if op.kind == 'service' else errno.ENOENT):
            self._op(op, 'add')         # someone removed it: add it back
        elif op.action == 'del' and (code == errno.ESRCH or (op.kind == 'dest' and code == errno.ENOENT)):
            pass                        # already gone, alone or with its service
        else:
            raise exc

    def apply_all(self, ops):
        """Apply OPS in order, BATCH requests per sendmsg (the kernel handles them in
        order and goes on after an error).  The refused ones then go, in order, through
        the recovery apply() uses, which knows what each error means.

        RefusedOps when some stay refused: the rest of their batch is applied all the
        same, so it says what was; later batches are not sent (they may depend on what
        was refused, and the table should stop changing once something went wrong)."""
        for start in range(0, len(ops), self.BATCH):
            chunk = ops[start:start + self.BATCH]
            first = self._seq + 1
            requests = []
            for index, op in enumerate(chunk):
                flags = NLM_F_REQUEST | (NLM_F_ACK if index == len(chunk) - 1 else 0)
                requests.append(self._frame(*encode_op(op, self._service_keys), flags=flags))
            errors = self._send_batch(requests)
            refused = {}
            for seq in sorted(errors):
                try:
                    self._recover(chunk[seq - first], KernelError(errors[seq]))
                except KernelError as exc:
                    refused[seq - first] = exc
            if refused:
                raise RefusedOps(ops[:start] + [op for index, op in enumerate(chunk) if index not in refused],
                                 [(chunk[index], refused[index]) for index in sorted(refused)],
                                 ops[start + len(chunk):])


def _reason(op, exc):
    """What the kernel's refusal EXC of OP means, when the errno alone does not say it."""
    code = exc.code
    if op.kind == 'service' and op.action != 'del' and code == errno.ENOENT:
        if op.service.get('pe'):    # the kernel says ENOENT for either module
            return ("scheduler %s or persistence engine %s is not available in this kernel "
                    "(load ip_vs_%s and ip_vs_pe_%s)" % (op.service['scheduler'], op.service['pe'],
                                                         op.service['scheduler'], op.service['pe']))
        return ("scheduler %s is not available in this kernel (load ip_vs_%s, or pick another)"
                % (op.service['scheduler'], op.service['scheduler']))
    if code == errno.ESRCH:
        return "the service does not exist (any more)"
    return None


def _explain(op, exc):
    reason = _reason(op, exc)
    if reason is None:
        return "%s: the kernel refused it: %s" % (op.describe(), exc)
    return "%s: %s" % (op.describe(), reason)


def _error_text(op, exc):
    reason = _reason(op, exc)
    name = errno.errorcode.get(exc.code, 'errno %d' % exc.code)
    return '%s: %s' % (name, reason) if reason is not None else str(exc)


def wait_drained(session, svc, dest, timeout, interval=1.0, clock=time.monotonic, sleep=time.sleep):
    """Poll until DEST of SVC has no active or inactive connections; return the last counts."""
    deadline = clock() + timeout
    while True:
        current = session.dests(svc).get(dest_key(dest))
        if current is None:
            return {'active_connections': 0, 'inactive_connections': 0, 'drained': True}
        counts = {'active_connections': current['active_connections'],
                  'inactive_connections': current['inactive_connections']}
        if not counts['active_connections'] and not counts['inactive_connections']:
            counts['drained'] = True
            return counts
        if clock() >= deadline:
            counts['drained'] = False
            return counts
        sleep(min(interval, max(0.0, deadline - clock())))


def open_session(module):
    """An IPVSSession for MODULE's run; fails the run when there is none to have."""
    try:
        return IPVSSession()
    except LVSError as exc:
        module.fail_json(msg=str(exc))
