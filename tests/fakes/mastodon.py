"""A Mastodon instance on 127.0.0.1 speaking the REST JSON that Mastodon.py reads.

One local brand account (``brand``) owns the access token. Tests add customer accounts and
post mentions of the brand with ``mention()``, which stores the status and a ``mention``
notification, exactly as a server would. Our replies arrive through ``POST /api/v1/statuses``.

* Endpoints: ``/api/v1/instance`` and ``/api/v2/instance`` (Mastodon.py asks for the version),
  ``/api/v1/accounts/verify_credentials``, ``/api/v1/notifications`` (``types[]``, ``min_id``,
  ``since_id``, ``max_id``, ``limit`` 40 by default and 80 at most, ``Link`` headers),
  ``POST /api/v1/statuses`` (form or JSON; the same ``Idempotency-Key`` answers the first
  status again instead of posting a second one; more than ``max_characters`` → 422),
  ``GET /api/v1/statuses/:id`` and ``/context``, and the user stream
  (``/api/v1/streaming/user``, server-sent events; ``cut_streams()`` drops them).
* Every API call but the instance ones needs ``Authorization: Bearer <token>``; otherwise 401
  ``{"error": "The access token is invalid"}``. Answers carry ``X-RateLimit-*`` headers.
* Faults form one FIFO queue (optionally for one path prefix): ``fail`` (status, with
  ``X-RateLimit-Reset`` on a 429), ``hang`` (hold, then drop the connection; ``handle=True``
  does the work first, like a server whose answer was lost), ``drop`` (close at once) and
  ``malformed`` (200 with a body that is not JSON).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from tests.fakes.local_server import FakeHandler, Fault, FaultQueue, LocalHTTPServer
from tests.fakes.mastodon_state import FakeMastodonState

TOKEN = "mastodon-test-token-7Qx2"
DOMAIN = "brand.example"


@dataclass(frozen=True)
class MastodonRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any]  # form fields or JSON object

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")


@dataclass
class _Fault(Fault):
    reset_in: float | None = None  # a 429's X-RateLimit-Reset, counted from the answer


class FakeMastodon(LocalHTTPServer[MastodonRequest]):
    """An HTTP server on a free local port; use as a context manager."""

    def __init__(self, *, token: str = TOKEN, domain: str = DOMAIN) -> None:
        super().__init__()
        self.token = token
        self.domain = domain
        self.state = FakeMastodonState(domain)
        self.brand = self.state.brand
        self._faults: FaultQueue[_Fault] = FaultQueue(by_prefix=True)
        self._changed = threading.Condition(self._lock)  # a notification was added
        self._stream_generation = 0  # cut_streams() bumps it: open streams end
        self.streams_opened = 0

    @property
    def url(self) -> str:
        return self.origin

    # -- scripting -------------------------------------------------------------------------

    def add_account(
        self, username: str, *, domain: str | None = None, followers: int = 0, name: str = ""
    ) -> dict[str, Any]:
        with self._lock:
            return self.state.add_account(username, domain, followers, name or username)

    def mention(
        self,
        author: dict[str, Any],
        text: str,
        *,
        in_reply_to: str | None = None,
        visibility: str = "public",
        language: str | None = "en",
        also_mention: tuple[dict[str, Any], ...] = (),
        notify: bool = True,
        spoiler_text: str = "",
    ) -> dict[str, Any]:
        """A status by `author` that starts with @brand (unless notify=False: then no brand
        mention and no notification); returns the status JSON."""
        with self._lock:
            status = self.state.post_customer_status(
                author, text, in_reply_to, visibility, language, also_mention, notify, spoiler_text
            )
            self._changed.notify_all()
            return status

    def cut_streams(self) -> None:
        """Drop every open streaming connection (clients reconnect on their own)."""
        with self._lock:
            self._stream_generation += 1
            self._changed.notify_all()

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        path: str | None = None,
        reset_in: float | None = None,
        error: str | None = None,
        after: int = 0,
    ) -> Self:
        error = error or ("Too many requests" if status == 429 else f"Error {status}")
        body = json.dumps({"error": error}).encode()
        fault = _Fault("fail", times, path, status, body, skip=after, reset_in=reset_in)
        return self._add(fault)

    def hang(
        self,
        seconds: float,
        *,
        times: int = 1,
        path: str | None = None,
        handle: bool = False,
        after: int = 0,
    ) -> Self:
        """Hold the answer, then drop the connection; `handle` does the work first."""
        fault = _Fault("hang", times, path, seconds=seconds, handle_first=handle, skip=after)
        return self._add(fault)

    def drop(self, *, times: int = 1, path: str | None = None) -> Self:
        return self._add(_Fault("drop", times, path))

    def malformed(self, *, times: int = 1, path: str | None = None) -> Self:
        return self._add(_Fault("malformed", times, path, 200, b'{"id": "1", "broken'))

    def posted(self) -> list[dict[str, Any]]:
        """Statuses our bot posted (the brand's), oldest first."""
        with self._lock:
            mine = self.brand["id"]
            return [s for s in self.state.statuses.values() if s["account"]["id"] == mine]

    def calls(self, method: str, path_prefix: str) -> list[MastodonRequest]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    # -- internals -------------------------------------------------------------------------

    def _add(self, fault: _Fault) -> Self:
        self._faults.add(fault)
        return self

    def _route(self, req: MastodonRequest) -> tuple[int, Any, dict[str, str]]:
        if req.path in ("/api/v1/instance", "/api/v2/instance"):
            return 200, self.state.instance(req.path.startswith("/api/v2")), {}
        auth = req.headers.get("authorization", "")
        if auth != f"Bearer {self.token}":
            return 401, {"error": "The access token is invalid"}, {}
        with self._lock:
            return self._route_authorized(req)

    def _route_authorized(self, req: MastodonRequest) -> tuple[int, Any, dict[str, str]]:
        state, path = self.state, req.path
        if path == "/api/v1/accounts/verify_credentials" and req.method == "GET":
            return 200, state.brand, {}
        if path == "/api/v1/notifications" and req.method == "GET":
            items, link = state.notifications(req.query, self.url)
            return 200, items, ({"Link": link} if link else {})
        if path == "/api/v1/statuses" and req.method == "POST":
            return state.post_brand_status(req.body, req.idempotency_key)
        match = re.fullmatch(r"/api/v1/statuses/(\d+)(/context)?", path)
        if match and req.method == "GET":
            found = state.statuses.get(match.group(1))
            if found is None:
                return 404, {"error": "Record not found"}, {}
            return 200, state.context(found) if match.group(2) else found, {}
        return 404, {"error": "Record not found"}, {}


class _Handler(FakeHandler[FakeMastodon]):
    def serve(self) -> None:
        fake = self.fake
        req = self._read()
        fake._record(req)
        fault = fake._faults.take(req.path)
        if fault is not None and fault.handle_first:
            fake._route(req)
        if fault is not None and fault.kind == "fail" and fault.status == 429:
            reset = datetime.now(UTC) + timedelta(seconds=fault.reset_in or 60)
            fault = replace(fault, headers=rate_headers(0, reset))
        if fault is not None:
            self.answer_fault(fault)
        elif req.path == "/api/v1/streaming/user":
            if req.headers.get("authorization") != f"Bearer {fake.token}":
                self.send_bytes(401, b'{"error": "The access token is invalid"}')
                return
            self._stream(fake)
        else:
            status, body, headers = fake._route(req)
            remaining = max(0, 300 - len(fake.requests))
            reset = datetime.now(UTC) + timedelta(minutes=5)
            self.send_json(status, body, {**rate_headers(remaining, reset), **headers})

    def _stream(self, fake: FakeMastodon) -> None:
        """Server-sent events: each new notification, a heartbeat when there is none."""
        with fake._lock:
            seen, generation = len(fake.state.notes), fake._stream_generation
            fake.streams_opened += 1
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        chunks = [b":)\n"]
        try:
            while not fake.stopping:
                self.wfile.write(b"".join(chunks) or b":thump\n")
                self.wfile.flush()
                with fake._changed:
                    fake._changed.wait(0.5)
                    if fake._stream_generation != generation:
                        return
                    new, seen = fake.state.notes[seen:], len(fake.state.notes)
                chunks = [f"event: notification\ndata: {json.dumps(n)}\n\n".encode() for n in new]
        except OSError:
            return  # the client went away

    def _read(self) -> MastodonRequest:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        body: dict[str, Any] = {}
        if raw and headers.get("content-type", "").startswith("application/json"):
            body = json.loads(raw.decode("utf-8"))
        elif raw:
            body = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8")).items()}
        return MastodonRequest(self.command, path, parse_qs(parts.query), headers, body)


FakeMastodon.handler_class = _Handler


def rate_headers(remaining: int, reset: datetime) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": "300",
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": reset.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
