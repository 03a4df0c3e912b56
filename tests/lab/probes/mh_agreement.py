"""Probe for issue 18 (docs/develop/ecmp.md): do IPVS directors using the mh (Maglev)
scheduler choose the same real server for the same flow, and what breaks the agreement?

Run it in the lab guest (root, the guest's own kernel; it makes network namespaces of its
own and removes them):

    tests/lab/run python3 tests/lab/probes/mh_agreement.py [FLOWS]      # default 100

Three directors (namespaces mh-a, mh-b, mh-c), each with the VIP on a dummy device and
`ipvsadm -A -t VIP:80 -s mh -b mh-port`, and a client namespace with a veth to each and
an address of its own. For each case, FLOWS flows (the client's address, source ports of
the case's own range) are sent as SYNs to one director after the other (the VIP routed
to it); each director's choice is read from its connection table (`ipvsadm -Lnc`), the
oracle. Printed: per case, how many flows each pair of directors sent to the same real
server. Cases: the same real servers added in the same order; in the reverse order;
one removed and added back on one director (its history differs); one set to weight 0
on every director (what inhibit_on_failure does), with how many flows of the other real
servers moved.
"""
import subprocess
import sys

VIP, CLIENT = '198.51.100.1', '203.0.113.10'
REAL = ['10.9.0.%d' % i for i in range(11, 15)]
DIRECTORS = ('mh-a', 'mh-b', 'mh-c')
FLOWS = int(sys.argv[1]) if len(sys.argv) > 1 else 100      # flows per case


def sh(command):
    return subprocess.run(command, shell=True, check=True, capture_output=True, text=True).stdout


def ns(name, command):
    return sh('ip netns exec %s %s' % (name, command))


def up():
    sh('modprobe ip_vs_mh')
    sh('ip netns add mh-client; ip -n mh-client link set lo up; ip -n mh-client addr add %s/32 dev lo' % CLIENT)
    for index, name in enumerate(DIRECTORS, 1):
        sh('ip netns add %s; ip -n %s link set lo up' % (name, name))
        sh('ip -n mh-client link add c%d type veth peer name eth0 netns %s' % (index, name))
        sh('ip -n mh-client addr add 10.0.%d.1/24 dev c%d; ip -n mh-client link set c%d up' % (index, index, index))
        sh('ip -n %s addr add 10.0.%d.2/24 dev eth0; ip -n %s link set eth0 up' % (name, index, name))
        sh('ip -n %s route add %s/32 via 10.0.%d.1' % (name, CLIENT, index))
        sh('ip -n %s link add lvs0 type dummy; ip -n %s addr add %s/32 dev lvs0; ip -n %s link set lvs0 up'
           % (name, name, VIP, name))
        # The real servers' segment: a dummy device (DR sends the SYNs there; nobody answers).
        sh('ip -n %s link add rsnet type dummy; ip -n %s addr add 10.9.0.1/24 dev rsnet; ip -n %s link set rsnet up'
           % (name, name, name))


def down():
    for name in DIRECTORS + ('mh-client',):
        subprocess.run(['ip', 'netns', 'del', name], check=False, capture_output=True)


def service(name, order, weights=None):
    """NAME's service: the real servers of ORDER added in that order (WEIGHTS: {address: w})."""
    ns(name, 'ipvsadm -C')
    ns(name, 'ipvsadm -A -t %s:80 -s mh -b mh-port' % VIP)
    for address in order:
        ns(name, 'ipvsadm -a -t %s:80 -r %s:80 -g -w %d' % (VIP, address, (weights or {}).get(address, 1)))


# One SYN per flow: a non-blocking connect sends it at once; closing the socket then sends
# nothing more (the director has scheduled the flow on that SYN).
SEND = '''
import socket, sys
for port in range(int(sys.argv[1]), int(sys.argv[1]) + int(sys.argv[2])):
    s = socket.socket(); s.setblocking(False); s.bind((sys.argv[3], port))
    s.connect_ex((sys.argv[4], 80)); s.close()
'''


def choices(name, first_port):
    """The real server NAME chose for each of FLOWS flows from FIRST_PORT on."""
    index = DIRECTORS.index(name) + 1
    sh('ip -n mh-client route replace %s/32 via 10.0.%d.2 src %s' % (VIP, index, CLIENT))
    subprocess.run(['ip', 'netns', 'exec', 'mh-client', 'python3', '-c', SEND, str(first_port), str(FLOWS),
                    CLIENT, VIP], check=True)
    chosen = {}
    for line in ns(name, 'ipvsadm -Lnc').splitlines():
        words = line.split()
        if len(words) == 6 and words[3].startswith(CLIENT + ':'):
            port = int(words[3].rsplit(':', 1)[1])
            if first_port <= port < first_port + FLOWS:
                chosen[port] = words[5].rsplit(':', 1)[0]
    assert len(chosen) == FLOWS, (name, len(chosen))
    return chosen


def agree(one, other, only=None):
    """Flows (of ONLY, if given) that ONE and OTHER sent to the same real server."""
    return sum(1 for port in one if (only is None or port in only) and one[port] == other[port])


def case(title, first_port, tables, then=None):
    """Set each director's table (TABLES: {name: (order, weights)}), run THEN (a last
    change by hand), send the flows to each director; print how many flows every pair
    sent to the same real server, and mh-a's spread over the real servers."""
    for name, (order, weights) in tables.items():
        service(name, order, weights)
    if then:
        then()
    chosen = dict((name, choices(name, first_port)) for name in DIRECTORS)
    pairs = [(a, b) for i, a in enumerate(DIRECTORS) for b in DIRECTORS[i + 1:]]
    spread = ' '.join(str(sum(1 for c in chosen['mh-a'].values() if c == address)) for address in REAL)
    agreement = ', '.join('%s/%s %d' % (a[3:], b[3:], agree(chosen[a], chosen[b])) for a, b in pairs)
    print('%s: %s; mh-a spread %s' % (title, agreement, spread), flush=True)
    return chosen


def main():
    down()
    up()
    try:
        same = dict((name, (REAL, None)) for name in DIRECTORS)
        print('%d flows per case; agreement = flows two directors sent to the same real server' % FLOWS)
        case('same order everywhere', 20000, same)
        case('mh-c added them in reverse order', 20000 + FLOWS, dict(same, **{'mh-c': (REAL[::-1], None)}))

        def readd():
            ns('mh-c', 'ipvsadm -d -t %s:80 -r %s:80' % (VIP, REAL[1]))
            ns('mh-c', 'ipvsadm -a -t %s:80 -r %s:80 -g -w 1' % (VIP, REAL[1]))
        case('mh-c: %s deleted and added back' % REAL[1], 20000 + 2 * FLOWS, same, readd)
        # Minimal disruption: mh-a as before, mh-b and mh-c with REAL[1] at weight 0 (what
        # inhibit_on_failure does to a failed real server): the flows mh-a sent elsewhere
        # should stay where they were.
        chosen = case('%s at weight 0 on mh-b and mh-c' % REAL[1], 20000 + 3 * FLOWS,
                      dict(same, **dict((n, (REAL, {REAL[1]: 0})) for n in ('mh-b', 'mh-c'))))
        others = set(port for port, address in chosen['mh-a'].items() if address != REAL[1])
        print('  flows mh-a sent to the other real servers: %d; mh-b sent %d of them to the same one'
              % (len(others), agree(chosen['mh-a'], chosen['mh-b'], others)))
    finally:
        down()
    return 0


if __name__ == '__main__':
    sys.exit(main())
