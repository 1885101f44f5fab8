"""Property-based fuzz of the two doors customers and Slack knock on, against the running
pipeline (real HTTP server, bolt app, outbox drainer, FakeSlack):

* the webhook: any correctly signed body gets 2xx or 4xx, never 5xx; what is accepted is
  stored byte for byte, what is refused is not stored; every Slack post made from it keeps
  the customer's text inert (no mention, no link, no stray entity);
* /slack/events: signed block actions, view submissions, slash commands and events with
  unknown ids, missing fields and absurd values get no 5xx and change nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from storage import migrate
from storage.db import make_engine, session_scope
from storage.models import (
    AuditEvent,
    Conversation,
    ConversationTag,
    Customer,
    Draft,
    Message,
    OutboxItem,
    Outcome,
    Staff,
    Tag,
)
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_driver import plain_text, static_select
from tests.pipeline import Pipeline
from tests.reliability.fuzz_strategies import (
    INJECTIONS,
    KNOWN_ACTIONS,
    SAFE_URL,
    block_actions,
    garbage_values,
    mrkdwn_strings,
    unsafe_markup,
    webhook_bodies,
)
from tests.reliability.harness import postgres_database, wait_until

FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure is reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class FuzzTarget:
    """The running pipeline plus what the fuzz has stored so far (a plain class with a short
    repr: Hypothesis prints its arguments when an example fails)."""

    def __init__(self, pipe: Pipeline, fake: FakeSlack, channel: str) -> None:
        self.pipe = pipe
        self.fake = fake
        self.channel = channel
        # (source, message id) → text of every accepted body
        self.accepted: dict[tuple[str, str], str] = {}

    def __repr__(self) -> str:
        return f"FuzzTarget({len(self.accepted)} messages accepted)"

    @property
    def engine(self) -> Engine:
        return self.pipe.engine


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'threadline.db'}")
    migrate.upgrade(engine)
    with FakeSlack() as fake:
        pipe = Pipeline(engine, fake)
        try:
            cid, card = pipe.posted_card("seed-1", "Where is my parcel?")
            pipe.slack.block_action(
                "conversation.draft",
                str(cid),
                user_id="U1",
                channel_id=card["channel"],
                message_ts=card["ts"],
            )
            wait_until(lambda: _draft_id(engine), 10, "the seed draft")
            yield FuzzTarget(pipe, fake, card["channel"])
        finally:
            pipe.stop()
            engine.dispose()


def _draft_id(engine: Engine) -> int | None:
    with session_scope(engine) as session:
        draft = session.exec(select(Draft)).first()
        return draft.id if draft and draft.slack_ts else None


def stored_text(engine: Engine, source: str, message_id: str) -> str | None:
    with session_scope(engine) as session:
        return session.exec(
            select(Message.text).where(Message.source == source, Message.external_id == message_id)
        ).first()


# ------------------------------------------------------------------ webhook
@settings(FUZZ, max_examples=150)
@given(body=webhook_bodies())
def test_webhook_answers_2xx_or_4xx_and_stores_exactly_what_it_accepts(
    target: FuzzTarget, body: tuple[bytes, dict[str, Any] | None]
) -> None:
    check_webhook_body(target, body)


def check_webhook_body(target: FuzzTarget, body: tuple[bytes, dict[str, Any] | None]) -> None:
    raw, payload = body
    resp = target.pipe.webhook.post_raw(raw)
    assert resp.status in (200, 202, 400, 413), (resp.status, resp.body[:300])
    if payload is None or not isinstance(payload.get("message_id"), str):
        assert resp.status >= 400
        return
    source = payload.get("source", "webhook")
    source = source if isinstance(source, str) else "webhook"
    stored = stored_text(target.engine, source, payload["message_id"])
    if resp.status == 202:
        assert stored == payload["text"]  # byte for byte, whatever the script or control chars
        target.accepted[(source, payload["message_id"])] = payload["text"]
    else:
        error = resp.json()
        assert error["error"] and resp.status != 200
        assert stored is None


def test_posts_made_from_fuzzed_messages_keep_customer_text_inert(target: FuzzTarget) -> None:
    """Runs after the webhook fuzz in this module (and on its own, with a seeded batch)."""
    fuzzed = len(target.accepted)
    for i, text in enumerate([*INJECTIONS, "".join(INJECTIONS)]):
        resp = target.pipe.webhook.post(
            {"message_id": f"inert-{i}", "author": {"id": f"i-{i}", "name": text}, "text": text}
        )
        assert resp.status == 202, resp.body
        target.accepted[("webhook", f"inert-{i}")] = text
    target.pipe.drain(timeout=120)
    allowed = (SAFE_URL, "https://fake.slack.com/", target.fake.url)
    # Our own markup: the staff member who drafted, and our team channels.
    ours = frozenset({"@U1", *(f"#{cid}" for cid in target.pipe.channel_ids.values())})
    problems = {}
    for post in target.fake.all_posts():
        for text in mrkdwn_strings(post):
            found = unsafe_markup(text, allowed, ours)
            if found:
                problems[post["ts"]] = (found[:5], text[:300])
    assert problems == {}
    assert len(target.fake.all_posts()) >= len(INJECTIONS)
    assert fuzzed in (0, *range(40, 200)), fuzzed  # alone, or after a fuzz that stored plenty
    for (source, message_id), text in target.accepted.items():
        assert stored_text(target.engine, source, message_id) == text


# ------------------------------------------------------------------ Slack payloads
def db_state(engine: Engine) -> tuple[Any, ...]:
    with session_scope(engine) as session:
        counts = tuple(
            session.exec(select(func.count()).select_from(model)).one()
            for model in (
                Message,
                Conversation,
                Customer,
                Draft,
                OutboxItem,
                AuditEvent,
                Staff,
                Tag,
                ConversationTag,
                Outcome,
            )
        )
        convs = tuple(
            (c.id, c.status, c.assignee_slack_id, c.drafting_by, c.resolved_at)
            for c in session.exec(select(Conversation)).all()
        )
        drafts = tuple((d.id, d.status, d.text) for d in session.exec(select(Draft)).all())
    return counts, convs, drafts


def send_block_action(case: dict[str, Any]) -> int:
    kwargs = {k: v for k, v in case.items() if k not in ("kind", "driver", "action_id")}
    return case["driver"].block_action(case["action_id"], **kwargs).status


@FUZZ
@given(data=st.data())
def test_garbage_block_actions_get_no_5xx_and_change_nothing(
    target: FuzzTarget, data: st.DataObject
) -> None:
    case = data.draw(block_actions(target))
    before = db_state(target.engine)
    assert send_block_action(case) < 500
    assert db_state(target.engine) == before


@FUZZ
@given(data=st.data())
def test_mangled_interactive_payloads_get_no_5xx_and_change_nothing(
    target: FuzzTarget, data: st.DataObject
) -> None:
    """Well-formed JSON objects shaped like Slack's, with keys dropped or retyped."""
    kind = data.draw(st.sampled_from(["block_actions", "view_submission", "shortcut", "junk"]))
    payload: dict[str, Any] = {
        "type": kind,
        "user": {"id": "U1", "username": "ana", "team_id": "T0001"},
        "team": {"id": "T0001", "domain": "threadline"},
        "api_app_id": "A0APP",
        "trigger_id": "1.2.3",
        "actions": [{"action_id": data.draw(st.sampled_from(KNOWN_ACTIONS)), "value": "x"}],
        "view": {
            "callback_id": data.draw(st.sampled_from(["draft.edit_submit", "outcome.submit"])),
            "private_metadata": data.draw(st.text(max_size=30)),
            "state": {"values": {}},
        },
        "response_url": target.fake.issue_response_url(target.channel),
    }
    # `user` and `team` of the wrong type break bolt before our code runs: see
    # test_payloads_bolt_cannot_parse_get_a_4xx below.
    retypable = sorted(set(payload) - {"user", "team"})
    for key in data.draw(st.lists(st.sampled_from(retypable), max_size=3, unique=True)):
        payload[key] = data.draw(
            st.one_of(st.none(), st.integers(), st.text(max_size=10), st.just([]), st.just({}))
        )
    before = db_state(target.engine)
    assert target.pipe.slack.interactive(payload).status < 500
    assert db_state(target.engine) == before


