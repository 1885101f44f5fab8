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

import html
import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self
from urllib.parse import parse_qs, urlsplit

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
class _Fault:
    kind: Literal["fail", "hang", "drop", "malformed"]
    remaining: int
    path_prefix: str | None
    status: int = 500
    body: dict[str, Any] = field(default_factory=dict)
    reset_in: float | None = None
    seconds: float = 0.0
    handle: bool = False
    after: int = 0  # let this many matching requests through first


class FakeMastodon:
    """An HTTP server on a free local port; use as a context manager."""

    def __init__(self, *, token: str = TOKEN, domain: str = DOMAIN) -> None:
        self.token = token
        self.domain = domain
        self.state = FakeMastodonState(domain)
        self.brand = self.state.brand
        self.requests: list[MastodonRequest] = []
        self._faults: deque[_Fault] = deque()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # a notification was added
        self._stream_generation = 0  # cut_streams() bumps it: open streams end
        self.streams_opened = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeMastodon is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

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
        body = {"error": error or ("Too many requests" if status == 429 else f"Error {status}")}
        return self._add(_Fault("fail", times, path, status, body, reset_in, after=after))

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
        fault = _Fault("hang", times, path, seconds=seconds, handle=handle, after=after)
        return self._add(fault)

    def drop(self, *, times: int = 1, path: str | None = None) -> Self:
        return self._add(_Fault("drop", times, path))

    def malformed(self, *, times: int = 1, path: str | None = None) -> Self:
        return self._add(_Fault("malformed", times, path))

    def posted(self) -> list[dict[str, Any]]:
        """Statuses our bot posted (the brand's), oldest first."""
        with self._lock:
            mine = self.brand["id"]
            return [s for s in self.state.statuses.values() if s["account"]["id"] == mine]

    def calls(self, method: str, path_prefix: str) -> list[MastodonRequest]:
        with self._lock:
            return [
                r for r in self.requests if r.method == method and r.path.startswith(path_prefix)
            ]

    # -- internals -------------------------------------------------------------------------

    def _add(self, fault: _Fault) -> Self:
        with self._lock:
            self._faults.append(fault)
        return self

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path_prefix is None or path.startswith(fault.path_prefix):
                    if fault.after > 0:
                        fault.after -= 1
                        return None
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
            return None

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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeMastodon

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out close their socket mid-answer; expected


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        fake = self.server.fake
        req = self._read()
        with fake._lock:
            fake.requests.append(req)
        fault = fake._take_fault(req.path)
        if fault is not None and fault.kind in ("hang", "drop"):
            if fault.handle:
                fake._route(req)
            if fault.kind == "hang":
                fake._stopping.wait(fault.seconds)
            self.close_connection = True
            return
        if fault is not None and fault.kind == "malformed":
            self._answer(200, b'{"id": "1", "broken', {})
            return
        if req.path == "/api/v1/streaming/user" and fault is None:
            if req.headers.get("authorization") != f"Bearer {fake.token}":
                self._answer(401, b'{"error": "The access token is invalid"}', {})
                return
            self._stream(fake)
            return
        if fault is not None:
            headers = {}
            if fault.status == 429:
                reset = datetime.now(UTC) + timedelta(seconds=fault.reset_in or 60)
                headers = rate_headers(0, reset)
            self._answer(fault.status, json.dumps(fault.body).encode(), headers)
            return
        status, body, headers = fake._route(req)
        remaining = max(0, 300 - len(fake.requests))
        headers = {**rate_headers(remaining, datetime.now(UTC) + timedelta(minutes=5)), **headers}
        self._answer(status, json.dumps(body, ensure_ascii=False).encode(), headers)

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
            while not fake._stopping.is_set():
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

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def rate_headers(remaining: int, reset: datetime) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": "300",
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": reset.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


