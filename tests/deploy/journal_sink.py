#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Stands in for systemd-journald in a test's private mount namespace.

journal_sink.py SOCKET OUT: binds the datagram socket libsystemd's
sd_journal_send() writes to (/run/systemd/journal/socket), decodes each
entry of the journal's native protocol (KEY=VALUE lines, or KEY, a 64-bit
little-endian length and the raw value for values with newlines) and
appends it to OUT as one JSON object a line. Prints "ready" once bound;
stops after 60 s without a datagram.
"""
import json
import socket
import struct
import sys


def decode(data):
    fields, i = {}, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            key, _, value = line.partition(b"=")
            i = nl + 1
        else:
            key = line
            (size,) = struct.unpack_from("<Q", data, nl + 1)
            start = nl + 1 + 8
            value = data[start:start + size]
            i = start + size + 1
        fields[key.decode()] = value.decode(errors="replace")
    return fields


def main():
    path, out = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(60)
    print("ready", flush=True)
    with open(out, "a") as f:
        while True:
            try:
                data = s.recv(1 << 20)
            except socket.timeout:
                return
            f.write(json.dumps(decode(data)) + "\n")
            f.flush()


if __name__ == "__main__":
    main()
