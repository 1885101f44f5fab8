"""An integrator's reply endpoint: receives the replies Threadline POSTs to ``reply_url``.

It checks signatures with its own HMAC code (never ``bot.sources``), the way an integrator
following the README would, with a 5-minute window, and records every request.

* Default answer: 202 ``{"id": "r-<n>", "url": "https://example.com/r/<n>"}``; a request with a
  bad or stale signature gets 401 (set ``reject_invalid = False`` to accept it anyway), and
  any path other than ``path`` gets 404.
* ``dedupe = True``: a repeated ``Idempotency-Key`` that was already handled answers 200 with
  the first answer's body and is recorded with ``duplicate=True``.
* Faults form one FIFO queue: ``fail``, ``respond_with`` (answer without handling, except that
  a 2xx counts as handled) and ``hang`` (handle the reply, hold the answer, then drop the
  connection without one, like a receiver that stored the reply but answered too late).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self

WINDOW_SECONDS = 300


@dataclass(frozen=True)
class CallbackRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    raw_body: bytes
    body: Any  # parsed JSON, or None when the body was not JSON
    signature_valid: bool
    signature_problem: str | None  # why not, when it is not valid
    duplicate: bool  # dedupe was on and this Idempotency-Key had been handled already
    received_at: float  # time.monotonic()

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")

    @property
    def json(self) -> Any:
        """The parsed JSON body (same as ``body``)."""
        return self.body


@dataclass
class _Fault:
    kind: Literal["fail", "respond", "hang"]
    remaining: int
    status: int = 500
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class _State:
    faults: deque[_Fault] = field(default_factory=deque)
    requests: list[CallbackRequest] = field(default_factory=list)
    handled: dict[str, bytes] = field(default_factory=dict)  # idempotency key → first answer
    count: int = 0


def check_signature(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float
) -> str | None:
    """The integrator's own check: None when authentic, else why not."""
    if not timestamp or not signature:
        return "missing timestamp or signature header"
    try:
        ts = int(timestamp)
    except ValueError:
        return "timestamp is not an integer"
    if abs(now - ts) > WINDOW_SECONDS:
        return "timestamp outside the 5-minute window"
    message = f"v1:{timestamp}:".encode() + body
    expected = "v1=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        return "signature mismatch"
    return None


