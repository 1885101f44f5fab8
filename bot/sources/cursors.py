"""Each watched account's read position, kept in the database (`source_cursor`)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.sources.base import Checkpoint
from storage.db import session_scope
from storage.models import SourceCursor


class CursorStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self, source: str, account: str) -> str | None:
        with session_scope(self.engine) as session:
            row = session.get(SourceCursor, (source, account))
            return row.cursor if row else None

    def save(self, checkpoint: Checkpoint) -> None:
        with session_scope(self.engine, write=True) as session:
            write_checkpoint(session, checkpoint)


def write_checkpoint(session: Session, checkpoint: Checkpoint) -> None:
    """Upsert inside the caller's transaction (the ingest's, for a message)."""
    row = session.get(SourceCursor, (checkpoint.source, checkpoint.account))
    if row is None:
        row = SourceCursor(source=checkpoint.source, account=checkpoint.account)
    row.cursor = checkpoint.cursor
    row.updated_at = datetime.now(UTC)
    session.add(row)
