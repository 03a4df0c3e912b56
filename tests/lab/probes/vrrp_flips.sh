#!/bin/sh
# Probe: does a director's keepalived follow fast VRRP flips to the end, or does one
# leave it MASTER beside the other (two holders of a VIP)? docs/develop/tests.md.
#
# Run it from the host in a lab session, on a converged `ha` scenario:
#
#   tests/lab/session sh -c 'molecule create -s ha && molecule converge -s ha &&
#       sh tests/lab/probes/vrrp_flips.sh restart 30; molecule destroy -s ha'
#
# Each round, `flip`: puts lb1 in maintenance (its instance FAULT: lb2 takes the VIPs at
# once) and takes it out again after a random 0.1-1.5 s (lb1 preempts: lb2 leaves MASTER
# soon after it entered it); `restart`: restarts keepalived on both directors at the same
# moment (both start as BACKUP and both turn MASTER after the master-down interval, as at
# a converge). Then it waits until exactly lb1 holds the VIP, for at most 10 s, and
# counts the rounds that do not get there; at the first it prints lb2's keepalived
# processes' kernel stacks and its journal's last lines.
set -u
mode=${1:-restart}
rounds=${2:-30}
vip=192.0.2.100
lab() { ssh -F "$LVS_LAB_SSH_CONFIG" "$1@lab-guest" "$2"; }
holders() {
    for d in lb1 lb2; do
        [ -n "$(lab "$d" "ip -o addr show to $vip")" ] && printf '%s ' "$d"
    done
}
i=0
hits=0
while [ "$i" -lt "$rounds" ]; do
    i=$((i + 1))
    pause=0
    if [ "$mode" = flip ]; then
        pause=$(awk -v s="$i" 'BEGIN { srand(s); printf "%.1f", 0.1 + rand() * 1.4 }')
        lab lb1 "touch /run/lvs-maintenance; sleep $pause; rm -f /run/lvs-maintenance"
    else
        lab lb1 'systemctl restart keepalived' & lab lb2 'systemctl restart keepalived' & wait
        sleep 5
    fi
    waited=0
    now=$(holders)
    while [ "$now" != "lb1 " ] && [ "$waited" -lt 10 ]; do
        sleep 1
        waited=$((waited + 1))
        now=$(holders)
    done
    if [ "$now" != "lb1 " ]; then
        hits=$((hits + 1))
        echo "round $i (pause $pause s): holders after 10 s: $now"
        [ "$hits" -eq 1 ] && lab lb2 'for p in $(pgrep keepalived); do echo "== $p $(cat /proc/$p/comm) $(cat /proc/$p/wchan)"; cat /proc/$p/stack; done; journalctl -u keepalived --no-pager -n 12'
        # A hung VRRP process ignores SIGTERM: end it so the next round starts clean.
        lab lb2 'systemctl kill -s KILL keepalived' || true
    fi
done
echo "$mode, $rounds rounds: $hits ended with two holders of $vip"
[ "$hits" -eq 0 ]
