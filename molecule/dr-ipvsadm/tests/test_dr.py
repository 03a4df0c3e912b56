"""Verify the DR scenario with real traffic: the client's requests to the VIP reach
both real servers, and the director's kernel table is what converge asked for."""
import collections

import lvs_lab

VIP = "192.0.2.100"
testinfra_hosts = [lvs_lab.hostspec("client")]


def test_requests_through_the_vip_reach_every_real_server(host):
    out = host.check_output(
        "for i in $(seq 12); do curl -s --max-time 3 http://%s/ || echo TIMEOUT; done" % VIP)
    counts = collections.Counter(out.split())
    assert counts == {"rs1": 6, "rs2": 6}, counts


def test_director_table(host):
    director = host.get_host(lvs_lab.hostspec("director"))
    rules = director.check_output("ipvsadm-save -n").splitlines()
    assert "-A -t %s:80 -s rr" % VIP in rules
    assert "-a -t %s:80 -r 192.0.2.11:80 -g -w 1" % VIP in rules
    assert "-a -t %s:80 -r 192.0.2.12:80 -g -w 1" % VIP in rules
