#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""An asyncio client as applications write it (python3 stdlib only), for
tests/compat/test_compat.sh: many concurrent HTTP/1.0 GETs over TCP and
short connected-UDP exchanges (asyncio's create_datagram_endpoint with a
remote address), spread round-robin over several destinations.

Prints one line per TCP connection or UDP socket, in psnet's format so
that the shell's check_conns can read it:
    proto=tcp result=ok local=198.18.0.10:20003 peer=198.18.1.1:81
    proto=udp result=error local=- peer=198.18.1.2:5353 error=OSError(99, ...)
and a last line "summary tcp_ok=N tcp_failed=N udp_ok=N udp_failed=N".
Exit status 0 only when nothing failed.
"""
import argparse
import asyncio
import sys


def addr(sockname):
    return "%s:%d" % (sockname[0], sockname[1]) if sockname else "-"


class Results:
    def __init__(self):
        self.ok = {"tcp": 0, "udp": 0}
        self.failed = {"tcp": 0, "udp": 0}

    def report(self, proto, local, peer, error=None):
        if error is None:
            self.ok[proto] += 1
            print("proto=%s result=ok local=%s peer=%s" % (proto, local, peer))
        else:
            self.failed[proto] += 1
            print("proto=%s result=error local=%s peer=%s error=%r" % (proto, local, peer, error))


async def http_get(host, port, timeout, res):
    """One HTTP/1.0 request on its own connection; the server closes first
    (an HTTP/1.0 response without a length ends at the server's FIN)."""
    local, writer = None, None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        local = writer.get_extra_info("sockname")
        writer.write(b"GET / HTTP/1.0\r\nHost: %s\r\n\r\n" % host.encode())
        data = await asyncio.wait_for(reader.read(), timeout)
        status = data.split(b"\r\n", 1)[0]
        if not status.startswith(b"HTTP/1.") or status.split()[1:2] != [b"200"]:
            raise RuntimeError("bad response %r" % status)
        res.report("tcp", addr(local), "%s:%d" % (host, port))
    except Exception as e:  # every failure is a result, not a crash
        res.report("tcp", addr(local), "%s:%d" % (host, port), e)
    finally:
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except Exception:
                pass


class Datagrams(asyncio.DatagramProtocol):
    def __init__(self):
        self.queue = asyncio.Queue()

    def datagram_received(self, data, _addr):
        self.queue.put_nowait(data)

    def error_received(self, exc):
        self.queue.put_nowait(exc)


async def udp_session(host, port, exchanges, timeout, res):
    """A connected UDP socket that exchanges a few datagrams with an echo
    server, each retried on a lost reply (as a DNS resolver would)."""
    loop = asyncio.get_running_loop()
    local, transport = None, None
    try:
        transport, proto = await loop.create_datagram_endpoint(Datagrams, remote_addr=(host, port))
        local = transport.get_extra_info("sockname")
        for i in range(exchanges):
            msg = b"q %s %d" % (addr(local).encode(), i)
            for attempt in range(5):
                transport.sendto(msg)
                try:
                    reply = await asyncio.wait_for(proto.queue.get(), timeout / 5)
                except asyncio.TimeoutError:
                    continue
                if isinstance(reply, Exception):
                    raise reply
                if reply == msg:
                    break
            else:
                raise TimeoutError("no echo after 5 tries")
            await asyncio.sleep(0.01)
        res.report("udp", addr(local), "%s:%d" % (host, port))
    except Exception as e:
        res.report("udp", addr(local), "%s:%d" % (host, port), e)
    finally:
        if transport is not None:
            transport.close()


async def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", required=True, help="destination addresses, comma-separated")
    p.add_argument("--tcp-port", type=int, default=81)
    p.add_argument("--udp-port", type=int, default=5353)
    p.add_argument("--tcp", type=int, default=0, help="HTTP requests")
    p.add_argument("--udp", type=int, default=0, help="UDP sessions")
    p.add_argument("--exchanges", type=int, default=3, help="datagrams per UDP session")
    p.add_argument("--concurrency", type=int, default=75)
    p.add_argument("--timeout", type=float, default=30)
    a = p.parse_args()
    hosts = a.hosts.split(",")
    res = Results()
    sem = asyncio.Semaphore(a.concurrency)

    async def bounded(coro):
        async with sem:
            await coro

    jobs = [http_get(hosts[i % len(hosts)], a.tcp_port, a.timeout, res) for i in range(a.tcp)]
    jobs += [udp_session(hosts[i % len(hosts)], a.udp_port, a.exchanges, a.timeout, res)
             for i in range(a.udp)]
    await asyncio.gather(*(bounded(j) for j in jobs))
    print("summary tcp_ok=%d tcp_failed=%d udp_ok=%d udp_failed=%d" %
          (res.ok["tcp"], res.failed["tcp"], res.ok["udp"], res.failed["udp"]))
    return 0 if not any(res.failed.values()) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
