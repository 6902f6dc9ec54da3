"""Small stdlib clients of the stream listener for the e2e tests: an SSE reader (WHATWG event
stream parsing) and a minimal RFC 6455 WebSocket client (masked text frames, ping/close)."""
import base64
import http.client
import json
import os
import socket
import struct
import time


class SSE:
    """One open SSE stream: GET path with headers; .status, .events (parsed so far)."""

    def __init__(self, port, path, headers=None, timeout=10, rcvbuf=None):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.conn.connect()
        self.sock = self.conn.sock  # http.client lets go of it once the response is read
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.conn.request("GET", path, headers=headers or {})
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = self.resp.headers
        self.retry = None
        self.body = self.resp.read() if self.status != 200 else b""

    def problem(self):
        return json.loads(self.body)

    def next_event(self, timeout=10):
        """The next event as {id, event, data (parsed JSON)}; None when the stream ended."""
        self.sock.settimeout(timeout)
        ev = {}
        while True:
            line = self.resp.readline()
            if not line:
                return None
            line = line.decode().rstrip("\n")
            if line == "":
                if "event" in ev or "data" in ev:
                    ev["data"] = json.loads(ev["data"]) if "data" in ev else None
                    return ev
                ev = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "retry":
                self.retry = int(value)
            elif name in ("id", "event", "data"):
                ev[name] = value

    def events(self, n, timeout=10):
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            left = deadline - time.monotonic()
            assert left > 0, f"got {len(out)} of {n} events: {out[-3:]}"
            ev = self.next_event(left)
            assert ev is not None, f"stream ended after {len(out)} of {n} events"
            out.append(ev)
        return out

    def ended(self, timeout):
        """True when the server closes the stream within timeout (heartbeats are skipped)."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.sock.settimeout(max(0.05, deadline - time.monotonic()))
                if self.next_event(max(0.05, deadline - time.monotonic())) is None:
                    return True
        except (socket.timeout, TimeoutError):
            return False
        except (ConnectionError, http.client.IncompleteRead, ValueError):
            return True
        return False

    def close(self):
        self.resp.close()
        self.conn.close()
        self.sock.close()


class WS:
    """A WebSocket client of /v1/ws; .status is the handshake's HTTP status (101 on success)."""

    def __init__(self, port, path="/v1/ws", headers=None, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            head += chunk
        first = head.split(b"\r\n", 1)[0].decode(errors="replace")
        self.status = int(first.split()[1]) if len(first.split()) > 1 else 0
        self.head = head.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
        self.buf = head.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in head else b""
        self.close_code = None
        if self.status != 101:  # a refusal: read its body whole (Content-Length)
            length = [int(l.split(":", 1)[1]) for l in self.head.split("\r\n")[1:]
                      if l.lower().startswith("content-length:")]
            while length and len(self.buf) < length[0]:
                chunk = self.sock.recv(4096)
                if not chunk:
                    break
                self.buf += chunk

    def header(self, name):
        """The handshake answer's header name (case-insensitive), or None."""
        for line in self.head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == name.lower():
                return v.strip()
        return None

    def send_text(self, text):
        data = text.encode() if isinstance(text, str) else text
        mask = os.urandom(4)
        n = len(data)
        hdr = bytes([0x81])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack(">Q", n)
        self.sock.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def send(self, obj):
        self.send_text(json.dumps(obj))

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self, timeout=10):
        """The next text frame as JSON; None after a close frame (close_code set)."""
        self.sock.settimeout(timeout)
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(n)
            op = b0 & 0x0F
            if op == 0x8:
                self.close_code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
                return None
            if op == 0x1:
                return json.loads(payload)

    def recv_event(self, timeout=10):
        msg = self.recv(timeout)
        assert msg is not None, f"closed with {self.close_code}"
        return msg

    def close(self):
        self.sock.close()
