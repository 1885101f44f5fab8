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
import time
from dataclasses import dataclass
from typing import Any, Self

from tests.fakes.local_server import (
    FakeHandler,
    Fault,
    FaultQueue,
    LocalHTTPServer,
    retry_after_header,
)

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


class FakeCallback(LocalHTTPServer[CallbackRequest]):
    """An HTTP server on 127.0.0.1 (random free port) standing in for an integrator."""

    def __init__(self, secret: str | None = None, *, path: str = "/replies") -> None:
        super().__init__()
        if secret is None:  # the secret the test pipeline's Threadline signs with
            from tests.pipeline import WEBHOOK_SECRET

            secret = WEBHOOK_SECRET
        self.secret = secret
        self.path = path
        self.dedupe = False
        self.reject_invalid = True
        self._faults: FaultQueue[Fault] = FaultQueue()
        self._handled: dict[str, bytes] = {}  # idempotency key → first answer
        self._count = 0

    @property
    def url(self) -> str:
        return f"{self.origin}{self.path}"

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
        headers = retry_after_header(retry_after)
        self._faults.add(Fault("fail", times, None, status, raw, content_type, headers))
        return self

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
        self._faults.add(Fault("respond", times, None, status, raw, content_type, headers or {}))
        return self

    def hang(self, seconds: float, *, times: int = 1) -> Self:
        """Handle the next ``times`` replies, hold for ``seconds``, then drop the connection."""
        self._faults.add(Fault("hang", times, seconds=seconds))
        return self

    def reset(self) -> Self:
        self._faults.clear()
        self._forget_requests()
        with self._lock:
            self._handled.clear()
            self._count = 0
        return self

    # -- internals used by the handler -----------------------------------------------------

    def _handle(self, key: str | None, valid: bool) -> tuple[int, bytes, bool]:
        """The application's answer: (status, body, duplicate)."""
        if not valid and self.reject_invalid:
            return 401, b'{"error": "bad signature"}', False
        with self._lock:
            if self.dedupe and key is not None and key in self._handled:
                return 200, self._handled[key], True
            self._count += 1
            n = self._count
            answer = json.dumps({"id": f"r-{n}", "url": f"https://example.com/r/{n}"}).encode()
            if key is not None:
                self._handled.setdefault(key, answer)
            return 202, answer, False

    def _mark_handled(self, key: str | None, answer: bytes) -> bool:
        """Remember a 2xx answer for dedupe; True when the key had been handled before."""
        with self._lock:
            seen = self.dedupe and key is not None and key in self._handled
            if key is not None:
                self._handled.setdefault(key, answer)
            return seen


def _encode(body: str | bytes | dict[str, Any] | list[Any]) -> tuple[bytes, str]:
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    if isinstance(body, str):
        return body.encode("utf-8"), "text/plain; charset=utf-8"
    return json.dumps(body, ensure_ascii=False).encode("utf-8"), "application/json"


class _Handler(FakeHandler[FakeCallback]):
    def serve(self) -> None:
        if self.command != "POST":
            self.send_bytes(405, b"", None)
            return
        fake = self.fake
        raw = self.read_body()
        headers = self.lower_headers()
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
        path = self.route
        fault = fake._faults.take() if path == fake.path else None

        status, answer, duplicate = 404, b'{"error": "no such endpoint"}', False
        if path == fake.path and (fault is None or fault.kind == "hang"):
            status, answer, duplicate = fake._handle(key, problem is None)
        elif fault and fault.kind == "respond" and 200 <= fault.status <= 299 and problem is None:
            duplicate = fake._mark_handled(key, fault.body)

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
        if fault is not None:
            self.answer_fault(fault)  # a hang was handled above; now its answer is lost
        else:
            self.send_bytes(status, answer, "application/json")


FakeCallback.handler_class = _Handler
