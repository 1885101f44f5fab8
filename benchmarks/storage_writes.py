"""Message rows per second through the ORM against the raw sqlite3 floor.

The ingest benchmark (later) measures the whole pipeline; this one isolates the storage
layer so a regression there is visible on its own.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import report
from storage import migrate
from storage.db import make_engine, session_scope
from storage.models import Conversation, Customer, Direction, Message

N = 20_000
BATCH = 500


def orm_rate(db: Path) -> float:
    engine = make_engine(f"sqlite:///{db}")
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        customer = Customer(name="bench")
        session.add(customer)
        session.flush()
        conv = Conversation(source="bench", external_thread_id="t", customer_id=customer.id)
        session.add(conv)
        session.flush()
        conv_id = conv.id
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


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        orm = orm_rate(Path(tmp) / "orm.db")
        raw = raw_rate(Path(tmp) / "raw.db")
    report(
        "storage_writes",
        [
            {"path": "ORM (SQLModel, batches of 500)", "rows": N, "rows_per_s": orm},
            {"path": "raw sqlite3 executemany", "rows": N, "rows_per_s": raw},
            {"path": "ratio ORM / raw", "rows": N, "rows_per_s": orm / raw},
        ],
    )


if __name__ == "__main__":
    main()
