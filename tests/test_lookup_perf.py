"""Lookups and the digest stay correct and read indexes, not whole tables (issue 9).

The million-row numbers are in benchmarks/; these tests pin what makes them possible: the
query plans (SQLite's EXPLAIN QUERY PLAN; PostgreSQL's EXPLAIN with sequential scans
discouraged, since a tiny table is always cheaper to scan), migration 0007 on existing
rows, and the behaviour the faster queries must keep.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.config_schema import TeamConfig
from handlers.digest import build_digest
from handlers.lookups import CustomerCard, Matches, NotFound, lookup
from storage import migrate
from storage.db import make_engine, session_scope
from storage.models import (
    Conversation,
    Customer,
    CustomerEmail,
    Direction,
    Identity,
    Message,
    Outcome,
    OutcomeKind,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NEW_INDEXES = {
    "customer": {"ix_customer_merged_into_id", "ix_customer_updated_name"},
    "identity": {
        "ix_identity_profile_url",
        "ix_identity_followers",
        "ix_identity_updated_display_name",
        "ix_identity_handle_lower",
    },
    "conversation": {"ix_conversation_created_status", "ix_conversation_url"},
    "message": {"ix_message_created_direction", "ix_message_author_identity"},
}


def _customer(
    session: Session,
    name: str | None,
    handle: str | None = None,
    *,
    source: str = "mastodon",
    url: str | None = None,
    followers: int = 10,
    **fields: Any,
) -> Customer:
    customer = Customer(name=name, **fields)
    session.add(customer)
    session.flush()
    if handle is not None:
        session.add(
            Identity(
                customer_id=customer.id,
                source=source,
                external_id=f"{source}-{handle}",
                handle=handle,
                display_name=name,
                profile_url=url,
                followers=followers,
            )
        )
        session.flush()
    return customer


def _conversation(session: Session, customer: Customer, key: str, **fields: Any) -> Conversation:
    conv = Conversation(
        source="mastodon", external_thread_id=key, customer_id=customer.id or 0, **fields
    )
    session.add(conv)
    session.flush()
    return conv


def _message(
    session: Session,
    conv: Conversation,
    key: str,
    direction: Direction,
    at: datetime,
    text_: str,
    **fields: Any,
) -> None:
    session.add(
        Message(
            conversation_id=conv.id or 0,
            source="mastodon",
            external_id=key,
            direction=direction,
            text=text_,
            created_at=at,
            **fields,
        )
    )
    session.flush()


@contextmanager
def statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every SELECT the engine runs inside the block."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        if sql.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((sql, params))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def full_scans(engine: Engine, seen: list[tuple[str, Any]]) -> list[str]:
    """Plan lines that read a whole table row by row (not through an index)."""
    found = []
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        for sql, params in seen:
            for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall():
                detail = str(row[3])
                if detail.startswith("SCAN ") and " INDEX " not in detail:
                    found.append(f"{detail}  <- {' '.join(sql.split())[:90]}")
    return found


# ------------------------------------------------------------------ behaviour
def test_lookups_find_by_any_case_of_handle_email_urls_and_name(engine: Engine) -> None:
    with session_scope(engine, write=True) as session:
        ana = _customer(
            session, "Ana Nováková", "@AnaNovak", url="https://mastodon.social/@AnaNovak"
        )
        session.add(CustomerEmail(customer_id=ana.id or 0, email="ana@example.com"))
        _conversation(session, ana, "t-1", url="https://mastodon.social/@AnaNovak/111")
        _customer(session, "Bob Bobson", "@bob")
        ana_id = ana.id
    with session_scope(engine) as session:
        for query in (
            "@ananovak",
            "ANANOVAK",
            "ana@example.com",
            "https://mastodon.social/@AnaNovak",
            "https://mastodon.social/@AnaNovak/111",
            "nováková",
            "ANA NOV",
        ):
            found = lookup(session, query)
            assert isinstance(found, CustomerCard) and found.id == ana_id, query
        assert isinstance(lookup(session, "@nobody"), NotFound)


def test_name_lookup_reads_wildcards_literally(engine: Engine) -> None:
    with session_scope(engine, write=True) as session:
        cotton = _customer(session, "100% Cotton Ltd")
        _customer(session, "1000 Lakes")
        _customer(session, "Under_score")
        _customer(session, "Underscore")
        cotton_id = cotton.id
    with session_scope(engine) as session:
        found = lookup(session, "100%")
        assert isinstance(found, CustomerCard) and found.id == cotton_id
        underscore = lookup(session, "under_")
        assert isinstance(underscore, CustomerCard) and underscore.name == "Under_score"
        several = lookup(session, "under")
        assert isinstance(several, Matches) and several.total == 2


def test_merged_and_erased_records_resolve_to_the_live_survivor(engine: Engine) -> None:
    with session_scope(engine, write=True) as session:
        last = _customer(session, "Zuzana Last", "@zuzana_last")
        middle = _customer(session, "Zuzana Middle", "@zuzana_mid", merged_into_id=last.id)
        _customer(session, "Zuzana First", "@zuzana_first", merged_into_id=middle.id)
        _customer(session, "Zuzana Erased", "@zuzana_gone", erased_at=NOW)
        last_id = last.id
    with session_scope(engine) as session:
        card = lookup(session, "@zuzana_first")
        assert isinstance(card, CustomerCard) and card.id == last_id
        assert card.merged_records == 1  # only Middle points at Last directly
        # Three names, one person: one card, not a list; the erased one never shows.
        assert isinstance(lookup(session, "zuzana"), CustomerCard)
        assert isinstance(lookup(session, "@zuzana_gone"), NotFound)


def test_card_items_show_the_first_customer_message_and_the_latest_outcome(
    engine: Engine,
) -> None:
    with session_scope(engine, write=True) as session:
        ana = _customer(session, "Ana", "@ana")
        busy = _conversation(
            session, ana, "t-busy", last_message_at=NOW, assignee_slack_id="UASSIGNEE"
        )
        _message(
            session,
            busy,
            "o-0",
            Direction.OUT,
            NOW - timedelta(hours=3),
            "our hello",
            author_slack_id="UREPLY",
        )
        _message(session, busy, "i-1", Direction.IN, NOW - timedelta(hours=2), "first words")
        _message(session, busy, "i-2", Direction.IN, NOW - timedelta(hours=1), "second words")
        for kind, at in ((OutcomeKind.SALE, NOW - timedelta(hours=1)), (OutcomeKind.REFUND, NOW)):
            session.add(
                Outcome(
                    conversation_id=busy.id or 0,
                    customer_id=ana.id or 0,
                    kind=kind,
                    staff_slack_id="U1",
                    created_at=at,
                )
            )
        quiet = _conversation(session, ana, "t-quiet", last_message_at=NOW - timedelta(days=1))
        _message(session, quiet, "i-3", Direction.IN, NOW - timedelta(days=1), "hello?")
    with session_scope(engine) as session:
        card = lookup(session, "@ana")
    assert isinstance(card, CustomerCard)
    assert [(c.snippet, c.outcome) for c in card.conversations] == [
        ("first words", "refund"),
        ("hello?", None),
    ]
    assert card.outcome_counts == (("refund", 1), ("sale", 1))
    assert card.conversation_count == 2 and card.merged_records == 0
    assert card.worked_by == ("U1", "UASSIGNEE", "UREPLY")


# ------------------------------------------------------------------ plans
def _seed_small_crm(engine: Engine) -> None:
    with session_scope(engine, write=True) as session:
        for i in range(30):
            who = _customer(
                session,
                f"Person {i}",
                f"@p{i}",
                url=f"https://m.example/@p{i}",
                followers=20_000 if i == 3 else 5,
            )
            session.add(CustomerEmail(customer_id=who.id or 0, email=f"p{i}@example.com"))
            conv = _conversation(
                session,
                who,
                f"t-{i}",
                created_at=NOW - timedelta(hours=i),
                url=f"https://m.example/@p{i}/{i}",
            )
            _message(
                session,
                conv,
                f"i-{i}",
                Direction.IN,
                NOW - timedelta(hours=i),
                "hi",
                author_identity_id=i + 1,
            )
            _message(
                session,
                conv,
                f"o-{i}",
                Direction.OUT,
                NOW - timedelta(hours=i - 1),
                "ok",
                author_slack_id="U1",
            )


def test_sqlite_lookups_and_the_digest_never_scan_a_whole_table(sqlite_engine: Engine) -> None:
    _seed_small_crm(sqlite_engine)
    queries: list[Callable[[Session], object]] = [
        lambda s: lookup(s, "@P3"),
        lambda s: lookup(s, "p4@example.com"),
        lambda s: lookup(s, "https://m.example/@p5"),
        lambda s: lookup(s, "https://m.example/@p6/6"),
        lambda s: lookup(s, "Person 1"),
        lambda s: build_digest(
            s, start=NOW - timedelta(hours=12), end=NOW + timedelta(hours=12), team=TeamConfig()
        ),
    ]
    with statements(sqlite_engine) as seen, session_scope(sqlite_engine) as session:
        for query in queries:
            query(session)
    assert len(seen) > 20
    # The digest's backlog counts open conversations through the queue index; the only
    # scans allowed are of SQLite's own temporary results, which name no table of ours.
    ours = {"customer", "identity", "conversation", "message", "outcome", "customer_email"}
    scans = [s for s in full_scans(sqlite_engine, seen) if s.split()[1] in ours]
    assert scans == []


def test_a_handle_lookup_can_use_the_expression_index_on_both_backends(engine: Engine) -> None:
    """The index must be on exactly the expression the lookup filters on, on both backends."""
    _seed_small_crm(engine)
    with statements(engine) as seen, session_scope(engine) as session:
        lookup(session, "@P3")
    handle_sql, params = next((sql, p) for sql, p in seen if "lower(identity.handle)" in sql)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            raw = conn.connection.driver_connection
            plan = " ".join(
                str(r[3]) for r in raw.execute(f"EXPLAIN QUERY PLAN {handle_sql}", params)
            )
        else:
            conn.execute(text("SET enable_seqscan = off"))
            cursor = conn.connection.driver_connection.cursor()
            cursor.execute(f"EXPLAIN {handle_sql}", params)
            plan = " ".join(str(r[0]) for r in cursor.fetchall())
    assert "ix_identity_handle_lower" in plan


# ------------------------------------------------------------------ migration
def test_migration_0007_indexes_existing_rows_and_downgrades(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        migrate.upgrade(engine, "0006")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO customer (name, lifecycle_stage, lifetime_value, created_at, "
                    "updated_at) VALUES ('Old Timer', 'lead', 0, :at, :at)"
                ),
                {"at": NOW.replace(tzinfo=None)},
            )
        migrate.upgrade(engine)
        for table, wanted in NEW_INDEXES.items():
            assert wanted <= _index_names(engine, table), table
        assert "ix_conversation_created" not in _index_names(engine, "conversation")
        with session_scope(engine) as session:
            assert isinstance(lookup(session, "old tim"), CustomerCard)
        config = migrate.alembic_config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0006")
        names = _index_names(engine, "conversation")
        assert "ix_conversation_created" in names and "ix_conversation_url" not in names
        assert "ix_identity_handle_lower" not in _index_names(engine, "identity")
        migrate.upgrade(engine)
        assert not migrate.pending(engine)
    finally:
        engine.dispose()


def _index_names(engine: Engine, table: str) -> set[str]:
    """SQLAlchemy does not reflect SQLite expression indexes; sqlite_master lists them all."""
    if engine.dialect.name != "sqlite":
        return {str(ix["name"]) for ix in inspect(engine).get_indexes(table)}
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"),
            {"t": table},
        )
        return {str(name) for (name,) in rows}
