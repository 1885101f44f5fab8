"""One feedparser entry → one `InboundMessage` (or a reason it cannot be one)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from bot.sources.rss_feed import entry_key, entry_time
from bot.sources.rss_text import bounded_id, clip, plain_text
from handlers.inbound import Author, InboundMessage

SOURCE = "rss"
# Enough for a review or a comment; the link on the card has the rest.
MAX_MESSAGE_CHARS = 4000
_LANGUAGE = re.compile(r"^[a-zA-Z]{2,3}([-_][a-zA-Z0-9]{2,8})*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class FeedInfo:
    url: str  # the configured URL (the cursor's account)
    label: str  # for logs: name and URL without query
    title: str  # the feed's name, or its own title
    language: str | None


@dataclass(frozen=True)
class EntryView:
    """What Threadline reads from an entry, before any decision about it."""

    key: str
    written: datetime | None
    title: str
    body: str  # plain text of the summary, else the content
    match_text: str  # title + summary + content, plain text: what keywords look at
    raw: Any

    @classmethod
    def of(cls, entry: Any, feed_url: str) -> EntryView:
        title = _plain(entry.get("title_detail") or {}, entry.get("title") or "")
        summary = _plain(entry.get("summary_detail") or {}, entry.get("summary") or "")
        contents = [_plain(c, c.get("value") or "") for c in entry.get("content") or []]
        body = summary or next((c for c in contents if c), "")
        return cls(
            key=entry_key(entry.get("id"), entry.get("link"), entry.get("title"), feed_url),
            written=entry_time(entry),
            title=title,
            body=body,
            match_text="\n".join([title, summary, *contents]),
            raw=entry,
        )


def _plain(detail: Any, value: str) -> str:
    """Plain text of a feedparser text construct (HTML or text: both may hold entities)."""
    if str(detail.get("type", "text/html")).endswith("plain"):
        return " ".join(value.split())
    return plain_text(value)


def _http_url(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    parts = urlsplit(value.strip())
    return value.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def _author(view: EntryView, feed: FeedInfo) -> Author:
    entry = view.raw
    detail = entry.get("author_detail") or {}
    name = (detail.get("name") or entry.get("author") or "").strip()
    href = _http_url(detail.get("href"))
    email = (detail.get("email") or "").strip()
    if not name and not href:
        # No author: shown under the feed's title, but an identity per entry. One shared
        # "feed customer" would merge strangers' reviews into one customer record, and the
        # grouping window would fold unrelated entries into one conversation.
        return Author(
            external_id=bounded_id(view.key, prefix="anonymous:"),
            display_name=clip(feed.title, 300),
        )
    host = urlsplit(feed.url).hostname or "feed"
    # A bare name is only unique on its own site: "Ana" on two review sites is two people.
    external_id = href or f"{name} @ {host}"
    return Author(
        external_id=bounded_id(external_id),
        display_name=clip(name, 300) if name else None,
        profile_url=href,
        email=email if _EMAIL.match(email) and len(email) <= 320 else None,
    )


def to_message(view: EntryView, feed: FeedInfo, now: datetime) -> InboundMessage:
    """Raises ValueError naming what is missing when the entry cannot become a message."""
    entry = view.raw
    link = _http_url(entry.get("link"))
    text = "\n\n".join(part for part in (view.title, view.body) if part)
    text = clip(text or link or "", MAX_MESSAGE_CHARS)
    if not text.strip():
        raise ValueError("it has no title, text or link")
    parent = (entry.get("thr_in-reply-to") or {}).get("ref")
    # RFC 4685: a reply names the entry it answers; that entry's thread is its thread.
    parent_key = entry_key(parent, None, None, feed.url) if parent else None
    language = (view.raw.get("title_detail") or {}).get("language") or feed.language
    try:
        return InboundMessage(
            source=SOURCE,
            external_id=view.key,
            thread_id=parent_key or view.key,
            parent_id=parent_key,
            author=_author(view, feed),
            text=text,
            language=language if language and _LANGUAGE.match(language) else None,
            url=link,
            created_at=min(view.written, now) if view.written else now,
            reply_meta={"read_only": True, "feed": feed.title},
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ValueError(problems) from None
