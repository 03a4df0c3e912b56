"""lvs_plan.packages: the distribution packages each host's roles use, and nothing else.

Expectations are written out by hand per example inventory and per case (not recomputed
from the planner's rule): a static director gets ipvsadm (the operator's view of the table)
and puts its VIPs up with pyroute2; a keepalived director needs keepalived (it
owns VIPs and table) and ipvsadm (stopping the sync daemons when sync is turned off); nft only where fwmark traffic is marked; pyroute2 on
DR and TUN real servers (lvs_vip, ipip_tunnel), never on NAT-only real servers or routers.
"""
import pytest

from ansible_collections.lvs.cluster.plugins.module_utils.cluster import plan_cluster

from test_cluster_plan import load_inventory
from test_cluster_ha import keepalived_vars

IPVSADM, NFT, KEEPALIVED, PYROUTE2 = 'ipvsadm', 'nftables', 'keepalived', 'python3-pyroute2'

EXAMPLES = {
    'dr': {'director': [IPVSADM, PYROUTE2], 'rs1': [PYROUTE2], 'rs2': [PYROUTE2]},
    'dr-routed': {'director': [IPVSADM, PYROUTE2], 'router': [],
                  'rs1': [PYROUTE2], 'rs2': [PYROUTE2]},
    # A fwmark service: nft on the director; NAT real servers reply by ip rule only.
    'nat': {'director': [IPVSADM, NFT, PYROUTE2], 'rs1': [], 'rs2': []},
    'tun': {'director': [IPVSADM, PYROUTE2], 'router': [], 'rs1': [PYROUTE2], 'rs2': [PYROUTE2]},
    # keepalived owns VIPs and table: no lvs_vip (pyroute2) on the directors; ipvsadm
    # stops sync daemons; the DR service puts the VIP on the real servers' lo.
    'ha': {'lb1': [IPVSADM, KEEPALIVED], 'lb2': [IPVSADM, KEEPALIVED], 'rs1': [PYROUTE2], 'rs2': [PYROUTE2]},
}


@pytest.mark.parametrize('inventory', sorted(EXAMPLES))
def test_example_inventories_packages(inventory):
    keepalived = keepalived_vars(inventory) if inventory == 'ha' else None
    plans = plan_cluster(*load_inventory(inventory), keepalived=keepalived)
    assert dict((host, plan['packages']) for host, plan in plans.items()) == EXAMPLES[inventory]


HOSTS = {'lb': {'lvs_address': '192.0.2.2/24'}, 'rs1': {'lvs_address': '192.0.2.11/24'},
         'rs2': {'lvs_address': '192.0.2.12/24'}}
GROUPS = {'lvs_directors': ['lb'], 'lvs_realservers': ['rs1', 'rs2']}


def service(forwarding, servers=('rs1',), **extra):
    svc = {'address': '192.0.2.100', 'port': 80, 'scheduler': 'rr', 'forwarding': forwarding,
           'realservers': [{'host': h} for h in servers]}
    svc.update(extra)
    return svc


FWMARK = {'protocol': 'fwmark', 'fwmark': 7, 'scheduler': 'rr', 'forwarding': 'dr',
          'match': {'protocol': 'tcp', 'address': '192.0.2.100', 'ports': [443]},
          'realservers': [{'host': 'rs2'}]}


@pytest.mark.parametrize('services, keepalived, expected', [
    # Nothing to balance: the boot path still restores the (empty) table; no VIP, no pyroute2.
    ([], None, {'lb': [IPVSADM], 'rs1': [], 'rs2': []}),
    # rs2 is in the group but in no service: no VIP to put up, nothing to install.
    ([service('dr')], None, {'lb': [IPVSADM, PYROUTE2], 'rs1': [PYROUTE2], 'rs2': []}),
    ([service('tun', ('rs1', 'rs2'))], None,
     {'lb': [IPVSADM, PYROUTE2], 'rs1': [PYROUTE2], 'rs2': [PYROUTE2]}),
    ([service('nat', ('rs1', 'rs2'))], None, {'lb': [IPVSADM, PYROUTE2], 'rs1': [], 'rs2': []}),
    # One real server DR, the other NAT in the same service.
    ([service('nat', ('rs1',), realservers=[{'host': 'rs1', 'forwarding': 'dr'}, {'host': 'rs2'}])],
     None, {'lb': [IPVSADM, PYROUTE2], 'rs1': [PYROUTE2], 'rs2': []}),
    ([service('dr'), FWMARK], None,
     {'lb': [IPVSADM, NFT, PYROUTE2], 'rs1': [PYROUTE2], 'rs2': [PYROUTE2]}),
    # keepalived mode with one director (enabled): keepalived and ipvsadm (+ nft for the
    # mark), not pyroute2.
    ([service('dr'), FWMARK], {'enabled': True},
     {'lb': [IPVSADM, KEEPALIVED, NFT], 'rs1': [PYROUTE2], 'rs2': [PYROUTE2]}),
    ([service('nat', ('rs1', 'rs2'))], {'enabled': True},
     {'lb': [IPVSADM, KEEPALIVED], 'rs1': [], 'rs2': []}),
], ids=['no-services', 'dr-one-server', 'tun', 'nat', 'dr-and-nat-servers', 'fwmark-static',
        'fwmark-keepalived', 'nat-keepalived'])
def test_packages_follow_what_the_roles_run(services, keepalived, expected):
    plans = plan_cluster(services, HOSTS, GROUPS, keepalived)
    assert dict((host, plan['packages']) for host, plan in plans.items()) == expected


def test_a_router_and_a_host_outside_the_groups_get_no_packages():
    hosts = dict(HOSTS, gw={'lvs_address': '198.51.100.1/24'}, other={})
    groups = dict(GROUPS, lvs_routers=['gw'])
    plans = plan_cluster([service('dr')], hosts, groups)
    assert plans['gw']['packages'] == []
    assert plans['other']['packages'] == []
