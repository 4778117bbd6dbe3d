# SPDX-License-Identifier: MIT
"""sbxd's API over its unix socket, on one kept connection, for the benchmarks."""
import http.client
import json
import socket


class Api:
    """sbxd's API over its socket, on one kept connection."""

    def __init__(self, path):
        self.path, self.conn = path, None

    def _connect(self):
        conn = http.client.HTTPConnection("x")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.path)
        conn.sock = s
        return conn

    def __call__(self, method, path, body=None):
        for attempt in (0, 1):
            if not self.conn:
                self.conn = self._connect()
            try:
                data = json.dumps(body).encode() if body is not None else None
                self.conn.request(method, path, body=data,
                                  headers={"Content-Type": "application/json"} if data else {})
                r = self.conn.getresponse()
                text = r.read()
                if r.status >= 300:
                    raise RuntimeError(f"{method} {path}: {r.status} {text[:200]!r}")
                return json.loads(text) if text else None
            except (http.client.HTTPException, ConnectionError, BrokenPipeError):
                self.conn = None
                if attempt:
                    raise
