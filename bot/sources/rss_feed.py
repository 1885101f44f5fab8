"""Fetching and parsing one RSS/Atom feed, and where we have read it up to.

We fetch with httpx (conditional GET: ETag / Last-Modified, so an unchanged feed costs a
304) and hand the bytes to `feedparser.parse`, whose own fetching blocks and ignores our
timeouts. Every failure becomes a `FeedError` with a one-line reason and the fix.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import feedparser
import httpx

from bot.sources.base import retry_after_seconds
from bot.sources.rss_text import bounded_id

MAX_FEED_BYTES = 10 * 1024 * 1024
USER_AGENT = "Threadline (RSS/Atom reader)"
_URI_ID = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S")

FailureKind = Literal["rate_limited", "unavailable", "broken"]


class FeedError(Exception):
    """One feed could not be read; the other feeds carry on."""

    def __init__(
        self, message: str, fix: str, kind: FailureKind, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.fix = fix
        self.kind = kind
        self.retry_after = retry_after


def display_url(url: str) -> str:
    """The URL without credentials or query (private feeds put tokens there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    query = "?…" if parts.query else ""
    return f"{parts.scheme}://{host}{parts.path}{query}"


class HideQueryStrings(logging.Filter):
    """httpx logs every request URL at INFO; private feeds carry their token in the query."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(a, httpx.URL) and a.query for a in record.args
        ):
            record.args = tuple(
                display_url(str(a)) if isinstance(a, httpx.URL) else a for a in record.args
            )
        return True


def hide_query_strings_in_httpx_logs() -> None:
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, HideQueryStrings) for f in httpx_log.filters):
        httpx_log.addFilter(HideQueryStrings())


@dataclass(frozen=True)
class Fetched:
    body: bytes
    url: str  # after redirects
    content_type: str | None
    etag: str | None
    modified: str | None


def fetch(
    client: httpx.Client, url: str, label: str, etag: str | None, modified: str | None
) -> Fetched | None:
    """The feed's bytes, or None when the server says nothing changed (304)."""
    headers = {"User-Agent": USER_AGENT, "Accept": "application/atom+xml, application/rss+xml, "
               "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"}  # fmt: skip
    if etag:
        headers["If-None-Match"] = etag
    if modified:
        headers["If-Modified-Since"] = modified
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                return None
            _raise_for_status(response, label)
            body = _read_capped(response, label)
            return Fetched(
                body=body,
                url=str(response.url),
                content_type=response.headers.get("content-type"),
                etag=response.headers.get("etag") or etag,
                modified=response.headers.get("last-modified") or modified,
            )
    except httpx.TimeoutException:
        raise FeedError(
            f"{label}: no answer within the timeout",
            "check that the site is up; raise sources.rss.timeout_seconds if it is just slow",
            "unavailable",
        ) from None
    except httpx.HTTPError as exc:
        raise FeedError(
            f"{label}: cannot connect ({type(exc).__name__})",
            "check the feed URL's host name and this machine's network or proxy",
            "unavailable",
        ) from None


def _read_capped(response: httpx.Response, label: str) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_FEED_BYTES:
            raise FeedError(
                f"{label}: the feed is larger than {MAX_FEED_BYTES // (1024 * 1024)} MB",
                "use a feed URL that returns only recent entries",
                "broken",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _raise_for_status(response: httpx.Response, label: str) -> None:
    status = response.status_code
    if 200 <= status <= 299:
        return
    where = f"{label}: HTTP {status}"
    if status == 429:
        wait = retry_after_seconds(response.headers.get("retry-after"))
        raise FeedError(
            f"{where} (rate limited)",
            "the site asks us to slow down; Threadline waits as told. "
            "If it keeps happening, raise sources.rss.poll_minutes",
            "rate_limited",
            wait,
        )
    if status >= 500:
        raise FeedError(
            f"{where} (the site's server failed)",
            "nothing to change here if it passes; Threadline retries",
            "unavailable",
            retry_after_seconds(response.headers.get("retry-after")),
        )
    if status in (401, 403):
        fix = "the site refuses us: use a public feed URL (or one with its access token)"
    elif status in (404, 410):
        fix = "check the url in [[sources.rss.feeds]]: open it in a browser, it should be XML"
    else:
        fix = "check the url in [[sources.rss.feeds]]"
    raise FeedError(where, fix, "broken")


@dataclass(frozen=True)
class ParsedFeed:
    title: str | None
    language: str | None
    entries: list[Any]  # feedparser entries
    bozo: str | None  # why the XML was not well-formed, when feedparser read it anyway


def parse(fetched: Fetched, label: str) -> ParsedFeed:
    headers = {"content-location": fetched.url}
    if fetched.content_type:
        headers["content-type"] = fetched.content_type
    # A BytesIO, never the bytes: feedparser treats a bare string as a path or URL to open.
    result = feedparser.parse(io.BytesIO(fetched.body), response_headers=headers)
    problem = str(result.get("bozo_exception") or "") if result.get("bozo") else None
    version = result.get("version") or ""
    entries = list(result.get("entries") or [])
    if not version and not entries:
        looks = "an HTML page" if b"<html" in fetched.body[:2048].lower() else "not RSS or Atom"
        raise FeedError(
            f"{label}: the URL returned {looks}" + (f" ({problem})" if problem else ""),
            'use the feed\'s own URL (in the page source: <link rel="alternate" '
            'type="application/rss+xml" href=...>)',
            "broken",
        )
    if problem and not entries:
        raise FeedError(
            f"{label}: malformed feed, no entries could be read ({problem})",
            "the site publishes broken XML: tell its owner, or use another feed URL",
            "broken",
        )
    feed = result.get("feed") or {}
    return ParsedFeed(feed.get("title"), feed.get("language"), entries, problem)


def entry_time(entry: Any) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    return datetime.fromtimestamp(calendar.timegm(parsed), UTC)


def entry_key(raw_id: str | None, link: str | None, title: str | None, feed_url: str) -> str:
    """The external id: the entry's id when it is a URI (tag:, urn:, https:, globally
    unique), a feed-scoped id for bare ids like RSS's "123", else a hash of link + title."""
    if raw_id and raw_id.strip():
        raw = raw_id.strip()
        if _URI_ID.match(raw):
            return bounded_id(raw)
        return bounded_id(raw, prefix=f"feed-{short_hash(feed_url)}:")
    return "entry-" + short_hash(f"{link or ''}\n{title or ''}", 32)


def short_hash(value: str, length: int = 12) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:length]
