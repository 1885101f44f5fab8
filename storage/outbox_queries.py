"""Operator queries over the outbox: what is stuck, and putting it back in the queue."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update
from sqlmodel import Session, col, func, select

from storage.models import OutboxItem, OutboxStatus


def parked_summary(session: Session) -> tuple[int, str | None]:
    """How many rows are parked, and the most recent reason."""
    count = session.exec(
        select(func.count()).select_from(OutboxItem).where(OutboxItem.status == OutboxStatus.PARKED)
    ).one()
    latest = session.exec(
        select(OutboxItem.last_error)
        .where(OutboxItem.status == OutboxStatus.PARKED)
        .order_by(col(OutboxItem.updated_at).desc())
    ).first()
    return count, latest


def retry_parked(session: Session) -> int:
    """Return parked rows to the queue with a fresh attempt budget."""
    result = session.execute(
        update(OutboxItem)
        .where(col(OutboxItem.status) == OutboxStatus.PARKED)
        .values(
            status=OutboxStatus.PENDING,
            attempts=0,
            next_attempt_at=datetime.now(UTC),
            locked_by=None,
            locked_until=None,
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
