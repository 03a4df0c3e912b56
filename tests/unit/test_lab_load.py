"""tests/lab/bin/lab_load.py's summary (pure logic, on the host): what counts as failed, kept,
reset and stalled, and the longest time with no request answered. Its traffic is proven in
the lab (molecule/dr: under load)."""
import importlib.util
import os

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
                                'longest_gap_ms': 50},
                   'connections': {'kept': 2, 'reset': 0, 'stalled': 0, 'longest_wait_ms': 40}}


def test_failures_are_counted_by_outcome_and_widen_the_gap():
    requests = [(0.0, 0.05, 'ok', 'rs1'), (0.1, 3.1, 'timeout', None), (0.2, 0.21, 'reset', None),
                (3.0, 3.2, 'ok', 'rs2')]
    out = lab_load.summary(requests, [])
    assert out['requests']['failed'] == 2
    assert out['requests']['outcomes'] == {'ok': 2, 'timeout': 1, 'reset': 1}
    assert out['requests']['longest_gap_ms'] == 3150          # 0.05 -> 3.2: nothing answered ok
    assert out['connections'] == {'kept': 0, 'reset': 0, 'stalled': 0, 'longest_wait_ms': 0}


def test_a_connection_not_kept_is_reset_or_stalled():
    out = lab_load.summary([], [conn('kept'), conn('reset'), conn('moved'), conn('refused'), conn('stalled', 3.0)])
    assert out['connections'] == {'kept': 1, 'reset': 3, 'stalled': 1, 'longest_wait_ms': 3000}
    assert out['requests'] == {'ok': 0, 'failed': 0, 'outcomes': {}, 'servers': {}, 'longest_gap_ms': 0}


def test_no_request_answered_at_all_is_one_gap_over_the_whole_run():
    out = lab_load.summary([(0.0, 3.0, 'timeout', None), (1.0, 4.0, 'refused', None)], [])
    assert out['requests']['longest_gap_ms'] == 4000
