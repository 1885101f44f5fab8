"""Draft context and the send decision at the handler level, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from bot.intake import Intake
from handlers.classify_offline import OfflineClassifier
from handlers.drafting import TemplateDrafter
from handlers.drafts import approve_send, create_draft, draft_context
from handlers.inbound import Author, InboundMessage
from storage.db import session_scope
from storage.models import Conversation
from tests.pipeline import team_config

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _conversation_with(engine: Engine, thread: str, author: str, count: int) -> int:
    intake = Intake(engine, team_config(), OfflineClassifier())
    result = None
    for i in range(count):
        result = intake.accept(
            InboundMessage(
                source="webhook",
                external_id=f"{thread}-{i}",
                thread_id=thread,
                author=Author(external_id=author),
                text=f"{author} message {i}",
                created_at=T0 + timedelta(minutes=i),
            )
        )
    assert result is not None
    return result.conversation_id


def test_context_is_the_latest_twenty_of_this_conversation_only(engine: Engine) -> None:
    mine = _conversation_with(engine, "t-mine", "ana", 25)
    _conversation_with(engine, "t-other", "bob", 3)
    with session_scope(engine) as session:
        conv = session.get(Conversation, mine)
        assert conv is not None
        history = draft_context(session, conv).history
    assert len(history) == 20
    assert history[0] == ("in", "ana message 5") and history[-1] == ("in", "ana message 24")
    assert not any("bob" in text for _, text in history)


def test_send_needs_the_assignee_and_flips_once(engine: Engine) -> None:
    cid = _conversation_with(engine, "t-send", "cara", 1)
    with session_scope(engine, write=True) as session:
        draft_id = create_draft(session, cid, "UALICE", TemplateDrafter(), T0).id or 0
    with session_scope(engine, write=True) as session:
        first = approve_send(session, draft_id, "UALICE", T0)  # unclaimed: the sender claims
    with session_scope(engine, write=True) as session:
        again = approve_send(session, draft_id, "UALICE", T0)
        other = approve_send(session, draft_id, "UBOB", T0)
    assert first.sent and first.message_id
    assert (again.sent, again.reason) == (False, "duplicate")
    assert (other.sent, other.reason, other.assignee) == (False, "not_assignee", "UALICE")
