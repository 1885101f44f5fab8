"""Working a conversation in Slack, driven by signed Slack payloads against the running app,
FakeSlack, and a customer's callback endpoint that checks our signature itself."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import select

from handlers.conversation_actions import tag_names
from storage.db import session_scope
from storage.models import (
    AuditEvent,
    Conversation,
    ConversationStatus,
    Customer,
    Direction,
    Draft,
    Message,
    Outcome,
)
from tests.fakes.callback import FakeCallback
from tests.fakes.slack_view_state import plain_text, static_select
from tests.pipeline import Pipeline
from tests.polling import wait_for

COMPLAINT = "Dobrý den, po aktualizaci se aplikace nespustí a ztratil jsem data. Pomozte prosím."


@pytest.fixture
def callback() -> Iterator[FakeCallback]:
    with FakeCallback() as server:
        yield server


def blocks_text(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks", []), ensure_ascii=False)


def conversation(pipe: Pipeline, cid: int) -> Conversation:
    with session_scope(pipe.engine) as session:
        conv = session.get(Conversation, cid)
        assert conv is not None
        return conv


def test_full_loop_from_webhook_to_outcome(pipeline: Pipeline, callback: FakeCallback) -> None:
    pipe, slack = pipeline, pipeline.slack
    cid, card = pipe.posted_card("m-1", COMPLAINT, author="jiri", reply_url=callback.url)
    channel = card["channel"]

    # Claim: the card shows the assignee.
    assert (
        slack.block_action(
            "conversation.claim", str(cid), user_id="U1", channel_id=channel, message_ts=card["ts"]
        ).status
        == 200
    )
    assert conversation(pipe, cid).assignee_slack_id == "U1"
    assert "<@U1>" in blocks_text(pipe.fake.message(channel, card["ts"]))

    # Tag it.
    slack.block_action(
        "conversation.tags",
        user_id="U1",
        channel_id=channel,
        message_ts=card["ts"],
        block_id=f"conversation:{cid}",
        action_type="multi_static_select",
        selected_options=["bug", "vip"],
    )
    assert "vip" in blocks_text(pipe.fake.message(channel, card["ts"]))

    # Draft: acked at once, produced after, posted in the thread in the customer's language.
    _, draft_post = pipe.request_draft(cid, channel, card["ts"])
    with session_scope(pipe.engine) as session:
        draft = session.exec(select(Draft)).one()
    assert draft.language == "cs"

    # Edit through the modal.
    slack.block_action(
        "draft.edit", str(draft.id), user_id="U1", channel_id=channel, message_ts=draft_post["ts"]
    )
    view = pipe.fake.views_opened[-1]
    edited = "Dobrý den, omlouváme se. Oprava vyjde dnes večer; data jsou v bezpečí. 🙏"
    assert (
        slack.view_submission(
            "draft.edit_submit",
            {"draft_text": {"text": plain_text(edited)}},
            user_id="U1",
            view_id=view["id"],
        ).status
        == 200
    )

    # Send: delivered to the customer's endpoint, signed; twice-clicked, sent once.
    for _ in range(2):
        slack.block_action(
            "draft.send",
            str(draft.id),
            user_id="U1",
            channel_id=channel,
            message_ts=draft_post["ts"],
        )
    pipe.drain_replies()
    assert len(callback.requests) == 1
    delivered = callback.requests[0]
    assert delivered.signature_valid
    assert delivered.json["text"] == edited
    assert "Sent by <@U1>" in blocks_text(pipe.fake.message(channel, draft_post["ts"]))
    conv = conversation(pipe, cid)
    assert conv.status == ConversationStatus.REPLIED and conv.first_response_at is not None

    # Log the outcome: sale, 120 EUR, customer.
    slack.block_action(
        "conversation.outcome", str(cid), user_id="U1", channel_id=channel, message_ts=card["ts"]
    )
    view = pipe.fake.views_opened[-1]
    values = {
        "outcome": {"value": static_select("sale")},
        "amount": {"value": plain_text("120")},
        "currency": {"value": static_select("EUR")},
        "stage": {"value": static_select("customer")},
        "note": {"value": plain_text("Upgraded to Pro")},
    }
    assert (
        slack.view_submission("outcome.submit", values, user_id="U1", view_id=view["id"]).status
        == 200
    )
    with session_scope(pipe.engine) as session:
        outcome = session.exec(select(Outcome)).one()
        customer = session.get(Customer, conversation(pipe, cid).customer_id)
        outbound = session.exec(select(Message).where(Message.direction == Direction.OUT)).all()
        actions = [a.action for a in session.exec(select(AuditEvent)).all()]
    assert (outcome.kind, outcome.value, outcome.currency) == ("sale", Decimal("120.00"), "EUR")
    assert customer is not None and customer.lifecycle_stage == "customer"
    assert customer.lifetime_value == Decimal("120.00")
    assert len(outbound) == 1 and outbound[0].text == edited
    assert conversation(pipe, cid).status == ConversationStatus.RESOLVED
    final_card = blocks_text(pipe.fake.message(channel, card["ts"]))
    assert "Sale" in final_card and "120.00 EUR" in final_card
    for expected in (
        "conversation.claimed",
        "conversation.tagged",
        "draft.created",
        "draft.edited",
        "draft.approved",
        "reply.delivered",
        "conversation.outcome_logged",
    ):
        assert expected in actions


def test_twenty_concurrent_claims_have_one_winner(pipeline: Pipeline) -> None:
    cid, card = pipeline.posted_card("m-2", "Where is my parcel?")
    channel = card["channel"]
    answers: list[int] = []
    barrier = threading.Barrier(20)

    def click(user: str) -> None:
        barrier.wait()
        answers.append(
            pipeline.slack.block_action(
                "conversation.claim",
                str(cid),
                user_id=user,
                channel_id=channel,
                message_ts=card["ts"],
            ).status
        )

    threads = [threading.Thread(target=click, args=(f"U{i:03d}",)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [200] * 20
    winner = conversation(pipeline, cid).assignee_slack_id
    assert winner is not None
    refusals = [r for r in pipeline.fake.responses if "Already claimed" in json.dumps(r)]
    assert len(refusals) == 19
    with session_scope(pipeline.engine) as session:
        claims = session.exec(select(AuditEvent).where(AuditEvent.action == "conversation.claimed"))
        assert len(claims.all()) == 1


def test_only_the_assignee_may_send_and_unclaimed_sending_claims(
    pipeline: Pipeline, callback: FakeCallback
) -> None:
    cid, card = pipeline.posted_card("m-3", "How do I export invoices?", reply_url=callback.url)
    channel = card["channel"]
    pipeline.slack.block_action(
        "conversation.claim", str(cid), user_id="UALICE", channel_id=channel
    )
    pipeline.slack.block_action(
        "conversation.draft", str(cid), user_id="UALICE", channel_id=channel
    )
    draft_id = wait_for(lambda: _draft_id(pipeline))
    pipeline.slack.block_action(
        "draft.send_anyway", str(draft_id), user_id="UBOB", channel_id=channel
    )
    assert any("UALICE" in json.dumps(r) for r in pipeline.fake.responses)
    pipeline.drain_replies()
    assert callback.requests == []


def _draft_id(pipe: Pipeline) -> int | None:
    with session_scope(pipe.engine) as session:
        draft = session.exec(select(Draft)).first()
        return draft.id if draft and draft.slack_ts else None


def test_collision_warning_while_someone_drafts(pipeline: Pipeline, callback: FakeCallback) -> None:
    cid, card = pipeline.posted_card("m-4", "Hi, my order arrived broken.", reply_url=callback.url)
    channel = card["channel"]
    pipeline.slack.block_action(
        "conversation.draft", str(cid), user_id="UALICE", channel_id=channel
    )
    draft_id = wait_for(lambda: _draft_id(pipeline))
    assert "UALICE" in blocks_text(pipeline.fake.message(channel, card["ts"]))  # ✍️ mark
    pipeline.slack.block_action("conversation.draft", str(cid), user_id="UBOB", channel_id=channel)
    warning = wait_for(lambda: [r for r in pipeline.fake.responses if "drafting" in json.dumps(r)])
    assert "UALICE" in json.dumps(warning[0])
    pipeline.slack.block_action("draft.send", str(draft_id), user_id="UALICE", channel_id=channel)
    pipeline.drain_replies()
    assert conversation(pipeline, cid).drafting_by is None
    assert len(callback.requests) == 1


def test_staff_replies_in_the_thread_are_notes_never_sent(
    pipeline: Pipeline, callback: FakeCallback
) -> None:
    _cid, card = pipeline.posted_card("m-5", "Where is my refund?", reply_url=callback.url)
    channel = card["channel"]
    event = {
        "type": "message",
        "channel": channel,
        "user": "U7",
        "text": "Checking with billing",
        "ts": "1795000000.000200",
        "thread_ts": card["ts"],
    }
    for retry in (None, 1):  # Slack re-delivers; the note is kept once
        pipeline.slack.event(event, event_id="Ev1", retry_num=retry)
    with session_scope(pipeline.engine) as session:
        notes = session.exec(select(Message).where(Message.direction == Direction.NOTE)).all()
    assert [n.text for n in notes] == ["Checking with billing"]
    pipeline.drain_replies()
    assert callback.requests == []


def test_reactions_claim_and_prompt_for_the_outcome(pipeline: Pipeline) -> None:
    cid, card = pipeline.posted_card("m-6", "Is there a student discount?")
    channel = card["channel"]
    pipeline.fake.add_user("U9", "nina", "Nina Novak")
    item = {"type": "message", "channel": channel, "ts": card["ts"]}
    pipeline.slack.event({"type": "reaction_added", "user": "U9", "reaction": "eyes", "item": item})
    assert conversation(pipeline, cid).assignee_slack_id == "U9"
    pipeline.slack.event(
        {"type": "reaction_added", "user": "U9", "reaction": "white_check_mark", "item": item}
    )
    assert any("conversation.outcome" in json.dumps(e) for e in pipeline.fake.ephemerals)


def test_invalid_outcome_shows_inline_errors(pipeline: Pipeline) -> None:
    cid, card = pipeline.posted_card("m-7", "Thanks!")
    pipeline.slack.block_action(
        "conversation.outcome", str(cid), user_id="U1", channel_id=card["channel"]
    )
    view = pipeline.fake.views_opened[-1]
    answer = pipeline.slack.view_submission(
        "outcome.submit", {"amount": {"value": plain_text("-5")}}, user_id="U1", view_id=view["id"]
    )
    body = answer.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) >= {"outcome", "amount"}
    with session_scope(pipeline.engine) as session:
        assert session.exec(select(Outcome)).all() == []


def test_tag_changes_multi_select(pipeline: Pipeline) -> None:
    cid, card = pipeline.posted_card("m-8", "Billing question about my invoice")
    channel = card["channel"]
    for chosen in (["billing", "vip"], ["billing"]):
        pipeline.slack.block_action(
            "conversation.tags",
            user_id="U1",
            channel_id=channel,
            block_id=f"conversation:{cid}",
            action_type="multi_static_select",
            selected_options=chosen,
        )
    with session_scope(pipeline.engine) as session:
        assert tag_names(session, cid) == ["billing"]
