"""A Bluesky PDS + AppView on 127.0.0.1, speaking the XRPC calls `atproto.Client` makes.

Served (under ``/xrpc/``): ``com.atproto.server.createSession`` / ``refreshSession``,
``app.bsky.actor.getProfile`` / ``getProfiles``, ``app.bsky.notification.listNotifications``
(newest first, ``limit``/``cursor``/``reasons``), ``com.atproto.repo.createRecord`` /
``getRecord``; anything else is 501 ``MethodNotImplemented``. Answers follow the reference PDS:

* a wrong password: 401 ``AuthenticationRequired``; no token: 401 ``AuthenticationRequired``;
  an expired access token: 400 ``ExpiredToken``; an unknown token: 400 ``InvalidToken``.
* ``createRecord`` with an rkey that already exists: 500 ``InternalServerError`` (the PDS's
  MST throws "There is already a value at key", which xrpc-server turns into a plain 500).
* ``getRecord`` of a missing record: 400 ``RecordNotFound``.

JWTs are HS256 with ``exp`` (``access_ttl`` seconds; atproto refreshes a token 15 minutes
before it expires, so a short ttl makes every call refresh first). Faults form one FIFO
queue (optionally for one method): ``fail`` (status, body, headers; 429 via ``rate_limit``),
``hang`` (optionally handling the call first), ``drop`` and ``malformed``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self
from urllib.parse import parse_qs, urlsplit

from atproto_client.utils.facet_detection import _grapheme_len

BRAND_HANDLE = "brand.test"
BRAND_PASSWORD = "abcd-efgh-ijkl-mnop"
_KEY = b"fake-bluesky-signing-key"


@dataclass(frozen=True)
class XrpcRequest:
    method: str
    nsid: str
    params: dict[str, list[str]]
    body: Any
    authorization: str | None


@dataclass
class _Fault:
    kind: Literal["fail", "hang", "drop", "malformed"]
    remaining: int
    nsid: str | None = None
    status: int = 500
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    handle_first: bool = False
    skip: int = 0  # matching requests to let through before this fault fires


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(claims: dict[str, Any]) -> str:
    head = _b64(json.dumps({"alg": "HS256", "typ": "at+jwt"}).encode())
    body = _b64(json.dumps(claims).encode())
    sig = _b64(hmac.new(_KEY, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def read_jwt(token: str) -> dict[str, Any] | None:
    """The claims of a token this fake signed, else None."""
    try:
        head, body, sig = token.split(".")
        expected = _b64(hmac.new(_KEY, f"{head}.{body}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, sig):
            return None
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, TypeError):
        return None
    return claims if isinstance(claims, dict) else None


class FakeBluesky:
    """Context manager; ``url`` is the service URL to give ``Client(base_url=...)``."""

    def __init__(self, *, access_ttl: float = 7200.0, refresh_ttl: float = 86400.0) -> None:
        self.net = Network(BRAND_HANDLE)
        self.password = BRAND_PASSWORD
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self._issued: list[str] = []
        self._expired: set[str] = set()  # tokens the server has expired before their `exp`
        self._faults: deque[_Fault] = deque()
        self._requests: list[XrpcRequest] = []
        self._lock = threading.Lock()
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
            raise RuntimeError("FakeBluesky is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- the network, for tests --------------------------------------------------------------

    @property
    def brand_did(self) -> str:
        return self.net.brand.did

    def add_user(self, handle: str, *, name: str | None = None, followers: int = 0) -> str:
        with self._lock:
            return self.net.add_user(handle, name, followers).did

    def post(self, handle: str, text: str, **options: Any) -> tuple[str, str]:
        """A customer's post (see ``Network.post``); returns (uri, cid)."""
        with self._lock:
            post = self.net.post(handle, text, **options)
            return post.uri, post.cid

    def notify_raw(self, notification: dict[str, Any]) -> None:
        """Put any notification (even a malformed one) on the brand's list."""
        with self._lock:
            self.net.notifications.append(notification)

    def brand_posts(self) -> list[dict[str, Any]]:
        """The records the brand created, oldest first, each with ``uri``, ``cid``, ``value``."""
        with self._lock:
            return [p.view() for p in self.net.posts.values() if p.author == self.brand_did]

    def expire_tokens(self) -> None:
        """Every token issued so far is now expired (as if the clock had moved on)."""
        with self._lock:
            self._expired.update(self._issued)

    @property
    def requests(self) -> list[XrpcRequest]:
        with self._lock:
            return list(self._requests)

    def calls(self, nsid: str) -> list[XrpcRequest]:
        return [r for r in self.requests if r.nsid == nsid]

    # -- faults ----------------------------------------------------------------------------

    def fail(
        self,
        status: int = 500,
        *,
        error: str = "InternalServerError",
        message: str = "Internal Server Error",
        headers: dict[str, str] | None = None,
        times: int = 1,
        nsid: str | None = None,
        skip: int = 0,
    ) -> Self:
        """Answer with this error; `skip` lets that many matching requests through first."""
        body = {"error": error, "message": message}
        return self._add(_Fault("fail", times, nsid, status, body, headers or {}, skip=skip))

    def rate_limit(self, reset_in: int = 30, *, times: int = 1, nsid: str | None = None) -> Self:
        reset = str(int(time.time()) + reset_in)
        headers = {"ratelimit-limit": "3000", "ratelimit-remaining": "0", "ratelimit-reset": reset}
        headers["ratelimit-policy"] = "3000;w=300"
        return self.fail(
            429,
            error="RateLimitExceeded",
            message="Rate Limit Exceeded",
            headers=headers,
            times=times,
            nsid=nsid,
        )

    def hang(
        self, seconds: float, *, handle_first: bool = False, times: int = 1, nsid: str | None = None
    ) -> Self:
        """Hold the answer for `seconds`, then drop the connection; `handle_first` does the
        work before hanging (a write that landed but whose answer never came)."""
        return self._add(_Fault("hang", times, nsid, seconds=seconds, handle_first=handle_first))

    def drop(self, *, times: int = 1, nsid: str | None = None) -> Self:
        return self._add(_Fault("drop", times, nsid))

    def malformed(self, *, times: int = 1, nsid: str | None = None) -> Self:
        return self._add(_Fault("malformed", times, nsid))

    def _add(self, fault: _Fault) -> Self:
        with self._lock:
            self._faults.append(fault)
        return self

    def _next_fault(self, nsid: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.nsid in (None, nsid):
                    if fault.skip > 0:
                        fault.skip -= 1
                        return None
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
            return None

    # -- request handling --------------------------------------------------------------------

    def _issue(self, did: str) -> dict[str, Any]:
        now = int(time.time())
        nonce = _b64(hashlib.sha256(f"{did}{time.time_ns()}".encode()).digest()[:12])
        base = {"sub": did, "aud": "did:web:fake.pds", "iat": now, "nonce": nonce}
        access = make_jwt(
            {**base, "scope": "com.atproto.appPass", "exp": now + int(self.access_ttl)}
        )
        refresh_claims = {
            **base,
            "scope": "com.atproto.refresh",
            "exp": now + int(self.refresh_ttl),
        }
        refresh_claims["jti"] = _b64(hashlib.sha256(f"{did}{time.time_ns()}".encode()).digest())
        handle = self.net.users[did].handle
        refresh = make_jwt(refresh_claims)
        self._issued += [access, refresh]
        return {
            "accessJwt": access,
            "refreshJwt": refresh,
            "handle": handle,
            "did": did,
            "active": True,
        }

    def _authorize(self, request: XrpcRequest, scope: str) -> str:
        """The caller's DID, or raise the error the PDS answers."""
        auth = request.authorization or ""
        if not auth.startswith("Bearer "):
            raise XrpcError(401, "AuthenticationRequired", "Authentication Required")
        token = auth.removeprefix("Bearer ").strip()
        claims = read_jwt(token)
        if claims is None or claims.get("scope") != scope:
            raise XrpcError(400, "InvalidToken", "Token could not be verified")
        if claims.get("exp", 0) < time.time() or token in self._expired:
            raise XrpcError(400, "ExpiredToken", "Token has expired")
        return str(claims["sub"])

    def handle(self, request: XrpcRequest) -> dict[str, Any]:
        with self._lock:
            self._requests.append(request)
            if request.nsid == "com.atproto.server.createSession":
                body = request.body if isinstance(request.body, dict) else {}
                user = self.net.find(str(body.get("identifier", "")))
                if (
                    user is None
                    or user.did != self.brand_did
                    or body.get("password") != (self.password)
                ):
                    raise XrpcError(401, "AuthenticationRequired", "Invalid identifier or password")
                return self._issue(user.did)
            if request.nsid == "com.atproto.server.refreshSession":
                return self._issue(self._authorize(request, "com.atproto.refresh"))
            caller = self._authorize(request, "com.atproto.appPass")
            return self.net.answer(caller, request.nsid, request.params, request.body)


def _one(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeBluesky

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out close their socket mid-answer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        fake = self.server.fake
        split = urlsplit(self.path)
        nsid = split.path.removeprefix("/xrpc/")
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = XrpcRequest(
            self.command, nsid, parse_qs(split.query), body, self.headers.get("authorization")
        )
        fault = fake._next_fault(nsid)
        if fault is not None and fault.kind != "hang":
            self._fault(fault)
            return
        if fault is None or fault.handle_first:
            try:
                status, answer = 200, fake.handle(request)
            except XrpcError as err:
                status, answer = err.status, {"error": err.error, "message": err.message}
        if fault is not None:  # a hang: the answer never comes, the connection drops
            fake._stopping.wait(fault.seconds)
            self.close_connection = True
            return
        self._send(status, json.dumps(answer).encode())

    def _fault(self, fault: _Fault) -> None:
        if fault.kind == "drop":
            self.close_connection = True
            return
        if fault.kind == "malformed":
            self._send(200, b'{"notifications": [{"uri": ')
            return
        self._send(fault.status, json.dumps(fault.body).encode(), fault.headers)

    def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


# -- the network's data: accounts, posts, the brand's notifications ---------------------------

POST = "app.bsky.feed.post"
_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_RKEY = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:~-")


class XrpcError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(f"{status} {error}: {message}")
        self.status, self.error, self.message = status, error, message


@dataclass
class User:
    did: str
    handle: str
    name: str | None
    followers: int

    def view(self) -> dict[str, Any]:
        view: dict[str, Any] = {"did": self.did, "handle": self.handle, "labels": []}
        if self.name:
            view["displayName"] = self.name
        return view


@dataclass
class Post:
    uri: str
    cid: str
    author: str
    record: dict[str, Any]
    indexed_at: str

    def view(self) -> dict[str, Any]:
        return {"uri": self.uri, "cid": self.cid, "value": self.record}

    def ref(self) -> dict[str, str]:
        return {"uri": self.uri, "cid": self.cid}


def _hash32(data: str, length: int) -> str:
    digest = hashlib.sha256(data.encode()).digest()
    bits = int.from_bytes(digest, "big")
    return "".join(_B32[(bits >> (5 * i)) & 31] for i in range(length))


class Network:
    def __init__(self, brand_handle: str) -> None:
        self.users: dict[str, User] = {}
        self.posts: dict[str, Post] = {}
        self.notifications: list[dict[str, Any]] = []
        self._last = datetime.now(UTC) - timedelta(seconds=1)
        self._seq = 0
        self.brand = self.add_user(brand_handle, "Brand", 1000)

    def add_user(self, handle: str, name: str | None, followers: int) -> User:
        user = User("did:plc:" + _hash32(handle, 24), handle, name, followers)
        self.users[user.did] = user
        return user

    def find(self, actor: str) -> User | None:
        actor = actor.removeprefix("@")
        return self.users.get(actor) or next(
            (u for u in self.users.values() if u.handle == actor), None
        )

    def _now(self) -> str:
        moment = max(datetime.now(UTC), self._last + timedelta(milliseconds=1))
        self._last = moment
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def _store(self, author: str, record: dict[str, Any], rkey: str | None = None) -> Post:
        self._seq += 1
        rkey = rkey or "3l" + _hash32(f"{author}{self._seq}{time.time_ns()}", 11)
        uri = f"at://{author}/{POST}/{rkey}"
        cid = "bafyrei" + _hash32(json.dumps(record, sort_keys=True) + uri, 52)
        post = Post(uri, cid, author, record, self._now())
        self.posts[uri] = post
        return post

    def post(
        self,
        handle: str,
        text: str,
        *,
        reply_to: str | None = None,
        quote: str | None = None,
        langs: list[str] | None = None,
        created_at: str | None = None,
    ) -> Post:
        """A customer's post. It notifies the brand as a reply (to a brand post), a mention
        ("@brand.test" in the text) or a quote (of a brand post), in that order."""
        user = self.find(handle)
        if user is None:
            raise KeyError(f"no user {handle!r}: add_user first")
        record: dict[str, Any] = {"$type": POST, "text": text, "langs": langs or ["en"]}
        record["createdAt"] = created_at or self._now()
        parent = self.posts[reply_to] if reply_to else None
        if parent is not None:
            root = parent.record.get("reply", {}).get("root") or parent.ref()
            record["reply"] = {"root": root, "parent": parent.ref()}
        mention = f"@{self.brand.handle}"
        if mention in text:
            start = len(text[: text.index(mention)].encode())
            index = {"byteStart": start, "byteEnd": start + len(mention.encode())}
            feature = {"$type": "app.bsky.richtext.facet#mention", "did": self.brand.did}
            record["facets"] = [{"index": index, "features": [feature]}]
        quoted = self.posts[quote] if quote else None
        if quoted is not None:
            record["embed"] = {"$type": "app.bsky.embed.record", "record": quoted.ref()}
        post = self._store(user.did, record)
        if parent is not None and parent.author == self.brand.did:
            self._notify(post, "reply", parent.uri)
        elif mention in text:
            self._notify(post, "mention", None)
        elif quoted is not None and quoted.author == self.brand.did:
            self._notify(post, "quote", quoted.uri)
        return post

    def _notify(self, post: Post, reason: str, subject: str | None) -> None:
        note = {
            "uri": post.uri,
            "cid": post.cid,
            "author": self.users[post.author].view(),
            "reason": reason,
            "record": post.record,
            "isRead": False,
            # The AppView's sortAt: a post whose createdAt is in the past sorts back there.
            "indexedAt": min(post.indexed_at, str(post.record["createdAt"]), key=_moment),
            "labels": [],
        }
        if subject:
            note["reasonSubject"] = subject
        self.notifications.append(note)

    # -- XRPC methods that need a session --------------------------------------------------

    def answer(self, caller: str, nsid: str, params: dict[str, list[str]], body: Any) -> Any:
        if nsid == "app.bsky.actor.getProfile":
            user = self.find(_one(params, "actor") or "")
            if user is None:
                raise XrpcError(400, "InvalidRequest", "Profile not found")
            return self._profile(user)
        if nsid == "app.bsky.actor.getProfiles":
            actors = params.get("actors", [])
            if not actors or len(actors) > 25:
                raise XrpcError(400, "InvalidRequest", "actors must hold 1 to 25 items")
            found = [self.find(a) for a in actors]
            return {"profiles": [self._profile(u) for u in found if u is not None]}
        if nsid == "app.bsky.notification.listNotifications":
            return self._list_notifications(caller, params)
        if nsid == "com.atproto.repo.createRecord":
            return self._create_record(caller, body if isinstance(body, dict) else {})
        if nsid == "com.atproto.repo.getRecord":
            repo = self.find(_one(params, "repo") or "")
            uri = f"at://{repo.did if repo else '?'}/{_one(params, 'collection')}/"
            post = self.posts.get(uri + str(_one(params, "rkey")))
            if post is None:
                raise XrpcError(400, "RecordNotFound", f"Could not locate record: {uri}")
            return post.view()
        raise XrpcError(501, "MethodNotImplemented", f"Method Not Implemented: {nsid}")

    def _profile(self, user: User) -> dict[str, Any]:
        return {
            **user.view(),
            "followersCount": user.followers,
            "followsCount": 3,
            "postsCount": sum(1 for p in self.posts.values() if p.author == user.did),
            "indexedAt": "2024-01-01T00:00:00.000Z",
        }

    def _list_notifications(self, caller: str, params: dict[str, list[str]]) -> dict[str, Any]:
        limit = int(_one(params, "limit") or 50)
        if not 1 <= limit <= 100:
            raise XrpcError(400, "InvalidRequest", "limit must be between 1 and 100")
        notes = self.notifications if caller == self.brand.did else []
        reasons = set(params.get("reasons", []))
        if reasons:
            notes = [n for n in notes if n.get("reason") in reasons]
        ordered = sorted(notes, key=_sort_key, reverse=True)
        cursor = _one(params, "cursor")
        if cursor:
            at, _, uri = cursor.partition("|")
            ordered = [n for n in ordered if _sort_key(n) < (at, uri)]
        page = ordered[:limit]
        answer: dict[str, Any] = {"notifications": page}
        if len(ordered) > limit:
            answer["cursor"] = "|".join(_sort_key(page[-1]))
        return answer

    def _create_record(self, caller: str, body: dict[str, Any]) -> dict[str, Any]:
        repo = self.find(str(body.get("repo", "")))
        if repo is None or repo.did != caller:
            raise XrpcError(401, "AuthenticationRequired", "Authentication Required")
        record, rkey = body.get("record"), body.get("rkey")
        if body.get("collection") != POST or not isinstance(record, dict):
            raise XrpcError(400, "InvalidRequest", "this fake stores app.bsky.feed.post only")
        if rkey is not None and (not set(str(rkey)) <= _RKEY or rkey in (".", "..")):
            raise XrpcError(400, "InvalidRequest", f"Invalid record key: {rkey}")
        problem = _post_problem(record)
        if problem:
            raise XrpcError(400, "InvalidRequest", f"Invalid {POST} record: {problem}")
        if rkey and f"at://{caller}/{POST}/{rkey}" in self.posts:
            raise XrpcError(500, "InternalServerError", "Internal Server Error")
        post = self._store(caller, record, rkey)
        commit = {"cid": "bafyrei" + _hash32(post.cid, 52), "rev": "3l" + _hash32(post.uri, 11)}
        return {**post.ref(), "commit": commit, "validationStatus": "valid"}


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _sort_key(note: dict[str, Any]) -> tuple[str, str]:
    return str(note.get("indexedAt", "")), str(note.get("uri", ""))


def _post_problem(record: dict[str, Any]) -> str | None:
    text = record.get("text")
    if record.get("$type") != POST or not isinstance(text, str):
        return "Record/$type must be app.bsky.feed.post and Record/text a string"
    if _grapheme_len(text) > 300 or len(text.encode()) > 3000:
        return "Record/text must not be longer than 300 graphemes"
    if not isinstance(record.get("createdAt"), str):
        return 'Record must have the property "createdAt"'
    reply = record.get("reply")
    if reply is not None:
        for part in ("root", "parent"):
            ref = reply.get(part) if isinstance(reply, dict) else None
            if not (isinstance(ref, dict) and isinstance(ref.get("uri"), str) and ref.get("cid")):
                return f"Record/reply/{part} must be a strong ref (uri + cid)"
    return None
