"""Message rows per second through the ORM and through SQLAlchemy Core (the statements the
ingest uses: one multi-row INSERT per batch) against the raw sqlite3 floor.

`benchmarks.ingest` measures the whole pipeline; this one isolates the storage layer so a
regression there is visible on its own.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from benchmarks.common import report
from handlers.customers import insert_with_ids
from storage import migrate
from storage.db import make_engine, session_scope
from storage.models import Conversation, Customer, Direction, Message

MESSAGE = Message.__table__  # type: ignore[attr-defined]

N = 20_000
BATCH = 500


def _message_values(conv_id: int, i: int, now: datetime) -> dict[str, Any]:
    return {
        "conversation_id": conv_id,
        "source": "bench",
        "external_id": str(i),
        "direction": Direction.IN.value,
        "text": f"message {i} — dobrý den",
        "attachments": [],
        "created_at": now,
        "received_at": now,
    }


def core_rate(db: Path) -> float:
    engine = make_engine(f"sqlite:///{db}")
    conv_id = _setup(engine)
    now = datetime.now(UTC)
    started = time.perf_counter()
    for start in range(0, N, BATCH):
        with session_scope(engine, write=True) as session:
            rows = [_message_values(conv_id, i, now) for i in range(start, start + BATCH)]
            insert_with_ids(session.connection(), MESSAGE, rows)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return N / elapsed


def _setup(engine: Engine) -> int:
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        customer = Customer(name="bench")
        session.add(customer)
        session.flush()
        conv = Conversation(source="bench", external_thread_id="t", customer_id=customer.id)
        session.add(conv)
        session.flush()
        return conv.id or 0


def orm_rate(db: Path) -> float:
    engine = make_engine(f"sqlite:///{db}")
    conv_id = _setup(engine)
    started = time.perf_counter()
    for start in range(0, N, BATCH):
        with session_scope(engine, write=True) as session:
            session.add_all(
                Message(
                    conversation_id=conv_id,
                    source="bench",
                    external_id=str(i),
                    direction=Direction.IN,
                    text=f"message {i} — dobrý den",
                )
                for i in range(start, start + BATCH)
            )
    elapsed = time.perf_counter() - started
    engine.dispose()
    return N / elapsed


def raw_rate(db: Path) -> float:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE message (id INTEGER PRIMARY KEY, conversation_id INT, source TEXT, "
        "external_id TEXT, direction TEXT, text TEXT, received_at TEXT, "
        "UNIQUE(source, external_id))"
    )
    now = datetime.now(UTC).isoformat()
    started = time.perf_counter()
    for start in range(0, N, BATCH):
        with conn:
            conn.executemany(
                "INSERT INTO message (conversation_id, source, external_id, direction, text, "
                "received_at) VALUES (1, 'bench', ?, 'in', ?, ?)",
                ((str(i), f"message {i} — dobrý den", now) for i in range(start, start + BATCH)),
            )
    elapsed = time.perf_counter() - started
    conn.close()
    return N / elapsed


def raw_schema_rate(db: Path) -> float:
    """Plain sqlite3 executemany into the real, migrated `message` table: its indexes and
    the FTS5 trigram triggers are the floor any path on this schema stands on."""
    engine = make_engine(f"sqlite:///{db}")
    conv_id = _setup(engine)
    engine.dispose()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    started = time.perf_counter()
    for start in range(0, N, BATCH):
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO message (conversation_id, source, external_id, direction, text, "
            "attachments, created_at, received_at) VALUES (?, 'bench', ?, 'in', ?, '[]', ?, ?)",
            (
                (conv_id, str(i), f"message {i} — dobrý den", now, now)
                for i in range(start, start + BATCH)
            ),
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return N / elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        orm = orm_rate(Path(tmp) / "orm.db")
        core = core_rate(Path(tmp) / "core.db")
        raw = raw_rate(Path(tmp) / "raw.db")
        raw_schema = raw_schema_rate(Path(tmp) / "raw_schema.db")
    report(
        "storage_writes",
        [
            {"path": "ORM (SQLModel, batches of 500)", "rows": N, "rows_per_s": orm},
            {"path": "Core multi-row INSERT (ingest's way)", "rows": N, "rows_per_s": core},
            {"path": "raw sqlite3 executemany", "rows": N, "rows_per_s": raw},
            {"path": "raw executemany, real schema (FTS)", "rows": N, "rows_per_s": raw_schema},
            {"path": "ratio ORM / raw", "rows": N, "rows_per_s": orm / raw},
            {"path": "ratio Core / raw, real schema", "rows": N, "rows_per_s": core / raw_schema},
        ],
    )


if __name__ == "__main__":
    main()
