"""The plumbing every HTTP fake shares: a server on 127.0.0.1 (random free port) in a daemon
thread, requests recorded under a lock, and one FIFO queue of scripted faults.

A fake subclasses ``LocalHTTPServer`` and sets ``handler_class`` to a ``FakeHandler``
subclass; the handler reaches the fake as ``self.fake`` and answers a fault with
``answer_fault`` (hang, drop, or a scripted status/body/headers such as a malformed 200).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Generic, Self, TypeVar, cast

RequestT = TypeVar("RequestT")
FaultT = TypeVar("FaultT", bound="Fault")
FakeT = TypeVar("FakeT", bound="LocalHTTPServer[Any]")

JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class Fault:
    """One scripted misbehaviour, used for the next ``remaining`` matching requests.

    ``kind``: "hang" (hold ``seconds``, then drop the connection), "drop" (close at once);
    any other kind ("fail", "malformed", ...) answers ``status``/``body``/``headers``.
    """

    kind: str
    remaining: int
    match: str | None = None  # a path, path prefix or method name; None: every request
    status: int = 500
    body: bytes = b""
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    handle_first: bool = False  # do the work before hanging: the answer, not the write, is lost
    skip: int = 0  # matching requests to let through before this fault fires


class FaultQueue(Generic[FaultT]):
    """Faults in FIFO order; the first one matching a request is used (or lets it through)."""

    def __init__(self, *, by_prefix: bool = False) -> None:
        self._by_prefix = by_prefix  # match a fault's key as a prefix of the request's
        self._faults: deque[FaultT] = deque()
        self._lock = threading.Lock()

    def add(self, fault: FaultT) -> None:
        if fault.remaining < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._faults.append(fault)

    def take(self, key: str = "") -> FaultT | None:
        """The fault for a request to ``key``, or None when it should be served normally."""
        with self._lock:
            for fault in self._faults:
                if not self._matches(fault.match, key):
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    return None
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
            return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def _matches(self, match: str | None, key: str) -> bool:
        if match is None:
            return True
        return key.startswith(match) if self._by_prefix else key == match


def retry_after_header(retry_after: float | str | None) -> dict[str, str]:
    """``Retry-After`` as seconds (fractions keep tests fast) or a string sent as is."""
    if retry_after is None:
        return {}
    value = retry_after if isinstance(retry_after, str) else format(retry_after, "g")
    return {"Retry-After": value}


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hung handler must never keep the test process alive
    fake: Any

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out close their socket mid-answer; expected, not noise


class LocalHTTPServer(Generic[RequestT]):
    """Lifecycle and request log of a fake; use as a context manager."""

    handler_class: ClassVar[type[BaseHTTPRequestHandler]]

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the subclass's own state
        self._stopping = threading.Event()  # wakes hanging handlers on stop()
        self._log_lock = threading.Lock()
        self._requests: list[RequestT] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), self.handler_class)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # a quick shutdown() keeps the suite fast
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def hold(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when ``stop()`` cut the wait short."""
        return self._stopping.wait(seconds)

    @property
    def requests(self) -> list[RequestT]:
        with self._log_lock:
            return list(self._requests)

    @property
    def last_request(self) -> RequestT:
        with self._log_lock:
            if not self._requests:
                raise AssertionError(f"{type(self).__name__} has received no requests")
            return self._requests[-1]

    def _record(self, request: RequestT) -> None:
        with self._log_lock:
            self._requests.append(request)

    def _forget_requests(self) -> None:
        with self._log_lock:
            self._requests.clear()


class FakeHandler(BaseHTTPRequestHandler, Generic[FakeT]):
    """Answers for one fake; HTTP/1.0 (one request per connection) unless overridden, so no
    handler thread lingers on a keep-alive socket after ``stop()``."""

    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean

    def do_GET(self) -> None:
        self.serve()

    def do_POST(self) -> None:
        self.serve()

    def serve(self) -> None:
        """Answer the request (GET or POST; ``self.command`` says which)."""
        raise NotImplementedError

    @property
    def fake(self) -> FakeT:
        return cast(FakeT, self.server.fake)

    @property
    def route(self) -> str:
        """The request path without its query string."""
        return self.path.split("?", 1)[0]

    def read_body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def lower_headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers.items()}

    def send_bytes(
        self,
        status: int,
        body: bytes,
        content_type: str | None = JSON_TYPE,
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in {**self.extra_headers(), **(headers or {})}.items():
                self.send_header(name, value)
            self.end_headers()
            if body:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout); nothing left to tell it

    def extra_headers(self) -> dict[str, str]:
        """Headers a fake adds to every answer, faults included."""
        return {}

    def send_json(self, status: int, obj: object, headers: dict[str, str] | None = None) -> None:
        # ensure_ascii=False: non-ASCII goes over the wire as real UTF-8, as real services do.
        data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.send_bytes(status, data, JSON_TYPE, headers)

    def drop_connection(self, hold: float = 0.0) -> None:
        """No status line at all: hold ``hold`` seconds (a hang), then close the socket."""
        if hold:
            self.fake.hold(hold)
        self.close_connection = True

    def answer_fault(self, fault: Fault) -> None:
        if fault.kind == "hang":
            self.drop_connection(fault.seconds)
        elif fault.kind == "drop":
            self.drop_connection()
        else:
            self.send_bytes(fault.status, fault.body, fault.content_type, fault.headers)