class FakeMastodonState:
    """Accounts, statuses and the brand's notifications; callers hold the fake's lock."""

    def __init__(self, domain: str) -> None:
        self.domain = domain
        self.accounts: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, dict[str, Any]] = {}
        self.notes: list[dict[str, Any]] = []  # the brand's notifications, oldest first
        self.by_key: dict[str, str] = {}  # Idempotency-Key → status id
        self.max_characters = 500
        # Realistic ids: statuses are snowflakes (time in the high bits), notifications serial.
        self._next_status = int(datetime.now(UTC).timestamp() * 1000) << 16
        self._next_note = 40_000
        self.brand = self.add_account("brand", None, 1200, "Brand Support")

    def add_account(
        self, username: str, domain: str | None, followers: int, name: str
    ) -> dict[str, Any]:
        host = domain or self.domain
        account = {
            "id": str(100_000 + len(self.accounts)),
            "username": username,
            "acct": username if domain is None else f"{username}@{domain}",
            "display_name": name,
            "url": f"https://{host}/@{username}",
            "uri": f"https://{host}/users/{username}",
            "followers_count": followers,
            "following_count": 0,
            "statuses_count": 0,
            "note": "",
            "bot": False,
            "locked": False,
            "created_at": "2024-01-01T00:00:00.000Z",
            "avatar": f"https://{host}/avatars/{username}.png",
            "emojis": [],
            "fields": [],
        }
        self.accounts[account["id"]] = account
        return account

    def new_status(
        self, author: dict[str, Any], content: str, in_reply_to: str | None, **extra: Any
    ) -> dict[str, Any]:
        self._next_status += 1
        sid = str(self._next_status)
        host = urlsplit(author["url"]).hostname
        parent = self.statuses.get(in_reply_to) if in_reply_to else None
        status = {
            "id": sid,
            "uri": f"https://{host}/users/{author['username']}/statuses/{sid}",
            "url": f"https://{host}/@{author['username']}/{sid}",
            "created_at": datetime.now(UTC).isoformat(timespec="milliseconds")[:23] + "Z",
            "account": author,
            "content": content,
            "in_reply_to_id": in_reply_to,
            "in_reply_to_account_id": parent["account"]["id"] if parent else None,
            "sensitive": False,
            "media_attachments": [],
            "tags": [],
            "emojis": [],
            "reblog": None,
            **extra,
        }
        self.statuses[sid] = status
        return status

    def post_customer_status(
        self,
        author: dict[str, Any],
        text: str,
        in_reply_to: str | None,
        visibility: str,
        language: str | None,
        also_mention: tuple[dict[str, Any], ...],
        notify: bool,
        spoiler_text: str,
    ) -> dict[str, Any]:
        mentioned = ([self.brand] if notify else []) + list(also_mention)
        links = " ".join(mention_html(a) for a in mentioned)
        body = plain_to_html(text)
        content = body.replace("<p>", f"<p>{links} ", 1) if links else body
        status = self.new_status(
            author,
            content,
            in_reply_to,
            visibility=visibility,
            language=language,
            spoiler_text=spoiler_text,
            mentions=[mention_json(a) for a in mentioned],
        )
        if notify:
            self.add_notification("mention", author, status)
        return status

    def add_notification(
        self, kind: str, author: dict[str, Any], status: dict[str, Any] | None
    ) -> None:
        self._next_note += 1
        self.notes.append(
            {
                "id": str(self._next_note),
                "type": kind,
                "created_at": datetime.now(UTC).isoformat(timespec="milliseconds")[:23] + "Z",
                "account": author,
                "status": status,
            }
        )

    def notifications(
        self, query: dict[str, list[str]], base: str
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Mastodon's paging: newest first; min_id gives the page just above it."""
        types = query.get("types[]") or query.get("types")
        items = [n for n in self.notes if not types or n["type"] in types]
        for name, keep in (("max_id", lambda i, b: i < b), ("since_id", lambda i, b: i > b)):
            if name in query:
                bound = int(query[name][0])
                items = [n for n in items if keep(int(n["id"]), bound)]
        limit = min(int((query.get("limit") or ["40"])[0]), 80)
        if "min_id" in query:
            bound = int(query["min_id"][0])
            items = [n for n in items if int(n["id"]) > bound][:limit]
        else:
            items = items[-limit:]
        page = list(reversed(items))
        if not page:
            return page, None
        url = f"{base}/api/v1/notifications"
        newest, oldest = page[0]["id"], page[-1]["id"]
        link = f'<{url}?max_id={oldest}>; rel="next", <{url}?min_id={newest}>; rel="prev"'
        return page, link

    def post_brand_status(
        self, body: dict[str, Any], key: str | None
    ) -> tuple[int, Any, dict[str, str]]:
        if key is not None and key in self.by_key:
            return 200, self.statuses[self.by_key[key]], {}
        text = str(body.get("status") or "")
        if not text.strip():
            return 422, {"error": "Validation failed: Text can't be blank"}, {}
        if len(text) > self.max_characters:
            error = f"Validation failed: Text character limit of {self.max_characters} exceeded"
            return 422, {"error": error}, {}
        parent = body.get("in_reply_to_id")
        if parent is not None and str(parent) not in self.statuses:
            return 404, {"error": "Record not found"}, {}
        mentioned = [a for a in self.accounts.values() if f"@{full_acct(a, self.domain)}" in text]
        status = self.new_status(
            self.brand,
            plain_to_html(text),
            str(parent) if parent is not None else None,
            visibility=body.get("visibility") or "public",
            language=body.get("language"),
            spoiler_text=body.get("spoiler_text") or "",
            mentions=[mention_json(a) for a in mentioned],
            text=text,
        )
        if key is not None:
            self.by_key[key] = status["id"]
        return 200, status, {}

    def context(self, status: dict[str, Any]) -> dict[str, Any]:
        ancestors = []
        parent = status.get("in_reply_to_id")
        while parent is not None and parent in self.statuses:
            ancestors.insert(0, self.statuses[parent])
            parent = self.statuses[parent].get("in_reply_to_id")
        descendants = [s for s in self.statuses.values() if s.get("in_reply_to_id") == status["id"]]
        return {"ancestors": ancestors, "descendants": descendants}

    def instance(self, v2: bool) -> dict[str, Any]:
        limits = {"statuses": {"max_characters": self.max_characters}}
        common = {"title": "Fake Mastodon", "version": "4.3.2", "configuration": limits}
        if v2:
            return {**common, "domain": self.domain, "api_versions": {"mastodon": 2}}
        return {**common, "uri": self.domain}


def full_acct(account: dict[str, Any], local_domain: str) -> str:
    acct = str(account["acct"])
    return acct if "@" in acct else f"{acct}@{local_domain}"


def mention_json(account: dict[str, Any]) -> dict[str, Any]:
    return {k: account[k] for k in ("id", "username", "acct", "url")}


def mention_html(account: dict[str, Any]) -> str:
    name = html.escape(account["username"])
    return (
        f'<span class="h-card" translate="no"><a href="{account["url"]}" '
        f'class="u-url mention">@<span>{name}</span></a></span>'
    )


def plain_to_html(text: str) -> str:
    paragraphs = [p for p in text.split("\n\n") if p]
    return "".join(
        "<p>" + "<br />".join(html.escape(line, quote=False) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )
