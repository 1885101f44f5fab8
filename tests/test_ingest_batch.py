"""`Intake.accept_many` / `handlers.ingest.ingest_batch`: several messages in one transaction,
with exactly the outcome of accepting them one at a time (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from bot.intake import Intake
from bot.sources.base import Checkpoint
from bot.sources.cursors import CursorStore
from handlers.classify import Classification
from handlers.classify_offline import OfflineClassifier
from handlers.inbound import Author, InboundMessage
from storage import migrate
from storage.db import make_engine, session_scope
from storage.models import (
    AuditEvent,
    Conversation,
    ConversationStatus,
    Customer,
    Identity,
    Message,
    OutboxItem,
)
from tests.pipeline import team_config

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TEXTS = (
    "Where is my order?",
    "The app is broken and crashes, terrible!",  # complaint: tag + notice
    "How much does Pro cost? I want to buy",
    "FREE followers!!! crypto forex signals, earn $500/day, click here http://x.example",
    "Dobrý den, aplikace nefunguje",
)
# Columns that hold the wall clock of the run, which two runs cannot share.
CLOCK = {"created_at", "updated_at", "received_at", "next_attempt_at", "at", "added_at"}
TABLES = (
    "customer",
    "customer_email",
    "identity",
    "conversation",
    "message",
    "tag",
    "conversation_tag",
    "outbox_item",
    "audit_event",
)


def msg(ext: str, text: str = "Where is my order?", **kw: Any) -> InboundMessage:
    author = Author(external_id=kw.pop("author_id", "u-1"), email=kw.pop("email", None))
    return InboundMessage(
        source=kw.pop("source", "webhook"),
        external_id=ext,
        thread_id=kw.pop("thread_id", ext),
        author=author,
        text=text,
        created_at=kw.pop("created_at", T0),
        **kw,
    )


def mixed_stream(seed: int, n: int) -> list[InboundMessage]:
    """Follow-ups by thread and by parent, bursts inside the grouping window, re-deliveries,
    emails that link and merge customers, changing profiles, reply facts, spam."""
    rng = random.Random(seed)
    at, out = T0, []
    for i in range(n):
        at += timedelta(seconds=rng.choice((1, 30, 100, 1000)) + rng.random())
        earlier = out[rng.randrange(len(out))] if out else None
        redelivery = earlier is not None and rng.random() < 0.1
        ext = earlier.external_id if redelivery and earlier else f"m{i}"
        author = Author(
            external_id=f"u{rng.randrange(8)}",
            handle=rng.choice((None, "@a", "@b")),
            followers=rng.choice((None, 3, 50_000)),
            email=rng.choice((None, None, "a@x.io", "b@x.io")),
        )
        out.append(
            InboundMessage(
                source=rng.choice(("webhook", "discord")),
                external_id=ext,
                thread_id=ext if rng.random() < 0.5 else f"t{rng.randrange(i // 3 + 1)}",
                parent_id=earlier.external_id if earlier and rng.random() < 0.2 else None,
                author=author,
                text=rng.choice(TEXTS),
                created_at=at,
                reply_meta=rng.choice(({}, {"visibility": "public"}, {"ref": f"r{i}"})),
                is_direct=rng.random() < 0.1,
            )
        )
    return out


def dump(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    with engine.connect() as conn:
        return {
            table: [
                {k: v for k, v in row.items() if k not in CLOCK}
                for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2")).mappings()
            ]
            for table in TABLES
        }


def resolve_every_third(engine: Engine) -> None:
    """Staff closing conversations between deliveries, so later messages reopen them."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE conversation SET status = 'resolved', slack_channel = 'C1' WHERE id % 3 = 0"
            )
        )


@pytest.fixture
def intake(engine: Engine) -> Intake:
    return Intake(engine, team_config(), OfflineClassifier())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_batch_stores_exactly_what_one_at_a_time_stores(seed: int, tmp_path: Path) -> None:
    stream = mixed_stream(seed, 90)
    dumps = []
    for name, sizes in (("one", [1]), ("many", [1, 5, 17, 40])):
        engine = make_engine(f"sqlite:///{tmp_path / name}.db")
        migrate.upgrade(engine)
        intake = Intake(engine, team_config(), OfflineClassifier())
        rng, start, rounds = random.Random(seed), 0, 0
        while start < len(stream):
            # Both runs resolve at the same message positions (every 15th message).
            size = min(rng.choice(sizes), 15 - start % 15)
            intake.accept_many(stream[start : start + size])
            start += size
            if start % 15 == 0:
                resolve_every_third(engine)
                rounds += 1
        dumps.append(dump(engine))
        engine.dispose()
    one, many = dumps
    assert rounds == 6
    assert len(one["message"]) > 60 and any(
        r["action"] == "customer.merged" for r in one["audit_event"]
    )
    for table in TABLES:
        assert many[table] == one[table], table


