"""RSS end to end: feed entries → Slack cards and threads through the real runner, intake,
Slack app and reply drainer; the card is read-only and no click can send anything."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.config_schema import RssSource
from bot.sources.cursors import CursorStore
from bot.sources.rss import FeedReader
from storage.db import session_scope
from storage.models import Conversation, Direction, Draft, Message, OutboxItem
from tests.fakes.feeds import FakeFeeds
from tests.fakes.slack import FakeSlack
from tests.pipeline import Pipeline
from tests.polling import count_rows, wait_for

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def site() -> Iterator[FakeFeeds]:
    with FakeFeeds() as fake:
        yield fake


def reader(engine: Engine, url: str) -> FeedReader:
    config = RssSource(
        enabled=True, poll_minutes=0.003, timeout_seconds=2, feeds=[{"url": url, "name": "Shop"}]
    )
    return FeedReader(config, CursorStore(engine))


def card_of(pipe: Pipeline, cid: int) -> dict[str, Any]:
    return next(
        p
        for p in pipe.fake.all_posts()
        if p.get("metadata", {}).get("event_payload", {}).get("conversation_id") == cid
        and not p.get("thread_ts")
    )


def conversation_for(engine: Engine, external_id: str) -> int:
    with session_scope(engine) as session:
        return session.exec(
            select(Message.conversation_id).where(Message.external_id == external_id)
        ).one()


def test_entry_becomes_a_read_only_card_and_a_reply_joins_its_thread(
    engine: Engine, fake_slack: FakeSlack, site: FakeFeeds
) -> None:
    url = site.add_feed("/reviews.atom", title="Shop reviews")
    site.add_entry(
        "/reviews.atom", "tag:shop,2026:r1", "Checkout keeps failing",
        summary="<p>Card declined three times &amp; no error shown.</p>",
        link="https://shop.example/reviews/1", published=NOW - timedelta(minutes=20),
        author="Marta", author_uri="https://shop.example/u/marta",
    )  # fmt: skip
    source = reader(engine, url)
    pipe = Pipeline(engine, fake_slack, sources=[source])
    try:
        pipe.start_sources()
        wait_for(lambda: count_rows(engine, Message) == 1, seconds=15)
        pipe.drain()
        cid = conversation_for(engine, "tag:shop,2026:r1")
        card = card_of(pipe, cid)
        blocks = json.dumps(card["blocks"], ensure_ascii=False)
        assert "Card declined three times &amp; no error shown." in blocks  # Slack-escaped
        assert "Read-only source: reply on the site" in blocks
        assert "https://shop.example/reviews/1" in blocks
        assert "conversation.draft" not in blocks and "draft.send" not in blocks
        assert "conversation.claim" in blocks  # the team can still work it

        # The shop answers in the feed (thr:in-reply-to): same conversation, same Slack thread.
        site.add_entry(
            "/reviews.atom", "tag:shop,2026:r2", "Re: Checkout keeps failing",
            summary="Sorry Marta, fixed now.", link="https://shop.example/reviews/1#c2",
            published=NOW - timedelta(minutes=1), in_reply_to="tag:shop,2026:r1",
        )  # fmt: skip
        wait_for(lambda: count_rows(engine, Message) == 2, seconds=15)
        pipe.drain()
        assert conversation_for(engine, "tag:shop,2026:r2") == cid
        thread = pipe.fake.thread(card["channel"], card["ts"])
        assert any("fixed now" in (m.get("text") or "") + json.dumps(m.get("blocks", []))
                   for m in thread[1:])  # fmt: skip

        # No click sends anything: a forged Draft click (the card has no button) is told
        # the source is read-only and drafts nothing; nothing reaches the delivery queue.
        channel = card["channel"]
        pipe.slack.block_action("conversation.claim", str(cid), user_id="U1",
                                channel_id=channel, message_ts=card["ts"])  # fmt: skip
        for action in ("conversation.draft", "conversation.draft_anyway"):
            pipe.slack.block_action(action, str(cid), user_id="U1",
                                    channel_id=channel, message_ts=card["ts"])  # fmt: skip
        wait_for(
            lambda: sum("read-only" in json.dumps(e) for e in pipe.fake.ephemerals) == 2, seconds=15
        )
        time.sleep(0.3)  # the lazy draft step has had its chance
        assert _draft_id(engine, cid) is None
        assert count_rows(engine, OutboxItem, OutboxItem.kind.not_in(_slack_kinds())) == 0
        pipe.drain_replies()
        assert count_rows(engine, Message, Message.direction == Direction.OUT) == 0
    finally:
        pipe.stop()


def _slack_kinds() -> tuple[str, ...]:
    from bot.outbox_claim import SLACK_KINDS

    return tuple(SLACK_KINDS)


def _draft_id(engine: Engine, cid: int) -> int | None:
    with session_scope(engine) as session:
        draft = session.exec(select(Draft).where(Draft.conversation_id == cid)).first()
        return draft.id if draft else None


def test_a_restart_backfills_what_was_published_meanwhile_exactly_once(
    sqlite_engine: Engine, fake_slack: FakeSlack, site: FakeFeeds
) -> None:
    engine = sqlite_engine
    url = site.add_feed("/forum.rss", "rss", title="Forum")
    site.add_entry("/forum.rss", "tag:f,1", "First thread", published=NOW - timedelta(hours=3))
    pipe = Pipeline(engine, fake_slack, sources=[reader(engine, url)])
    try:
        pipe.start_sources()
        wait_for(lambda: count_rows(engine, Message) == 1, seconds=15)
        assert pipe.runner is not None
        pipe.runner.stop()

        # While Threadline is down, two strangers post (no author in the feed), 10 s apart.
        for n, minutes in ((2, 10), (3, 9.8)):
            site.add_entry("/forum.rss", f"tag:f,{n}", f"Post {n}",
                           published=NOW - timedelta(minutes=minutes))  # fmt: skip
        pipe.sources = [reader(engine, url)]  # a new process builds a new adapter
        pipe.start_sources()
        wait_for(lambda: count_rows(engine, Message) == 3, seconds=15)
        time.sleep(0.3)  # a few more polls: nothing is read twice
        pipe.drain()
        assert count_rows(engine, Message) == 3
        assert count_rows(engine, Conversation) == 3  # strangers are not grouped into one
        cards = [p for p in pipe.fake.all_posts() if not p.get("thread_ts")]
        assert len(cards) == 3
        runner = pipe.runner
        health = wait_for(
            lambda: runner.health()["rss"].ingested >= 2 and runner.health()["rss"], seconds=15
        )
        assert (health.state, health.ingested) == ("ok", 2)
    finally:
        pipe.stop()
