# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Listens on a director's VRRP interface for advertisements of our virtual_router_id from
# a router that is not one of our directors (part of the read-only host check).
#
# Why: two VRRP routers sharing an ID on one segment fight over its addresses (each
# drops the other's advertisements as invalid, or one side's VIPs flap). keepalived's own
# examples all use 51, so a second cluster on a LAN often collides. The inventory cannot
# see the other cluster; the wire can. Standard library only: it runs before anything is
# installed or changed, in the host_check module (foreign_router_lines).
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import socket
import struct
import time

IPPROTO_VRRP = 112
GROUPS = {4: '224.0.0.18', 6: 'ff02::12'}
SO_BINDTODEVICE = getattr(socket, 'SO_BINDTODEVICE', 25)


def advert(packet, family):
    """(version, vrid, priority) of a VRRP advertisement, or None. IPv4 raw sockets hand
    over the IP header too; IPv6 ones only the payload."""
    if family == 4:
        if len(packet) < 20 or packet[0] >> 4 != 4:
            return None
        packet = packet[(packet[0] & 0x0f) * 4:]
    if len(packet) < 8:
        return None
    version, kind = packet[0] >> 4, packet[0] & 0x0f
    if version not in (2, 3) or kind != 1:       # type 1: ADVERTISEMENT
        return None
    return version, packet[1], packet[2]


def listen(interface, vrid, family, seconds, ours):
    """{foreign source address: (version, priority)} heard for VRID within SECONDS."""
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    sock = socket.socket(af, socket.SOCK_RAW, IPPROTO_VRRP)
    sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, interface.encode())
    index = socket.if_nametoindex(interface)
    group = socket.inet_pton(af, GROUPS[family])
    if family == 4:   # struct ip_mreqn: group, any local address, the interface
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                        group + b'\0\0\0\0' + struct.pack('=i', index))
    else:             # struct ipv6_mreq
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group + struct.pack('=I', index))
    heard = {}
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return heard
        sock.settimeout(left)
        try:
            packet, source = sock.recvfrom(4096)
        except socket.timeout:
            return heard
        found = advert(packet, family)
        address = source[0].split('%')[0]
        if found and found[1] == vrid and address not in ours:
            heard[address] = (found[0], found[2])


def foreign_router_lines(interface, vrid, family, seconds, field, ours):
    """One "missing: ..." line per foreign router heard advertising VRID on INTERFACE."""
    heard = listen(interface, int(vrid), int(family), float(seconds), set(ours))
    return ['missing: a virtual_router_id of its own on %s: %s (VRRPv%d, priority %d) already '
            'advertises ID %d there and is not one of this inventory\'s directors; two VRRP '
            'routers with one ID on a segment fight over its addresses. Set %s to an ID '
            'unused on that segment (1..255)'
            % (interface, address, version, priority, int(vrid), field)
            for address, (version, priority) in sorted(heard.items())]