class FakeCallback:
    """An HTTP server on 127.0.0.1 (random free port) standing in for an integrator."""

    def __init__(self, secret: str | None = None, *, path: str = "/replies") -> None:
        if secret is None:  # the secret the test pipeline's Threadline signs with
            from tests.pipeline import WEBHOOK_SECRET

            secret = WEBHOOK_SECRET
        self.secret = secret
        self.path = path
        self.dedupe = False
        self.reject_invalid = True
        self._state = _State()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakeCallback:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes hang() sleepers
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
            raise RuntimeError("FakeCallback is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    # -- scripting -------------------------------------------------------------------------

    def fail(
        self,
        status: int = 500,
        *,
        times: int = 1,
        retry_after: float | str | None = None,
        body: str | bytes | dict[str, Any] | None = None,
    ) -> Self:
        """Answer the next ``times`` requests with ``status`` (the reply is not handled).

        ``retry_after``: seconds, or a string sent as is (e.g. an HTTP date).
        """
        if body is None:
            body = {"error": f"FakeCallback injected {status}"}
        raw, content_type = _encode(body)
        headers = {}
        if retry_after is not None:
            value = retry_after if isinstance(retry_after, str) else format(retry_after, "g")
            headers["Retry-After"] = value
        return self._add(_Fault("fail", times, status, raw, content_type, headers))

    def respond_with(
        self,
        status: int,
        body: str | bytes | dict[str, Any] | list[Any],
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
    ) -> Self:
        """Answer the next ``times`` requests with exactly this; a 2xx counts as handled."""
        raw, content_type = _encode(body)
        return self._add(_Fault("respond", times, status, raw, content_type, headers or {}))

    def hang(self, seconds: float, *, times: int = 1) -> Self:
        """Handle the next ``times`` replies, hold for ``seconds``, then drop the connection."""
        return self._add(_Fault("hang", times, seconds=seconds))

    def reset(self) -> Self:
        with self._lock:
            self._state = _State()
        return self

    @property
    def requests(self) -> list[CallbackRequest]:
        with self._lock:
            return list(self._state.requests)

    @property
    def last_request(self) -> CallbackRequest:
        with self._lock:
            if not self._state.requests:
                raise AssertionError("FakeCallback has received no requests")
            return self._state.requests[-1]

    # -- internals used by the handler -----------------------------------------------------

    def _add(self, fault: _Fault) -> Self:
        if fault.remaining < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._state.faults.append(fault)
        return self

    def _next_fault(self) -> _Fault | None:
        with self._lock:
            faults = self._state.faults
            if not faults:
                return None
            fault = faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                faults.popleft()
            return fault

    def _handle(self, key: str | None, valid: bool) -> tuple[int, bytes, bool]:
        """The application's answer: (status, body, duplicate)."""
        if not valid and self.reject_invalid:
            return 401, b'{"error": "bad signature"}', False
        with self._lock:
            if self.dedupe and key is not None and key in self._state.handled:
                return 200, self._state.handled[key], True
            self._state.count += 1
            n = self._state.count
            answer = json.dumps({"id": f"r-{n}", "url": f"https://example.com/r/{n}"}).encode()
            if key is not None:
                self._state.handled.setdefault(key, answer)
            return 202, answer, False

    def _mark_handled(self, key: str | None, answer: bytes) -> bool:
        """Remember a 2xx answer for dedupe; True when the key had been handled before."""
        with self._lock:
            seen = self.dedupe and key is not None and key in self._state.handled
            if key is not None:
                self._state.handled.setdefault(key, answer)
            return seen

    def _record(self, request: CallbackRequest) -> None:
        with self._lock:
            self._state.requests.append(request)


def _encode(body: str | bytes | dict[str, Any] | list[Any]) -> tuple[bytes, str]:
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    if isinstance(body, str):
        return body.encode("utf-8"), "text/plain; charset=utf-8"
    return json.dumps(body, ensure_ascii=False).encode("utf-8"), "application/json"


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hung handler must never keep the test process alive
    fake: FakeCallback

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out close their socket mid-answer; expected


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        fake = self.server.fake
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            body: Any = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            body = None
        problem = check_signature(
            fake.secret,
            headers.get("x-threadline-timestamp"),
            headers.get("x-threadline-signature"),
            raw,
            time.time(),
        )
        key = headers.get("idempotency-key")
        path = self.path.split("?", 1)[0]
        fault = fake._next_fault() if path == fake.path else None

        duplicate = False
        extra: dict[str, str] = {}
        if path != fake.path:
            status, answer, content_type = 404, b'{"error": "no such endpoint"}', "application/json"
        elif fault is None or fault.kind == "hang":
            status, answer, duplicate = fake._handle(key, problem is None)
            content_type = "application/json"
        else:
            status, answer, content_type = fault.status, fault.body, fault.content_type
            extra = dict(fault.headers)
            if fault.kind == "respond" and 200 <= status <= 299 and problem is None:
                duplicate = fake._mark_handled(key, answer)

        fake._record(
            CallbackRequest(
                method=self.command,
                path=path,
                headers=headers,
                raw_body=raw,
                body=body,
                signature_valid=problem is None,
                signature_problem=problem,
                duplicate=duplicate,
                received_at=time.monotonic(),
            )
        )
        if fault is not None and fault.kind == "hang":
            fake._stopping.wait(fault.seconds)
            self.close_connection = True  # no status line at all: a dropped connection
            return
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(answer)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self) -> None:
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.end_headers()
