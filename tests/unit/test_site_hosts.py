"""site.yml's plays select the cluster hosts of every example inventory, and an inventory
without routers gets no 'Could not match supplied host pattern' warning."""
import os
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
INVENTORIES = os.path.join(REPO, 'playbooks', 'inventories')


@pytest.mark.parametrize('inventory', sorted(os.listdir(INVENTORIES)))
def test_site_selects_the_cluster_hosts_without_warnings(inventory):
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '--list-hosts',
         '-i', os.path.join(INVENTORIES, inventory, 'hosts.yml'),
         os.path.join(REPO, 'playbooks', 'site.yml')],
        capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert 'WARNING' not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    counts = [line.split('(')[1].rstrip('):') for line in proc.stdout.splitlines()
              if line.strip().startswith('hosts (')]
    with open(os.path.join(INVENTORIES, inventory, 'hosts.yml')) as handle:
        groups = yaml.safe_load(handle)
    hosts = set(h for name in ('lvs_directors', 'lvs_realservers', 'lvs_routers')
                for h in ((groups.get(name) or {}).get('hosts') or {}))
    assert counts == [str(len(hosts))] * 2
