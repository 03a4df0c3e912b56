"""The bad-input cases of the modules: each must fail with a message naming the field.

The host's unit tests run every case but the ones in LAB_* in-process, with no netlink
socket and no write allowed (test_bad_inputs_on_the_host.py): validation happens before
anything is touched.  The ones in LAB_* need the running kernel to be refused (a service
or an interface that is not there); the lab runs those and a few of the others end to
end through ansible-playbook, comparing the kernel's state before and after
(tests/integration/test_bad_inputs.py, test_net_bad_inputs.py).
"""
import os

SVC = 'lvs.cluster.ipvs_service'
RS = 'lvs.cluster.ipvs_realserver'
TABLE = 'lvs.cluster.ipvs_table'
TIMEOUTS = 'lvs.cluster.ipvs_timeouts'

WEB = {'address': '192.0.2.10', 'port': 80}
V6 = {'address': '2001:db8::10', 'port': 80}
ON_WEB = {'service_address': '192.0.2.10', 'service_port': 80}

# (module, args, text the failure message must contain: the field)
IPVS_CASES = [
    # ipvs_service: addresses, ports, schedulers, netmasks, fwmark, persistence
    (SVC, dict(WEB, address='300.1.1.1'), 'address'),
    (SVC, dict(WEB, address='192.0.2.0/24'), 'address'),
    (SVC, dict(WEB, address='www.example.com'), 'address'),
    (SVC, dict(WEB, address='0.0.0.0'), 'address'),
    (SVC, dict(WEB, address='224.0.0.5'), 'address'),
    (SVC, {'port': 80}, 'address'),
    (SVC, dict(WEB, port=65536), 'port'),
    (SVC, dict(WEB, port=-1), 'port'),
    (SVC, dict(WEB, port='http'), 'port'),
    (SVC, {'address': '192.0.2.10'}, 'port'),
    (SVC, dict(WEB, port=0), 'port'),                                  # port 0 without persistence
    (SVC, dict(WEB, scheduler='roundrobin'), 'scheduler'),
    (SVC, dict(WEB, scheduler='rr', scheduler_flags=['sh-port']), 'scheduler_flags'),
    (SVC, dict(WEB, scheduler='sh', scheduler_flags=['flag-9']), 'scheduler_flags'),
    (SVC, dict(WEB, persistence_netmask='255.255.255.0'), 'persistence_netmask'),
    (SVC, dict(WEB, persistence_timeout=60, persistence_netmask='255.0.255.0'), 'persistence_netmask'),
    (SVC, dict(WEB, persistence_timeout=60, persistence_netmask='33'), 'persistence_netmask'),
    (SVC, dict(V6, persistence_timeout=60, persistence_netmask='129'), 'persistence_netmask'),
    (SVC, dict(V6, persistence_timeout=60, persistence_netmask='ffff:ffff::'), 'persistence_netmask'),
    (SVC, dict(WEB, persistence_timeout=-1), 'persistence_timeout'),
    (SVC, {'protocol': 'fwmark', 'fwmark': 5, 'port': 80}, 'port'),    # fwmark with a port
    (SVC, {'protocol': 'fwmark', 'fwmark': 5, 'address': '192.0.2.10'}, 'address'),
    (SVC, {'protocol': 'fwmark'}, 'fwmark'),
    (SVC, {'protocol': 'fwmark', 'fwmark': 0}, 'fwmark'),
    (SVC, dict(WEB, fwmark=5), 'fwmark'),
    (SVC, dict(WEB, protocol='dccp'), 'protocol'),
    (SVC, dict(WEB, one_packet=True), 'one_packet'),
    (SVC, dict(WEB, family='ipv6'), 'family'),
    (SVC, dict(WEB, realservers=[{'address': '2001:db8::2'}]), 'realservers[0].address'),   # v4/v6 mix
    (SVC, dict(WEB, realservers=[{'address': '10.0.0.1', 'port': 8080}]), 'realservers[0].port'),
    (SVC, dict(WEB, realservers=[{'address': '10.0.0.1', 'port': 8080, 'forwarding': 'tun'}]),
     'realservers[0].port'),
    (SVC, dict(WEB, realservers=[{'address': '10.0.0.1', 'weight': 65536}]), 'realservers[0].weight'),
    (SVC, dict(WEB, realservers=[{'address': '10.0.0.1', 'weight': -1}]), 'realservers[0].weight'),
    (SVC, dict(WEB, realservers=[{'address': '10.0.0.1', 'upper_threshold': 5, 'lower_threshold': 9}]),
     'realservers[0].lower_threshold'),
    (SVC, dict(WEB, realservers=[{'address': '10.0.0.1'}, {'address': '10.0.0.1'}]), 'realservers[1].address'),
    (SVC, dict(WEB, realservers=[{'address': '10.0.0.1', 'forwarding': 'fullnat'}]), 'forwarding'),
    (SVC, dict(WEB, purge_realservers=True), 'purge_realservers'),
    # ipvs_realserver
    (RS, dict(ON_WEB, address='10.0.0.1', weight=65536), 'weight'),
    (RS, dict(ON_WEB, address='10.0.0.1', port=8080, forwarding='dr'), 'port'),          # mapping in dr
    (RS, dict(ON_WEB, address='10.0.0.9', port=8080), 'port'),                           # new: dr default
    (RS, dict(ON_WEB, address='2001:db8::1'), 'address'),                                # v4/v6 mix
    (RS, dict(ON_WEB, address='10.0.0.1.5'), 'address'),
    (RS, {'service_address': '192.0.2.10', 'address': '10.0.0.1'}, 'service_port'),
    (RS, dict(ON_WEB, service_address='192.0.2.300', address='10.0.0.1'), 'service_address'),
    (RS, dict(ON_WEB, service_port=81, address='10.0.0.1'), 'service_address'),          # no such service
    (RS, dict(ON_WEB, address='10.0.0.1', upper_threshold=-5), 'upper_threshold'),
    (RS, dict(ON_WEB, address='10.0.0.1', state='drained', drain_timeout=-1), 'drain_timeout'),
    # ipvs_table: services list and ipvsadm-save rules
    (TABLE, {'services': [dict(WEB, port=70000)]}, 'services[0].port'),
    (TABLE, {'services': [WEB, WEB]}, 'services[1]'),
    (TABLE, {'services': [{'protocol': 'fwmark', 'fwmark': 3, 'port': 80}]}, 'services[0].port'),
    (TABLE, {'services': [dict(WEB, realservers=[{'address': '10.0.0.1', 'weight': 99999}])], 'purge': True},
     'services[0].realservers[0].weight'),
    (TABLE, {'services': [WEB], 'rules': '-A -t 192.0.2.10:80 -s rr'}, 'rules'),
    (TABLE, {'rules': '-A -t 192.0.2.10:80 -s nosuch\n', 'purge': True}, 'scheduler'),
    (TABLE, {'rules': '-a -t 192.0.2.10:80 -r 10.0.0.1 -g -w 1\n'}, 'rules line 1'),
    (TABLE, {'rules': '-C\n', 'purge': True}, 'command'),
    (TABLE, {'rules': '-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 10.0.0.1:8080 -g -w 1\n'}, 'port'),
    (TABLE, {'rules': '-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r [2001:db8::1]:80 -g -w 1\n'},
     'address'),
    (TABLE, {'rules': '-A -t 192.0.2.10:80 -s rr -p\n-A -t 192.0.2.11:99999 -s rr\n', 'purge': True},
     'rules line 2'),
    (TABLE, {'rules': '-A -t 192.0.2.10 -s rr\n', 'purge': True}, 'port'),      # all ports, not persistent
    (TABLE, {'rules': '-A -t 192.0.2.10:80 -s rr --pe sip\n', 'purge': True}, '--pe'),
    # ipvs_timeouts
    (TIMEOUTS, {'tcp': 0}, 'tcp'),
    (TIMEOUTS, {'udp': 99999999}, 'udp'),
    (TIMEOUTS, {'tcpfin': -1}, 'tcpfin'),
    (TIMEOUTS, {}, 'tcp, tcpfin, udp'),
]