@FUZZ
@given(
    callback_id=st.one_of(st.sampled_from(["draft.edit_submit", "outcome.submit"]), st.text()),
    metadata=st.one_of(
        st.text(max_size=40),
        garbage_values.map(lambda v: json.dumps({"draft_id": v, "conversation_id": v})),
    ),
    text=st.text(max_size=50),
    outcome=st.sampled_from(["sale", "resolved", "refund", "bogus"]),
    amount=st.text(max_size=12),
)
def test_garbage_view_submissions_get_no_5xx_and_change_nothing(
    target: FuzzTarget, callback_id: str, metadata: str, text: str, outcome: str, amount: str
) -> None:
    values = {
        "draft_text": {"text": plain_text(text)},
        "outcome": {"value": static_select(outcome)},
        "amount": {"value": plain_text(amount)},
    }
    before = db_state(target.engine)
    resp = target.pipe.slack.view_submission(
        callback_id, values, private_metadata=metadata, view={"id": "VFUZZ", "blocks": []}
    )
    assert resp.status < 500, resp.body[:300]
    assert db_state(target.engine) == before


SAFE_WORDS = ["help", "lookup", "open", "mine", "find", "stats", "forget", "role", "nonsense"]


@FUZZ
@given(
    word=st.one_of(st.sampled_from(SAFE_WORDS), st.text(max_size=10)),
    rest=st.one_of(st.text(max_size=60), st.just("x" * 5000), st.sampled_from(INJECTIONS)),
    user=st.sampled_from(["U1", "UNOBODY"]),
)
def test_garbage_slash_commands_get_no_5xx_and_change_nothing(
    target: FuzzTarget, word: str, rest: str, user: str
) -> None:
    text = f"{word} {rest}"
    first = (text.split() or [""])[0].lower()
    if first in ("link", "tag"):  # these may legitimately change data for an agent
        text = "nonsense " + text
    before = db_state(target.engine)
    resp = target.pipe.slack.slash_command("/crm", text, user_id=user)
    assert resp.status < 500, resp.body[:300]
    assert db_state(target.engine) == before


