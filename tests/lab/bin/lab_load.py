"""lab_load.py: the load a cluster serves while it is changed, from a lab client host.

Two kinds of traffic to one VIP, side by side, until STOP_FILE exists (or --seconds):
  - new requests: RATE per second, each its own TCP connection (GET PATH, HTTP/1.0), the
    way ab and curl loops in the seeds load a cluster; an answer is "ok" when it is a 200
    with a body (the real server's name);
  - long-lived connections: CONNECTIONS of them, each POSTing to ECHO_PATH (a CGI that
    echoes every line it reads, prefixed with the real server's name) and writing one
    small line every 100 ms; each write must come back. Both directions cross the
    cluster: in DR and TUN the client's writes are what goes through the director. With
    --lifetime each closes itself after that long and the next opens in its place (the
    clients a drain waits for); a connection lost is replaced the same way.

Every request's start, end and outcome go to RECORDS (one JSON object per line, for a
timeline, after a first one with the wall clock at the load's time 0); at the end one
summary line, JSON, on stdout:
  requests: ok, failed, outcomes ({outcome: count}), servers ({name: ok answers}),
            longest_gap_ms (the longest time with no request answered ok), server_gaps_ms
            ({name: the same for its answers alone}), last_end_ms (the
            last request's end), failed_span_ms (the first failed request's start and the
            last one's end, or null), ok_after_failures (the requests answered ok that
            started after the last failed one ended: all of them when none failed);
  connections: opened, kept (answering until the client closed it: its lifetime or the
            load's end), lost (the others), states ({state: count}: kept, reset by the
            network or ended by the server, stalled (a write unanswered for STALL_MS),
            refused, moved), lost_on ({server: lost connections}, "unknown" for one lost
            before its first echo named its server), longest_wait_ms (the longest any write waited for its echo).
Stdlib only: it runs on the lab hosts' Python (Debian 12 and 13).
"""
import argparse
import asyncio
import json
import os
import sys
import time

WRITE_INTERVAL = 0.1


class Load:
    def __init__(self, args):
        self.args = args
        self.start = time.monotonic()
        self.records = open(args.records, 'w') if args.records else None
        self.requests = []          # (start, end, outcome, server)
        self.connections = []       # {'state': ..., 'server': ..., 'longest_wait': s}
        self.stopping = False

    def now(self):
        return time.monotonic() - self.start

    def record(self, kind, **fields):
        if self.records:
            self.records.write(json.dumps(dict(fields, kind=kind)) + '\n')

    async def open(self):
        return await asyncio.wait_for(asyncio.open_connection(self.args.vip, self.args.port),
                                      self.args.timeout)

    async def request(self):
        start = self.now()
        server = None
        try:
            reader, writer = await self.open()
            try:
                writer.write(('GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' % (self.args.path, self.args.vip)).encode())
                answer = await asyncio.wait_for(reader.read(), self.args.timeout)
            finally:
                writer.close()
            head, _sep, body = answer.partition(b'\r\n\r\n')
            status = head.split(b' ', 2)[1:2]
            if status != [b'200']:
                outcome = 'http %s' % (status[0].decode() if status else 'none')
            elif not body.strip():
                outcome = 'empty'
            else:
                outcome, server = 'ok', body.split()[0].decode()
        except asyncio.TimeoutError:
            outcome = 'timeout'
        except ConnectionRefusedError:
            outcome = 'refused'
        except ConnectionResetError:
            outcome = 'reset'
        except OSError as exc:
            outcome = 'error %s' % (exc.strerror or exc.__class__.__name__)
        end = self.now()
        self.requests.append((start, end, outcome, server))
        self.record('request', start=round(start, 4), end=round(end, 4), outcome=outcome, server=server)

    async def connection_slot(self, index):
        """One long-lived connection after another in slot INDEX: each ends at LIFETIME
        (closed by the client, as a reconnecting client does) or when the load stops."""
        while not self.stopping:
            conn = await self.connection(index, self.now() + self.args.lifetime if self.args.lifetime else None)
            if conn['state'] != 'kept':
                await asyncio.sleep(WRITE_INTERVAL)     # reconnect, as a client does, but not in a spin

    def connection_ended(self, state, index, conn, **fields):
        conn['state'] = state
        if state != 'kept':
            self.record('connection', index=index, at=round(self.now(), 4), state=state,
                        server=conn['server'], **fields)

    async def connection(self, index, until):
        conn = {'state': None, 'server': None, 'longest_wait': 0.0, 'echoes': 0}
        self.connections.append(conn)
        try:
            reader, writer = await self.open()
        except (OSError, asyncio.TimeoutError) as exc:
            self.connection_ended('refused', index, conn, error=exc.__class__.__name__)
            return conn
        try:
            writer.write(('POST %s HTTP/1.0\r\nHost: %s\r\nContent-Type: text/plain\r\n'
                          'Content-Length: 1000000000\r\n\r\n' % (self.args.echo_path, self.args.vip)).encode())
            head = await asyncio.wait_for(reader.readuntil(b'\r\n\r\n'), self.args.timeout)
            if head.split(b' ', 2)[1:2] != [b'200']:
                self.connection_ended('refused', index, conn, got=head.decode(errors='replace'))
                return conn
            seq = 0
            while not self.stopping and (until is None or self.now() < until):
                seq += 1
                sent = time.monotonic()
                writer.write(b'%d %d\n' % (index, seq))
                try:
                    line = await asyncio.wait_for(reader.readline(), self.args.stall_ms / 1000.0)
                except asyncio.TimeoutError:
                    self.connection_ended('stalled', index, conn)
                    return conn
                wait = time.monotonic() - sent
                conn['longest_wait'] = max(conn['longest_wait'], wait)
                words = line.split()
                if words[1:] != [b'%d' % index, b'%d' % seq]:
                    # EOF (the server went away or the connection was reset) or a wrong echo
                    self.connection_ended('reset', index, conn, got=line.decode(errors='replace'))
                    return conn
                server = words[0].decode()
                if conn['server'] not in (None, server):
                    self.connection_ended('moved', index, conn, to=server)   # cannot be, in one TCP connection
                    return conn
                conn['server'] = server
                conn['echoes'] += 1
                await asyncio.sleep(max(0.0, WRITE_INTERVAL - wait))
            self.connection_ended('kept', index, conn)
        except asyncio.TimeoutError:        # the answer's head never came (an OSError since 3.11: first)
            self.connection_ended('stalled', index, conn)
        except (OSError, asyncio.IncompleteReadError) as exc:
            self.connection_ended('reset', index, conn, error=exc.__class__.__name__)
        finally:
            writer.close()
        return conn

    async def run(self):
        # The wall clock at the load's time 0: the lab hosts share the guest's clock, so an
        # event stamped on any of them (`date +%s.%N`) can be placed on this load's timeline.
        self.record('start', realtime=round(time.time() - self.now(), 4))
        tasks = [asyncio.ensure_future(self.connection_slot(i)) for i in range(self.args.connections)]
        pending = set()
        interval = 1.0 / self.args.rate if self.args.rate else None
        next_at = time.monotonic()
        deadline = time.monotonic() + self.args.seconds if self.args.seconds else None
        while True:
            if (self.args.stop_file and os.path.exists(self.args.stop_file)) or \
                    (deadline and time.monotonic() >= deadline):
                break
            if interval:
                pending.add(asyncio.ensure_future(self.request()))
                pending = set(t for t in pending if not t.done())
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            else:
                await asyncio.sleep(0.1)
        self.stopping = True
        await asyncio.gather(*(tasks + list(pending)))
        if self.records:
            self.records.close()


