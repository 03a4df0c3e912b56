"""Bare hosts converged from nothing (tests/lab/topologies/bare.yml): the roles installed
what each host needs from the local apt repository, the cluster carries traffic, and the
idempotence step (Molecule's, before this) re-ran site.yml with no change. Oracles: dpkg,
the hosts' own python3, curl from the client, ipvsadm -S -n."""
import collections

import cluster_checks as c

VIP = '192.0.2.100'
PACKAGES = {'director': ['ipvsadm', 'keepalived', 'nftables'], 'rs1': ['python3-pyroute2'],
            'rs2': ['python3-pyroute2']}
NOT_INSTALLED = {'director': ['python3-pyroute2'], 'rs1': ['keepalived', 'nftables', 'ipvsadm'],
                 'rs2': ['keepalived', 'nftables', 'ipvsadm']}


def status(name, package):
    return c.host(name).run("dpkg-query -W -f '${Status}' %s" % package).stdout


def test_the_roles_installed_each_hosts_packages_and_nothing_else():
    for name, packages in PACKAGES.items():
        for package in packages:
            assert status(name, package) == 'install ok installed', (name, package)
        for package in NOT_INSTALLED[name]:
            assert 'ok installed' not in status(name, package), (name, package)


def test_real_servers_use_debians_pyroute2():
    for name in ('rs1', 'rs2'):
        out = c.sh(name, "python3 -c 'import importlib.metadata as m, pyroute2; "
                         "print(m.version(\"pyroute2\"), pyroute2.__file__)'")
        version, path = out.split()
        # The release's own package (Debian 12: 0.7.2, Debian 13: 0.7.7), as dpkg knows it.
        packaged = c.sh(name, "dpkg-query -W -f '${Version}' python3-pyroute2").split('-')[0]
        assert version == packaged and path.startswith('/usr/lib/python3/dist-packages/'), (out, packaged)


def split(port):
    out = c.sh('client', 'for i in $(seq 8); do curl -s --max-time 3 http://%s:%d/ || echo TIMEOUT; done'
               % (VIP, port))
    return collections.Counter(out.split())


def test_traffic_through_the_vip_splits_across_both_real_servers():
    for port in (80, 8080):
        counts = split(port)
        assert counts == {'rs1': 4, 'rs2': 4}, (port, counts)


def test_keepalived_made_the_table():
    table = c.sh('director', 'ipvsadm -S -n')
    for line in ('-A -t 192.0.2.100:80 -s rr', '-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 1',
                 '-a -t 192.0.2.100:80 -r 192.0.2.12:80 -g -w 1', '-A -f 10 -s rr',
                 '-a -f 10 -r 192.0.2.11:0 -g -w 1', '-a -f 10 -r 192.0.2.12:0 -g -w 1'):
        assert line in table.splitlines(), table


def test_with_lvs_conf_dir_elsewhere_a_reboot_brings_the_cluster_back_without_ansible():
    # lvs_conf_dir is /opt/lvs-cluster (the inventory): the boot service reads its state
    # from there and restores the fwmark marks (director) and the VIP on lo (rs1).
    for name in ('director', 'rs1'):
        assert c.host(name).file('/opt/lvs-cluster/host.json').is_file, name
        assert not c.host(name).file('/etc/lvs-cluster').exists, name
        assert '/opt/lvs-cluster/host.json' in c.sh(name, 'systemctl cat lvs-cluster.service'), name
    c.reboot('director', 'rs1')
    assert ' %s/32 ' % VIP in c.addresses('rs1', 'lo')
    assert 'meta mark set' in c.sh('director', 'nft list table inet lvs_cluster')
    c.wait_for(lambda: ' %s/32 ' % VIP in c.addresses('director', 'eth0'), 30, 'keepalived to take the VIP')
    c.wait_for(lambda: split(8080) == {'rs1': 4, 'rs2': 4}, 30, 'both real servers on 8080 again')
    assert split(80) == {'rs1': 4, 'rs2': 4}


def test_with_lvs_install_packages_false_a_missing_package_stops_every_host_unchanged():
    # Last: it takes rs2's pyroute2 away. Without lvs_install_packages the check names
    # the package, the host and the command, and no host is touched.
    c.sh('rs2', 'dpkg --purge python3-pyroute2')
    names = ('director', 'rs1', 'rs2')
    before = c.snapshot(names)
    rc, out = c.site(extra_vars={'lvs_install_packages': False})
    assert rc != 0, out[-3000:]
    assert 'apt-get install python3-pyroute2' in out and 'lvs_install_packages is false' in out, out[-3000:]
    assert 'Ansible uses on rs2' in out, out[-3000:]
    assert c.snapshot(names) == before


def test_a_package_that_cannot_be_installed_stops_every_host_unchanged():
    # After the one above (rs2 lacks python3-pyroute2): rs2's package source is gone, so
    # apt fails; the run stops with the host, the package and the fix, before anything of
    # the cluster is applied anywhere.
    c.sh('rs2', "echo 'deb [trusted=yes] file:/nonexistent ./' > /etc/apt/sources.list && "
                "rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin")
    names = ('director', 'rs1', 'rs2')
    before = c.snapshot(names)
    rc, out = c.site()
    assert rc != 0, out[-3000:]
    assert 'rs2: installing python3-pyroute2 with apt failed; nothing of the cluster was applied on it' \
        in out, out[-3000:]
    assert 'Fix: give rs2 a package source that has them' in out, out[-3000:]
    assert c.snapshot(names) == before
