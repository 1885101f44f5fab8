"""Slack, the model and the integrator's network fail in turn under a running `threadline run`
(HTTP mode, one process): 429 with Retry-After, 5xx, a hang past the client's timeout, a
connection reset and a malformed answer. The process stays healthy, falls back where it
should, and every post and reply arrives exactly once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from storage.db import make_engine
from tests.fakes.callback import FakeCallback
from tests.fakes.openai import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_driver import SlackDriver
from tests.fakes.webhook_sender import WebhookSender, message
from tests.reliability.harness import (
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    Stack,
    everything_said,
    payload_of,
    posts_with,
    wait_until,
)
from tests.reliability.load import (
    card_location,
    click_draft,
    click_send,
    draft_of,
    stored_inbound,
    unfinished_outbox,
)
from tests.reliability.proxy import FlakyProxy

AGENT = "UAGENT1"


def classification_or_draft(body: dict[str, Any]) -> str | dict[str, Any]:
    """What a healthy model answers: the triage schema, or a draft."""
    if body.get("response_format"):
        return {
            "intent": "question",
            "sentiment": "neutral",
            "language": "en",
            "urgency": 0,
            "summary": "A customer asks a question.",
        }
    return "Thanks for writing in! We are looking into it right now."


@pytest.fixture
def engine(stack: Stack) -> Iterator[Engine]:
    eng = make_engine(stack.env["DATABASE_URL"])
    yield eng
    eng.dispose()


def send(stack: Stack, message_id: str, text: str, **extra: Any) -> int:
    resp = WebhookSender(f"{stack.url}/ingest/webhook", WEBHOOK_SECRET).post(
        message(message_id, text, **extra)
    )
    assert resp.status == 202, resp.body
    return int(resp.json()["conversation_id"])


def settled(engine: Engine, stack: Stack, expected_messages: int) -> bool:
    assert stack.processes["run"].alive(), stack.processes["run"].log()[-3000:]
    assert stack.healthz() == 200
    return not unfinished_outbox(engine) and len(stored_inbound(engine)) == expected_messages


# ------------------------------------------------------------------ Slack
# (fault, chat.postMessage calls Slack sees for one card, whether the retry adopts a post)
SLACK_FAULTS: list[tuple[str, int, bool]] = [
    ("429", 2, False),
    ("503", 2, False),
    ("reset", 1, False),  # never reached Slack
    ("reset_after", 1, True),  # posted; the answer was lost
    ("garbage_after", 1, True),  # posted; the answer was unreadable
    ("hang", 1, True),  # posted after the drainer's 15 s timeout
]


def inject_slack_fault(kind: str, fake: FakeSlack, proxy: FlakyProxy) -> None:
    if kind == "429":
        fake.fail("chat.postMessage", status=429, retry_after=1)
    elif kind == "503":
        fake.fail("chat.postMessage", status=503)
    elif kind == "hang":
        # Past the drainer's 15 s timeout (and inside its settle time), still posted, as
        # Slack may: the retry must find it by its metadata instead of posting again.
        fake.hang("chat.postMessage", seconds=15.2, process=True)
    else:
        proxy.fault(kind, match="chat.postMessage")  # type: ignore[arg-type]


def test_slack_failing_in_turn_posts_every_card_once(
    stack: Stack, slack_channels: FakeSlack, engine: Engine
) -> None:
    fake = slack_channels
    with FlakyProxy(fake.port) as proxy:
        stack.env["SLACK_API_URL"] = proxy.url("/api/")
        stack.start_http("run")
        cids: list[int] = []
        for step, (kind, calls, adopts) in enumerate(SLACK_FAULTS):
            if cids:  # traffic keeps flowing: a follow-up in the previous thread
                send(
                    stack,
                    f"sl-{step}-b",
                    "Any news?",
                    author=f"c{step - 1}",
                    thread_id=f"sl-{step - 1}",
                )
                wait_until(lambda s=step: settled(engine, stack, 2 * s), 20, "the follow-up")
            posts_before = fake.count_calls("chat.postMessage")
            adopted_before = stack.processes["run"].log().count("adopting ts")
            inject_slack_fault(kind, fake, proxy)
            cids.append(send(stack, f"sl-{step}", f"Question {step}: where?", author=f"c{step}"))
            wait_until(lambda s=step: settled(engine, stack, 2 * s + 1), 30, f"the {kind} card")
            assert fake.count_calls("chat.postMessage") - posts_before == calls, kind
            adopted = stack.processes["run"].log().count("adopting ts") - adopted_before
            assert adopted == int(adopts), kind
        assert proxy.pending() == 0

    posts = fake.all_posts()
    cards = Counter(payload_of(p)["conversation_id"] for p in posts_with(posts, "threadline_card"))
    assert cards == Counter(dict.fromkeys(cids, 1))
    follow_ups = Counter(
        payload_of(p)["message_id"] for p in posts_with(posts, "threadline_message")
    )
    assert list(follow_ups.values()) == [1] * (len(SLACK_FAULTS) - 1)


# ------------------------------------------------------------------ OpenAI
MODEL_FAULTS: list[tuple[str, str]] = [
    ("429", "the model was rate-limited"),
    ("500", "the model answered HTTP 500"),
    ("hang", "the model timed out"),
    ("reset", "the model could not be reached"),
    ("malformed", "the model's answer was unusable"),
]


def inject_model_fault(kind: str, openai: FakeOpenAI, proxy: FlakyProxy) -> None:
    attempts = 3  # the drafter's first try and its two retries
    if kind == "429":
        openai.fail(429, times=attempts, retry_after=0.1)
    elif kind == "500":
        openai.fail(500, times=attempts)
    elif kind == "hang":
        openai.hang(1.5, times=attempts)  # the drafter's timeout is 1 s in this config
    elif kind == "reset":
        proxy.fault("reset", match="/chat/completions", times=attempts)
    elif kind == "malformed":
        openai.malformed(times=1)  # not retried: a 200 with a broken body


def test_model_failing_in_turn_falls_back_and_still_answers(
    stack: Stack, slack_channels: FakeSlack, engine: Engine, callback: FakeCallback
) -> None:
    with (
        FakeOpenAI(default_reply=classification_or_draft) as openai,
        FlakyProxy(openai.port) as proxy,
    ):
        stack.env.update({"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": proxy.url("/v1")})
        stack.start_http("run")
        driver = SlackDriver(f"{stack.url}/slack/events", SIGNING_SECRET, fake=slack_channels)
        cids = [
            send(
                stack,
                f"ai-{i}",
                "How do I export invoices?",
                author=f"a{i}",
                reply_url=callback.url,
            )
            for i in range(len(MODEL_FAULTS) + 1)
        ]
        # Triage failing: the message is still stored and posted, classified offline.
        openai.fail(503, times=2)
        cids.append(send(stack, "ai-triage", "Where is my parcel?", reply_url=callback.url))
        openai.clear_faults()

        drafts: dict[str, int] = {}
        for (kind, _), cid in zip([*MODEL_FAULTS, ("healthy", "")], cids, strict=False):
            inject_model_fault(kind, openai, proxy)
            drafts[kind] = click_draft(driver, engine, cid, AGENT)
            openai.clear_faults()
            assert proxy.pending() == 0
        for kind, draft_id in drafts.items():
            click_send(driver, engine, cids[list(drafts).index(kind)], draft_id, AGENT)
        wait_until(lambda: settled(engine, stack, len(cids)), 30, "replies and posts", poll=0.2)

    for kind, reason in MODEL_FAULTS:
        draft = draft_of(engine, drafts[kind])
        assert draft.drafter == "offline", kind
        assert draft.fallback_reason == f"{reason}; offline template used", kind
        shown = [p for p in slack_channels.all_posts() if draft.slack_ts == p["ts"]]
        assert reason in everything_said(shown[0]), kind
    assert draft_of(engine, drafts["healthy"]).drafter.startswith("openai:")
    handled = Counter(r.idempotency_key for r in callback.requests if not r.duplicate)
    assert handled == Counter({f"reply-out:{d}": 1 for d in drafts.values()})
    texts = {r.body["text"] for r in callback.requests}
    assert "Thanks for writing in! We are looking into it right now." in texts
    cards = posts_with(slack_channels.all_posts(), "threadline_card")
    assert sorted(payload_of(p)["conversation_id"] for p in cards) == sorted(cids)
    assert "LLM classification failed" in stack.processes["run"].log()


# ------------------------------------------------------------------ the integrator's network
def test_reply_endpoint_failing_in_turn_gets_each_reply_once(
    stack: Stack, slack_channels: FakeSlack, engine: Engine, callback: FakeCallback
) -> None:
    with FlakyProxy(callback.port) as proxy:
        stack.start_http("run")
        driver = SlackDriver(f"{stack.url}/slack/events", SIGNING_SECRET, fake=slack_channels)
        # A query string per conversation lets the network fault pick its victim; the
        # receiver ignores it.
        cids = [
            send(
                stack,
                f"cb-{i}",
                "Can I get a refund?",
                author=f"r{i}",
                reply_url=proxy.url(f"{callback.path}?c={i}"),
            )
            for i in range(6)
        ]
        draft_ids = [click_draft(driver, engine, cid, AGENT) for cid in cids]
        # The receiver's own faults hit the first four requests that reach it.
        callback.fail(429, retry_after=1)
        callback.fail(503)
        callback.hang(1.5)  # handles the reply, answers after our 1 s timeout: a retry comes
        callback.respond_with(200, b'{"id": "r-x", "url": ')  # a 2xx with broken JSON
        proxy.fault("reset", match="?c=4 ")  # never reached the receiver
        proxy.fault("reset_after", match="?c=5 ")  # handled, answer lost
        for cid, draft_id in zip(cids, draft_ids, strict=True):
            click_send(driver, engine, cid, draft_id, AGENT)
        wait_until(lambda: settled(engine, stack, len(cids)), 40, "every reply", poll=0.2)
        assert proxy.pending() == 0

    requests = callback.requests
    assert all(r.signature_valid for r in requests)
    refused, rest = requests[:2], requests[2:]  # answered 429 and 503: not handled
    assert not any(r.duplicate for r in refused)
    handled = Counter(r.idempotency_key for r in rest if not r.duplicate)
    assert handled == Counter({f"reply-out:{d}": 1 for d in draft_ids})
    assert sum(r.duplicate for r in rest) >= 2  # the hang's and the lost answer's re-sends
    for cid, draft_id in zip(cids, draft_ids, strict=True):
        draft = draft_of(engine, draft_id)
        assert str(draft.status) == "sent", (draft_id, draft.status)
        location = card_location(engine, cid)
        assert location is not None
        shown = slack_channels.message(location[0], str(draft.slack_ts))
        assert shown is not None and "Sent by" in everything_said(shown)
