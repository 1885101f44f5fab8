"""Bluesky data in and out, without I/O: notifications → `InboundMessage`, our reply records,
the read position (high-water mark) and the record keys that make a resend safe.

A notification's post may be a reply deep in someone else's thread: its record carries
`reply.root` (the thread's first post) and `reply.parent` (the post it answers). The thread
root is our conversation key, so a follow-up anywhere in the thread joins the same Slack
thread (under one of our own posts the key is root + customer, see `conversation_key`); our
answer replies to the customer's post (parent) under that same root.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from atproto_client.models.utils import get_model_as_dict
from atproto_client.utils.facet_detection import detect_facets

from handlers.inbound import Attachment, Author, InboundMessage

SOURCE = "bluesky"
POST_COLLECTION = "app.bsky.feed.post"
# Notifications that are someone talking to (or about) us; likes, follows, reposts are not.
WATCHED_REASONS = frozenset({"mention", "reply", "quote"})
MAX_GRAPHEMES = 300

_AT_URI = re.compile(r"^at://(did:[a-z]+:[A-Za-z0-9._:%-]+)/([a-zA-Z0-9.-]+)/([A-Za-z0-9._:~-]+)$")
_LANGUAGE = re.compile(r"^[a-zA-Z]{2,3}([-_][a-zA-Z0-9]{2,8})*$")
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
# Reply record keys are TIDs whose timestamp comes from a hash of the reply's idempotency
# key, so every retry names the same record. The timestamps fall in 2023-2024: a TID from
# the past is valid (archive imports use them), one from the future might not be.
_TID_FROM_US = 1_672_531_200_000_000  # 2023-01-01T00:00:00Z in microseconds
_TID_SPAN_US = 2 * 365 * 86_400 * 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_AFTER_ANY_URI = "\U0010ffff"  # sorts after every uri: a floor at `since` includes all of it
CURSOR_MAX = 255


@dataclass(frozen=True, order=True)
class Mark:
    """Our own high-water mark: the newest handled notification's (indexedAt, uri).
    Bluesky's `isRead` is shared with every app the account uses, so it is never trusted."""

    indexed_at: datetime
    uri: str

    def cursor(self, since: datetime) -> str:
        """The saved form: the mark, then `since` (the first start; nothing at or before it
        is read). 255 characters at most (the column): a very long uri is left out."""
        text = f"{self.indexed_at.isoformat()}|{self.uri}|{since.isoformat()}"
        if len(text) > CURSOR_MAX:
            text = f"{self.indexed_at.isoformat()}||{since.isoformat()}"
        return text

    @staticmethod
    def parse(cursor: str) -> tuple[Mark, datetime]:
        """(mark, since) from `cursor()`'s form."""
        parts = cursor.split("|")
        if len(parts) != 3:
            raise ValueError(f"not a Bluesky cursor: {cursor[:80]!r}")
        return Mark(parse_time(parts[0]), parts[1]), parse_time(parts[2])

    def floor(self, since: datetime, lookback: timedelta) -> Mark:
        """Notifications at or below this are not read: older than `lookback` before the
        mark, or from before the first start."""
        return max(Mark(self.indexed_at - lookback, ""), Mark(since, _AFTER_ANY_URI))


BEGINNING = Mark(_EPOCH, "")


@dataclass(frozen=True)
class StrongRef:
    uri: str
    cid: str

    def as_json(self) -> dict[str, str]:
        return {"uri": self.uri, "cid": self.cid}


def parse_time(value: object) -> datetime:
    if not isinstance(value, str) or not value:
        raise ValueError("missing timestamp")
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def notification_mark(note: dict[str, Any]) -> Mark:
    uri = note.get("uri")
    if not isinstance(uri, str) or not uri:
        raise ValueError("the notification has no uri")
    return Mark(parse_time(note.get("indexedAt")), uri)


def split_at_uri(uri: str) -> tuple[str, str, str]:
    """(did, collection, rkey) of an at:// URI that names a record."""
    match = _AT_URI.match(uri)
    if not match:
        raise ValueError(f"not a record at-uri: {uri[:120]!r}")
    return match.group(1), match.group(2), match.group(3)


def permalink(uri: str) -> str:
    did, _, rkey = split_at_uri(uri)
    return f"https://bsky.app/profile/{did}/post/{rkey}"


def _ref(value: object, what: str) -> StrongRef:
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not a strong ref")
    uri, cid = value.get("uri"), value.get("cid")
    if not isinstance(uri, str) or not isinstance(cid, str) or not cid:
        raise ValueError(f"{what} has no uri + cid")
    split_at_uri(uri)
    return StrongRef(uri, cid)


def reply_refs(record: dict[str, Any]) -> tuple[StrongRef, StrongRef] | None:
    """(root, parent) of a post that is a reply, else None."""
    reply = record.get("reply")
    if reply is None:
        return None
    if not isinstance(reply, dict):
        raise ValueError("record.reply is not an object")
    return _ref(reply.get("root"), "reply.root"), _ref(reply.get("parent"), "reply.parent")


def _language(record: dict[str, Any]) -> str | None:
    langs = record.get("langs")
    if isinstance(langs, list):
        for lang in langs:
            if isinstance(lang, str) and _LANGUAGE.match(lang):
                return lang
    return None


