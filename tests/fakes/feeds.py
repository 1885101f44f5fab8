"""A site publishing RSS 2.0 and Atom feeds: a real HTTP server on 127.0.0.1 (random port).

* ``add_feed(path, kind="atom" | "rss")`` creates a feed; ``add_entry(path, ...)`` adds an
  entry (newest first in the document, as sites publish them); ``set_raw(path, bytes)``
  serves fixed bytes instead (an HTML page, broken XML).
* Conditional GET: every document has an ``ETag`` (a hash of its bytes) and a
  ``Last-Modified`` (its last change); a matching ``If-None-Match``, else an
  ``If-Modified-Since`` no older than the change, gets ``304 Not Modified``.
* Faults form one FIFO queue, each optionally for one path: ``fail`` (a status, with
  ``Retry-After``), ``hang`` (hold, then drop the connection), ``drop`` (close without an
  answer) and ``garbage`` (200 with bytes that are not a feed). Every request is recorded.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Literal, Self
from xml.sax.saxutils import escape, quoteattr

from tests.fakes.local_server import (
    FakeHandler,
    Fault,
    FaultQueue,
    LocalHTTPServer,
    retry_after_header,
)

ATOM_TYPE = "application/atom+xml; charset=utf-8"
RSS_TYPE = "application/rss+xml; charset=utf-8"


@dataclass
class FeedEntry:
    id: str | None
    title: str
    summary: str = ""  # HTML, escaped into the document as sites do
    link: str | None = None
    published: datetime | None = None
    author: str | None = None
    author_uri: str | None = None
    in_reply_to: str | None = None  # RFC 4685 thr:in-reply-to ref
    content: str | None = None


@dataclass
class _Feed:
    kind: Literal["atom", "rss"]
    title: str
    language: str | None
    entries: list[FeedEntry] = field(default_factory=list)
    raw: tuple[bytes, str] | None = None
    changed: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))


@dataclass(frozen=True)
class FeedRequest:
    path: str
    headers: dict[str, str]  # lower-cased names
    status: int | None  # None: the connection was dropped
    at: float = field(default_factory=time.monotonic)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _atom(feed: _Feed, self_url: str) -> bytes:
    lang = f" xml:lang={quoteattr(feed.language)}" if feed.language else ""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<feed xmlns="http://www.w3.org/2005/Atom" '
        f'xmlns:thr="http://purl.org/syndication/thread/1.0"{lang}>',
        f"<title>{escape(feed.title)}</title><id>{escape(self_url)}</id>",
        f"<updated>{_iso(feed.changed)}</updated><link rel='self' href={quoteattr(self_url)}/>",
    ]
    for e in reversed(feed.entries):
        parts.append("<entry>")
        if e.id is not None:
            parts.append(f"<id>{escape(e.id)}</id>")
        parts.append(f'<title type="html">{escape(e.title)}</title>')
        if e.link:
            parts.append(f"<link rel='alternate' href={quoteattr(e.link)}/>")
        if e.published:
            stamp = _iso(e.published)
            parts.append(f"<published>{stamp}</published><updated>{stamp}</updated>")
        if e.author or e.author_uri:
            uri = f"<uri>{escape(e.author_uri)}</uri>" if e.author_uri else ""
            parts.append(f"<author><name>{escape(e.author or '')}</name>{uri}</author>")
        if e.in_reply_to:
            parts.append(f"<thr:in-reply-to ref={quoteattr(e.in_reply_to)}/>")
        if e.summary:
            parts.append(f'<summary type="html">{escape(e.summary)}</summary>')
        if e.content:
            parts.append(f'<content type="html">{escape(e.content)}</content>')
        parts.append("</entry>")
    parts.append("</feed>")
    return "\n".join(parts).encode("utf-8")


def _rss(feed: _Feed, self_url: str) -> bytes:
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:thr="http://purl.org/syndication/thread/1.0"><channel>',
        f"<title>{escape(feed.title)}</title><link>{escape(self_url)}</link>",
        "<description>fake feed</description>",
    ]
    if feed.language:
        parts.append(f"<language>{escape(feed.language)}</language>")
    for e in reversed(feed.entries):
        parts.append("<item>")
        if e.id is not None:
            parts.append(f'<guid isPermaLink="false">{escape(e.id)}</guid>')
        parts.append(f"<title>{escape(e.title)}</title>")
        if e.link:
            parts.append(f"<link>{escape(e.link)}</link>")
        if e.published:
            parts.append(f"<pubDate>{format_datetime(e.published, usegmt=True)}</pubDate>")
        if e.author:
            parts.append(f"<dc:creator>{escape(e.author)}</dc:creator>")
        if e.in_reply_to:
            parts.append(f"<thr:in-reply-to ref={quoteattr(e.in_reply_to)}/>")
        if e.summary:
            parts.append(f"<description>{escape(e.summary)}</description>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "\n".join(parts).encode("utf-8")


class FakeFeeds(LocalHTTPServer[FeedRequest]):
    """A site serving feeds; use as a context manager."""

    def __init__(self) -> None:
        super().__init__()
        self._feeds: dict[str, _Feed] = {}
        self._faults: FaultQueue[Fault] = FaultQueue()

    @property
    def base_url(self) -> str:
        return self.origin

    def url(self, path: str) -> str:
        return self.base_url + path

    # -- content -----------------------------------------------------------------------------

    def add_feed(
        self,
        path: str,
        kind: Literal["atom", "rss"] = "atom",
        title: str = "Fake feed",
        language: str | None = None,
    ) -> str:
        with self._lock:
            self._feeds[path] = _Feed(kind, title, language)
        return self.url(path)

    def add_entry(self, path: str, id: str | None, title: str, **fields: Any) -> FeedEntry:
        entry = FeedEntry(id=id, title=title, **fields)
        with self._lock:
            feed = self._feeds[path]
            feed.entries.append(entry)
            feed.changed = datetime.now(UTC).replace(microsecond=0)
        return entry

    def set_raw(self, path: str, body: bytes, content_type: str = RSS_TYPE) -> None:
        """Serve exactly these bytes at `path` from now on (an HTML page, broken XML)."""
        with self._lock:
            feed = self._feeds.setdefault(path, _Feed("rss", "raw", None))
            feed.raw = (body, content_type)
            feed.changed = datetime.now(UTC).replace(microsecond=0)

    # -- faults ------------------------------------------------------------------------------

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        retry_after: float | str | None = None,
        path: str | None = None,
    ) -> Self:
        body = f"<html><body>error {status}</body></html>".encode()
        headers = retry_after_header(retry_after)
        return self._add(Fault("fail", times, path, status, body, "text/html", headers))

    def hang(self, seconds: float, *, times: int = 1, path: str | None = None) -> Self:
        return self._add(Fault("hang", times, path, seconds=seconds))

    def drop(self, *, times: int = 1, path: str | None = None) -> Self:
        return self._add(Fault("drop", times, path))

    def garbage(
        self, body: bytes = b"\x00\xff\xfe not xml", *, times: int = 1, path: str | None = None
    ) -> Self:
        return self._add(Fault("garbage", times, path, 200, body, RSS_TYPE))

    def clear_faults(self) -> None:
        self._faults.clear()

    def requests_to(self, path: str) -> list[FeedRequest]:
        return [r for r in self.requests if r.path == path]

    # -- internals ---------------------------------------------------------------------------

    def _add(self, fault: Fault) -> Self:
        self._faults.add(fault)
        return self

    def _document(self, path: str) -> tuple[bytes, str, datetime] | None:
        with self._lock:
            feed = self._feeds.get(path)
            if feed is None:
                return None
            if feed.raw is not None:
                return feed.raw[0], feed.raw[1], feed.changed
            if feed.kind == "atom":
                return _atom(feed, self.url(path)), ATOM_TYPE, feed.changed
            return _rss(feed, self.url(path)), RSS_TYPE, feed.changed


def _not_modified(headers: dict[str, str], etag: str, changed: datetime) -> bool:
    if "if-none-match" in headers:
        return etag in [t.strip() for t in headers["if-none-match"].split(",")]
    since = headers.get("if-modified-since")
    if since:
        try:
            return changed <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


class _Handler(FakeHandler[FakeFeeds]):
    def serve(self) -> None:
        fake, path, headers = self.fake, self.route, self.lower_headers()
        fault = fake._faults.take(path)
        if fault is not None:
            dropped = fault.kind in ("hang", "drop")  # the connection closes without a status
            fake._record(FeedRequest(path, headers, None if dropped else fault.status))
            self.answer_fault(fault)
            return
        document = fake._document(path)
        if document is None:
            self._answer(path, headers, 404, b"<html>not found</html>", "text/html", {})
            return
        body, ctype, changed = document
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        validators = {"ETag": etag, "Last-Modified": format_datetime(changed, usegmt=True)}
        if _not_modified(headers, etag, changed):
            self._answer(path, headers, 304, b"", None, validators)
            return
        self._answer(path, headers, 200, body, ctype, validators)

    def _answer(
        self,
        path: str,
        headers: dict[str, str],
        status: int,
        body: bytes,
        content_type: str | None,
        extra: dict[str, str],
    ) -> None:
        self.fake._record(FeedRequest(path, headers, status))
        self.send_bytes(status, body, content_type, extra)


FakeFeeds.handler_class = _Handler
