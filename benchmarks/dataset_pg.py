"""Copies a cached benchmark dataset into an empty PostgreSQL database (COPY, then the
indexes are there from the migrations and ANALYZE runs), so the same queries can be timed
on both backends:

    python -m benchmarks.lookup_digest --database-url postgresql://user@host/empty_db

A database that already holds this copy (same conversation count) is reused; one holding
anything else is refused, never emptied.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from collections.abc import Sequence

import psycopg
from sqlalchemy import inspect, text

from benchmarks.dataset import Dataset
from benchmarks.dataset_rows import (
    CONVERSATION_COLUMNS,
    CUSTOMER_COLUMNS,
    EMAIL_COLUMNS,
    IDENTITY_COLUMNS,
    MESSAGE_COLUMNS,
    OUTCOME_COLUMNS,
)
from storage import migrate
from storage.db import make_engine, normalize_url

TABLES: tuple[tuple[str, Sequence[str]], ...] = (
    ("customer", CUSTOMER_COLUMNS),
    ("customer_email", EMAIL_COLUMNS),
    ("identity", IDENTITY_COLUMNS),
    ("conversation", CONVERSATION_COLUMNS),
    ("message", MESSAGE_COLUMNS),
    ("outcome", OUTCOME_COLUMNS),
)
BOOLEAN_COLUMNS = {"is_direct"}


class NotEmptyError(Exception):
    """The target database holds other data: we never overwrite it."""


def _existing_conversations(url: str) -> int | None:
    """None for an empty database; the conversation count for one of ours."""
    engine = make_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
        if not tables:
            return None
        if "conversation" not in tables:
            raise NotEmptyError(f"{engine.url.database} holds other tables: give an empty one")
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM conversation")).scalar_one())
    finally:
        engine.dispose()


def _copy_table(
    source: sqlite3.Connection, target: psycopg.Connection, table: str, columns: Sequence[str]
) -> None:
    flags = [column in BOOLEAN_COLUMNS for column in columns]
    rows = source.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY id")
    with (
        target.cursor() as cursor,
        cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row([bool(v) if flag else v for v, flag in zip(row, flags, strict=True)])
    target.execute(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
    )


def copy_to_postgres(dataset: Dataset, url: str) -> Dataset:
    """The dataset, living in the PostgreSQL database at `url` too."""
    existing = _existing_conversations(url)
    if existing is not None and existing != dataset.built:
        raise NotEmptyError(
            f"the database holds {existing:,} conversations, not this dataset's "
            f"{dataset.built:,}: give an empty database"
        )
    if existing is None:
        started = time.perf_counter()
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        dsn = normalize_url(url).set(drivername="postgresql").render_as_string(False)
        with sqlite3.connect(dataset.path) as source, psycopg.connect(dsn) as target:
            target.execute("SET TIME ZONE 'UTC'")  # the SQLite stamps are naive UTC
            for table, columns in TABLES:
                _copy_table(source, target, table, columns)
            target.commit()
            target.autocommit = True
            target.execute("VACUUM ANALYZE")  # statistics, and the visibility map for
            # index-only scans (autovacuum would set it later on a live database)
        print(
            f"copied {dataset.built:,} conversations to PostgreSQL in "
            f"{time.perf_counter() - started:.0f} s"
        )
    return dataclasses.replace(dataset, database_url=url)
