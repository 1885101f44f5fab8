"""The outbox drainer against a misbehaving FakeSlack: 429s, 5xx, hangs, parked rows,
two drainers at once. Every card arrives once, in order per thread."""

from __future__ import annotations

import threading
import time
from collections import Counter

from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.outbox import OutboxDrainer
from storage.db import session_scope
from storage.models import OutboxItem, OutboxStatus
from tests.fakes.slack import FakeSlack
from tests.fakes.webhook_sender import message
from tests.pipeline import Pipeline, drainer_client, ingest_backlog, team_config

QUESTION = "Hello, how do I change the e-mail address on my account?"


def card_ids(fake: FakeSlack) -> list[int]:
    """Conversation ids of every top-level card Slack holds, in posting order."""
    return [
        p["metadata"]["event_payload"]["conversation_id"]
        for p in fake.all_posts()
        if p.get("metadata", {}).get("event_type") == "threadline_card"
    ]


def test_waits_out_retry_after_then_recovers_from_5xx_and_a_hang(
    sqlite_engine: Engine, fake_slack: FakeSlack
) -> None:
    pipe = Pipeline(sqlite_engine, fake_slack, client_timeout=1, settle_seconds=1.5)
    try:
        pipe.webhook.post(message("a-0", QUESTION, author="ana", thread_id="t-a"))
        for i in range(1, 4):
            pipe.webhook.post(message(f"a-{i}", f"more detail {i}", author="ana", thread_id="t-a"))
        pipe.webhook.post(message("b-0", QUESTION, author="bo", thread_id="t-b"))

        fake_slack.fail("chat.postMessage", status=429, retry_after=2, times=1)
        started = time.monotonic()
        pipe.drainer.drain_once()
        calls_at_429 = fake_slack.count_calls("chat.postMessage")
        assert calls_at_429 == 1
        while time.monotonic() - started < 1.8:
            pipe.drainer.drain_once()
            time.sleep(0.05)
        # Slack said "retry after 2 s" for #support: nothing was sent there meanwhile.
        assert fake_slack.count_calls("chat.postMessage") == calls_at_429

        # A hang: our client gives up after 1 s, Slack posts at 1.5 s. The retry must find
        # that post through its metadata instead of posting the card again.
        fake_slack.hang("chat.postMessage", 1.5, times=1)
        while not pipe.drainer.drain_once():
            time.sleep(0.05)
        time.sleep(0.7)  # let FakeSlack finish the hung call before queueing the 5xx
        fake_slack.fail("chat.postMessage", status=500, times=2)
        pipe.drain(timeout=40)
    finally:
        pipe.stop()

    assert Counter(card_ids(fake_slack)) == {1: 1, 2: 1}
    support = pipe.channel_ids["support"]
    card = next(
        c for c in pipe.cards("support") if c["metadata"]["event_payload"]["conversation_id"] == 1
    )
    replies = fake_slack.thread(support, card["ts"])[1:]
    texts = [str(r["blocks"]) for r in replies]
    assert len(replies) == 3
    assert all(f"more detail {i}" in texts[i - 1] for i in range(1, 4))
    assert pipe.drainer.stats.retried >= 3  # the timeout and both 5xx
    assert pipe.drainer.stats.reconciled == 1


def test_an_unanswered_post_that_landed_is_adopted_not_repeated(
    sqlite_engine: Engine, fake_slack: FakeSlack
) -> None:
    pipe = Pipeline(sqlite_engine, fake_slack, client_timeout=1, settle_seconds=1.0)
    try:
        pipe.webhook.post(message("h-1", QUESTION))
        fake_slack.hang("chat.postMessage", 1.3, times=1)
        pipe.drain(timeout=20)
    finally:
        pipe.stop()
    assert len(pipe.cards("support")) == 1
    assert pipe.drainer.stats.reconciled == 1
    with session_scope(sqlite_engine) as session:
        item = session.exec(select(OutboxItem)).one()
    assert item.result is not None and item.result["ts"] == pipe.cards("support")[0]["ts"]


def test_a_permanent_error_parks_the_row_with_its_reason(
    sqlite_engine: Engine, fake_slack: FakeSlack
) -> None:
    pipe = Pipeline(sqlite_engine, fake_slack)
    try:
        pipe.webhook.post(message("n-1", QUESTION))
        fake_slack.fail("chat.postMessage", error="not_in_channel", times=1)
        pipe.drain()
    finally:
        pipe.stop()
    with session_scope(sqlite_engine) as session:
        item = session.exec(select(OutboxItem)).one()
    assert item.status == OutboxStatus.PARKED
    assert item.last_error == "Slack refused: not_in_channel"
    assert fake_slack.all_posts() == []


def test_pacing_keeps_to_the_configured_rate_per_channel(
    sqlite_engine: Engine, fake_slack: FakeSlack
) -> None:
    team = team_config(slack={"posts_per_second": 4, "post_burst": 2})
    pipe = Pipeline(sqlite_engine, fake_slack, team)
    fake_slack.rate_limit("chat.postMessage", per_channel_per_second=4.5, burst=2)
    try:
        for i in range(10):
            pipe.webhook.post(message(f"r-{i}", QUESTION, author=f"user{i}"))
        started = time.monotonic()
        pipe.drain()
        elapsed = time.monotonic() - started
    finally:
        pipe.stop()
    assert len(pipe.cards("support")) == 10
    assert elapsed >= (10 - 2) / 4 * 0.9  # burst of 2, then 4 per second
    # Paced below Slack's limit, the drainer never provoked a 429.
    assert pipe.drainer.stats.retried == 0


def test_two_drainers_post_each_card_once(engine: Engine, fake_slack: FakeSlack) -> None:
    """On PostgreSQL the claims use FOR UPDATE SKIP LOCKED; on SQLite, BEGIN IMMEDIATE."""
    fake_slack.add_channel("support")
    ingest_backlog(engine, 120, QUESTION)
    team = team_config(slack={"posts_per_second": 50, "post_burst": 50})
    drainers = [
        OutboxDrainer(engine, drainer_client(fake_slack), team, worker_id=f"d{i}", batch_size=5)
        for i in range(2)
    ]
    stop = threading.Event()
    threads = [threading.Thread(target=d.run, args=(stop, 0.05)) for d in drainers]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(card_ids(fake_slack)) < 120 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join(timeout=10)
    counts = Counter(card_ids(fake_slack))
    assert len(counts) == 120
    assert max(counts.values()) == 1
    assert all(d.stats.sent > 10 for d in drainers), [d.stats.sent for d in drainers]
