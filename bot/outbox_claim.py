"""Claiming due outbox rows with a lease, safely across any number of drainer processes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from storage.db import session_scope
from storage.models import OutboxItem, OutboxStatus

log = logging.getLogger(__name__)

SLACK_KINDS = (
    "slack_card",
    "slack_reply",
    "slack_notice",
    "slack_card_update",
    "slack_erase",
    "slack_sla_nudge",
    "slack_sla_escalation",
)
NETWORK_KINDS = ("network_reply",)


def claim_due(
    engine: Engine,
    worker_id: str,
    kinds: tuple[str, ...],
    limit: int,
    lease: timedelta,
    skip_destinations: list[str] | None = None,
) -> list[int]:
    """Lease up to `limit` due rows of `kinds`, oldest first, and return their ids.

    PostgreSQL: FOR UPDATE SKIP LOCKED, so concurrent drainers never take the same row.
    SQLite: the write transaction starts with BEGIN IMMEDIATE, which serialises claims.
    A row waits while an older row of the same conversation and kind family is pending,
    so a thread's posts keep their order.
    """
    now = datetime.now(UTC)
    earlier = aliased(OutboxItem)
    waiting_behind = exists().where(
        earlier.conversation_id == OutboxItem.conversation_id,
        earlier.status == OutboxStatus.PENDING,
        col(earlier.kind).in_(kinds),
        earlier.id < OutboxItem.id,
    )
    query = (
        select(OutboxItem.id)
        .where(
            col(OutboxItem.kind).in_(kinds),
            OutboxItem.status == OutboxStatus.PENDING,
            OutboxItem.next_attempt_at <= now,
            or_(col(OutboxItem.locked_until).is_(None), OutboxItem.locked_until < now),
            ~waiting_behind,
        )
        .order_by(col(OutboxItem.id))
        .limit(limit)
    )
    if skip_destinations:
        query = query.where(
            or_(
                col(OutboxItem.destination).is_(None),
                col(OutboxItem.destination).not_in(skip_destinations),
            )
        )
    with session_scope(engine, write=True) as session:
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=OutboxItem)
        ids = list(session.exec(query).all())
        if ids:
            session.execute(
                update(OutboxItem)
                .where(col(OutboxItem.id).in_(ids))
                .values(
                    locked_by=worker_id, locked_until=now + lease, attempts=OutboxItem.attempts + 1
                )
            )
    return ids


def drain_until_stopped(
    drain_once: Callable[[], int],
    wake: threading.Event,
    stop: threading.Event,
    idle_seconds: float,
    what: str,
) -> None:
    """Drain while there is work; when idle, sleep until woken or `idle_seconds` pass.
    A failure (a database hiccup) is logged and retried: it must not kill the thread."""
    while not stop.is_set():
        try:
            busy = drain_once()
        except Exception:
            log.exception("%s failed; retrying shortly", what)
            busy = 0
        if not busy:
            wake.wait(idle_seconds)
            wake.clear()
