"""The one interface every source adapter implements, and the types of an outbound reply.

A source adapter connects Threadline to one network. It has two halves:

* ``watch()`` yields the network's new messages as ``InboundMessage``s, for sources that
  Threadline polls or holds a connection to (Discord, RSS, ...). Push-based sources such as
  the signed webhook yield nothing from ``watch()``: their messages arrive over HTTP
  (``POST /ingest/webhook``) and go straight to intake.
* ``send_reply()`` delivers one reply a person approved in Slack back onto the network and
  says what happened as a ``DeliveryResult``. It never raises for network trouble; the
  outbox reads ``ok``/``retryable``/``retry_after`` and decides whether to try again later
  or park the reply for a person. Read-only sources (RSS) answer every reply with
  ``DeliveryResult(ok=False, retryable=False)`` and an error that says where to reply.

The same reply may be sent more than once (a retry after a timeout, a worker that died after
sending): ``OutboundReply.idempotency_key`` stays the same across those attempts, and adapters
pass it on wherever the network accepts one, so the far side can recognise a repeat.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, runtime_checkable

from handlers.inbound import InboundMessage

# The longest a source waits before trying again, whatever a network's Retry-After says.
MAX_BACKOFF_SECONDS = 300.0


@dataclass(frozen=True)
class OutboundReply:
    """One approved reply, with everything an adapter needs to put it on the network."""

    conversation_id: int
    draft_id: int | None
    source: str  # the conversation's source name
    thread_id: str  # the conversation's external thread id
    in_reply_to: str | None  # the external id of the customer's latest message
    text: str  # exactly what the person approved; adapters send it byte-exact
    language: str | None
    reply_meta: dict[str, Any]  # Conversation.source_meta (webhook: {"via", "reply_url"})
    idempotency_key: str  # stable across retries of the same reply
    sent_by: str  # Slack user id of the person who clicked Send
    is_direct: bool = False


@dataclass(frozen=True)
class DeliveryResult:
    """What happened to one delivery attempt."""

    ok: bool
    external_id: str | None = None  # the network's id for our reply, when it says
    url: str | None = None  # permalink, when known
    error: str | None = None  # one line for the person who clicked (no secrets)
    retryable: bool = False  # worth trying again later (timeouts, 5xx, 429)
    retry_after: float | None = None  # seconds, when the network said (Retry-After)


@runtime_checkable
class SourceAdapter(Protocol):
    """What the runtime needs from a network: read from it, and answer on it."""

    name: str

    def watch(self) -> Iterator[InboundMessage]:
        """New messages, as they come. Push-based sources (the webhook) yield nothing."""
        ...

    def send_reply(self, reply: OutboundReply) -> DeliveryResult:
        """Deliver one approved reply; network trouble is a result, not an exception."""
        ...


@dataclass(frozen=True)
class Checkpoint:
    """Where a watched account has read up to. Saved in the same transaction as the message
    it follows, so a restart neither misses nor repeats (ingest dedupes a repeat anyway)."""

    source: str
    account: str  # one row per watched account: a guild channel, an instance user, a feed URL
    cursor: str


class SourceError(Exception):
    """A source cannot read or write right now. `fix` tells the operator what to do; the
    runner logs both, shows them in `doctor` and /healthz, and tries again later."""

    retryable = True

    def __init__(self, message: str, fix: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.fix = fix
        self.retry_after = retry_after


class SourceAuthError(SourceError):
    """Bad or missing credentials: retrying soon will not help (the runner waits long)."""

    retryable = False


class SourceRateLimitedError(SourceError):
    """The network said 429; `retry_after` is its wait when it gave one."""


class SourceUnavailableError(SourceError):
    """Network down, DNS, timeouts, 5xx."""


@runtime_checkable
class WatchedSource(SourceAdapter, Protocol):
    """A source Threadline reads from (everything but the push-only webhook).

    `watch()` runs until `close()` (or the stop event given at construction) and raises
    `SourceError` for trouble it cannot ride out itself. It reads its starting point from the
    `CursorStore` it was built with. `checkpoint(msg)` is the cursor the runner saves in the
    same transaction as a yielded message; items read but not ingested (filtered, staff,
    malformed) advance the cursor through `CursorStore.save` directly. `probe()` is doctor's
    live check: it returns a one-line "what I can see" or raises `SourceError`. A source may
    also have an `on_reachable` attribute (a no-arg callable): the runner sets it, and the
    source calls it after each poll that reached the network, so health shows a recovery
    even when nothing new arrived.
    """

    def checkpoint(self, msg: InboundMessage) -> Checkpoint | None: ...

    def probe(self) -> str: ...

    def close(self) -> None: ...


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: a number of seconds, or an HTTP date; None when absent,
    unreadable or not finite (`inf` must never become a wait)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
