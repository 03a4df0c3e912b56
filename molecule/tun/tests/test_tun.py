"""TUN (seeds 003, 004), built by playbooks/site.yml from playbooks/inventories/tun: the
real servers sit behind a router; the director tunnels requests to them (ipip), they
answer the client directly."""
import cluster_checks as c

VIP = '192.0.2.100'
TABLE = ('-A -t 192.0.2.100:80 -s wrr\n'
         '-a -t 192.0.2.100:80 -r 198.51.100.11:80 -i -w 2 --tun-type ipip\n'
         '-a -t 192.0.2.100:80 -r 198.51.100.12:80 -i -w 1 --tun-type ipip\n')


def test_requests_through_the_vip_split_2_to_1():
    c.assert_split_2_to_1(VIP)


def test_director_table_is_the_declaration():
    assert c.table() == TABLE


def test_real_servers_hold_the_vip_on_tunl0_with_rp_filter_off_and_arp_suppressed():
    for rs in ('rs1', 'rs2'):
        tunl0 = c.addresses(rs, 'tunl0')
        assert ' %s/32 ' % VIP in tunl0
        assert 'UP' in c.sh(rs, 'ip link show tunl0').split('>')[0]
        assert c.sysctl(rs, 'net.ipv4.conf.tunl0.rp_filter') == '0'
        assert c.sysctl(rs, 'net.ipv4.conf.all.rp_filter') == '0'
        assert c.sysctl(rs, 'net.ipv4.conf.all.arp_ignore') == '1'


def test_router_forwards_with_loose_reverse_path_filtering():
    assert c.sysctl('router', 'net.ipv4.ip_forward') == '1'
    assert c.sysctl('router', 'net.ipv4.conf.all.rp_filter') == '2'


def test_after_a_reboot_of_the_director_and_a_real_server_traffic_flows_without_ansible():
    c.reboot('director', 'rs1')
    assert c.table() == TABLE
    assert ' %s/32 ' % VIP in c.addresses('rs1', 'tunl0')
    assert c.sysctl('rs1', 'net.ipv4.conf.tunl0.rp_filter') == '0'
    c.assert_split_2_to_1(VIP)


def need_daemon_reload(name):
    return c.sh(name, 'systemctl show -p NeedDaemonReload --value lvs-cluster.service').strip()


def test_a_vip_taken_out_of_lvs_services_leaves_every_host_and_no_other_address_does():
    # The service moves to another VIP: the old one leaves the director's eth0 and the real
    # servers' tunl0 (lvs_host's address record); an address the collection never put up stays.
    # And rs1's unit file differs from what systemd loaded (as after an upgrade of the
    # collection): the run rewrites it and has systemd reload it.
    moved = '192.0.2.101'
    c.sh('rs1', 'ip addr add 198.51.100.77/32 dev lo')
    c.sh('rs1', 'echo "# from an older release" >> /etc/systemd/system/lvs-cluster.service')
    assert need_daemon_reload('rs1') == 'yes'
    services = [{'name': 'web', 'protocol': 'tcp', 'address': moved, 'port': 80, 'scheduler': 'wrr',
                 'forwarding': 'tun', 'realservers': [{'host': 'rs1', 'weight': 2}, {'host': 'rs2', 'weight': 1}]}]
    rc, out = c.site(extra_vars={'lvs_services': services})
    assert rc == 0, out[-3000:]
    director = c.addresses('director', 'eth0')
    assert ' %s/32 ' % moved in director and ' %s/32 ' % VIP not in director, director
    for rs in ('rs1', 'rs2'):
        tunl0 = c.addresses(rs, 'tunl0')
        assert ' %s/32 ' % moved in tunl0 and ' %s/32 ' % VIP not in tunl0, (rs, tunl0)
    assert ' 198.51.100.77/32 ' in c.addresses('rs1', 'lo')
    assert need_daemon_reload('rs1') == 'no'
    assert 'older release' not in c.sh('rs1', 'systemctl cat lvs-cluster.service')
    assert c.table() == TABLE.replace(VIP, moved)
    c.assert_split_2_to_1(moved)
