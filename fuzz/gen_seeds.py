#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Writes the seed corpora fuzz/corpus/steer/* and fuzz/corpus/config/*.

Steer seeds: byte 0 is the mode (0 l2, 1 encap), then an Ethernet frame as
it arrives on the ingress device, in the world of tests/lib/steer_world.h
(pools 198.18.0.10, 198.18.0.11, 2001:db8::10; host 1 = self owns
20000-20099, host 2 21000-21099 (IPv4 underlay, redirect), host 3
21100-21199 (IPv6 underlay, XDP_TX), 4 invalid, 5 no neighbour, 6 and 7
more forwardable owners). Regenerate with: python3 fuzz/gen_seeds.py
"""
import ipaddress, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
POOL4, POOL4B, POOL6 = "198.18.0.10", "198.18.0.11", "2001:db8::10"
PEER4, PEER6 = "203.0.113.7", "2001:db8:ffff::7"


def a(x):
    return ipaddress.ip_address(x).packed


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def l4(proto, sport, dport, payload=b"hello"):
    if proto == 6:
        return struct.pack("!HHIIBBHHH", sport, dport, 1, 2, 5 << 4, 0x18, 0xFFFF, 0, 0) + payload
    if proto == 17:
        return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return payload


def ip4(src, dst, proto, body, frag=0, opts=b"", tos=0):
    hl = 20 + len(opts)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | hl // 4, tos, hl + len(body), 0x1234, frag, 64, proto, 0, a(src), a(dst)) + opts
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + body


def ip6(src, dst, nh, body, tc=0):
    return struct.pack("!IHBB16s16s", 6 << 28 | tc << 20, len(body), nh, 64, a(src), a(dst)) + body


def eth(l3, etype, tags=(), dst=(2, 0, 0, 0, 0x1A, 1), src=(2, 0, 0, 0, 0xEE, 1)):
    f = bytes(dst) + bytes(src)
    for i, t in enumerate(tags):
        f += struct.pack("!HH", t, 100 + i)
    return f + struct.pack("!H", etype) + l3


def icmp4(t, code, quoted):
    return struct.pack("!BBHI", t, code, 0, 0) + quoted


def icmp6(t, code, quoted):
    return struct.pack("!BBHI", t, code, 0, 0) + quoted


def steer_seeds():
    s = {}
    for mode in (0, 1):
        m = bytes([mode])
        for name, port in (("own", 20010), ("b4", 21010), ("a6", 21110), ("inval", 21201),
                           ("noneigh", 21211), ("a4", 21221), ("b6", 21231), ("nobody", 30000)):
            s[f"{mode}-tcp4-{name}"] = m + eth(ip4(PEER4, POOL4, 6, l4(6, 443, port)), 0x0800)
            s[f"{mode}-udp6-{name}"] = m + eth(ip6(PEER6, POOL6, 17, l4(17, 53, port)), 0x86DD)
        s[f"{mode}-udp4-vlan"] = m + eth(ip4(PEER4, POOL4, 17, l4(17, 53, 21010)), 0x0800, (0x8100,))
        s[f"{mode}-tcp6-qinq"] = m + eth(ip6(PEER6, POOL6, 6, l4(6, 443, 21230)), 0x86DD, (0x88A8, 0x8100))
        s[f"{mode}-tcp4-3tags"] = m + eth(ip4(PEER4, POOL4, 6, l4(6, 443, 21010)), 0x0800, (0x88A8, 0x8100, 0x8100))
        s[f"{mode}-udp4-opts"] = m + eth(ip4(PEER4, POOL4, 17, l4(17, 53, 21010), opts=b"\x01" * 40), 0x0800)
        s[f"{mode}-udp4-firstfrag"] = m + eth(ip4(PEER4, POOL4, 17, l4(17, 53, 21010, b"x" * 64), frag=0x2000), 0x0800)
        s[f"{mode}-udp4-frag"] = m + eth(ip4(PEER4, POOL4, 17, b"y" * 64, frag=185), 0x0800)
        s[f"{mode}-udp6-fraghdr"] = m + eth(ip6(PEER6, POOL6, 44, bytes([17, 0, 0, 1, 0, 0, 0, 1]) + l4(17, 53, 21010)), 0x86DD)
        s[f"{mode}-ipip-to-pool"] = m + eth(ip4(PEER4, POOL4, 4, ip4(PEER4, POOL4B, 17, l4(17, 53, 21010))), 0x0800)
        s[f"{mode}-6in4-to-pool"] = m + eth(ip4(PEER4, POOL4, 41, ip6(PEER6, POOL6, 6, l4(6, 443, 21010))), 0x0800)
        s[f"{mode}-gre-to-pool"] = m + eth(ip4(PEER4, POOL4, 47, b"\0\0\x08\0" + ip4(PEER4, POOL4, 6, l4(6, 443, 21010))), 0x0800)
        sent = ip4(POOL4, PEER4, 17, l4(17, 21010, 443, b"q" * 32))
        s[f"{mode}-icmp4-fragneeded"] = m + eth(ip4("203.0.113.1", POOL4, 1, icmp4(3, 4, sent)), 0x0800)
        sentb = ip4(POOL4B, PEER4, 6, l4(6, 21110, 443))
        s[f"{mode}-icmp4-otherpool"] = m + eth(ip4("203.0.113.1", POOL4, 1, icmp4(11, 0, sentb[:28])), 0x0800)
        s[f"{mode}-icmp4-echo"] = m + eth(ip4(PEER4, POOL4, 1, icmp4(8, 0, b"ping" * 8)), 0x0800)
        sent6 = ip6(POOL6, PEER6, 6, l4(6, 21230, 443))
        s[f"{mode}-icmp6-toobig"] = m + eth(ip6("2001:db8:ffff::1", POOL6, 58, icmp6(2, 0, sent6)), 0x86DD)
        s[f"{mode}-icmp6-echo"] = m + eth(ip6(PEER6, POOL6, 58, icmp6(128, 0, b"ping")), 0x86DD)
        s[f"{mode}-notpool"] = m + eth(ip4(PEER4, "198.18.0.99", 6, l4(6, 443, 21010)), 0x0800)
        s[f"{mode}-arp"] = m + eth(b"\0\1\x08\0\6\4\0\1" + b"\0" * 20, 0x0806)
        s[f"{mode}-padded"] = m + eth(ip4(PEER4, POOL4, 17, l4(17, 53, 21110, b"")), 0x0800) + b"\0" * 18
        s[f"{mode}-big"] = m + eth(ip4(PEER4, POOL4, 17, l4(17, 53, 21010, b"z" * 1472)), 0x0800)
        # Loop guards: flooded (another MAC), from a fleet host's MAC, IP-in-IP to this host.
        s[f"{mode}-udp4-flooded"] = m + eth(ip4(PEER4, POOL4, 17, l4(17, 53, 21010)), 0x0800, dst=(2, 0, 0, 0, 0xCC, 1))
        s[f"{mode}-tcp6-from-fleet"] = m + eth(ip6(PEER6, POOL6, 6, l4(6, 443, 21230)), 0x86DD, src=(2, 0, 0, 0, 0x1B, 2))
        for name, port in (("own", 20010), ("b4", 21010), ("nobody", 30000)):
            s[f"{mode}-ipip-to-self-{name}"] = m + eth(ip4("10.98.0.6", "10.98.0.1", 4, ip4(PEER4, POOL4, 17, l4(17, 53, port))), 0x0800)
            s[f"{mode}-4in6-to-self-{name}"] = m + eth(ip6("fd00:98::3", "fd00:98::1", 4, ip4(PEER4, POOL4, 6, l4(6, 443, port))), 0x86DD)
            s[f"{mode}-6in6-to-self-{name}"] = m + eth(ip6("fd00:98::3", "fd00:98::1", 41, ip6(PEER6, POOL6, 17, l4(17, 53, port))), 0x86DD)
    for k, v in s.items():
        with open(os.path.join(HERE, "corpus", "steer", k), "wb") as f:
            f.write(v)


CONFIGS = {
    "readme.yaml": """pools:
  - name: web                    # 1-31 of [A-Za-z0-9_.-], unique
    address: 198.18.0.10
    destinations: [0.0.0.0/0]
    slices:
      host-a: 20000-20999
      host-b: 21000-21999
  - name: web6
    address: 2001:db8::10
    destinations: [2001:db8:100::/48, 2001:db8:200::1]
    slices:
      host-a: 20000-20999
