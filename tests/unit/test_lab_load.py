"""tests/lab/bin/lab_load.py's summary (pure logic, on the host): what counts as failed, kept
and lost, and the longest time with no request answered. Its traffic is proven in the lab
(molecule/ops)."""
import importlib.util
import json
import os
import socketserver
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = importlib.util.spec_from_file_location('lab_load', os.path.join(HERE, '..', 'lab', 'bin', 'lab_load.py'))
lab_load = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(lab_load)


def conn(state, wait=0.02, server='rs1'):
    return {'state': state, 'server': server, 'longest_wait': wait}


def test_every_request_ok_and_every_connection_kept():
    requests = [(0.0, 0.05, 'ok', 'rs1'), (0.05, 0.1, 'ok', 'rs2'), (0.1, 0.15, 'ok', 'rs1')]
    out = lab_load.summary(requests, [conn('kept'), conn('kept', 0.04, 'rs2')])
    assert out == {'requests': {'ok': 3, 'failed': 0, 'outcomes': {'ok': 3}, 'servers': {'rs1': 2, 'rs2': 1},
                                'longest_gap_ms': 50, 'server_gaps_ms': {'rs1': 100, 'rs2': 100}, 'last_end_ms': 150,
                                'ok_after_failures': 3, 'failed_span_ms': None},
                   'connections': {'opened': 2, 'kept': 2, 'lost': 0, 'states': {'kept': 2}, 'lost_on': {},
                                   'longest_wait_ms': 40}}


def test_failures_are_counted_by_outcome_and_widen_the_gap():
    requests = [(0.0, 0.05, 'ok', 'rs1'), (0.1, 3.1, 'timeout', None), (0.2, 0.21, 'reset', None),
                (3.0, 3.2, 'ok', 'rs2')]
    out = lab_load.summary(requests, [])
    assert out['requests']['failed'] == 2
    assert out['requests']['outcomes'] == {'ok': 2, 'timeout': 1, 'reset': 1}
    assert out['requests']['longest_gap_ms'] == 3150          # 0.05 -> 3.2: nothing answered ok
    assert out['requests']['failed_span_ms'] == [100, 3100]   # the timeout's start to its end
    assert out['requests']['server_gaps_ms'] == {'rs1': 3150, 'rs2': 3200}   # to the end, from the start
    assert out['requests']['ok_after_failures'] == 0          # (3.0, 3.2) started before the timeout ended
    assert out['connections'] == {'opened': 0, 'kept': 0, 'lost': 0, 'states': {}, 'lost_on': {}, 'longest_wait_ms': 0}


def test_every_connection_not_kept_is_lost_and_counted_by_state():
    out = lab_load.summary([], [conn('kept'), conn('reset'), conn('moved'), conn('refused', server=None),
                                conn('stalled', 3.0, 'rs2'), conn('reset')])
    assert out['connections'] == {'opened': 6, 'kept': 1, 'lost': 5,
                                  'states': {'kept': 1, 'reset': 2, 'moved': 1, 'refused': 1, 'stalled': 1},
                                  'lost_on': {'rs1': 3, 'rs2': 1, 'unknown': 1}, 'longest_wait_ms': 3000}
    assert out['requests'] == {'ok': 0, 'failed': 0, 'outcomes': {}, 'servers': {}, 'longest_gap_ms': 0,
                               'server_gaps_ms': {}, 'last_end_ms': 0, 'ok_after_failures': 0,
                               'failed_span_ms': None}


def test_requests_answered_after_the_last_failure_are_counted():
    out = lab_load.summary([(0.0, 3.0, 'timeout', None), (2.9, 3.1, 'ok', 'rs1'), (3.5, 3.6, 'ok', 'rs1'),
                            (3.7, 3.8, 'ok', 'rs2')], [])
    assert out['requests']['ok_after_failures'] == 2
    assert out['requests']['failed_span_ms'] == [0, 3000]


def test_no_request_answered_at_all_is_one_gap_over_the_whole_run():
    out = lab_load.summary([(0.0, 3.0, 'timeout', None), (1.0, 4.0, 'refused', None)], [])
    assert out['requests']['longest_gap_ms'] == 4000


# ---------------------------------------------------------------------------
# The tool itself against a local stand-in for the cluster (loopback, no kernel claim):
# it must survive a server that cuts connections and count what happened.
# ---------------------------------------------------------------------------

class StandIn(socketserver.ThreadingTCPServer):
    """GET answers 'web'; POST echoes each line as 'web LINE'; the CUT-th POST connection is
    closed by the server after 3 echoes, as a web server restarted without a drain does."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, cut):
        self.cut, self.posts, self.lock = cut, 0, threading.Lock()
        super().__init__(('127.0.0.1', 0), StandInHandler)


class StandInHandler(socketserver.StreamRequestHandler):
    def handle(self):
        request = self.rfile.readline()
        while self.rfile.readline().strip():
            pass
        if request.startswith(b'GET'):
            self.wfile.write(b'HTTP/1.0 200 OK\r\n\r\nweb\n')
            return
        with self.server.lock:
            self.server.posts += 1
            cut = self.server.posts == self.server.cut
        self.wfile.write(b'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n')
        for echoes, line in enumerate(self.rfile):
            if cut and echoes == 3:
                return
            self.wfile.write(b'web ' + line)
            self.wfile.flush()


def run_load(capsys, *args):
    server = StandIn(cut=2)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        lab_load.main(['127.0.0.1', '--port', str(server.server_address[1])] + list(args))
    finally:
        server.shutdown()
        server.server_close()
    return json.loads(capsys.readouterr().out)


def test_a_connection_cut_by_the_server_is_lost_and_replaced_and_the_load_goes_on(capsys):
    out = run_load(capsys, '--seconds', '2', '--rate', '20', '--connections', '2')
    assert out['requests']['failed'] == 0 and out['requests']['ok'] >= 30, out
    assert out['connections']['states'] == {'kept': 2, 'reset': 1}, out
    assert out['connections']['opened'] == 3 and out['connections']['lost'] == 1, out


def test_with_a_lifetime_each_connection_is_closed_by_the_client_and_the_next_opened(capsys):
    out = run_load(capsys, '--seconds', '2', '--rate', '5', '--connections', '2', '--lifetime', '0.5')
    assert out['connections']['lost'] == 1 and out['connections']['states']['reset'] == 1, out
    assert out['connections']['kept'] >= 4, out      # 2 slots x about 4 lifetimes, one of them cut
