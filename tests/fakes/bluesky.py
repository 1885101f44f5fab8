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
import time
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from tests.fakes.bluesky_network import Network, XrpcError
from tests.fakes.local_server import FakeHandler, Fault, FaultQueue, LocalHTTPServer

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


class FakeBluesky(LocalHTTPServer[XrpcRequest]):
    """Context manager; ``url`` is the service URL to give ``Client(base_url=...)``."""

    def __init__(self, *, access_ttl: float = 7200.0, refresh_ttl: float = 86400.0) -> None:
        super().__init__()
        self.net = Network(BRAND_HANDLE)
        self.password = BRAND_PASSWORD
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self._issued: list[str] = []
        self._expired: set[str] = set()  # tokens the server has expired before their `exp`
        self._faults: FaultQueue[Fault] = FaultQueue()

    @property
    def url(self) -> str:
        return self.origin

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
        body = json.dumps({"error": error, "message": message}).encode()
        fault = Fault("fail", times, nsid, status, body, headers=headers or {}, skip=skip)
        return self._add(fault)

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
        return self._add(Fault("hang", times, nsid, seconds=seconds, handle_first=handle_first))

    def drop(self, *, times: int = 1, nsid: str | None = None) -> Self:
        return self._add(Fault("drop", times, nsid))

    def malformed(self, *, times: int = 1, nsid: str | None = None) -> Self:
        return self._add(Fault("malformed", times, nsid, 200, b'{"notifications": [{"uri": '))

    def _add(self, fault: Fault) -> Self:
        self._faults.add(fault)
        return self

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
        self._record(request)
        with self._lock:
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


class _Handler(FakeHandler[FakeBluesky]):
    protocol_version = "HTTP/1.1"

    def serve(self) -> None:
        fake = self.fake
        split = urlsplit(self.path)
        nsid = split.path.removeprefix("/xrpc/")
        raw = self.read_body()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = XrpcRequest(
            self.command, nsid, parse_qs(split.query), body, self.headers.get("authorization")
        )
        fault = fake._faults.take(nsid)
        if fault is None or fault.handle_first:
            try:
                status, answer = 200, fake.handle(request)
            except XrpcError as err:
                status, answer = err.status, {"error": err.error, "message": err.message}
        if fault is not None:
            self.answer_fault(fault)
        else:
            self.send_bytes(status, json.dumps(answer).encode())


FakeBluesky.handler_class = _Handler
