"""One logged-in `atproto.Client`, shared by the watcher, the reply sender and `doctor`,
with every library and network failure turned into a `SourceError` that says what to do.

atproto refreshes the access token itself, shortly before the `exp` in its JWT. A token the
server has expired anyway (400 `ExpiredToken`, or 401 from the AppView) is handled here:
log in again with the app password and repeat the call once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from atproto import Client
from atproto_client import models
from atproto_client.exceptions import (
    BadRequestError,
    LoginRequiredError,
    ModelError,
    NetworkError,
    RateLimitExceededError,
    RequestErrorBase,
    UnauthorizedError,
)
from atproto_client.request import Request
from atproto_core.exceptions import AtProtocolError

from bot.sources.base import (
    SourceAuthError,
    SourceError,
    SourceRateLimitedError,
    SourceUnavailableError,
)
from bot.sources.bluesky_posts import POST_COLLECTION, WATCHED_REASONS, StrongRef

log = logging.getLogger(__name__)

T = TypeVar("T")
TOKEN_ERRORS = frozenset({"ExpiredToken", "InvalidToken", "AuthenticationRequired", "AuthMissing"})
LOGIN_FIX = (
    "check sources.bluesky.handle and BLUESKY_APP_PASSWORD (create an app password in Bluesky: "
    "Settings → Privacy and security → App passwords)"
)
DEFAULT_RATE_LIMIT_WAIT = 60.0


class BlueskyRejectedError(SourceError):
    """The server refused this one request (400 for a reason other than the session)."""

    retryable = False


def _xrpc_error(exc: RequestErrorBase) -> str:
    content = exc.response.content if exc.response is not None else None
    return str(getattr(content, "error", "") or "")


def _rate_limit_wait(exc: RateLimitExceededError) -> float:
    if exc.retry_after is not None:
        return max(1.0, exc.retry_after)
    if exc.reset_at is not None:
        return max(1.0, exc.reset_at.timestamp() - time.time())
    return DEFAULT_RATE_LIMIT_WAIT


class BlueskySession:
    def __init__(self, service_url: str, handle: str, app_password: str, timeout: float) -> None:
        self.service_url = service_url.rstrip("/")
        self.handle = handle
        self._password = app_password
        self._client = Client(base_url=self.service_url, request=Request(timeout=timeout))
        self._lock = threading.Lock()
        self._generation = 0  # bumps on every login, so two threads never both log in again
        self.did: str | None = None

    def __repr__(self) -> str:
        return f"BlueskySession({self.service_url!r}, {self.handle!r})"  # never the password

    # -- session ---------------------------------------------------------------------------

    def ensure_login(self) -> str:
        """Our DID, logging in first when there is no session yet."""
        with self._lock:
            if self.did is None:
                self._login()
            assert self.did is not None
            return self.did

    def _login(self) -> None:
        where = f"{self.service_url} as {self.handle}"
        try:
            self._client.login(self.handle, self._password)
        except (UnauthorizedError, BadRequestError) as exc:
            self.did = None
            raise SourceAuthError(
                f"Bluesky refused the login on {where} ({exc})", LOGIN_FIX
            ) from None
        except Exception as exc:
            self.did = None
            raise self._map(exc, "logging in") from None
        me = self._client.me
        self.did = me.did if me is not None else self._session_did()
        self._generation += 1
        log.info("bluesky: signed in on %s as %s (%s)", self.service_url, self.handle, self.did)

    def _session_did(self) -> str:
        session = self._client._session  # set by login(); `me` is None on a PDS without app.bsky
        if session is None:
            raise SourceUnavailableError("Bluesky login gave no session", "try again later")
        return session.did

    def call(self, what: str, fn: Callable[[Client], T]) -> T:
        """Run one request; a session the server no longer accepts gets one fresh login."""
        self.ensure_login()
        generation = self._generation
        try:
            return fn(self._client)
        except (UnauthorizedError, BadRequestError, LoginRequiredError) as exc:
            if isinstance(exc, RequestErrorBase) and _xrpc_error(exc) not in TOKEN_ERRORS:
                raise self._map(exc, what) from None
            log.info("bluesky: the session was not accepted while %s; signing in again", what)
        except Exception as exc:
            raise self._map(exc, what) from None
        with self._lock:
            if self._generation == generation:
                self._login()
        try:
            return fn(self._client)
        except Exception as exc:
            raise self._map(exc, what) from None

    def _map(self, exc: Exception, what: str) -> SourceError:
        """A library or network failure as a SourceError (never with a token in it)."""
        host = self.service_url
        if isinstance(exc, SourceError):
            return exc
        if isinstance(exc, RateLimitExceededError):
            wait = _rate_limit_wait(exc)
            return SourceRateLimitedError(
                f"Bluesky rate limit reached while {what} (resets in {wait:.0f} s)",
                "nothing to do: Threadline waits for the reset and goes on",
                retry_after=wait,
            )
        if isinstance(exc, UnauthorizedError | LoginRequiredError):
            return SourceAuthError(f"Bluesky did not accept the session while {what}", LOGIN_FIX)
        if isinstance(exc, BadRequestError):
            return BlueskyRejectedError(
                f"Bluesky refused {what}: {exc}", "see the error; the request itself was refused"
            )
        if isinstance(exc, httpx.HTTPError) or (
            isinstance(exc, NetworkError) and exc.response is None
        ):
            return SourceUnavailableError(
                f"cannot reach {host} while {what} ({type(exc).__name__})",
                "check the network and sources.bluesky.service_url",
            )
        if isinstance(exc, RequestErrorBase):
            status = exc.response.status_code if exc.response is not None else "no answer"
            error = _xrpc_error(exc) or type(exc).__name__
            return SourceUnavailableError(
                f"Bluesky answered {status} while {what} ({error})",
                "usually temporary: Threadline retries; check https://status.bsky.app if it lasts",
            )
        if isinstance(exc, ValueError | ModelError):  # malformed JSON or an unexpected shape
            return SourceUnavailableError(
                f"Bluesky sent an answer Threadline cannot read while {what}",
                "usually temporary; check sources.bluesky.service_url points at a Bluesky PDS",
            )
        if isinstance(exc, AtProtocolError):
            return SourceUnavailableError(f"Bluesky failed while {what}: {exc}", "try again later")
        raise exc

    # -- the calls Threadline makes ----------------------------------------------------------

    def list_notifications(self, cursor: str | None, limit: int) -> dict[str, Any]:
        """One raw page, newest first: raw JSON, so one malformed notification can be
        skipped on its own instead of failing the whole page."""
        params = models.AppBskyNotificationListNotifications.Params(
            cursor=cursor, limit=limit, reasons=sorted(WATCHED_REASONS)
        )

        def fetch(client: Client) -> dict[str, Any]:
            answer = client.invoke_query("app.bsky.notification.listNotifications", params=params)
            content = answer.content
            if not isinstance(content, dict) or not isinstance(content.get("notifications"), list):
                raise ModelError("listNotifications answered without a notifications list")
            return content

        return self.call("reading notifications", fetch)

    def followers(self, dids: list[str]) -> dict[str, int]:
        """Follower counts for up to 25 accounts (getProfiles' batch size)."""

        def fetch(client: Client) -> dict[str, int]:
            params = models.AppBskyActorGetProfiles.Params(actors=dids)
            profiles = client.app.bsky.actor.get_profiles(params).profiles
            return {p.did: p.followers_count for p in profiles if p.followers_count is not None}

        return self.call("reading profiles", fetch)

    def profile(self) -> models.AppBskyActorDefs.ProfileViewDetailed:
        did = self.ensure_login()
        return self.call("reading our profile", lambda c: c.get_profile(did))

    def create_post(self, rkey: str, record: dict[str, Any]) -> StrongRef:
        did = self.ensure_login()
        data = models.ComAtprotoRepoCreateRecord.Data(
            repo=did, collection=POST_COLLECTION, rkey=rkey, record=record
        )
        created = self.call("posting the reply", lambda c: c.com.atproto.repo.create_record(data))
        return StrongRef(created.uri, created.cid)

    def find_post(self, rkey: str) -> StrongRef | None:
        """Our post with this record key, if the network has it."""
        did = self.ensure_login()
        params = models.ComAtprotoRepoGetRecord.Params(
            repo=did, collection=POST_COLLECTION, rkey=rkey
        )
        try:
            found = self.call(
                "checking a sent reply", lambda c: c.com.atproto.repo.get_record(params)
            )
        except BlueskyRejectedError as exc:
            if "RecordNotFound" in str(exc):
                return None
            raise
        return StrongRef(found.uri, found.cid) if found.cid else None