def test_a_repeat_inside_one_batch_is_a_duplicate_with_the_first_ids(
    intake: Intake, engine: Engine
) -> None:
    first, repeat, other = intake.accept_many([msg("m-1"), msg("m-1", "changed"), msg("m-2")])
    assert (first.duplicate, repeat.duplicate, other.duplicate) == (False, True, False)
    assert (repeat.conversation_id, repeat.message_id) == (first.conversation_id, first.message_id)
    again = intake.accept_many([msg("m-2"), msg("m-1")])
    assert [r.duplicate for r in again] == [True, True]
    assert again[1].message_id == first.message_id
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(Message)).one() == 2


def test_follow_ups_in_the_same_batch_join_the_conversation_opened_before_them(
    intake: Intake, engine: Engine
) -> None:
    results = intake.accept_many(
        [
            msg("p-1", thread_id="A", reply_meta={"ref": "1"}),
            msg("p-2", thread_id="A", author_id="u-2", created_at=T0 + timedelta(hours=1)),
            msg("p-3", thread_id="B", parent_id="p-2", author_id="u-3", reply_meta={"ref": "3"}),
            msg("p-4", thread_id="B", author_id="u-4", created_at=T0 + timedelta(hours=2)),
        ]
    )
    assert len({r.conversation_id for r in results}) == 1
    assert [r.new_conversation for r in results] == [True, False, False, False]
    with session_scope(engine) as session:
        conv = session.get(Conversation, results[0].conversation_id)
        assert conv is not None
        assert conv.last_message_at == T0 + timedelta(hours=2)
        # p-3 is older than the newest message: its reply facts do not win.
        assert conv.source_meta == {"ref": "1"}
        kinds = sorted(i.kind for i in session.exec(select(OutboxItem)).all())
    assert kinds == ["slack_card", "slack_reply", "slack_reply", "slack_reply"]


def test_an_email_later_in_the_batch_merges_the_customers(intake: Intake, engine: Engine) -> None:
    intake.accept_many(
        [
            msg("d-1", source="discord", author_id="111", email="ana@example.com"),
            msg("m-1", source="mastodon", author_id="ana@social"),
            msg("m-2", source="mastodon", author_id="ana@social", email="Ana@Example.com"),
            msg("m-3", source="mastodon", author_id="bo@social", email="ana@example.com"),
        ]
    )
    with session_scope(engine) as session:
        live = session.exec(select(Customer).where(Customer.merged_into_id == None)).all()  # noqa: E711
        assert len(live) == 1
        assert {i.customer_id for i in session.exec(select(Identity)).all()} == {live[0].id}
        assert {c.customer_id for c in session.exec(select(Conversation)).all()} == {live[0].id}
        merged = session.exec(select(AuditEvent).where(AuditEvent.action == "customer.merged"))
        assert len(merged.all()) == 1


def test_the_checkpoint_is_saved_with_the_batch_even_when_all_are_repeats(
    intake: Intake, engine: Engine
) -> None:
    cursors = CursorStore(engine)
    intake.accept_many([msg("c-1"), msg("c-2")], Checkpoint("webhook", "acct", "c-2"))
    assert cursors.load("webhook", "acct") == "c-2"
    results = intake.accept_many([msg("c-2")], Checkpoint("webhook", "acct", "c-3"))
    assert results[0].duplicate
    assert cursors.load("webhook", "acct") == "c-3"


class FailingClassifier(OfflineClassifier):
    def classify(self, text: str, language_hint: str | None = None) -> Classification:
        if "boom" in text:
            raise RuntimeError("classifier down")
        return super().classify(text, language_hint)


def test_a_failure_anywhere_in_the_batch_stores_none_of_it(engine: Engine) -> None:
    intake = Intake(engine, team_config(), FailingClassifier())
    with pytest.raises(RuntimeError, match="classifier down"):
        intake.accept_many([msg("f-1"), msg("f-2", "boom"), msg("f-3")])
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(Message)).one() == 0
    assert not intake.accept_many([msg("f-1"), msg("f-3")])[0].duplicate


def test_concurrent_overlapping_batches_store_each_message_once(
    intake: Intake, engine: Engine
) -> None:
    batch = [msg(f"r-{i}", thread_id=f"t-{i % 4}", author_id=f"u-{i}") for i in range(12)]
    results: list[list[Any]] = []
    barrier = threading.Barrier(4)

    def deliver(offset: int) -> None:
        barrier.wait()
        results.append(intake.accept_many(batch[offset:] + batch[:offset]))

    threads = [threading.Thread(target=deliver, args=(k * 3,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 4
    fresh = [r for rs in results for r in rs if not r.duplicate]
    assert len(fresh) == 12
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(Message)).one() == 12
        assert session.exec(select(func.count()).select_from(Conversation)).one() == 4
        statuses = set(session.exec(select(Conversation.status)).all())
    assert statuses == {ConversationStatus.OPEN}
