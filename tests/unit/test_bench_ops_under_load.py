"""bench/ops_under_load.py's pure parts, on the host: reading a kept load, the 100 ms
buckets, the PNG it writes (decoded again here by hand) and the table over runs. The
figures themselves come from the lab (molecule/ops, molecule/ops-ha)."""
import importlib.util
import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = importlib.util.spec_from_file_location('ops_under_load',
                                              os.path.join(HERE, '..', '..', 'bench', 'ops_under_load.py'))
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)


def kept(tmp_path, name, label, summary, records):
    path = tmp_path / name
    lines = [{'kind': 'load', 'label': label, 'summary': summary}] + records
    path.write_text(''.join(json.dumps(line) + '\n' for line in lines))
    return str(path)


def summary(ok, failed, gap, kept_, lost):
    return {'requests': {'ok': ok, 'failed': failed, 'longest_gap_ms': gap},
            'connections': {'kept': kept_, 'lost': lost}}


def test_a_kept_load_is_read_with_its_marks_on_the_loads_own_clock(tmp_path):
    path = kept(tmp_path, 'a.jsonl', 'rs2 powered off', summary(3, 1, 500, 4, 1), [
        {'kind': 'start', 'realtime': 1000.0},
        {'kind': 'request', 'start': 0.05, 'end': 0.1, 'outcome': 'ok', 'server': 'rs1'},
        {'kind': 'request', 'start': 0.15, 'end': 3.15, 'outcome': 'timeout', 'server': None},
        {'kind': 'connection', 'index': 0, 'at': 2.5, 'state': 'stalled', 'server': 'rs2'},
        {'kind': 'mark', 'realtime': 1001.25, 'what': 'rs2 powered off'}])
    load = bench.read_load(path)
    assert load['label'] == 'rs2 powered off' and load['summary']['requests']['failed'] == 1
    assert load['requests'] == [(0.05, 0.1, 'ok'), (0.15, 3.15, 'timeout')]
    assert load['lost'] == [2.5]
    assert load['marks'] == [(1.25, 'rs2 powered off')]


def test_requests_are_counted_per_100_ms_by_their_start():
    requests = [(0.0, 0.1, 'ok'), (0.05, 0.2, 'ok'), (0.12, 3.0, 'timeout'), (0.31, 0.4, 'ok')]
    assert bench.buckets(requests) == [(2, 0), (0, 1), (0, 0), (1, 0)]
    assert bench.buckets([]) == []


def decode(data):
    """(width, height, rows) of an unfiltered 8-bit RGB PNG, checking every chunk's CRC."""
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    pos, chunks = 8, {}
    while pos < len(data):
        length, = struct.unpack('>I', data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        crc, = struct.unpack('>I', data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xffffffff, kind
        chunks[kind] = body
        pos += 12 + length
    width, height, depth, colour, _c, _f, _i = struct.unpack('>IIBBBBB', chunks[b'IHDR'])
    assert (depth, colour) == (8, 2) and b'IEND' in chunks
    raw = zlib.decompress(chunks[b'IDAT'])
    stride = 1 + 3 * width
    assert len(raw) == stride * height
    return width, height, [raw[i * stride + 1:(i + 1) * stride] for i in range(height)]


def pixel(rows, x, y):
    return tuple(rows[y][3 * x:3 * x + 3])


def test_the_timeline_shows_answered_up_failed_down_and_the_marks():
    load = {'requests': [(0.0, 0.1, 'ok'), (0.05, 0.1, 'ok'), (0.25, 3.25, 'timeout')],
            'lost': [0.1], 'marks': [(0.2, 'rs2 powered off')]}
    width, height, rows = decode(bench.png(*bench.timeline(load)))
    assert width == 3 * bench.COLUMN
    axis = 6 + 2 * bench.UNIT
    assert height == axis + 1 + bench.UNIT + 10
    assert pixel(rows, 0, axis - 1) == bench.OK and pixel(rows, 0, axis - 2 * bench.UNIT) == bench.OK
    assert pixel(rows, 0, axis - 2 * bench.UNIT - 1) == bench.BACKGROUND
    assert pixel(rows, 2 * bench.COLUMN + 1, axis + 1) == bench.FAILED       # beside the mark
    assert pixel(rows, 0, axis + 1) == bench.BACKGROUND
    assert pixel(rows, 2 * bench.COLUMN, axis // 2) == bench.MARK      # the mark at 0.2 s
    assert pixel(rows, bench.COLUMN, 0) == bench.LOST                   # the lost connection at 0.1 s


def test_the_table_gives_each_operation_its_median_and_range_over_the_runs():
    def run(ok, failed, gap):
        return [{'label': 'site.yml re-run', 'summary': summary(ok, 0, 50, 4, 0)},
                {'label': 'rs2 powered off', 'summary': summary(ok, failed, gap, 4, 1)}]
    lines = bench.table([run(300, 40, 3100), run(310, 50, 3000), run(320, 45, 4000)]).splitlines()
    assert lines[0].startswith('| operation or failure | runs | requests ok | requests failed |')
    assert lines[2] == '| site.yml re-run | 3 | 310 (300-320) | 0 | 50 | 4 | 0 |'
    assert lines[3] == '| rs2 powered off | 3 | 310 (300-320) | 45 (40-50) | 3100 (3000-4000) | 4 | 1 |'


def test_the_text_timeline_puts_requests_losses_and_marks_on_one_scale():
    load = {'requests': [(0.0, 0.1, 'ok'), (0.3, 3.3, 'timeout'), (0.35, 0.4, 'ok'), (0.6, 3.6, 'timeout'),
                         (1.3, 1.35, 'ok')],
            'lost': [0.55], 'marks': [(0.3, 'rs2 powered off'), (1.2, 'rs2 out of the table')]}
    assert bench.text_timeline(load).splitlines() == [
        'requests    .+x  .',
        'lost          L',
        'marks        1  2',
        'time        |0 s',
        '  1: 0.3 s rs2 powered off',
        '  2: 1.2 s rs2 out of the table']


def test_a_request_on_a_bucket_boundary_counts_in_the_bucket_it_starts():
    # 0.3 / 0.1 is 2.9999999999999996 in floating point: without rounding it would land
    # in the bucket before.
    assert bench.buckets([(0.3, 0.4, 'ok')]) == [(0, 0), (0, 0), (0, 0), (1, 0)]