# Refused only by what the kernel holds: the real server is new, so its forwarding is
# the default (dr) and the port mapping is refused; there is no service on port 81.
LAB_IPVS = (39, 44)
# End to end in the lab besides those: one case per module.
LAB_IPVS_SAMPLE = (0, 37, 48, 60)


def net_cases(tmp):
    good_file = os.path.join(tmp, "90-lvs.conf")
    vip = "lvs.cluster.lvs_vip"
    arp = "lvs.cluster.arp_suppress"
    tun = "lvs.cluster.ipip_tunnel"
    return [
        # (field the message must name, module, args)
        ("address", vip, {"address": "10.0.0.300"}),
        ("address", vip, {"address": "vip.example.com"}),
        ("address", vip, {"address": "10.0.0.1/32"}),
        ("address", vip, {"address": ""}),
        ("address", vip, {"address": "0.0.0.0"}),
        ("address", vip, {"address": "224.0.0.5"}),
        ("address", vip, {"address": "255.255.255.255"}),
        ("address", vip, {"address": "127.0.0.5"}),
        ("address", vip, {"address": "fe80::5"}),
        ("prefix", vip, {"address": "192.0.2.10", "prefix": 33}),
        ("prefix", vip, {"address": "192.0.2.10", "prefix": 0}),
        ("prefix", vip, {"address": "2001:db8::10", "prefix": 129}),
        ("prefix", vip, {"address": "192.0.2.10", "prefix": "wide"}),
        ("interface", vip, {"address": "192.0.2.10", "interface": "nope0"}),
        ("interface", vip, {"address": "192.0.2.10", "interface": "lo:0"}),
        ("interface", vip, {"address": "192.0.2.10", "interface": "x" * 16}),
        # bad1 has IPv6 switched off (set up in the test): refused before any change
        ("address", vip, {"address": "2001:db8::10", "interface": "bad1"}),
        ("label", vip, {"address": "192.0.2.10", "label": "eth1:0"}),
        ("label", vip, {"address": "192.0.2.10", "label": "lo"}),
        ("label", vip, {"address": "192.0.2.10", "label": "lo:0123456789abc"}),
        ("label", vip, {"address": "2001:db8::10", "label": "lo:0"}),
        ("state", vip, {"address": "192.0.2.10", "state": "gone"}),
        ("host_route", vip, {"address": "192.0.2.10", "host_route": "perhaps"}),
        ("interfaces", arp, {"interfaces": ["lo", "nope0"], "sysctl_file": good_file}),
        ("interfaces[1]", arp, {"interfaces": ["lo", "bad/name"]}),
        ("arp_ignore", arp, {"arp_ignore": 5}),
        ("arp_announce", arp, {"arp_announce": 3}),
        ("sysctl_file", arp, {"sysctl_file": "90-lvs.conf"}),
        ("sysctl_file", arp, {"sysctl_file": os.path.join(tmp, "missing", "90-lvs.conf")}),
        ("sysctl_file", arp, {"sysctl_file": os.path.join(tmp, "90-lvs.txt")}),
        ("sysctl_file", arp, {"sysctl_file": tmp + "/"}),
        ("state", arp, {"state": "off"}),
        ("device", tun, {"address": "192.0.2.10", "device": "tunl9"}),
        ("device", tun, {"address": "192.0.2.10", "device": "bad0"}),
        ("device", tun, {"address": "192.0.2.10", "device": "tun 0"}),
        ("address", tun, {"address": "2001:db8::10"}),
        ("address", tun, {"address": "192.0.2"}),
        ("prefix", tun, {"address": "192.0.2.10", "prefix": 40}),
        ("rp_filter", tun, {"address": "192.0.2.10", "rp_filter": 3}),
        ("sysctl_file", tun, {"address": "192.0.2.10", "sysctl_file": os.path.join(tmp, "nodir", "x.conf")}),
        ("state", tun, {"address": "192.0.2.10", "state": "down"}),
    ]


# Refused only by what the kernel holds: interfaces that do not exist (nope0, tunl9), one
# with IPv6 off (bad1), a veth where a tunnel was asked (bad0); arp_suppress reads the
# live values of its interfaces before it can say one is missing.
LAB_NET = (13, 16, 23, 32, 33)
# End to end in the lab besides those: one case per module.
LAB_NET_SAMPLE = (0, 25, 37)
