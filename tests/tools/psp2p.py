#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""psp2p: a rendezvous server and a peer that punches through NATs with it,
for tests/p2p/test_p2p.sh and the demo (make demo-p2p).

  psp2p.py rendezvous --at ADDR:PORT
      TCP and UDP on ADDR:PORT. A peer says "HELLO SESSION"; the server
      answers "SEEN IP:PORT" (the address it sees the peer at) and, once
      the session's second peer said hello, tells each "PEER IP:PORT", the
      other's seen address, on the same connection (TCP) or to the same
      address (UDP). Prints "ready" once it listens.

  psp2p.py peer --proto tcp|udp --port P --rendezvous ADDR:PORT --session S
      Listens on (wildcard, P) the way P2P stacks do (SO_REUSEADDR and
      SO_REUSEPORT; --order bind-first binds the dialing socket before
      listen()), meets the other peer through the server from the same
      port, then dials the other peer's seen address from P (TCP: connect(),
      while the listener may accept the other side's SYN instead; UDP:
      datagrams from the listening socket) and exchanges a line each way.
      Prints one line: "result=ok via=connect|accept|udp local=... remote=...
      seen=... peer=..." or "result=ERROR ...". --delay MS waits before
      dialing; --rst closes with a reset (SO_LINGER 0); --redial then dials
      the same peer again from P at once and prints "redial=ERRNO" or
      "redial=ok local=...".

  psp2p.py echo --port P
      Listens on (wildcard, P), TCP and UDP, as a P2P node's listen port,
      and echoes each line or datagram with "from IP:PORT" appended.

  psp2p.py knock --to ADDR:PORT --count N [--proto tcp|udp]
      N unsolicited connections (or datagrams), each from a port of its
      own, to ADDR:PORT; prints "answered=K of N".

  psp2p.py bindcheck --port P --to ADDR:PORT --listener OPTS --dialer OPTS
                     --order listen-first|bind-first
      One listener and one dialing socket on (wildcard, P); OPTS is "none",
      "addr" (SO_REUSEADDR), "port" (SO_REUSEPORT) or "both". Prints each
      step's result, the sockets' addresses and what a second dial to the
      same destination from P gets.

Every wait ends after --timeout seconds (times TEST_TIME_SCALE).
"""
import argparse
import errno
import os
import select
import socket
import struct
import sys
import threading
import time

SCALE = int(os.environ.get("TEST_TIME_SCALE", "1") or 1)


def addr_of(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def fmt(sa):
    return "%s:%d" % (sa[0], sa[1])


def err_name(e):
    return errno.errorcode.get(e.errno, str(e)) if isinstance(e, OSError) and e.errno else type(e).__name__


def say(*words):
    print(" ".join(words), flush=True)


# ---- rendezvous -----------------------------------------------------------

def rendezvous(args):
    host, port = addr_of(args.at)
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    lsn = socket.socket(fam, socket.SOCK_STREAM)
    lsn.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsn.bind((host, port))
    lsn.listen(64)
    udp = socket.socket(fam, socket.SOCK_DGRAM)
    udp.bind((host, port))
    say("ready")
    tcp_sessions, udp_sessions, bufs = {}, {}, {}
    while True:
        ready, _, _ = select.select([lsn, udp] + list(bufs), [], [])
        for s in ready:
            if s is lsn:
                c, _ = lsn.accept()
                bufs[c] = b""
            elif s is udp:
                data, peer = udp.recvfrom(2048)
                words = data.decode(errors="replace").split()
                if len(words) == 2 and words[0] == "HELLO":
                    udp.sendto(("SEEN %s\n" % fmt(peer)).encode(), peer)
                    meet(udp_sessions, words[1], peer,
                         lambda who, other: udp.sendto(("PEER %s\n" % fmt(other)).encode(), who))
            else:
                try:
                    data = s.recv(2048)
                except OSError:
                    data = b""
                if not data:
                    bufs.pop(s, None)
                    s.close()
                    continue
                bufs[s] += data
                if b"\n" not in bufs[s]:
                    continue
                words = bufs[s].decode(errors="replace").split()
                bufs[s] = b""
                if len(words) == 2 and words[0] == "HELLO":
                    seen = s.getpeername()
                    s.sendall(("SEEN %s\n" % fmt(seen)).encode())
                    meet(tcp_sessions, words[1], (seen, s),
                         lambda who, other: who[1].sendall(("PEER %s\n" % fmt(other[0])).encode()))
                    say("hello session=%s seen=%s" % (words[1], fmt(seen)))


def meet(sessions, name, who, tell):
    """The second hello of a session: each side learns the other's address."""
    other = sessions.pop(name, None)
    if other is None or other == who:  # a peer repeating its hello (UDP) waits on
        sessions[name] = who
        return
    try:
        tell(who, other)
        tell(other, who)
    except OSError:
        pass