def _images(did: str, record: dict[str, Any]) -> list[Attachment]:
    embed = record.get("embed")
    if isinstance(embed, dict) and isinstance(embed.get("media"), dict):
        embed = embed["media"]  # recordWithMedia: a quote with pictures
    if not isinstance(embed, dict) or not isinstance(embed.get("images"), list):
        return []
    found = []
    for n, image in enumerate(embed["images"][:4], 1):
        blob = image.get("image") if isinstance(image, dict) else None
        ref = blob.get("ref") if isinstance(blob, dict) else None
        link = ref.get("$link") if isinstance(ref, dict) else None
        if not isinstance(link, str) or not re.fullmatch(r"[a-z0-9]{10,100}", link):
            continue  # not a picture we can link to; the post itself still comes in
        assert isinstance(blob, dict) and isinstance(image, dict)
        mime = blob.get("mimeType")
        alt = image.get("alt") if isinstance(image.get("alt"), str) else ""
        url = f"https://cdn.bsky.app/img/feed_fullsize/plain/{did}/{link}@jpeg"
        name = (alt.strip() or f"image {n}")[:300]
        valid_mime = isinstance(mime, str) and re.fullmatch(r"[\w.+-]+/[\w.+-]+", mime)
        found.append(Attachment(name=name, url=url, mime=mime if valid_mime else None))
    return found


def _stand_in_text(record: dict[str, Any], images: list[Attachment]) -> str:
    """Words for a post without text (pictures or a link card only), so it is not lost."""
    if images:
        return "[image] " + " / ".join(a.name for a in images)
    embed = record.get("embed")
    external = embed.get("external") if isinstance(embed, dict) else None
    if isinstance(external, dict) and isinstance(external.get("uri"), str):
        title = external.get("title") if isinstance(external.get("title"), str) else ""
        return f"[link] {title} {external['uri']}".replace("  ", " ")
    raise ValueError("the post has no text, pictures or link")


def conversation_key(root: StrongRef, author_did: str, our_did: str) -> str:
    """The thread root's uri; under one of our own posts, one conversation per customer,
    so fifty people answering an announcement are fifty conversations, not one."""
    if split_at_uri(root.uri)[0] == our_did:
        return f"{root.uri}#{author_did}"
    return root.uri


def _author(profile: dict[str, Any], did: str, followers: int | None) -> Author:
    handle = profile.get("handle")
    named = isinstance(handle, str) and handle not in ("", "handle.invalid")
    display_name = profile.get("displayName")
    return Author(
        external_id=did,
        handle=f"@{handle}" if named else None,
        display_name=display_name[:300] if isinstance(display_name, str) and display_name else None,
        profile_url=f"https://bsky.app/profile/{handle if named else did}",
        followers=followers,
    )


def to_inbound(note: dict[str, Any], followers: int | None, our_did: str) -> InboundMessage:
    """The customer's post behind a mention/reply/quote notification. Raises ValueError
    (pydantic's ValidationError is one) naming what is wrong with a malformed one."""
    uri, cid = note.get("uri"), note.get("cid")
    if not isinstance(uri, str) or not isinstance(cid, str) or not cid:
        raise ValueError("the notification has no uri + cid")
    did, collection, _ = split_at_uri(uri)
    record = note.get("record")
    if collection != POST_COLLECTION or not isinstance(record, dict):
        raise ValueError(f"not a post: {collection}")
    text = record.get("text")
    if not isinstance(text, str):
        raise ValueError("the post has no text field")
    author = note.get("author") if isinstance(note.get("author"), dict) else {}
    if author.get("did") != did:
        raise ValueError("the notification's author is not the post's author")
    refs = reply_refs(record)
    root = refs[0] if refs else StrongRef(uri, cid)
    attachments = _images(did, record)
    if not text.strip():
        text = _stand_in_text(record, attachments)
    indexed = parse_time(note.get("indexedAt"))
    try:
        created = min(parse_time(record.get("createdAt")), indexed)  # clients set createdAt
    except ValueError:
        created = indexed
    lang = _language(record)
    return InboundMessage(
        source=SOURCE,
        external_id=uri,
        thread_id=conversation_key(root, did, our_did),
        parent_id=refs[1].uri if refs else None,
        author=_author(author, did, followers),
        text=text,
        language=lang,
        url=permalink(uri),
        created_at=created,
        attachments=attachments,
        reply_meta={
            "uri": uri,
            "cid": cid,
            "root_uri": root.uri,
            "root_cid": root.cid,
            "lang": lang,
            "reason": note.get("reason"),
        },
    )


def reply_targets(meta: dict[str, Any]) -> tuple[StrongRef, StrongRef]:
    """(root, parent) for our answer to the post `reply_meta` describes."""
    parent = _ref({"uri": meta.get("uri"), "cid": meta.get("cid")}, "the customer's post")
    if meta.get("root_uri"):
        return _ref({"uri": meta.get("root_uri"), "cid": meta.get("root_cid")}, "root"), parent
    return parent, parent


def reply_record(
    text: str, root: StrongRef, parent: StrongRef, lang: str | None, now: datetime
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "$type": POST_COLLECTION,
        "text": text,
        "createdAt": now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "reply": {"root": root.as_json(), "parent": parent.as_json()},
    }
    facets = [get_model_as_dict(facet) for facet in detect_facets(text)]
    if facets:  # Bluesky shows a URL as a link only when a facet says so
        record["facets"] = facets
    if lang and _LANGUAGE.match(lang):
        record["langs"] = [lang.replace("_", "-")]  # never atproto's default "en" by mistake
    return record


def part_rkey(idempotency_key: str, index: int) -> str:
    """A TID-shaped record key, the same for every attempt at part `index` of one reply."""
    digest = hashlib.sha256(f"threadline:{idempotency_key}:{index}".encode()).digest()
    micros = _TID_FROM_US + int.from_bytes(digest[:8], "big") % _TID_SPAN_US
    clock_id = int.from_bytes(digest[8:10], "big") & 0x3FF
    value = (micros << 10) | clock_id
    chars = []
    for _ in range(13):
        chars.append(_TID_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))
