"""handlers.ingest against a real database (SQLite and PostgreSQL), one transaction each."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from bot.intake import Intake
from handlers.classify_offline import OfflineClassifier
from handlers.customers import merge_customers
from handlers.inbound import Author, InboundMessage
from storage.db import session_scope
from storage.models import (
    AuditEvent,
    Conversation,
    ConversationStatus,
    Customer,
    CustomerEmail,
    Identity,
    Message,
    OutboxItem,
)
from tests.pipeline import team_config

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def msg(ext: str, text: str = "Where is my order?", **kw: Any) -> InboundMessage:
    author = kw.pop("author", None) or Author(
        external_id=kw.pop("author_id", "u-1"), email=kw.pop("email", None)
    )
    return InboundMessage(
        source=kw.pop("source", "webhook"),
        external_id=ext,
        thread_id=kw.pop("thread_id", ext),
        author=author,
        text=text,
        created_at=kw.pop("created_at", T0),
        **kw,
    )


@pytest.fixture
def intake(engine: Engine) -> Intake:
    return Intake(engine, team_config(), OfflineClassifier())


def count(engine: Engine, model: type) -> int:
    with session_scope(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_redelivery_is_a_no_op_reporting_duplicate(intake: Intake, engine: Engine) -> None:
    first = intake.accept(msg("m-1"))
    again = intake.accept(msg("m-1", "edited text is ignored"))
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.conversation_id == first.conversation_id
    assert again.message_id == first.message_id
    assert count(engine, Message) == 1
    assert count(engine, OutboxItem) == 1


def test_concurrent_deliveries_of_one_message_store_it_once(intake: Intake, engine: Engine) -> None:
    results: list[Any] = []
    barrier = threading.Barrier(6)

    def deliver() -> None:
        barrier.wait()
        results.append(intake.accept(msg("race-1", thread_id="t-race")))

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.duplicate for r in results) == [False] + [True] * 5
    assert count(engine, Message) == 1
    assert count(engine, Conversation) == 1
    assert count(engine, OutboxItem) == 1


def test_same_email_on_two_networks_is_one_customer(intake: Intake, engine: Engine) -> None:
    intake.accept(msg("d-1", source="discord", author_id="111", email="Ana@Example.com"))
    intake.accept(msg("m-1", source="mastodon", author_id="ana@social", email="ana@example.com"))
    with session_scope(engine) as session:
        identities = session.exec(select(Identity)).all()
        assert len(identities) == 2
        assert len({i.customer_id for i in identities}) == 1
        assert session.exec(select(CustomerEmail.email)).all() == ["ana@example.com"]


def test_an_email_arriving_later_merges_two_customers(intake: Intake, engine: Engine) -> None:
    intake.accept(msg("d-1", source="discord", author_id="111", email="ana@example.com"))
    intake.accept(msg("m-1", source="mastodon", author_id="ana@social"))  # unknown yet
    with session_scope(engine, write=True) as session:
        for customer in session.exec(select(Customer)).all():
            customer.lifetime_value = Decimal("10.50")
            session.add(customer)
    intake.accept(msg("m-2", source="mastodon", author_id="ana@social", email="ana@example.com"))
    with session_scope(engine) as session:
        live = session.exec(select(Customer).where(Customer.merged_into_id == None)).all()  # noqa: E711
        assert len(live) == 1
        assert live[0].lifetime_value == Decimal("21.00")
        assert {c.customer_id for c in session.exec(select(Conversation)).all()} == {live[0].id}
        merged = session.exec(select(AuditEvent).where(AuditEvent.action == "customer.merged"))
        assert len(merged.all()) == 1


def test_merge_customers_is_explicit_and_idempotent(intake: Intake, engine: Engine) -> None:
    a = intake.accept(msg("a", author_id="a")).conversation_id
    b = intake.accept(msg("b", author_id="b")).conversation_id
    with session_scope(engine, write=True) as session:
        ca, cb = (session.get(Conversation, i).customer_id for i in (a, b))  # type: ignore[union-attr]
        assert merge_customers(session, keep=ca, merge=cb, actor="U1", now=T0) == ca
        assert merge_customers(session, keep=ca, merge=ca, actor="U1", now=T0) == ca
        with pytest.raises(LookupError):
            merge_customers(session, keep=ca, merge=999_999, actor="U1", now=T0)
    with session_scope(engine) as session:
        assert {c.customer_id for c in session.exec(select(Conversation)).all()} == {ca}


def test_follow_up_by_thread_or_parent_joins_the_conversation(intake: Intake) -> None:
    first = intake.accept(msg("p-1", thread_id="thread-A"))
    same_thread = intake.accept(msg("p-2", thread_id="thread-A", author_id="u-2"))
    by_parent = intake.accept(msg("p-3", thread_id="other", parent_id="p-1", author_id="u-3"))
    assert first.new_conversation
    assert same_thread.conversation_id == by_parent.conversation_id == first.conversation_id
    assert not same_thread.new_conversation


def test_grouping_window_joins_a_burst_but_not_later_messages(intake: Intake) -> None:
    a = intake.accept(msg("g-1", created_at=T0))
    b = intake.accept(msg("g-2", created_at=T0 + timedelta(seconds=90)))
    c = intake.accept(msg("g-3", created_at=T0 + timedelta(minutes=10)))
    other_author = intake.accept(msg("g-4", author_id="u-9", created_at=T0))
    assert a.conversation_id == b.conversation_id
    assert c.conversation_id != a.conversation_id
    assert other_author.conversation_id != a.conversation_id
    # A later reply in the joined message's own thread still finds the conversation.
    d = intake.accept(
        msg("g-5", thread_id="g-2", author_id="u-7", created_at=T0 + timedelta(hours=3))
    )
    assert d.conversation_id == a.conversation_id


def test_a_message_on_a_resolved_conversation_reopens_it(intake: Intake, engine: Engine) -> None:
    first = intake.accept(msg("r-1", thread_id="t-r"))
    with session_scope(engine, write=True) as session:
        conv = session.get(Conversation, first.conversation_id)
        assert conv is not None
        conv.status, conv.resolved_at = ConversationStatus.RESOLVED, T0
        conv.slack_channel, conv.slack_ts = "C1", "1.1"
        session.add(conv)
    again = intake.accept(msg("r-2", thread_id="t-r", created_at=T0 + timedelta(days=2)))
    assert again.reopened
    with session_scope(engine) as session:
        conv = session.get(Conversation, first.conversation_id)
        assert conv is not None and conv.status == ConversationStatus.OPEN
        assert conv.resolved_at is None
        kinds = sorted(i.kind for i in session.exec(select(OutboxItem)).all())
    assert kinds == ["slack_card", "slack_card_update", "slack_reply"]


def test_spam_stays_suppressed_and_its_follow_ups_are_not_posted(
    intake: Intake, engine: Engine
) -> None:
    spam = "FREE followers!!! crypto forex signals, earn $500/day, click here http://x.example"
    first = intake.accept(msg("s-1", spam, thread_id="t-s"))
    later = intake.accept(msg("s-2", "hello?", thread_id="t-s"))
    assert not first.posted and not later.posted
    assert count(engine, OutboxItem) == 0
    assert count(engine, Message) == 2


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"text": "   "}, "text"),
        ({"text": "x" * 100_001}, "text"),
        ({"source": "Has Space"}, "source"),
        ({"external_id": ""}, "external_id"),
        ({"created_at": datetime(2026, 1, 1)}, "created_at"),
        ({"language": "not a language!"}, "language"),
        ({"url": "ftp://x"}, "url"),
    ],
)
def test_inbound_message_validation_names_the_field(changes: dict[str, Any], field: str) -> None:
    base: dict[str, Any] = {
        "source": "webhook",
        "external_id": "m",
        "thread_id": "m",
        "author": {"external_id": "u"},
        "text": "hi",
    }
    with pytest.raises(ValidationError) as info:
        InboundMessage.model_validate({**base, **changes})
    assert info.value.errors()[0]["loc"][0] == field
