"""Benchmark: what each operation and failure costs a cluster under load, over several runs,
and a timeline picture of each.

Run it on the host, in a lab session (Molecule and the controller run natively; the lab
guest is the cluster):

    tests/lab/session python3 bench/ops_under_load.py [--runs 3] [--scenarios ops ops-ha]

Each run is `molecule test -s SCENARIO` with LVS_LOAD_RECORDS set, so every load the
scenario's verifier runs (tests/lab/bin/lab_load.py on the client: 20 new requests a
second and 4 long-lived connections writing every 100 ms) leaves its records, its marks
(the events the test named: "rs2 powered off", ...) and its summary in one file per load
(molecule/_verify/cluster_checks.py). Then, per operation or failure (the load's label),
min/median/max over the runs of: requests ok and failed, the longest time with no request
answered, connections kept and lost; printed as a Markdown table (docs/develop/
benchmarks.md keeps it). And per load of the last run, a PNG timeline in --out: for each
100 ms, the requests sent then that were answered (green, up) and that failed (red, down),
a blue line at each mark and a black tick at each lost connection; a grey tick every
second, a longer one every 5 s. The loads with marks (the failures) are also printed as
a text timeline (a character per 250 ms), which the docs carry: pictures are not kept in
the repository.

    python3 bench/ops_under_load.py --from DIR [DIR...]

tabulates and draws from records kept before (one DIR per run), e.g. by a scenario run
with LVS_LOAD_RECORDS=DIR. A failed scenario run is reported and ends the benchmark with
exit code 1 after the table of the runs that passed (a failed run's loads are not in
it). Stdlib only (the PNG is written by hand: zlib and struct).
"""
import argparse
import glob
import json
import os
import statistics
import struct
import subprocess
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
BUCKET = 0.1        # seconds per column group of the timeline
COLUMN = 3          # pixels per bucket
UNIT = 12           # pixels per request in a bucket
OK, FAILED, MARK, LOST, TICK, BACKGROUND = (46, 160, 67), (210, 43, 43), (31, 95, 200), (0, 0, 0), \
    (150, 150, 150), (255, 255, 255)


def read_load(path):
    """One kept load: {'label', 'summary', 'requests': [(start, end, outcome)],
    'lost': [at], 'marks': [(at, what)]}, times in seconds from the load's start."""
    load = {'path': path, 'requests': [], 'lost': [], 'marks': []}
    realtime0, marks = None, []
    with open(path) as handle:
        for line in handle:
            record = json.loads(line)
            kind = record['kind']
            if kind == 'load':
                load['label'], load['summary'] = record['label'], record['summary']
            elif kind == 'start':
                realtime0 = record['realtime']
            elif kind == 'request':
                load['requests'].append((record['start'], record['end'], record['outcome']))
            elif kind == 'connection':
                load['lost'].append(record['at'])
            elif kind == 'mark':
                marks.append((record['realtime'], record['what']))
    if realtime0 is not None:
        load['marks'] = [(round(at - realtime0, 3), what) for at, what in marks]
    return load


def buckets(requests, width=BUCKET):
    """[(answered, failed)] per WIDTH seconds, by each request's start."""
    if not requests:
        return []
    count = int(round(max(start for start, _end, _outcome in requests) / width, 6)) + 1
    out = [[0, 0] for _bucket in range(count)]
    for start, _end, outcome in requests:
        out[int(round(start / width, 6))][0 if outcome == 'ok' else 1] += 1
    return [tuple(pair) for pair in out]


def timeline(load):
    """The load's timeline as (width, height, rows of RGB bytes)."""
    counts = buckets(load['requests'])
    up = max([ok for ok, _failed in counts] + [1])
    down = max([failed for _ok, failed in counts] + [1])
    width = max(len(counts), 1) * COLUMN
    axis = 6 + up * UNIT                         # the row between answered and failed
    height = axis + 1 + down * UNIT + 10
    pixels = [bytearray(BACKGROUND * width) for _row in range(height)]

    def paint(x0, x1, y0, y1, colour):
        for y in range(max(0, y0), min(height, y1)):
            for x in range(max(0, x0), min(width, x1)):
                pixels[y][3 * x:3 * x + 3] = bytes(colour)

    for index, (ok, failed) in enumerate(counts):
        x = index * COLUMN
        paint(x, x + COLUMN - 1, axis - ok * UNIT, axis, OK)
        paint(x, x + COLUMN - 1, axis + 1, axis + 1 + failed * UNIT, FAILED)
    for second in range(int(len(counts) * BUCKET) + 1):
        x = int(second / BUCKET) * COLUMN
        paint(x, x + 1, height - (8 if second % 5 == 0 else 4), height, TICK)
    paint(0, width, axis, axis + 1, TICK)
    for at in load['lost']:
        x = min(len(counts) - 1, int(at / BUCKET)) * COLUMN
        paint(x, x + 2, 0, 5, LOST)
    for at, _what in load['marks']:
        x = min(len(counts) - 1, max(0, int(at / BUCKET))) * COLUMN
        paint(x, x + 1, 0, height - 10, MARK)
    return width, height, pixels


def png(width, height, rows):
    """An 8-bit RGB PNG of ROWS (HEIGHT rows of WIDTH x 3 bytes), unfiltered."""
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)
    raw = b''.join(b'\x00' + bytes(row) for row in rows)
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b''))


