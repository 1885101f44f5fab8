"""The less-travelled paths of working a conversation: failed delivery and Retry, regenerate
and discard, take-over, a slow drafter, expected refusals and unexpected errors."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from handlers.drafting import DraftContext, DraftText, TemplateDrafter
from storage.db import session_scope
from storage.models import AuditEvent, Conversation, Draft, DraftStatus, Tag
from tests.fakes.callback import FakeCallback
from tests.fakes.slack import FakeSlack
from tests.pipeline import Pipeline, team_config
from tests.polling import wait_for
from tests.test_conversation_flow import blocks_text


@pytest.fixture
def callback() -> Iterator[FakeCallback]:
    with FakeCallback() as server:
        yield server


def drafts(pipe: Pipeline) -> list[Draft]:
    with session_scope(pipe.engine) as session:
        return list(session.exec(select(Draft).order_by(Draft.id)).all())  # type: ignore[arg-type]


def start_draft(pipe: Pipeline, cid: int, channel: str, user: str = "U1") -> Draft:
    pipe.slack.block_action("conversation.draft", str(cid), user_id=user, channel_id=channel)
    return wait_for(lambda: next((d for d in drafts(pipe) if d.slack_ts), None))


def test_a_failed_delivery_shows_the_error_and_retry_sends_it(
    sqlite_pipeline: Pipeline, callback: FakeCallback
) -> None:
    pipe = sqlite_pipeline
    cid, card = pipe.posted_card("f-1", "Where is my order?", reply_url=callback.url)
    draft = start_draft(pipe, cid, card["channel"])
    callback.fail(410, times=1)  # the integrator's endpoint says: gone
    pipe.slack.block_action("draft.send", str(draft.id), user_id="U1", channel_id=card["channel"])
    pipe.drain_replies()
    shown = blocks_text(pipe.fake.message(card["channel"], draft.slack_ts or ""))
    assert "Delivery failed" in shown and "410" in shown
    assert "delivery.retry" in shown
    assert drafts(pipe)[0].status == DraftStatus.FAILED
    pipe.slack.block_action(
        "delivery.retry", str(draft.id), user_id="U1", channel_id=card["channel"]
    )
    pipe.drain_replies()
    assert drafts(pipe)[0].status == DraftStatus.SENT
    assert "Sent by <@U1>" in blocks_text(pipe.fake.message(card["channel"], draft.slack_ts or ""))
    assert sum(r.signature_valid for r in callback.requests) == 2  # refused once, then accepted


def test_regenerate_replaces_and_discard_clears_the_mark(sqlite_pipeline: Pipeline) -> None:
    pipe = sqlite_pipeline
    cid, card = pipe.posted_card("g-1", "How do I reset my password?")
    first = start_draft(pipe, cid, card["channel"])
    pipe.slack.block_action(
        "draft.regenerate", str(first.id), user_id="U1", channel_id=card["channel"]
    )
    wait_for(lambda: len([d for d in drafts(pipe) if d.slack_ts]) == 2)
    old, new = drafts(pipe)
    assert (old.status, new.status) == (DraftStatus.SUPERSEDED, DraftStatus.PROPOSED)
    assert "Replaced" in blocks_text(pipe.fake.message(card["channel"], old.slack_ts or ""))
    pipe.slack.block_action("draft.discard", str(new.id), user_id="U1", channel_id=card["channel"])
    assert drafts(pipe)[1].status == DraftStatus.DISCARDED
    with session_scope(pipe.engine) as session:
        assert session.get(Conversation, cid).drafting_by is None  # type: ignore[union-attr]


def test_take_over_unclaim_and_reassign_are_logged(sqlite_pipeline: Pipeline) -> None:
    pipe = sqlite_pipeline
    cid, card = pipe.posted_card("t-1", "Where is my order?")
    ch = card["channel"]
    pipe.slack.block_action("conversation.claim", str(cid), user_id="UALICE", channel_id=ch)
    pipe.slack.block_action("conversation.takeover", str(cid), user_id="UBOB", channel_id=ch)
    pipe.slack.block_action(
        "conversation.reassign",
        user_id="UBOB",
        channel_id=ch,
        block_id=f"conversation:{cid}",
        action_type="users_select",
        selected_user="UCAROL",
    )
    with session_scope(pipe.engine) as session:
        assert session.get(Conversation, cid).assignee_slack_id == "UCAROL"  # type: ignore[union-attr]
    pipe.slack.block_action("conversation.unclaim", str(cid), user_id="UCAROL", channel_id=ch)
    with session_scope(pipe.engine) as session:
        events = [
            (e.action, e.detail.get("previous"))
            for e in session.exec(select(AuditEvent).where(AuditEvent.conversation_id == cid)).all()
        ]
    assert ("conversation.taken_over", "UALICE") in events
    assert ("conversation.reassigned", "UBOB") in events
    assert ("conversation.unclaimed", "UCAROL") in events
    assert "Unassigned" in blocks_text(pipe.fake.message(ch, card["ts"]))


class SlowDrafter:
    """A drafter that takes longer than Slack's 3-second window (an LLM on a bad day)."""

    def draft(self, context: DraftContext) -> DraftText:
        time.sleep(3.5)
        return TemplateDrafter().draft(context)


