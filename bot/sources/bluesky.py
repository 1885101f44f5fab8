"""Bluesky: mentions, replies and quotes of the brand account become conversations, and
approved replies go back as posts in the customer's thread.

Reading polls `app.bsky.notification.listNotifications` every `poll_seconds` and keeps its
own high-water mark (the newest handled notification's indexedAt + uri) in the database,
never Bluesky's shared `isRead`. The first start reads nothing old: it begins at the newest
notification there is. Replies longer than 300 graphemes go out as a chain of posts, each
answering the previous one under the same thread root. Each post is created with a record
key derived from the reply's idempotency key, so a retry finds the posts that already went
out (the PDS refuses a second record at the same key) and only sends what is missing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.config import ConfigError
from bot.sources.base import (
    Checkpoint,
    DeliveryResult,
    OutboundReply,
    SourceAuthError,
    SourceError,
    SourceRateLimitedError,
)
from bot.sources.bluesky_posts import (
    BEGINNING,
    MAX_GRAPHEMES,
    SOURCE,
    WATCHED_REASONS,
    Mark,
    StrongRef,
    notification_mark,
    part_rkey,
    permalink,
    reply_record,
    reply_targets,
    to_inbound,
)
from bot.sources.bluesky_session import BlueskyRejectedError, BlueskySession
from bot.sources.cursors import CursorStore
from bot.sources.registry import SourceContext
from bot.sources.split import bluesky_length, split_reply
from handlers.inbound import InboundMessage

log = logging.getLogger(__name__)

PAGE_SIZE = 100
# A long outage is read back at most this far (pages of PAGE_SIZE); older ones are skipped
# with a warning rather than holding the source in one endless catch-up.
MAX_PAGES = 30
PROFILE_BATCH = 25  # getProfiles' limit
PROFILE_TTL_SECONDS = 600.0
SKIPS_REMEMBERED = 10_000  # malformed notifications logged once each, up to this many
# A notification's indexedAt is the post's sort time, min(createdAt, indexedAt): a post from
# a device whose clock runs behind shows up *older* than ones already handled. Each poll
# also looks this far behind the mark for posts it has not handled yet (ingest drops the
# repeats a restart re-reads).
LOOKBACK = timedelta(minutes=15)


class BlueskyWatcher:
    name = SOURCE
    # Set by the runner: called after each poll that reached the network.
    on_reachable: Callable[[], None] | None = None

    def __init__(
        self,
        session: BlueskySession,
        cursors: CursorStore,
        *,
        poll_seconds: float = 60.0,
    ) -> None:
        self.session = session
        self.cursors = cursors
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._checkpoints: dict[str, Checkpoint] = {}
        self._followers: dict[str, tuple[float, int | None]] = {}  # did → (fetched, count)
        self._skipped_logged: set[str] = set()
        self._handled: dict[str, datetime] = {}  # uri → indexedAt, within LOOKBACK of the mark
        self._since = BEGINNING.indexed_at  # the first start ever: nothing older is read

    def __repr__(self) -> str:
        return f"BlueskyWatcher({self.session!r})"

    # -- reading ---------------------------------------------------------------------------

    def watch(self) -> Iterator[InboundMessage]:
        did = self.session.ensure_login()
        mark = self._starting_mark(did)
        while not self._stop.is_set():
            fresh = self._new_notifications(mark)
            saved = mark
            self._load_followers(fresh, did)
            for note_mark, note in fresh:
                msg = self._message(note, did)
                self._handled[note_mark.uri] = note_mark.indexed_at
                mark = max(mark, note_mark)  # a late post never moves the cursor back
                if msg is None:
                    continue
                cursor = mark.cursor(self._since)
                self._checkpoints[msg.external_id] = Checkpoint(SOURCE, did, cursor)
                yield msg
                saved = mark
                if self._stop.is_set():
                    return
            if mark > saved:  # read but not ingested: move past it all the same
                self.cursors.save(Checkpoint(SOURCE, did, mark.cursor(self._since)))
            if self.on_reachable is not None:  # a clean poll: health shows a recovery
                self.on_reachable()
            self._stop.wait(self.poll_seconds)

    def checkpoint(self, msg: InboundMessage) -> Checkpoint | None:
        return self._checkpoints.pop(msg.external_id, None)

    def _starting_mark(self, did: str) -> Mark:
        saved = self.cursors.load(SOURCE, did)
        if saved is not None:
            try:
                mark, self._since = Mark.parse(saved)
                return mark
            except ValueError:
                log.warning("bluesky: the saved cursor is unreadable; starting from now")
        page = self.session.list_notifications(None, 1)["notifications"]
        mark = BEGINNING
        if page and isinstance(page[0], dict):
            try:
                mark = notification_mark(page[0])
            except ValueError:
                mark = Mark(datetime.now(UTC), "")
        self._since = mark.indexed_at
        self.cursors.save(Checkpoint(SOURCE, did, mark.cursor(self._since)))
        log.info("bluesky: first start; reading notifications newer than %s", self._since)
        return mark

    def _new_notifications(self, mark: Mark) -> list[tuple[Mark, dict[str, Any]]]:
        """Notifications not handled yet, newer than LOOKBACK before `mark`, oldest first."""
        floor = mark.floor(self._since, LOOKBACK)
        self._handled = {u: at for u, at in self._handled.items() if at >= floor.indexed_at}
        fresh: dict[str, tuple[Mark, dict[str, Any]]] = {}
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            answer = self.session.list_notifications(cursor, PAGE_SIZE)
            reached_floor = False
            for note in answer["notifications"]:
                try:
                    note_mark = notification_mark(note)
                except (ValueError, AttributeError):
                    self._log_skip(str(note)[:80], "no uri or indexedAt")
                    continue
                if note_mark <= floor:
                    reached_floor = True
                elif note_mark.uri not in self._handled:
                    fresh.setdefault(note_mark.uri, (note_mark, note))
            cursor = answer.get("cursor")
            if reached_floor or not cursor or not isinstance(cursor, str):
                break
        else:
            log.warning(
                "bluesky: more than %d new notifications; older ones skipped",
                MAX_PAGES * PAGE_SIZE,
            )
        return sorted(fresh.values(), key=lambda item: item[0])

    def _message(self, note: dict[str, Any], our_did: str) -> InboundMessage | None:
        if note.get("reason") not in WATCHED_REASONS:
            return None
        author = note.get("author")
        if not isinstance(author, dict) or author.get("did") == our_did:
            return None  # our own post (another app on the brand account)
        try:
            return to_inbound(note, self._cached_followers(author.get("did")), our_did)
        except ValueError as exc:
            self._log_skip(str(note.get("uri")), str(exc).splitlines()[0])
            return None

    def _log_skip(self, what: str, why: str) -> None:
        if what not in self._skipped_logged:
            if len(self._skipped_logged) >= SKIPS_REMEMBERED:  # a long-running worker
                self._skipped_logged.clear()
            self._skipped_logged.add(what)
            log.warning("bluesky: skipped notification %s: %s", what, why)

    def _load_followers(self, fresh: list[tuple[Mark, dict[str, Any]]], our_did: str) -> None:
        """Follower counts for the authors about to be ingested, in batches, cached briefly.
        A failure leaves them unknown: priority suffers a little, nothing is lost."""
        now = time.monotonic()
        # Expired counts are dropped, so the cache holds recent authors, not everyone ever.
        self._followers = {
            did: entry
            for did, entry in self._followers.items()
            if now - entry[0] <= PROFILE_TTL_SECONDS
        }
        wanted = {
            note["author"]["did"]
            for _, note in fresh
            if note.get("reason") in WATCHED_REASONS
            and isinstance(note.get("author"), dict)
            and isinstance(note["author"].get("did"), str)
        }
        stale = sorted(
            did
            for did in wanted - {our_did}
            if now - self._followers.get(did, (-1e9, None))[0] > PROFILE_TTL_SECONDS
        )
        for start in range(0, len(stale), PROFILE_BATCH):
            batch = stale[start : start + PROFILE_BATCH]
            try:
                counts = self.session.followers(batch)
            except SourceAuthError:
                raise
            except SourceError as exc:
                log.warning("bluesky: follower counts unavailable (%s)", exc)
                return
            for did in batch:
                self._followers[did] = (now, counts.get(did))

    def _cached_followers(self, did: object) -> int | None:
        if not isinstance(did, str):
            return None
        return self._followers.get(did, (0.0, None))[1]

    # -- writing ---------------------------------------------------------------------------

    def send_reply(self, reply: OutboundReply) -> DeliveryResult:
        try:
            root, parent = reply_targets(reply.reply_meta)
        except ValueError:
            return DeliveryResult(
                ok=False, error="this conversation has no Bluesky post to answer (no uri + cid)"
            )
        parts = split_reply(reply.text, MAX_GRAPHEMES, bluesky_length)
        if not parts:
            return DeliveryResult(ok=False, error="the reply is empty")
        lang = reply.language or reply.reply_meta.get("lang")
        sent: list[StrongRef] = []
        try:
            for index, text in enumerate(parts):
                rkey = part_rkey(reply.idempotency_key, index)
                record = reply_record(text, root, parent, lang, datetime.now(UTC))
                parent = self._publish(rkey, record)
                sent.append(parent)
        except SourceError as exc:
            return self._failed(reply, exc, len(sent), len(parts))
        log.info(
            "bluesky: reply for conversation %s posted in %d part(s)",
            reply.conversation_id,
            len(parts),
        )
        return DeliveryResult(ok=True, external_id=sent[0].uri, url=permalink(sent[0].uri))

    def _publish(self, rkey: str, record: dict[str, Any]) -> StrongRef:
        """Create the post, or find it when an earlier attempt already did."""
        try:
            return self.session.create_post(rkey, record)
        except (SourceAuthError, SourceRateLimitedError):
            raise
        except SourceError:
            # A timeout may hide a post that landed; a record already at this key is our
            # earlier attempt (the PDS answers 500 for the duplicate key).
            existing = self.session.find_post(rkey)
            if existing is None:
                raise
            return existing

    def _failed(
        self, reply: OutboundReply, exc: SourceError, done: int, total: int
    ) -> DeliveryResult:
        progress = f" ({done} of {total} parts posted; a retry sends the rest)" if done else ""
        log.warning("bluesky: reply for conversation %s not posted: %s", reply.conversation_id, exc)
        if isinstance(exc, SourceAuthError):
            return DeliveryResult(ok=False, error=f"{exc}{progress}. Fix: {exc.fix}")
        if isinstance(exc, BlueskyRejectedError):
            return DeliveryResult(ok=False, error=f"{exc}{progress}")
        return DeliveryResult(
            ok=False, error=f"{exc}{progress}", retryable=True, retry_after=exc.retry_after
        )

    # -- doctor and lifecycle --------------------------------------------------------------

    def probe(self) -> str:
        me = self.session.profile()
        self.session.list_notifications(None, 1)
        followers = me.followers_count if me.followers_count is not None else "?"
        return (
            f"signed in as @{me.handle} ({me.did}) on {self.session.service_url}; "
            f"{followers} followers; notifications readable"
        )

    def close(self) -> None:
        self._stop.set()


def from_config(ctx: SourceContext) -> BlueskyWatcher:
    cfg = ctx.team.sources.bluesky
    handle = (cfg.handle or "").strip().removeprefix("@")
    if not handle:
        raise ConfigError(
            "sources.bluesky.handle is not set: the account to watch, e.g. brand.bsky.social"
        )
    password = ctx.settings.bluesky_app_password
    if password is None or not password.get_secret_value().strip():
        raise ConfigError(
            "BLUESKY_APP_PASSWORD is not set: create an app password in Bluesky "
            "(Settings → Privacy and security → App passwords)"
        )
    session = BlueskySession(
        cfg.service_url, handle, password.get_secret_value().strip(), cfg.timeout_seconds
    )
    return BlueskyWatcher(session, ctx.cursors, poll_seconds=cfg.poll_seconds)
