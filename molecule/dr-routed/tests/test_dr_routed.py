"""DR across a router (seed 004, multi-segment), built by playbooks/site.yml from
playbooks/inventories/dr-routed: the client is outside, behind the router; requests and
the real servers' direct replies both cross it."""
import cluster_checks as c

VIP = '192.0.2.100'
TABLE = ('-A -t 192.0.2.100:80 -s wrr\n'
         '-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 2\n'
         '-a -t 192.0.2.100:80 -r 192.0.2.12:80 -g -w 1\n')


def test_requests_from_outside_through_the_router_split_2_to_1():
    c.assert_split_2_to_1(VIP)


def test_director_table_is_the_declaration():
    assert c.table() == TABLE


def test_router_forwards_and_real_servers_hold_the_vip_on_lo():
    assert c.sysctl('router', 'net.ipv4.ip_forward') == '1'
    assert c.sysctl('router', 'net.ipv4.conf.all.rp_filter') == '2'
    for rs in ('rs1', 'rs2'):
        assert ' %s/32 ' % VIP in c.addresses(rs, 'lo')
        assert c.sysctl(rs, 'net.ipv4.conf.lo.arp_announce') == '2'


def test_after_a_reboot_of_the_router_director_and_a_real_server_traffic_flows_without_ansible():
    c.reboot('router', 'director', 'rs1')
    assert c.table() == TABLE
    assert c.sysctl('router', 'net.ipv4.conf.all.rp_filter') == '2'
    c.assert_split_2_to_1(VIP)
