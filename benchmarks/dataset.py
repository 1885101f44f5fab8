"""A synthetic CRM database for the benchmarks: N conversations over 30 days (or any
number of days: 1M over 30 days is ~33k a day, a very busy team; over a year ~2.7k), 0.3 N
customers with one or two identities each, ~1.6 messages and ~0.1 outcomes per
conversation, in seven languages.

    dataset = cached_dataset(1_000_000)   # built once (about 100 s), then reused

The database is created at the current schema (all migrations, so the FTS triggers of 0005
fire on every message insert) and filled with raw sqlite3 executemany in big transactions,
in time order, one slice of conversations at a time. Built files are cached under
benchmarks/results/ keyed by size and DATASET_VERSION, with a JSON sidecar describing them;
opening a cached file runs any newer migrations on it (new indexes are built on the spot).
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS
from benchmarks.dataset_rows import (
    CONVERSATION_COLUMNS,
    CUSTOMER_COLUMNS,
    EMAIL_COLUMNS,
    IDENTITY_COLUMNS,
    MESSAGE_COLUMNS,
    OUTCOME_COLUMNS,
    WINDOW_DAYS,
    Shape,
    SliceRows,
    customer_rows,
    slice_rows,
)
from storage import migrate
from storage.db import make_engine

DATASET_VERSION = 2  # bump when the rows change: cached files of other versions are ignored
SLICE = 50_000  # conversations per transaction (with their messages and outcomes)
BATCH = 25_000  # rows per executemany
BUILD_BUDGET_S = 900.0  # past this a build stops and is measured as it is, never cached


@dataclass(frozen=True)
class Dataset:
    path: Path
    shape: Shape
    built: int  # conversations actually written
    build_rows: list[dict[str, Any]]  # the build's timing table
    cached: bool  # reused from an earlier run
    database_url: str | None = None  # a copy elsewhere (PostgreSQL), else the SQLite file

    @property
    def url(self) -> str:
        return self.database_url or f"sqlite:///{self.path}"

    @property
    def now(self) -> datetime:
        """The creation time of the newest conversation (the queries' "now")."""
        return self.shape.at(self.built)


class Builder:
    """Writes the synthetic CRM straight through sqlite3, timing each table."""

    def __init__(self, db: Path, shape: Shape, seed: int = 11) -> None:
        self.conn = sqlite3.connect(db, isolation_level=None)
        self.conn.execute("PRAGMA synchronous=OFF")  # a throwaway database until renamed
        self.conn.execute("PRAGMA cache_size=-131072")  # 128 MiB
        self.conn.execute("PRAGMA foreign_keys=OFF")
        self.rng = random.Random(seed)
        self.shape = shape
        self.seconds: dict[str, float] = {}
        self.rows: dict[str, int] = {}
        self.generate_s = 0.0
        self.built = 0

    def _insert(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        started = time.perf_counter()
        for at in range(0, len(rows), BATCH):
            self.conn.executemany(sql, rows[at : at + BATCH])
        self.seconds[table] = self.seconds.get(table, 0.0) + time.perf_counter() - started
        self.rows[table] = self.rows.get(table, 0) + len(rows)

    def _transaction(self, work: Callable[[], None]) -> None:
        self.conn.execute("BEGIN")
        work()
        self.conn.execute("COMMIT")

    def build_customers(self) -> None:
        started = time.perf_counter()
        customers, emails, identities = customer_rows(self.shape, self.rng)
        self.generate_s += time.perf_counter() - started

        def work() -> None:
            self._insert("customer", CUSTOMER_COLUMNS, customers)
            self._insert("customer_email", EMAIL_COLUMNS, emails)
            self._insert("identity", IDENTITY_COLUMNS, identities)

        self._transaction(work)

    def build_slice(self, first: int, last: int, state: SliceRows) -> None:
        """Conversations first..last-1 (ids first+1..), with their messages and outcomes."""
        started = time.perf_counter()
        rows = slice_rows(self.shape, self.rng, first, last, state)
        self.generate_s += time.perf_counter() - started

        def work() -> None:
            self._insert("conversation", CONVERSATION_COLUMNS, rows.conversations)
            self._insert("message", MESSAGE_COLUMNS, rows.messages)
            self._insert("outcome", OUTCOME_COLUMNS, rows.outcomes)

        self._transaction(work)
        self.built = last

    def build(self, budget_s: float) -> float:
        """Everything; stops early past `budget_s`. Returns the wall-clock seconds."""
        started = time.perf_counter()
        self.build_customers()
        state = SliceRows()
        for first in range(0, self.shape.conversations, SLICE):
            self.build_slice(first, min(self.shape.conversations, first + SLICE), state)
            if time.perf_counter() - started > budget_s and self.built < self.shape.conversations:
                print(
                    f"build budget of {budget_s:.0f} s reached at {self.built:,} of "
                    f"{self.shape.conversations:,} conversations; measuring on those"
                )
                break
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()
        return time.perf_counter() - started

    def report_rows(self, total_s: float, size_mb: float) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = [
            {
                "step": f"insert {table}",
                "rows": self.rows[table],
                "seconds": round(self.seconds[table], 2),
                "rows_per_s": round(self.rows[table] / max(self.seconds[table], 1e-9)),
            }
            for table in self.seconds
        ]
        every = sum(self.rows.values())
        rows.append(
            {
                "step": "generate rows (Python)",
                "rows": every,
                "seconds": round(self.generate_s, 2),
                "rows_per_s": round(every / max(self.generate_s, 1e-9)),
            }
        )
        label = f"{self.built:,} of {self.shape.conversations:,} conversations, {size_mb:,.0f} MB"
        rows.append(
            {
                "step": f"total ({label})",
                "rows": every,
                "seconds": round(total_s, 2),
                "rows_per_s": round(every / max(total_s, 1e-9)),
            }
        )
        return rows


def cache_paths(
    conversations: int, cache_dir: Path = RESULTS, days: int = WINDOW_DAYS
) -> tuple[Path, Path]:
    stem = f"dataset-{conversations}-v{DATASET_VERSION}"
    stem += "" if days == WINDOW_DAYS else f"-{days}d"
    return cache_dir / f"{stem}.db", cache_dir / f"{stem}.json"


def build_dataset(
    path: Path,
    conversations: int,
    *,
    end: datetime,
    days: int = WINDOW_DAYS,
    budget_s: float = BUILD_BUDGET_S,
) -> Dataset:
    """A fresh database at `path` (replaced when it exists)."""
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    builder = Builder(path, Shape(conversations, end, days))
    total_s = builder.build(budget_s)
    rows = builder.report_rows(total_s, path.stat().st_size / 1e6)
    return Dataset(path, builder.shape, builder.built, rows, cached=False)


def cached_dataset(
    conversations: int,
    *,
    days: int = WINDOW_DAYS,
    cache_dir: Path = RESULTS,
    rebuild: bool = False,
) -> Dataset:
    """The cached database of this size (built, and cached when complete, if missing), at
    the current schema."""
    if conversations < 1 or days < 1:
        raise ValueError("a dataset needs at least 1 conversation over at least 1 day")
    path, meta = cache_paths(conversations, cache_dir, days)
    if not rebuild and path.exists() and meta.exists():
        info = json.loads(meta.read_text())
        shape = Shape(conversations, datetime.fromisoformat(info["end"]), days)
        dataset = Dataset(path, shape, info["built"], info["build_rows"], cached=True)
    else:
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".building")
        end = datetime.now(UTC).replace(microsecond=0)
        built = build_dataset(partial, conversations, end=end, days=days)
        if built.built < conversations:
            return built  # measured as it is, never cached
        partial.replace(path)
        info = {"end": end.isoformat(), "built": built.built, "build_rows": built.build_rows}
        meta.write_text(json.dumps(info, indent=2))
        dataset = Dataset(path, built.shape, built.built, built.build_rows, cached=False)
    engine = make_engine(dataset.url)
    try:
        migrate.upgrade(engine)  # a file cached before a newer migration gets it now
    finally:
        engine.dispose()
    return dataset


__all__ = ["DATASET_VERSION", "Builder", "Dataset", "Shape", "build_dataset", "cached_dataset"]
