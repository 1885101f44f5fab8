"""SIGKILL the worker at random moments of a mixed load, restart it, and count everything.

`threadline serve` (webhook + /slack/events) and `threadline worker` (outbox, reply delivery)
run as real processes on one SQLite file, against FakeSlack and an integrator's reply
endpoint (FakeCallback, deduping on Idempotency-Key as the README asks receivers to do).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from storage.db import make_engine
from tests.fakes.callback import FakeCallback
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_driver import SlackDriver
from tests.fakes.webhook_sender import WebhookSender
from tests.reliability.harness import (
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    Stack,
    payload_of,
    postgres_database,
    posts_with,
    wait_until,
)
from tests.reliability.load import (
    MixedLoad,
    click_draft,
    click_send,
    inbound_texts,
    stored_inbound,
    unfinished_outbox,
)

SEED = 20261123


@dataclass(frozen=True)
class Plan:
    threads: int  # customer conversations in the load
    approved: int  # of them, answered through Draft + Send
    kills: int  # SIGKILLs of the worker


# SQLite is the default deployment and gets the larger run; PostgreSQL (when a server
# answers) a shorter one, to keep the suite inside its time budget.
PLANS = {"sqlite": Plan(16, 8, 4), "postgres": Plan(10, 5, 3)}


@pytest.fixture(params=sorted(PLANS))
def backend(request: pytest.FixtureRequest, stack: Stack) -> Iterator[Plan]:
    if request.param == "sqlite":
        yield PLANS["sqlite"]
        return
    with postgres_database("threadline_kill") as url:
        if url is None:
            pytest.skip("no PostgreSQL server on 127.0.0.1:5432 (set TEST_DATABASE_URL)")
        stack.env["DATABASE_URL"] = url
        yield PLANS["postgres"]


@dataclass
class Killer:
    """Kills the worker with SIGKILL at seeded random moments and starts a new one."""

    stack: Stack
    rng: random.Random
    kills: int
    done: threading.Event = field(default_factory=threading.Event)
    killed_at: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def run(self) -> None:
        try:
            for _ in range(self.kills):
                time.sleep(self.rng.uniform(0.8, 3.0))
                worker = self.stack.processes["worker"]
                assert worker.alive(), f"worker died by itself: {worker.log()[-2000:]}"
                worker.kill()
                self.killed_at.append(time.monotonic())
                time.sleep(self.rng.uniform(0.0, 0.5))
                self.stack.start_worker()
        except Exception as exc:  # reported by the test, not lost in a thread
            self.errors.append(repr(exc))
        finally:
            self.done.set()


def test_random_worker_kills_lose_nothing_and_repeat_nothing(
    backend: Plan, stack: Stack, slack_channels: FakeSlack, callback: FakeCallback
) -> None:
    started = time.monotonic()
    stack.start_http("serve")
    stack.start_worker()
    engine = make_engine(stack.env["DATABASE_URL"])
    sender = WebhookSender(f"{stack.url}/ingest/webhook", WEBHOOK_SECRET)
    slack = SlackDriver(f"{stack.url}/slack/events", SIGNING_SECRET, fake=slack_channels)
    load = MixedLoad(SEED, backend.threads, callback.url)
    killer = Killer(stack, random.Random(SEED), backend.kills)
    kill_thread = threading.Thread(target=killer.run, daemon=True)
    kill_thread.start()

    answers = []
    for delivery in load.deliveries:
        answers.append((delivery, sender.post(delivery.payload)))
        time.sleep(0.05)
    conversations = sorted(
        {r.json()["conversation_id"] for d, r in answers if d.payload["message_id"].endswith("-0")}
    )
    approved_drafts = []
    for cid in conversations[: backend.approved]:
        draft_id = click_draft(slack, engine, cid, "UAGENT1")
        click_send(slack, engine, cid, draft_id, "UAGENT1")
        approved_drafts.append(draft_id)

    assert killer.done.wait(60), "the killer never finished"
    assert killer.errors == [], killer.errors
    wait_until(
        lambda: (
            not unfinished_outbox(engine) and len(stored_inbound(engine)) == len(load.message_ids)
        ),
        40,
        f"every post and reply to go out; left: {unfinished_outbox(engine)}",
        poll=0.2,
    )
    time.sleep(2.5)  # past the 2 s lease: a duplicate from a dead worker would show by now

    # Webhook: every delivery accepted; a re-delivery answers 2xx, duplicate, same conversation.
    first_answer: dict[str, int] = {}
    for delivery, resp in answers:
        assert resp.status in (200, 202), resp.body
        body = resp.json()
        mid = delivery.payload["message_id"]
        if delivery.redelivery:
            assert resp.status == 200 and body["duplicate"] is True
            assert body["conversation_id"] == first_answer[mid]
        else:
            first_answer[mid] = body["conversation_id"]

    # Every message stored exactly once, byte for byte.
    assert stored_inbound(engine) == Counter(dict.fromkeys(load.message_ids, 1))
    assert inbound_texts(engine) == {mid: load.text_of(mid) for mid in load.message_ids}

    # Every card and every thread reply posted exactly once.
    posts = slack_channels.all_posts()
    cards = Counter(payload_of(p)["conversation_id"] for p in posts_with(posts, "threadline_card"))
    assert cards == Counter(dict.fromkeys(conversations, 1))
    followups = [m for m in load.message_ids if not m.endswith("-0")]
    replies = posts_with(posts, "threadline_message")
    assert len(replies) == len(followups)
    assert len({payload_of(p)["message_id"] for p in replies}) == len(followups)
    outbox_ids = Counter(payload_of(p)["outbox_id"] for p in posts if payload_of(p))
    assert [oid for oid, n in outbox_ids.items() if n > 1] == []

    # Every approved reply handled once by the receiver (re-sends carry the same key).
    keys = {f"reply-out:{d}" for d in approved_drafts}
    requests = callback.requests
    assert all(r.signature_valid for r in requests), [r.signature_problem for r in requests]
    assert {r.idempotency_key for r in requests} == keys
    handled = Counter(r.idempotency_key for r in requests if not r.duplicate)
    assert handled == Counter(dict.fromkeys(keys, 1))

    assert len(killer.killed_at) == backend.kills
    assert stack.processes["serve"].alive() and stack.healthz() == 200
    engine.dispose()
    assert time.monotonic() - started < 90