def text_timeline(load, step=0.25):
    """The timeline as text, one character per STEP seconds: requests sent then ('.' all
    answered, 'x' all failed, '+' some of each, ' ' none), lost connections ('L'), marks
    (1, 2, ... with a legend) and a ruler (a '|' every 5 s)."""
    sent = buckets(load['requests'], step) or [(0, 0)]
    width = len(sent)
    requests = ''.join(' ' if not ok and not failed else '.' if not failed else 'x' if not ok else '+'
                       for ok, failed in sent)
    lost, marks, ruler = [' '] * width, [' '] * width, [' '] * width
    for at in load['lost']:
        lost[min(width - 1, int(at / step))] = 'L'
    for number, (at, _what) in enumerate(load['marks'], 1):
        marks[min(width - 1, max(0, int(at / step)))] = str(number % 10)
    for second in range(0, int(width * step) + 1, 5):
        label = '|%d s' % second
        x = int(second / step)
        ruler[x:x + len(label)] = label
    lines = ['requests    ' + requests, 'lost        ' + ''.join(lost).rstrip(),
             'marks       ' + ''.join(marks).rstrip(), 'time        ' + ''.join(ruler[:width + 6]).rstrip()]
    lines += ['  %d: %.1f s %s' % (number, at, what) for number, (at, what) in enumerate(load['marks'], 1)]
    return '\n'.join(line.rstrip() for line in lines)


FIGURES = (('requests ok', lambda s: s['requests']['ok']),
           ('requests failed', lambda s: s['requests']['failed']),
           ('longest gap (ms)', lambda s: s['requests']['longest_gap_ms']),
           ('connections kept', lambda s: s['connections']['kept']),
           ('connections lost', lambda s: s['connections']['lost']))


def spread(values):
    """'median (min-max)' of VALUES, or the value alone when they agree or there is one."""
    values = sorted(values)
    median = statistics.median(values)
    median = int(median) if median == int(median) else round(median, 1)
    return str(median) if values[0] == values[-1] else '%s (%s-%s)' % (median, values[0], values[-1])


def table(runs):
    """A Markdown table: one row per load label (in the order first seen), each figure's
    median (min-max) over RUNS ([[load, ...] per run])."""
    order, summaries = [], {}
    for loads in runs:
        for load in loads:
            if load['label'] not in summaries:
                order.append(load['label'])
            summaries.setdefault(load['label'], []).append(load['summary'])
    lines = ['| operation or failure | runs | ' + ' | '.join(name for name, _get in FIGURES) + ' |',
             '|---|---|' + '---|' * len(FIGURES)]
    for label in order:
        cells = [spread([get(s) for s in summaries[label]]) for _name, get in FIGURES]
        lines.append('| %s | %d | %s |' % (label, len(summaries[label]), ' | '.join(cells)))
    return '\n'.join(lines)


def read_run(directory):
    return [read_load(path) for path in sorted(glob.glob(os.path.join(directory, '*.jsonl')))]


def draw(loads, out):
    os.makedirs(out, exist_ok=True)
    for load in loads:
        name = os.path.join(out, os.path.basename(load['path'])[:-len('.jsonl')] + '.png')
        with open(name, 'wb') as handle:
            handle.write(png(*timeline(load)))
        print('timeline: %s' % name)
        if load['marks']:           # the failures (the tests mark their events), as text too
            print('\n%s\n\n```\n%s\n```\n' % (load['label'], text_timeline(load)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--scenarios', nargs='+', default=['ops', 'ops-ha'])
    parser.add_argument('--from', dest='from_dirs', nargs='+', metavar='DIR',
                        help='tabulate and draw records kept before (one directory per run)')
    parser.add_argument('--work', default=os.path.expanduser('~/.cache/lvs-cluster-lab/ops-under-load'),
                        help='where the runs keep their records')
    parser.add_argument('--out', help='where the timelines go (default: WORK/timelines)')
    args = parser.parse_args(argv)
    out = args.out or os.path.join(args.work, 'timelines')
    failed = []
    if args.from_dirs:
        dirs = args.from_dirs
    else:
        dirs = []
        stamp = time.strftime('%Y%m%d-%H%M%S')
        for run in range(1, args.runs + 1):
            directory = os.path.join(args.work, stamp, 'run-%d' % run)
            for scenario in args.scenarios:
                started = time.monotonic()
                proc = subprocess.run(['molecule', 'test', '-s', scenario], cwd=PROJECT, check=False,
                                      env=dict(os.environ, LVS_LOAD_RECORDS=directory),
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                os.makedirs(directory, exist_ok=True)
                with open(os.path.join(directory, scenario + '.log'), 'w') as handle:
                    handle.write(proc.stdout)
                log = os.path.join(directory, scenario + '.log')
                print('run %d: %s rc=%d in %d s (log: %s)'
                      % (run, scenario, proc.returncode, time.monotonic() - started, log), flush=True)
                if proc.returncode:
                    failed.append((run, scenario, proc.stdout[-3000:]))
            if not any(number == run for number, _scenario, _tail in failed):
                dirs.append(directory)      # a run counts only when all its scenarios passed
    runs = [read_run(directory) for directory in dirs]
    print(table(runs))
    if runs:
        draw(runs[-1], out)
    for run, scenario, tail in failed:
        print('run %d: %s failed:\n%s' % (run, scenario, tail), file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
