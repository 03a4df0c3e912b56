"""DR on one segment (seeds 000, 003), built by playbooks/site.yml from
playbooks/inventories/dr. Read top to bottom: traffic, the director's table, what each
host was given, a reboot, then safety: bad inventories and check mode change no host, a
new host included; removing a real server keeps the other real server's connections.
The same cluster under a load, changed and drifted: molecule/ops."""
import subprocess

import cluster_checks as c

VIP = '192.0.2.100'
TABLE = ('-A -t 192.0.2.100:80 -s wrr\n'
         '-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 2\n'
         '-a -t 192.0.2.100:80 -r 192.0.2.12:80 -g -w 1\n')
HOSTS = ['director', 'rs1', 'rs2']
ADDRESS = {'rs1': '192.0.2.11', 'rs2': '192.0.2.12'}


def test_requests_through_the_vip_split_2_to_1():
    c.assert_split_2_to_1(VIP)


def test_director_table_is_the_declaration():
    assert c.table() == TABLE


def test_vip_on_the_director_and_on_each_real_servers_lo_with_arp_suppressed():
    assert ' %s/32 ' % VIP in c.addresses('director', 'eth0')
    for rs in ('rs1', 'rs2'):
        assert ' %s/32 ' % VIP in c.addresses(rs, 'lo')
        for iface in ('all', 'lo'):
            assert c.sysctl(rs, 'net.ipv4.conf.%s.arp_ignore' % iface) == '1'
            assert c.sysctl(rs, 'net.ipv4.conf.%s.arp_announce' % iface) == '2'
    assert c.sysctl('director', 'net.ipv4.vs.expire_nodest_conn') == '1'


def test_after_a_reboot_of_the_director_and_a_real_server_traffic_flows_without_ansible():
    c.reboot('director', 'rs1')
    assert c.table() == TABLE
    assert ' %s/32 ' % VIP in c.addresses('rs1', 'lo')
    assert c.sysctl('rs1', 'net.ipv4.conf.all.arp_ignore') == '1'
    c.assert_split_2_to_1(VIP)


BAD_INVENTORIES = [
    # (what is wrong, lvs_services, the variable path the error must name)
    ('DR cannot map ports',
     [{'address': VIP, 'port': 80, 'forwarding': 'dr', 'realservers': [{'host': 'rs1', 'port': 8080}]}],
     'lvs_services[0].realservers[0].port'),
    ('a real server host that is not in the inventory',
     [{'address': VIP, 'port': 80, 'realservers': [{'host': 'rs1'}, {'host': 'rs9'}]}],
     'lvs_services[0].realservers[1].host'),
    ('a fwmark service without its match',
     [{'address': VIP, 'port': 80, 'realservers': [{'host': 'rs1'}]},
      {'protocol': 'fwmark', 'fwmark': 5, 'realservers': [{'host': 'rs2'}]}],
     'lvs_services[1].match'),
]


def test_bad_inventories_fail_naming_the_variable_and_change_no_host():
    before = c.snapshot(HOSTS)
    for what, services, path in BAD_INVENTORIES:
        rc, out = c.site(extra_vars={'lvs_services': services})
        assert rc != 0, what
        assert path in out, (what, out[-3000:])
        assert 'no host was changed' in out, what
    assert c.snapshot(HOSTS) == before


def test_check_mode_reports_the_changes_and_makes_none_even_on_a_host_never_built():
    # One --check --diff run of a changed inventory over the built cluster, with rs2 as a
    # new server joining: a fresh lab host with nothing of the cluster on it (files,
    # sysctls, VIP, boot service). The run reports the director's changes and shows what it
    # would do on rs2, sysctl values and the VIP included, and leaves every host exactly as
    # it was; the real run then builds rs2.
    subprocess.run([c.LAB, 'destroy', 'rs2'], check=True)
    subprocess.run([c.LAB, 'create', 'rs2', '--topology', 'dr'], check=True)
    assert not c.host('rs2').file('/etc/lvs-cluster').exists
    before = c.snapshot(HOSTS)
    services = [{'address': VIP, 'port': 80, 'scheduler': 'wrr',
                 'realservers': [{'host': 'rs1', 'weight': 3}, {'host': 'rs2', 'weight': 1}]},
                {'address': '192.0.2.101', 'port': 80, 'realservers': [{'host': 'rs2'}]}]
    rc, out = c.site('--check', '--diff', extra_vars={'lvs_services': services})
    assert rc == 0, out[-3000:]
    recap = out[out.index('PLAY RECAP'):]
    for name in ('director', 'rs2'):
        assert 'changed=0' not in recap.split(name, 1)[1].split('\n')[0], recap
    for shown in ('net.ipv4.conf.lo.arp_ignore = 1', '%s/32 on lo' % VIP, '/etc/lvs-cluster/host.json',
                  '/etc/modules-load.d/lvs-cluster.conf', 'lvs-cluster: enabled'):
        assert shown in out, shown
    assert c.snapshot(HOSTS) == before
    rc, out = c.site('--limit', 'rs2')
    assert rc == 0, out[-3000:]
    c.assert_split_2_to_1(VIP)


def test_removing_a_real_server_keeps_the_other_real_servers_connections():
    # A streaming response through the VIP stays open while site.yml removes the other
    # real server from lvs_services; it must then end intact, from the same real server.
    for rs in ('rs1', 'rs2'):
        c.install_slow_cgi(rs)
    c.sh('client', 'rm -f /tmp/slow /tmp/slow.rc; (curl -sN --max-time 400 -o /tmp/slow '
                   'http://%s/cgi-bin/slow; echo $? > /tmp/slow.rc) >/dev/null 2>&1 &' % VIP)
    c.wait_for(lambda: 'ESTABLISHED' in c.sh('director', 'ipvsadm -Lnc'), 30, 'the stream to start')
    established = c.sh('director', 'ipvsadm -Lnc | grep ESTABLISHED')
    keep, gone = ('rs1', 'rs2') if '192.0.2.11:80' in established else ('rs2', 'rs1')
    services = [{'address': VIP, 'port': 80, 'scheduler': 'wrr', 'forwarding': 'dr',
                 'realservers': [{'host': keep}]}]
    rc, out = c.site(extra_vars={'lvs_services': services})
    assert rc == 0, out[-3000:]
    rules = c.table()
    assert rules.count('-a ') == 1 and ('-r %s:80' % ADDRESS[keep]) in rules, rules
    assert not c.host('client').file('/tmp/slow.rc').exists, 'the stream ended during the run'
    c.sh(keep, 'touch /tmp/release')
    c.wait_for(lambda: c.host('client').file('/tmp/slow.rc').exists, 30, 'the stream to end')
    assert c.sh('client', 'cat /tmp/slow.rc').strip() == '0'
    lines = c.sh('client', 'cat /tmp/slow').splitlines()
    assert lines[-1] == 'end' and len(lines) > 5, lines
    assert all(line.split()[0] == keep for line in lines[:-1]), (keep, gone, lines)
