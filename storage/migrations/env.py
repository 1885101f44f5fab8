"""Alembic environment.

`storage.migrate` passes an open connection in `config.attributes["connection"]`; the
`alembic` command line (for writing new migrations) uses DATABASE_URL instead.

Search objects that migration 0005 writes by hand (SQLite's `message_fts*` FTS5 tables and
PostgreSQL's trigram index) are not models: autogenerate and model/migration comparisons
must ignore them, or they would offer to drop them.
"""

from __future__ import annotations

import os
import re
from typing import Any

from alembic import context
from alembic.autogenerate.compare import comparators
from alembic.util import DispatchPriority, PriorityDispatchResult
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage.db import make_engine

target_metadata = SQLModel.metadata

SEARCH_OBJECTS = re.compile(r"message_fts(_\w+)?|ix_message_text_trgm")


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """False for the hand-written search tables and index (reflected names)."""
    return not (type_ in ("table", "index") and name and SEARCH_OBJECTS.fullmatch(name))


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare: Any) -> bool:
    return include_name(name, type_, {})


def _ignore_search_objects_everywhere() -> None:
    """Install the same filter in every autogenerate comparison in this process, including
    `compare_metadata` calls whose MigrationContext was not configured here (the storage
    test builds its own). Registered once, before Alembic's own comparators run."""
    if getattr(comparators, "threadline_search_filter", False):
        return

    def add_filters(autogen_context: Any, upgrade_ops: Any) -> PriorityDispatchResult:
        autogen_context._name_filters.append(include_name)
        autogen_context._object_filters.append(include_object)
        return PriorityDispatchResult.CONTINUE

    comparators.dispatch_for("autogenerate", priority=DispatchPriority.FIRST)(add_filters)
    comparators.threadline_search_filter = True  # type: ignore[attr-defined]


def _run(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite can only ALTER by copying the table
        compare_type=True,
        include_name=include_name,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


_ignore_search_objects_everywhere()
connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = make_engine(os.environ.get("DATABASE_URL", "sqlite:///threadline.db"))
    with engine.connect() as conn:
        _run(conn)
