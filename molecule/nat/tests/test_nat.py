"""NAT (seeds 002, 004), built by playbooks/site.yml from playbooks/inventories/nat:
traffic through the VIP, a persistent fwmark service over two ports, the director's
table, what each host was given, and a reboot of the director and a real server."""
import cluster_checks as c

VIP = '203.0.113.100'
# lvs_ipvs_timeouts of the inventory, as ipvsadm prints them.
TIMEOUTS = 'Timeout (tcp tcpfin udp): 900 30 60'
TABLE = ('-A -t 203.0.113.100:80 -s wrr\n'
         '-a -t 203.0.113.100:80 -r 198.51.100.11:80 -m -w 2\n'
         '-a -t 203.0.113.100:80 -r 198.51.100.12:80 -m -w 1\n'
         '-A -f 10 -s rr -p 600\n'
         '-a -f 10 -r 198.51.100.11:0 -m -w 1\n'
         '-a -f 10 -r 198.51.100.12:0 -m -w 1\n')


def test_requests_through_the_vip_split_2_to_1():
    c.assert_split_2_to_1(VIP)


def test_fwmark_service_keeps_a_client_on_one_real_server_across_both_ports():
    # A persistent fwmark service keeps the client's port: the real servers listen on both.
    for rs in ('rs1', 'rs2'):
        c.serve(rs, 8080, 8443)
    answers = c.requests(VIP, 8080, 3) + c.requests(VIP, 8443, 3)
    assert len(answers) == 1 and sum(answers.values()) == 6 and 'TIMEOUT' not in answers, answers


def test_director_table_is_the_declaration():
    assert c.table() == TABLE


def test_director_forwards_marks_and_holds_the_vip():
    assert c.sysctl('director', 'net.ipv4.ip_forward') == '1'
    assert ' %s/32 ' % VIP in c.addresses('director', 'eth0')
    rules = c.sh('director', 'nft list table inet lvs_cluster')
    assert 'ip daddr 203.0.113.100 tcp dport { 8080, 8443 } meta mark set 0x0000000a' in rules, rules


def test_real_servers_route_service_replies_through_the_director_only():
    for rs, address in (('rs1', '198.51.100.11'), ('rs2', '198.51.100.12')):
        rules = c.sh(rs, 'ip rule show priority 31000')
        for port in (80, 8080, 8443):
            assert 'from %s ipproto tcp sport %d lookup 240' % (address, port) in rules, rules
        assert c.sh(rs, 'ip route show table 240').startswith('default via 198.51.100.1 ')
        # The main table (the management route) is the topology's own.
        assert c.sh(rs, 'ip route show default').startswith('default via 198.51.100.1 ')


def test_director_has_the_inventorys_ipvs_timeouts():
    assert TIMEOUTS in c.sh('director', 'ipvsadm -L --timeout')


def test_after_a_reboot_of_the_director_and_a_real_server_traffic_flows_without_ansible():
    c.reboot('director', 'rs1')
    assert c.table() == TABLE
    # The boot service sets them again (the kernel starts with 900 120 300).
    assert TIMEOUTS in c.sh('director', 'ipvsadm -L --timeout')
    assert 'lookup 240' in c.sh('rs1', 'ip rule show priority 31000')
    c.assert_split_2_to_1(VIP)
    c.serve('rs1', 8080, 8443)
    answers = c.requests(VIP, 8080, 2) + c.requests(VIP, 8443, 2)
    assert len(answers) == 1 and 'TIMEOUT' not in answers, answers