@FUZZ
@given(
    event_type=st.sampled_from(["message", "reaction_added", "app_mention", "member_joined"]),
    text=st.text(max_size=80),
    thread_ts=st.one_of(st.none(), st.text(max_size=20), st.just("1700000000.000001")),
    reaction=st.sampled_from(["eyes", "white_check_mark", "tada", ""]),
)
def test_garbage_events_get_no_5xx_and_change_nothing(
    target: FuzzTarget, event_type: str, text: str, thread_ts: str | None, reaction: str
) -> None:
    event: dict[str, Any] = {
        "type": event_type,
        "user": "U1",
        "text": text,
        "ts": "1700000001.000001",
        "channel": target.channel,
        "reaction": reaction,
        "item": {"type": "message", "channel": target.channel, "ts": "1700000002.000002"},
    }
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
    before = db_state(target.engine)
    assert target.pipe.slack.event(event).status < 500
    assert db_state(target.engine) == before


@pytest.mark.parametrize(
    "body",
    [
        "payload=%7Bbroken",
        "payload=%5B1%5D",
        urlencode({"payload": json.dumps({"type": "block_actions", "team": 1})}),
        urlencode({"payload": json.dumps({"type": "block_actions", "user": 1})}),
    ],
    ids=["broken-json", "json-list", "team-not-object", "user-not-object"],
)
def test_payloads_bolt_cannot_parse_get_a_4xx(target: FuzzTarget, body: str) -> None:
    before = db_state(target.engine)
    resp = target.pipe.slack.send(body, "application/x-www-form-urlencoded")
    assert 400 <= resp.status < 500, resp.status
    assert db_state(target.engine) == before


# ------------------------------------------------------------------ PostgreSQL
@pytest.fixture(scope="module")
def pg_target() -> Iterator[FuzzTarget]:
    with postgres_database("threadline_fuzz") as url:
        if url is None:
            pytest.skip("no PostgreSQL server on 127.0.0.1:5432 (set TEST_DATABASE_URL)")
        engine = make_engine(url)
        migrate.upgrade(engine)
        with FakeSlack() as fake:
            pipe = Pipeline(engine, fake)
            try:
                yield FuzzTarget(pipe, fake, pipe.channel_ids["support"])
            finally:
                pipe.stop()
                engine.dispose()


@settings(FUZZ, max_examples=60)
@given(body=webhook_bodies())
def test_webhook_fuzz_on_postgresql(
    pg_target: FuzzTarget, body: tuple[bytes, dict[str, Any] | None]
) -> None:
    check_webhook_body(pg_target, body)


@pytest.mark.parametrize("field", ["text", "author.name"])
def test_a_nul_character_on_postgresql_gets_a_4xx_not_a_500(
    pg_target: FuzzTarget, field: str
) -> None:
    payload: dict[str, Any] = {"message_id": f"nul-{field}", "author": {"id": "a-1"}, "text": "hi"}
    if field == "text":
        payload["text"] = "before\x00after"
    else:
        payload["author"]["name"] = "An\x00a"
    resp = pg_target.pipe.webhook.post(payload)
    assert 400 <= resp.status < 500, resp.status
    assert stored_text(pg_target.engine, "webhook", payload["message_id"]) is None
