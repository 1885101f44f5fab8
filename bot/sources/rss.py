"""The RSS/Atom source: review sites, forums and blog comments, read-only.

Every poll fetches each configured feed (in parallel, conditional GET) and turns new entries
that match the feed's keyword rules into `InboundMessage`s, oldest first. Feeds are watched
independently: a feed that fails is logged with its fix and skipped for this poll; only when
every feed fails does `watch()` raise, so `doctor` and the health page show it. There is no
reply path: `send_reply` says so, and the card offers the entry's link instead.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Literal

import httpx
from sqlmodel import col, select

from bot.config import ConfigError
from bot.config_schema import Feed
from bot.config_schema import RssSource as RssConfig
from bot.sources.base import (
    MAX_BACKOFF_SECONDS,
    Checkpoint,
    DeliveryResult,
    OutboundReply,
    SourceError,
    SourceRateLimitedError,
    SourceUnavailableError,
)
from bot.sources.cursors import CursorStore
from bot.sources.registry import SourceContext
from bot.sources.rss_cursor import FeedCursor
from bot.sources.rss_entry import SOURCE, EntryView, FeedInfo, to_message
from bot.sources.rss_feed import (
    FeedError,
    Fetched,
    ParsedFeed,
    display_url,
    fetch,
    hide_query_strings_in_httpx_logs,
    parse,
)
from bot.sources.rss_text import KeywordRules, bounded_id
from handlers.inbound import InboundMessage
from storage.db import session_scope
from storage.models import Message

log = logging.getLogger(__name__)

READ_ONLY_ERROR = "RSS/Atom is read-only: answer on the site (link on the card)"
PARALLEL_FETCHES = 8
FetchOutcome = Fetched | FeedError | None  # None: 304, nothing new


class FeedReader:
    """The RSS/Atom `WatchedSource`."""

    name = SOURCE
    # Called after a poll in which at least one feed answered, so a runner can show the
    # source healthy again before the next new entry arrives (`SourceRunner.mark_connected`).
    on_reachable: Callable[[], None] | None = None

    def __init__(self, config: RssConfig, cursors: CursorStore, *, wait_slice: float = 0.1) -> None:
        self.config = config
        self.cursors = cursors
        self._closed = threading.Event()
        hide_query_strings_in_httpx_logs()
        self._client = httpx.Client(
            timeout=config.timeout_seconds, follow_redirects=True, max_redirects=5
        )
        self._slots = threading.BoundedSemaphore(PARALLEL_FETCHES)
        self._rules = {feed.url: KeywordRules(feed.keywords) for feed in config.feeds}
        self._pending: dict[str, Checkpoint] = {}
        self._not_before: dict[str, float] = {}  # feed URL → monotonic time (Retry-After)
        self._wait_slice = wait_slice

    # -- WatchedSource -----------------------------------------------------------------------

    def watch(self) -> Iterator[InboundMessage]:
        while not self._closed.is_set():
            yield from self.poll()
            self._closed.wait(self.config.poll_minutes * 60)

    def checkpoint(self, msg: InboundMessage) -> Checkpoint | None:
        return self._pending.pop(msg.external_id, None)

    def send_reply(self, reply: OutboundReply) -> DeliveryResult:
        return DeliveryResult(ok=False, error=READ_ONLY_ERROR, retryable=False)

    def probe(self) -> str:
        """Fetch and parse every feed (unconditionally); one line, FAIL naming broken feeds."""
        feeds = list(self.config.feeds)
        outcomes = self._fetch_all([(feed, None, None) for feed in feeds])
        parts, failures = [], []
        for feed in feeds:
            try:
                fetched = outcomes[feed.url]
                if isinstance(fetched, FeedError):
                    raise fetched
                parsed = parse(fetched, _label(feed)) if fetched else None
                count = len(parsed.entries) if parsed else 0
                parts.append(f"{_short_name(feed, parsed)} OK ({count} entries)")
            except FeedError as exc:
                parts.append(f"{_short_name(feed, None)} FAIL ({exc})")
                failures.append(exc)
        line = f"{len(feeds)} feed(s): " + "; ".join(parts)
        if failures:
            raise _combined(failures, line)
        return line

    def close(self) -> None:
        self._closed.set()
        self._client.close()

    # -- one poll ----------------------------------------------------------------------------

    def poll(self) -> Iterator[InboundMessage]:
        """One round over every due feed: new matching entries, oldest first per feed."""
        self._pending.clear()
        now = datetime.now(UTC)
        backfill = timedelta(hours=self.config.backfill_hours)
        due = [feed for feed in self.config.feeds if self._is_due(feed)]
        cursors = {
            feed.url: FeedCursor.load(self.cursors.load(SOURCE, _account(feed)), now, backfill)
            for feed in due
        }
        outcomes = self._fetch_all([(f, cursors[f.url].etag, cursors[f.url].modified) for f in due])
        if self._closed.is_set():
            return
        failures: list[FeedError] = []
        for feed in due:
            if self._closed.is_set():
                return
            try:
                yield from self._read(feed, cursors[feed.url], outcomes[feed.url])
            except FeedError as exc:
                failures.append(exc)
                self._feed_failed(feed, exc)
        if failures and len(failures) == len(due):
            self._not_before.clear()  # the runner waits now; its next watch() tries them all
            raise _combined(failures, "every feed failed: " + "; ".join(map(str, failures)))
        if due and self.on_reachable is not None:
            self.on_reachable()

    def _is_due(self, feed: Feed) -> bool:
        return self._not_before.get(feed.url, 0.0) <= time.monotonic()

    def _feed_failed(self, feed: Feed, exc: FeedError) -> None:
        log.warning("source rss: %s. Fix: %s", exc, exc.fix)
        if exc.retry_after:
            wait = min(exc.retry_after, MAX_BACKOFF_SECONDS)  # a feed must not go quiet for days
            self._not_before[feed.url] = time.monotonic() + wait

    def _read(
        self, feed: Feed, cursor: FeedCursor, outcome: FetchOutcome
    ) -> Iterator[InboundMessage]:
        if isinstance(outcome, FeedError):
            raise outcome
        self._not_before.pop(feed.url, None)
        if outcome is None:
            return  # 304: nothing new since the validators we sent
        parsed = parse(outcome, _label(feed))
        if parsed.bozo:
            label = _label(feed)
            log.info("source rss: %s is not well-formed (%s); read it anyway", label, parsed.bozo)
        info = FeedInfo(feed.url, _label(feed), _title(feed, parsed), parsed.language)
        now = datetime.now(UTC)
        yield from self._new_messages(feed, cursor, parsed, info, now)
        if self._closed.is_set():
            return  # stopped part-way: the next start fetches in full and reads the rest
        # The validators are saved only now: had they gone out with the first message, a
        # crash mid-feed would turn the next fetch into a 304 and lose the rest.
        cursor.etag, cursor.modified = outcome.etag, outcome.modified
        self.cursors.save(Checkpoint(SOURCE, _account(feed), cursor.dumps()))

    def _new_messages(
        self, feed: Feed, cursor: FeedCursor, parsed: ParsedFeed, info: FeedInfo, now: datetime
    ) -> Iterator[InboundMessage]:
        views = [EntryView.of(entry, feed.url) for entry in parsed.entries]
        undated = [v.key for v in views if v.written is None]  # document order: newest first
        if cursor.fresh:
            cursor.mark_undated(undated)  # too old to tell on a first start: not a flood
        old_undated = set(undated) if cursor.fresh else cursor.undated_before_us(undated)
        cutoff = cursor.cutoff()
        dated = sorted((v for v in views if v.written), key=lambda v: v.written or now)
        candidates = [v for v in dated if (v.written or now) >= cutoff] + [
            v for v in reversed(views) if v.written is None and v.key not in old_undated
        ]
        done = stored_ids(self.cursors, [v.key for v in candidates])
        for view in candidates:
            cursor.advance(view.written, now)
            if view.key in done or not self._rules[feed.url].matches(view.match_text):
                continue
            done.add(view.key)
            try:
                msg = to_message(view, info, now)
            except ValueError as exc:
                log.warning("source rss: skipped entry %s of %s: %s", view.key, info.label, exc)
                continue
            self._pending[msg.external_id] = Checkpoint(SOURCE, _account(feed), cursor.dumps())
            yield msg
            if self._closed.is_set():
                return

    # -- fetching ----------------------------------------------------------------------------

    def _fetch_all(
        self, jobs: list[tuple[Feed, str | None, str | None]]
    ) -> dict[str, FetchOutcome]:
        """Fetch in parallel; returns early (outcomes missing) once `close()` is called, so
        a hung site never holds up a shutdown."""
        results: queue.Queue[tuple[str, FetchOutcome]] = queue.Queue()
        for feed, etag, modified in jobs:
            threading.Thread(
                target=self._fetch_one,
                args=(feed, etag, modified, results),
                name=f"rss-fetch-{display_url(feed.url)}",
                daemon=True,
            ).start()
        outcomes: dict[str, FetchOutcome] = {}
        while len(outcomes) < len(jobs):
            if self._closed.is_set():
                closed = FeedError("the source is closing", "none needed", "unavailable")
                return {feed.url: outcomes.get(feed.url, closed) for feed, _, _ in jobs}
            try:
                url, outcome = results.get(timeout=self._wait_slice)
            except queue.Empty:
                continue
            outcomes[url] = outcome
        return outcomes

    def _fetch_one(
        self,
        feed: Feed,
        etag: str | None,
        modified: str | None,
        results: queue.Queue[tuple[str, FetchOutcome]],
    ) -> None:
        outcome: FetchOutcome
        with self._slots:
            try:
                outcome = fetch(self._client, feed.url, _label(feed), etag, modified)
            except FeedError as exc:
                outcome = exc
            except Exception as exc:  # a closed client, a library surprise: this feed only
                outcome = FeedError(
                    f"{_label(feed)}: {type(exc).__name__}", "see the log above", "unavailable"
                )
        results.put((feed.url, outcome))


def stored_ids(cursors: CursorStore, keys: list[str]) -> set[str]:
    """Which of these entries ingest already has (its dedupe key is the external id)."""
    found: set[str] = set()
    with session_scope(cursors.engine) as session:
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            found.update(
                session.exec(
                    select(Message.external_id).where(
                        Message.source == SOURCE, col(Message.external_id).in_(chunk)
                    )
                ).all()
            )
    return found


def _account(feed: Feed) -> str:
    """The cursor row's key: the feed URL (hashed when longer than the column's 255)."""
    return bounded_id(feed.url)


def _label(feed: Feed) -> str:
    where = display_url(feed.url)
    return f'feed "{feed.name}" ({where})' if feed.name else f"feed {where}"


def _short_name(feed: Feed, parsed: ParsedFeed | None) -> str:
    return feed.name or (parsed.title if parsed and parsed.title else display_url(feed.url))


def _title(feed: Feed, parsed: ParsedFeed) -> str:
    return feed.name or parsed.title or display_url(feed.url)


def _combined(failures: list[FeedError], message: str) -> SourceError:
    """One `SourceError` for several feeds: rate limited only when all were, with the
    earliest wait any of them asked for."""
    kinds: set[Literal["rate_limited", "unavailable", "broken"]] = {f.kind for f in failures}
    waits = [f.retry_after for f in failures if f.retry_after is not None]
    retry_after = min(waits) if len(waits) == len(failures) else None
    fix = " | ".join(dict.fromkeys(f.fix for f in failures))
    if kinds == {"rate_limited"}:
        return SourceRateLimitedError(message, fix, retry_after=retry_after)
    if "broken" not in kinds:
        return SourceUnavailableError(message, fix, retry_after=retry_after)
    return SourceError(message, fix, retry_after=retry_after)


def from_config(ctx: SourceContext) -> FeedReader:
    config = ctx.team.sources.rss
    if not config.feeds:
        raise ConfigError(
            "sources.rss is enabled but lists no feeds: add a [[sources.rss.feeds]] table "
            'with url = "https://…" to threadline.toml'
        )
    return FeedReader(config, ctx.cursors)