""",
    "minimal.yaml": "pools:\n- {name: p, address: 10.0.0.1, slices: {h: 1}}\n",
    "flow.yaml": "{pools: [{name: a, address: '::1', slices: {x: 1-65535}}]}\n",
    "overlap.yaml": "pools:\n  - name: a\n    address: 10.0.0.1\n    slices:\n      h1: 100-200\n      h2: 150-160\n",
    "dup-host.yaml": "pools:\n  - name: a\n    address: 10.0.0.1\n    slices:\n      h1: 100\n      h1: 101\n",
    "anchors.yaml": "x: &s {h: 1000-1999}\npools:\n  - name: a\n    address: 10.0.0.1\n    slices: *s\n",
    "multi-doc.yaml": "pools:\n  - name: a\n    address: 10.0.0.1\n    slices: {h: 5}\n---\npools: []\n",
    "tags.yaml": "pools: !!seq\n  - name: !!str a\n    address: \"10.0.0.1\"\n    slices: {h: '7-8'}\n",
    "bad-prefix.yaml": "pools:\n  - name: a\n    address: 10.0.0.1\n    destinations: [10.0.0.1/8, ::/0, 300.1.1.1]\n    slices: {h: 5}\n",
    "v4mapped.yaml": "pools:\n  - name: a\n    address: ::ffff:10.0.0.1\n    slices: {h: 5}\n",
    "escapes.yaml": "pools:\n  - name: \"a\\0b\"\n    address: \"10.0.0.1\"\n    slices: {\"h\\u00e9\": 5}\n",
    "empty.yaml": "",
    "nulls.yaml": "pools:\n  - name:\n    address: ~\n    slices:\n",
    "many.yaml": "pools:\n" + "".join(
        f"  - name: p{i}\n    address: 10.0.{i}.1\n    destinations: [10.{i}.0.0/16]\n    slices:\n      a: {1000 + i}\n      b: {2000 + i}-{2100 + i}\n"
        for i in range(33)),
}


def config_seeds():
    for k, v in CONFIGS.items():
        with open(os.path.join(HERE, "corpus", "config", k), "w") as f:
            f.write(v)


if __name__ == "__main__":
    steer_seeds()
    config_seeds()
