#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Servers of the tests' own "internet" (run inside its network namespace):
  netlab.py dns ADDR NAME=IP[,NAME=IP...]   a DNS server answering A queries of those names
                                            (others: NXDOMAIN); logs "Q NAME" lines
  netlab.py tcp ADDR PORT LOG [CERT KEY]   a TCP server (TLS with CERT and KEY): each
                                            connection's bytes received are counted ("IN n"
                                            to LOG); "GET N" (N digits) sends N bytes; another
                                            request (an HTTP one) gets "HTTP/1.1 200" and "ok"
Each prints "ready" on stdout once it listens."""
import socket
import struct
import sys
import threading


def dns(addr, spec):
    names = {}
    for kv in spec.split(","):
        n, ip = kv.split("=")
        names[n.lower().rstrip(".")] = ip
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 53))
    print("ready", flush=True)
    while True:
        q, peer = s.recvfrom(4096)
        if len(q) < 12:
            continue
        qid, _flags, qd = struct.unpack("!HHH", q[:6])
        i, labels = 12, []
        while i < len(q) and q[i]:
            labels.append(q[i + 1 : i + 1 + q[i]].decode(errors="replace"))
            i += 1 + q[i]
        qname = ".".join(labels).lower()
        qtype = struct.unpack("!H", q[i + 1 : i + 3])[0] if i + 3 <= len(q) else 0
        question = q[12 : i + 5]
        sys.stderr.write("Q %s %d\n" % (qname, qtype))
        sys.stderr.flush()
        ip = names.get(qname)
        if ip and qtype == 1:
            ans = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 30, 4) + socket.inet_aton(ip)
            hdr = struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0)
        else:
            ans = b""
            rcode = 0x8180 if ip else 0x8183
            hdr = struct.pack("!HHHHHH", qid, rcode, 1, 0, 0, 0)
        s.sendto(hdr + question + ans, peer)


def tcp(addr, port, log, cert=None, key=None):
    lock = threading.Lock()
    ctx = None
    if cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, int(port)))
    srv.listen(512)
    print("ready", flush=True)

    def serve(c):
        first, n, seen = b"", 0, b""
        try:
            if ctx:
                c = ctx.wrap_socket(c, server_side=True)
            while True:
                d = c.recv(65536)
                if not d:
                    break
                n += len(d)
                if len(seen) < 65536:
                    seen += d[:65536]
                if not first:
                    first = d[:64]
                    words = first.split()
                    if len(words) > 1 and words[0] == b"GET" and words[1].isdigit():
                        c.sendall(b"x" * int(words[1]))
                        c.shutdown(socket.SHUT_WR)
                    elif first[:1].isupper():
                        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        if ctx or b"connection: close" in d.lower():
                            break
        except OSError:
            pass
        c.close()
        with lock, open(log, "a") as f:
            f.write("IN %d\n" % n)
            hosts = [l.split(b":", 1)[1].strip().decode(errors="replace") for l in seen.split(b"\r\n") if l.lower().startswith(b"host:")]
            if hosts:
                f.write("HOSTS %s\n" % ",".join(hosts))

    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


if __name__ == "__main__":
    if sys.argv[1] == "dns":
        dns(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "tcp":
        tcp(*sys.argv[2:])
