"""Storage: migrations build the schema on both backends and agree with the models."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, select

from storage import migrate
from storage.db import DatabaseError, check_connection, make_engine, session_scope
from storage.models import (
    Conversation,
    Customer,
    CustomerEmail,
    DigestRun,
    Direction,
    Identity,
    Message,
    OutboxItem,
)

EXPECTED_TABLES = {
    "customer",
    "customer_email",
    "identity",
    "conversation",
    "message",
    "tag",
    "conversation_tag",
    "outcome",
    "draft",
    "staff",
    "outbox_item",
    "audit_event",
    "digest_run",
    "source_cursor",
}


def test_migrations_create_the_schema_from_empty(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    assert migrate.pending(engine)
    migrate.upgrade(engine)
    tables = set(inspect(engine).get_table_names())
    assert tables >= EXPECTED_TABLES
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert not migrate.pending(engine)
    migrate.upgrade(engine)  # a second run is a no-op, not an error
    engine.dispose()


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
        )
    assert diff == [], f"models differ from migrations; write a migration: {diff}"


def _customer_with_identity(engine: Engine, source: str = "discord", ext: str = "42") -> int:
    with session_scope(engine, write=True) as session:
        customer = Customer(name="Ana Nováková")
        session.add(customer)
        session.flush()
        session.add(Identity(customer_id=customer.id, source=source, external_id=ext))
        return customer.id


def test_identity_is_unique_per_source_and_external_id(engine: Engine) -> None:
    customer_id = _customer_with_identity(engine)
    _customer_with_identity(engine, source="mastodon", ext="42")  # same id, other network: fine
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(Identity(customer_id=customer_id, source="discord", external_id="42"))


def test_conversation_and_message_keys_are_unique_per_source(engine: Engine) -> None:
    customer_id = _customer_with_identity(engine)
    with session_scope(engine) as session:
        conv = Conversation(source="webhook", external_thread_id="t-1", customer_id=customer_id)
        session.add(conv)
        session.flush()
        session.add(
            Message(
                conversation_id=conv.id,
                source="webhook",
                external_id="m-1",
                direction=Direction.IN,
                text="hi",
            )
        )
        conv_id = conv.id
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(
            Conversation(source="webhook", external_thread_id="t-1", customer_id=customer_id)
        )
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(
            Message(
                conversation_id=conv_id,
                source="webhook",
                external_id="m-1",
                direction=Direction.IN,
                text="again",
            )
        )
    # Notes have no external id; any number of them may exist.
    with session_scope(engine) as session:
        for _ in range(2):
            session.add(
                Message(
                    conversation_id=conv_id, source="webhook", direction=Direction.NOTE, text="n"
                )
            )


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(Identity(customer_id=999_999, source="x", external_id="1"))


def test_email_and_digest_run_uniqueness(engine: Engine) -> None:
    customer_id = _customer_with_identity(engine)
    with session_scope(engine) as session:
        session.add(CustomerEmail(customer_id=customer_id, email="ana@example.com"))
        session.add(DigestRun(manager_slack_id="U1", day=datetime(2026, 11, 23).date()))
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(CustomerEmail(customer_id=customer_id, email="ana@example.com"))
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(DigestRun(manager_slack_id="U1", day=datetime(2026, 11, 23).date()))


TEXTS = [
    "مرسی از پشتیبانی سریع شما، ولی سفارشم هنوز نرسیده است.",  # Persian, RTL
    "我的订单已经三天没有更新了，请帮我查一下。",  # Chinese
    "मेरा ऑर्डर अभी तक नहीं पहुँचा है, कृपया मदद करें।",  # Hindi
    "Dobrý den, aplikace mi po aktualizaci nefunguje. Děkuji za pomoc.",  # Czech
    "👩‍👩‍👧 family plan? <!channel> & <https://evil|click>",  # ZWJ emoji and mrkdwn
    "x" * 200_000,
]


@pytest.mark.parametrize("body", TEXTS, ids=["fa", "zh", "hi", "cs", "emoji", "huge"])
def test_text_round_trips_byte_exact(engine: Engine, body: str) -> None:
    customer_id = _customer_with_identity(engine)
    with session_scope(engine) as session:
        conv = Conversation(source="webhook", external_thread_id="t", customer_id=customer_id)
        session.add(conv)
        session.flush()
        session.add(
            Message(conversation_id=conv.id, source="webhook", direction=Direction.IN, text=body)
        )
    with session_scope(engine) as session:
        stored = session.exec(select(Message.text)).one()
    assert stored.encode("utf-8") == body.encode("utf-8")


def test_datetimes_come_back_aware_utc_and_money_exact(engine: Engine) -> None:
    prague = timezone(timedelta(hours=1))
    when = datetime(2026, 11, 23, 10, 30, 15, 123456, tzinfo=prague)
    with session_scope(engine) as session:
        session.add(Customer(name="x", lifetime_value=Decimal("1234.50"), created_at=when))
    with session_scope(engine) as session:
        customer = session.exec(select(Customer)).one()
    assert customer.created_at == when
    assert customer.created_at.tzinfo is not None
    assert customer.created_at.utcoffset() == timedelta(0)
    assert customer.lifetime_value == Decimal("1234.50")


def test_naive_datetimes_are_refused(engine: Engine) -> None:
    with pytest.raises(Exception, match="naive datetime"), session_scope(engine) as session:
        session.add(Customer(name="x", created_at=datetime(2026, 1, 1)))


def test_outbox_json_payload_round_trips(engine: Engine) -> None:
    payload = {"text": "Привет", "blocks": [{"type": "section"}], "n": 3}
    with session_scope(engine) as session:
        session.add(OutboxItem(kind="slack_card", idempotency_key="card:1", payload=payload))
    with session_scope(engine) as session:
        assert session.exec(select(OutboxItem)).one().payload == payload


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_sqlite_write_sessions_serialise_read_then_write(sqlite_engine: Engine) -> None:
    """Two read-then-write units of work at once: with BEGIN IMMEDIATE neither fails with
    'database is locked' and no update is lost."""
    with session_scope(sqlite_engine) as session:
        session.add(Customer(name="counter", lifetime_value=Decimal("0")))
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            for _ in range(25):
                with session_scope(sqlite_engine, write=True) as session:
                    customer = session.exec(select(Customer)).one()
                    customer.lifetime_value += 1
                    session.add(customer)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with session_scope(sqlite_engine) as session:
        assert session.exec(select(Customer)).one().lifetime_value == 100


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("not a url", "not a database URL"),
        ("mysql://root@localhost/x", "unsupported database 'mysql'"),
        ("postgresql+nosuchdriver://x/y", "driver"),
    ],
)
def test_bad_database_urls_are_one_line_errors(url: str, fragment: str) -> None:
    with pytest.raises(DatabaseError, match=fragment) as info:
        make_engine(url)
    assert "\n" not in str(info.value)


def test_unreachable_database_is_a_one_line_error_without_the_password() -> None:
    engine = make_engine("postgresql://bob:hunter22@127.0.0.1:1/nope?connect_timeout=2")
    with pytest.raises(DatabaseError, match="cannot reach the database") as info:
        check_connection(engine)
    assert "\n" not in str(info.value)
    assert "hunter22" not in str(info.value)


def test_postgres_scheme_aliases_use_psycopg() -> None:
    for raw in ("postgres://u@h/db", "postgresql://u@h/db"):
        assert make_engine(raw).url.drivername == "postgresql+psycopg"


def test_check_connection_answers_on_a_live_database(engine: Engine) -> None:
    check_connection(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1


def test_utc_default_timestamps(engine: Engine) -> None:
    before = datetime.now(UTC)
    with session_scope(engine) as session:
        session.add(Customer(name="t"))
    with session_scope(engine) as session:
        created = session.exec(select(Customer)).one().created_at
    assert before - timedelta(seconds=5) <= created <= datetime.now(UTC) + timedelta(seconds=5)