def ms(seconds):
    return int(round(seconds * 1000))


def summary(requests, connections):
    """The summary line's content from the requests [(start, end, outcome, server)] and
    the connections [{'state', 'server', 'longest_wait'}] (pure: unit-tested)."""
    outcomes, servers = {}, {}
    for _start, _end, outcome, server in requests:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if outcome == 'ok':
            servers[server] = servers.get(server, 0) + 1
    ok_ends = sorted(end for _start, end, outcome, _server in requests if outcome == 'ok')
    first = min((start for start, _end, _outcome, _server in requests), default=0.0)
    last = max((end for _start, end, _outcome, _server in requests), default=0.0)
    marks = [first] + ok_ends + [last]
    gap = max((b - a for a, b in zip(marks, marks[1:])), default=0.0)
    server_gaps = {}
    for name in servers:
        ends = [first] + sorted(end for _start, end, outcome, server in requests
                                if outcome == 'ok' and server == name) + [last]
        server_gaps[name] = ms(max(b - a for a, b in zip(ends, ends[1:])))
    failed = [(start, end) for start, end, outcome, _server in requests if outcome != 'ok']
    last_failed_end = max((end for _start, end in failed), default=-1.0)
    states, lost_on = {}, {}
    for conn in connections:
        states[conn['state']] = states.get(conn['state'], 0) + 1
        if conn['state'] != 'kept':
            lost_on[conn['server'] or 'unknown'] = lost_on.get(conn['server'] or 'unknown', 0) + 1
    kept = states.get('kept', 0)
    return {
        'requests': {'ok': outcomes.get('ok', 0), 'failed': len(requests) - outcomes.get('ok', 0),
                     'outcomes': outcomes, 'servers': servers, 'longest_gap_ms': ms(gap),
                     'server_gaps_ms': server_gaps, 'last_end_ms': ms(last),
                     'ok_after_failures': sum(1 for start, _end, outcome, _server in requests
                                              if outcome == 'ok' and start > last_failed_end),
                     'failed_span_ms': [ms(min(s for s, _e in failed)), ms(last_failed_end)] if failed else None},
        'connections': {'opened': len(connections), 'kept': kept, 'lost': len(connections) - kept,
                        'states': states, 'lost_on': lost_on,
                        'longest_wait_ms': ms(max((c['longest_wait'] for c in connections), default=0.0))},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('vip')
    parser.add_argument('--port', type=int, default=80)
    parser.add_argument('--path', default='/')
    parser.add_argument('--echo-path', default='/cgi-bin/echo')
    parser.add_argument('--rate', type=float, default=20.0, help='new requests per second')
    parser.add_argument('--connections', type=int, default=4, help='long-lived connections')
    parser.add_argument('--lifetime', type=float, default=0.0,
                        help='seconds each long-lived connection lasts before the client closes it and opens '
                             'the next (default: until the load stops)')
    parser.add_argument('--seconds', type=float, help='run this long (else until STOP_FILE)')
    parser.add_argument('--stop-file', help='stop when this file exists')
    parser.add_argument('--timeout', type=float, default=3.0, help='per request, seconds')
    parser.add_argument('--stall-ms', type=int, default=3000, help='an echo later than this: stalled')
    parser.add_argument('--records', help='one JSON line per request and per connection event')
    args = parser.parse_args(argv)
    if not args.seconds and not args.stop_file:
        parser.error('give --seconds or --stop-file')
    load = Load(args)
    asyncio.run(load.run())
    print(json.dumps(summary(load.requests, load.connections), sort_keys=True))


if __name__ == '__main__':
    sys.exit(main())
