"""FlakyProxy: a fake network between Threadline and one local fake server.

It forwards one HTTP request per connection (all our fakes speak HTTP/1.0 and close after
each answer) and, when told to, misbehaves the way networks and gateways do:

* ``reset``: read the request, then reset the connection (RST) without forwarding it;
* ``reset_after``: forward it (the server acts on it), then reset the connection instead
  of passing the answer back, so the client never learns that it worked;
* ``garbage_after``: forward it, then answer 200 with a truncated JSON body, as a broken
  proxy would.

Faults are consumed in order by requests whose request line contains ``match``.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Self

FaultKind = Literal["reset", "reset_after", "garbage_after"]
GARBAGE = b'{"ok": true, "channel": "C0'


@dataclass
class _Fault:
    kind: FaultKind
    match: str
    remaining: int


class FlakyProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._faults: deque[_Fault] = deque()
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.injected: list[tuple[FaultKind, str]] = []  # (kind, request line) per fault used

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> Self:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        self._sock = sock
        self._thread = threading.Thread(target=self._accept_loop, name="FlakyProxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._sock is not None, "FlakyProxy is not running"
        return int(self._sock.getsockname()[1])

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # -- scripting ------------------------------------------------------------------------
    def fault(self, kind: FaultKind, match: str = "", times: int = 1) -> None:
        with self._lock:
            self._faults.append(_Fault(kind, match, times))

    def pending(self) -> int:
        with self._lock:
            return sum(f.remaining for f in self._faults)

    def _take(self, request_line: str) -> FaultKind | None:
        with self._lock:
            for fault in self._faults:
                if fault.match in request_line:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    self.injected.append((fault.kind, request_line))
                    return fault.kind
        return None

    # -- plumbing -------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while self._sock is not None:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            request = _read_request(client)
            if request is None:
                client.close()
                return
            request_line = request.split(b"\r\n", 1)[0].decode("latin-1")
            kind = self._take(request_line)
            if kind == "reset":
                _reset(client)
                return
            answer = self._forward(request)
            if kind == "reset_after":
                _reset(client)
                return
            if kind == "garbage_after":
                answer = (
                    b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(GARBAGE)}\r\n\r\n".encode()
                    + GARBAGE
                )
            client.sendall(answer)
            client.close()
        except OSError:
            client.close()

    def _forward(self, request: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", self.upstream_port), timeout=60) as up:
            up.sendall(request)
            chunks = []
            while True:
                chunk = up.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        return b"".join(chunks)


def _read_request(client: socket.socket) -> bytes | None:
    """Headers plus a Content-Length body (every client we proxy sends one)."""
    client.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip() or 0)
    while len(body) < length:
        chunk = client.recv(65536)
        if not chunk:
            break
        body += chunk
    # One request per connection upstream: ask the server to close after answering.
    lines = [
        line
        for line in head.split(b"\r\n")
        if not line.lower().startswith((b"connection:", b"keep-alive:"))
    ]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body


def _reset(client: socket.socket) -> None:
    """Close with RST (SO_LINGER 0): the client sees "connection reset by peer"."""
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()
