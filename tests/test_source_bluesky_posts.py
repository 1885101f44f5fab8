"""Bluesky data without the network: malformed and odd posts, the saved cursor."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.sources.bluesky_posts import Mark, to_inbound

ANA = "did:plc:ana4444444444444444444444"
POST_URI = f"at://{ANA}/app.bsky.feed.post/3kgood22222222"


def note(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "uri": POST_URI,
        "cid": "bafyreigood",
        "author": {"did": ANA, "handle": "ana.test", "displayName": "A" * 400},
        "reason": "mention",
        "record": {"$type": "app.bsky.feed.post", "text": "hi @brand.test", "langs": ["xx-!!"]},
        "indexedAt": "2026-11-23T09:00:00.000Z",
    }
    return {**base, **changes}


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"cid": None}, "no uri + cid"),
        ({"uri": "https://bsky.app/x"}, "not a record at-uri"),
        ({"uri": f"at://{ANA}/app.bsky.feed.like/3kgood22222222"}, "not a post"),
        ({"record": "text"}, "not a post"),
        ({"record": {"text": ""}}, "no text, pictures or link"),
        ({"author": {"did": "did:plc:someoneelse"}}, "not the post's author"),
        ({"record": {"text": "x", "reply": {"root": {"uri": POST_URI}}}}, "reply.root has no"),
        ({"indexedAt": "yesterday"}, "Invalid isoformat"),
    ],
)
def test_a_malformed_post_is_refused_with_the_reason(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        to_inbound(note(**changes), None, "did:plc:brand")


def test_odd_but_usable_fields_do_not_lose_the_post() -> None:
    link = {"$type": "app.bsky.embed.external", "external": {"uri": "https://x.example/a"}}
    msg = to_inbound(
        note(record={"text": " ", "embed": link, "createdAt": "3000-01-01T00:00:00Z"}),
        5,
        "did:plc:b",
    )
    assert msg.text == "[link] https://x.example/a" and msg.language is None
    assert msg.created_at.year == 2026  # a createdAt in the future is not believed
    assert msg.author.display_name == "A" * 300 and msg.followers == 5


def test_the_saved_cursor_round_trips_and_fits_its_column() -> None:
    since = datetime(2026, 11, 1, tzinfo=UTC)
    mark = Mark(datetime(2026, 11, 23, 9, 0, 0, 123000, tzinfo=UTC), POST_URI)
    assert Mark.parse(mark.cursor(since)) == (mark, since)
    long_uri = f"at://did:web:{'x' * 240}.example/app.bsky.feed.post/3kgood22222222"
    cursor = Mark(mark.indexed_at, long_uri).cursor(since)
    assert len(cursor) <= 255 and Mark.parse(cursor) == (Mark(mark.indexed_at, ""), since)
    with pytest.raises(ValueError, match="not a Bluesky cursor"):
        Mark.parse("2026-11-23T09:00:00+00:00|at://x")