# ---- peer -----------------------------------------------------------------

def reuse_sock(fam, kind):
    s = socket.socket(fam, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return s


def read_line(sock, deadline):
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        sock.settimeout(left)
        data = sock.recv(1)
        if not data:
            raise ConnectionError("closed")
        buf += data
    return buf.decode(errors="replace").strip()


def peer_tcp(args, fam, wild, deadline):
    port = args.port
    lsn = reuse_sock(fam, socket.SOCK_STREAM)
    rdv = reuse_sock(fam, socket.SOCK_STREAM)
    lsn.bind((wild, port))
    if args.order == "bind-first":
        rdv.bind((wild, port))  # the dialing socket binds before listen()
        lsn.listen(16)
    else:
        lsn.listen(16)
        rdv.bind((wild, port))
    rdv.settimeout(args.timeout)
    rdv.connect(addr_of(args.rendezvous))
    rdv.sendall(("HELLO %s\n" % args.session).encode())
    seen = read_line(rdv, deadline).split()[1]
    peer = addr_of(read_line(rdv, deadline).split()[1])
    if args.delay:
        time.sleep(args.delay / 1000.0)

    # Dial from the listen port while the listener may take the other
    # side's SYN first: whichever gives a connection first is used.
    got = {}

    def dial():
        d = reuse_sock(fam, socket.SOCK_STREAM)
        try:
            d.bind((wild, port))
            d.settimeout(max(0.1, deadline - time.monotonic()))
            d.connect(peer)
            got["connect"] = d
        except OSError as e:
            got["connect_err"] = err_name(e)
            d.close()

    t = threading.Thread(target=dial, daemon=True)
    t.start()
    conn, via = None, None
    while conn is None and time.monotonic() < deadline:
        if "connect" in got:
            conn, via = got["connect"], "connect"
            break
        r, _, _ = select.select([lsn], [], [], 0.02)
        if r:
            c, ra = lsn.accept()
            if ra[:2] == peer[:2]:
                conn, via = c, "accept"
            else:
                c.close()
        elif "connect_err" in got and not r and time.monotonic() > deadline:
            break
    if conn is None:
        say("result=ERROR connect=%s seen=%s peer=%s" % (got.get("connect_err", "timeout"), seen, fmt(peer)))
        return 1
    conn.settimeout(max(0.1, deadline - time.monotonic()))
    conn.sendall(("hi from %s\n" % args.session).encode())
    line = read_line(conn, deadline)
    local, remote = conn.getsockname(), conn.getpeername()
    words = ["result=ok", "via=" + via, "local=" + fmt(local), "remote=" + fmt(remote),
             "seen=" + seen, "peer=" + fmt(peer), "got=" + line.replace(" ", "_")]
    if args.hold:
        time.sleep(args.hold / 1000.0)
    if args.rst:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
    if args.redial:
        d = reuse_sock(fam, socket.SOCK_STREAM)
        try:
            d.bind((wild, port))
            d.settimeout(1.0 * SCALE)
            d.connect(peer)
            words.append("redial=ok")
        except OSError as e:
            words.append("redial=" + err_name(e))
        words.append("redial_local=" + fmt(d.getsockname()))
        d.close()
        # What an application does then: an ephemeral port (which the
        # other side's NAT has no hole for: only where it leaves matters).
        f = socket.socket(fam, socket.SOCK_STREAM)
        f.settimeout(0.3 * SCALE)
        try:
            f.connect(peer)
        except OSError:
            pass
        words.append("fallback_local=" + fmt(f.getsockname()))
        f.close()
    say(*words)
    t.join(0)
    return 0


def peer_udp(args, fam, wild, deadline):
    s = reuse_sock(fam, socket.SOCK_DGRAM)
    s.bind((wild, args.port))
    rdv = addr_of(args.rendezvous)
    seen = peer = None
    hello = ("HELLO %s\n" % args.session).encode()
    got_line = None
    next_send = 0
    while time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_send:
            # The rendezvous until it answered, then the peer: what the
            # peer sends first opens this side's NAT for its datagrams.
            if peer is None:
                s.sendto(hello, rdv)
            else:
                s.sendto(("hi from %s\n" % args.session).encode(), peer)
            next_send = now + 0.05
        r, _, _ = select.select([s], [], [], 0.02)
        if not r:
            continue
        data, src = s.recvfrom(2048)
        words = data.decode(errors="replace").split()
        if src[:2] == rdv[:2] and words and words[0] == "SEEN":
            seen = words[1]
        elif src[:2] == rdv[:2] and words and words[0] == "PEER":
            peer = addr_of(words[1])
            if args.delay:
                time.sleep(args.delay / 1000.0)
            next_send = 0
        elif peer is not None and src[:2] == peer[:2]:
            got_line = data.decode(errors="replace").strip()
            # One more, so that the other side hears us even if it heard nothing yet.
            s.sendto(("hi from %s\n" % args.session).encode(), peer)
            break
    if got_line is None:
        say("result=ERROR udp=timeout seen=%s peer=%s" % (seen, fmt(peer) if peer else None))
        return 1
    say("result=ok", "via=udp", "local=" + fmt(s.getsockname()), "remote=" + fmt(peer),
        "seen=" + str(seen), "peer=" + fmt(peer), "got=" + got_line.replace(" ", "_"))
    # Keep answering for a moment: the other side may still wait for us.
    end = time.monotonic() + 0.5 * SCALE
    while time.monotonic() < end:
        r, _, _ = select.select([s], [], [], 0.05)
        if r:
            data, src = s.recvfrom(2048)
            if src[:2] == peer[:2]:
                s.sendto(("hi from %s\n" % args.session).encode(), peer)
    return 0


def peer_main(args):
    host, _ = addr_of(args.rendezvous)
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    wild = "::" if fam == socket.AF_INET6 else "0.0.0.0"
    if args.bind:
        wild = args.bind
    deadline = time.monotonic() + args.timeout
    try:
        if args.proto == "udp":
            return peer_udp(args, fam, wild, deadline)
        return peer_tcp(args, fam, wild, deadline)
    except (OSError, TimeoutError, ConnectionError, IndexError) as e:
        say("result=ERROR", "error=" + err_name(e))
        return 1


# ---- echo, knock, bindcheck ----------------------------------------------

def echo(args):
    tcp = reuse_sock(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind((args.bind or "0.0.0.0", args.port))
    tcp.listen(64)
    udp = reuse_sock(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((args.bind or "0.0.0.0", args.port))
    say("ready", "tcp=" + fmt(tcp.getsockname()), "udp=" + fmt(udp.getsockname()))
    conns = {}
    while True:
        r, _, _ = select.select([tcp, udp] + list(conns), [], [])
        for s in r:
            if s is tcp:
                c, ra = tcp.accept()
                conns[c] = ra
            elif s is udp:
                data, src = udp.recvfrom(2048)
                udp.sendto(data.strip() + (" from %s\n" % fmt(src)).encode(), src)
            else:
                try:
                    data = s.recv(2048)
                    if data:
                        s.sendall(data.strip() + (" from %s\n" % fmt(conns[s])).encode())
                        continue
                except OSError:
                    pass
                conns.pop(s, None)
                s.close()


def knock(args):
    to = addr_of(args.to)
    ok = 0
    for i in range(args.count):
        kind = socket.SOCK_DGRAM if args.proto == "udp" else socket.SOCK_STREAM
        s = socket.socket(socket.AF_INET, kind)
        s.settimeout(args.timeout)
        try:
            s.connect(to)
            s.send(b"knock %d\n" % i)
            if b"knock" in s.recv(2048):
                ok += 1
        except OSError:
            pass
        s.close()
    say("answered=%d" % ok, "of=%d" % args.count)
    return 0


def opt_sock(opts):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if opts in ("addr", "both"):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if opts in ("port", "both"):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return s


def step(words, name, fn):
    try:
        fn()
        words.append(name + "=ok")
        return True
    except OSError as e:
        words.append(name + "=" + err_name(e))
        return False


def bindcheck(args):
    wild, to, port = args.bind or "0.0.0.0", addr_of(args.to), args.port
    lsn, dial = opt_sock(args.listener), opt_sock(args.dialer)
    dial.settimeout(args.timeout)
    words = []
    step(words, "lbind", lambda: lsn.bind((wild, port)))
    if args.order == "listen-first":
        step(words, "listen", lambda: lsn.listen(8))
        bound = step(words, "dbind", lambda: dial.bind((wild, port)))
    else:
        bound = step(words, "dbind", lambda: dial.bind((wild, port)))
        step(words, "listen", lambda: lsn.listen(8))
    if bound:
        step(words, "connect", lambda: dial.connect(to))
        again = opt_sock(args.dialer)
        again.settimeout(args.timeout)
        if step(words, "again_bind", lambda: again.bind((wild, port))):
            step(words, "again_connect", lambda: again.connect(to))
        again.close()
    words += ["listen_local=" + fmt(lsn.getsockname()), "dial_local=" + fmt(dial.getsockname())]
    say(*words)
    dial.close()
    lsn.close()
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("rendezvous")
    r.add_argument("--at", required=True)
    p = sub.add_parser("peer")
    p.add_argument("--proto", choices=["tcp", "udp"], default="tcp")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--bind", default="", help="address to bind (default: the wildcard)")
    p.add_argument("--rendezvous", required=True)
    p.add_argument("--session", required=True)
    p.add_argument("--order", choices=["listen-first", "bind-first"], default="listen-first")
    p.add_argument("--delay", type=int, default=0, help="ms to wait before dialing")
    p.add_argument("--hold", type=int, default=0, help="ms to keep the connection")
    p.add_argument("--rst", action="store_true")
    p.add_argument("--redial", action="store_true")
    p.add_argument("--timeout", type=float, default=10.0)
    e = sub.add_parser("echo")
    e.add_argument("--port", type=int, required=True)
    e.add_argument("--bind", default="")
    k = sub.add_parser("knock")
    k.add_argument("--to", required=True)
    k.add_argument("--count", type=int, default=1)
    k.add_argument("--proto", choices=["tcp", "udp"], default="tcp")
    k.add_argument("--timeout", type=float, default=2.0)
    b = sub.add_parser("bindcheck")
    b.add_argument("--port", type=int, required=True)
    b.add_argument("--bind", default="")
    b.add_argument("--to", required=True)
    b.add_argument("--listener", choices=["none", "addr", "port", "both"], default="none")
    b.add_argument("--dialer", choices=["none", "addr", "port", "both"], default="addr")
    b.add_argument("--order", choices=["listen-first", "bind-first"], default="listen-first")
    b.add_argument("--timeout", type=float, default=2.0)
    args = ap.parse_args()
    if getattr(args, "timeout", None):
        args.timeout *= SCALE
    if args.cmd in ("rendezvous", "echo"):
        try:
            (rendezvous if args.cmd == "rendezvous" else echo)(args)
        except KeyboardInterrupt:
            pass
        return 0
    return {"peer": peer_main, "knock": knock, "bindcheck": bindcheck}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
