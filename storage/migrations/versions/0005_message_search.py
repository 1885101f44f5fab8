"""message search: FTS5 trigram index on SQLite, pg_trgm GIN index on PostgreSQL

Hand-written: autogenerate does not know virtual tables or operator classes, and
storage/migrations/env.py tells it to ignore these objects.

SQLite: `message_fts` is an external-content FTS5 table over `message.text` with the
`trigram` tokenizer (substring search in any script, CJK included; 3+ characters), kept in
sync by three triggers. A later migration that rebuilds `message` in batch mode drops the
triggers with the old table and must create them again (`_SQLITE_TRIGGERS` below).

PostgreSQL: the pg_trgm extension and a GIN index for ILIKE. When the extension cannot be
created (no privilege), search still works with a plain ILIKE scan; the log says so and
how to add the index later.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 10:00:00
"""

import logging
from collections.abc import Sequence

from alembic import op
from sqlalchemy.exc import DBAPIError

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

TRIGRAM_INDEX = "ix_message_text_trgm"

_SQLITE_TRIGGERS = (
    """CREATE TRIGGER message_fts_insert AFTER INSERT ON message BEGIN
        INSERT INTO message_fts(rowid, text) VALUES (new.id, new.text);
    END""",
    """CREATE TRIGGER message_fts_delete AFTER DELETE ON message BEGIN
        INSERT INTO message_fts(message_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END""",
    """CREATE TRIGGER message_fts_update AFTER UPDATE OF text ON message BEGIN
        INSERT INTO message_fts(message_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO message_fts(rowid, text) VALUES (new.id, new.text);
    END""",
)


def _sqlite_upgrade() -> None:
    op.execute(
        "CREATE VIRTUAL TABLE message_fts USING fts5("
        "text, content='message', content_rowid='id', tokenize='trigram')"
    )
    for trigger in _SQLITE_TRIGGERS:
        op.execute(trigger)
    op.execute("INSERT INTO message_fts(message_fts) VALUES ('rebuild')")  # existing messages


def _postgres_upgrade() -> None:
    bind = op.get_bind()
    try:
        with bind.begin_nested():  # a refusal must not abort the migration's transaction
            op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        log.warning(
            "pg_trgm is not available (%s): /crm find uses a plain ILIKE scan. To speed it "
            "up, a superuser runs CREATE EXTENSION pg_trgm; then CREATE INDEX %s ON message "
            "USING gin (text gin_trgm_ops)",
            reason,
            TRIGRAM_INDEX,
        )
        return
    op.execute(
        f"CREATE INDEX IF NOT EXISTS {TRIGRAM_INDEX} ON message USING gin (text gin_trgm_ops)"
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_upgrade()
    elif dialect == "postgresql":
        _postgres_upgrade()


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in ("message_fts_insert", "message_fts_delete", "message_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS message_fts")
    elif dialect == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {TRIGRAM_INDEX}")
        # pg_trgm stays: other objects may use it, and dropping it needs the same privilege.