def test_draft_click_is_acked_at_once_even_when_the_drafter_is_slow(
    sqlite_engine: Engine, fake_slack: FakeSlack
) -> None:
    pipe = Pipeline(sqlite_engine, fake_slack, drafter=SlowDrafter())
    try:
        cid, card = pipe.posted_card("s-1", "Do you ship to Brno?")
        answer = pipe.slack.block_action(
            "conversation.draft", str(cid), user_id="U1", channel_id=card["channel"]
        )
        assert answer.status == 200
        assert answer.elapsed < 1.0
        wait_for(lambda: any(d.slack_ts for d in drafts(pipe)), seconds=10)
    finally:
        pipe.stop()


def test_expected_refusals_are_said_plainly(sqlite_pipeline: Pipeline) -> None:
    sqlite_pipeline.slack.block_action(
        "conversation.claim", "999999", user_id="U1", channel_id="C1"
    )
    assert any(
        "Conversation 999999 no longer exists" in json.dumps(r)
        for r in sqlite_pipeline.fake.responses
    )


def test_unexpected_errors_give_an_id_that_is_in_the_log(
    sqlite_pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    sqlite_pipeline.slack.block_action(
        "conversation.claim", "not-a-number", user_id="U1", channel_id="C1"
    )
    reply = json.dumps([r for r in sqlite_pipeline.fake.responses])
    assert "Something went wrong (error " in reply
    found = re.search(r"\(error `?([0-9a-f]{8})`?\)", reply)
    assert found is not None, reply[:300]
    error_id = found.group(1)
    messages = [record.getMessage() for record in caplog.records]
    assert any(error_id in m for m in messages), (error_id, messages, reply[:300])


@pytest.mark.parametrize("allowed", [True, False])
def test_crm_tag_creates_a_tag_only_when_config_allows(
    sqlite_engine: Engine, fake_slack: FakeSlack, allowed: bool
) -> None:
    team = team_config(tags={"allowed": ["bug"], "allow_create": allowed})
    pipe = Pipeline(sqlite_engine, fake_slack, team)
    try:
        answer = pipe.slack.slash_command("/crm", "tag Warranty <!here>", user_id="U1")
    finally:
        pipe.stop()
    text = answer.json()["text"]
    with session_scope(sqlite_engine) as session:
        names = session.exec(select(Tag.name)).all()
    if allowed:
        assert names == ["warranty <!here>"]
        assert "&lt;!here&gt;" in text and "<!here>" not in text
    else:
        assert names == []
        assert "allow_create" in text
