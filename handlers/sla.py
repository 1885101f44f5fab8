"""SLA nudges: which unclaimed conversations are late, and queuing each nudge exactly once.

A conversation that is open, unclaimed and posted gets a thread reply (threshold "first") once
`sla.first_response_minutes` business minutes have passed since it was opened, and every
configured manager a direct message (threshold "escalate") after `sla.escalate_after_minutes`.

Exactly once, whatever runs it: each nudge is an outbox row whose UNIQUE idempotency key names
the conversation and threshold (and the manager), written with INSERT … ON CONFLICT DO NOTHING.
Restarts, overlapping runs and several workers can only ever re-insert nothing.

Cheap every minute: SQL keeps only conversations old enough on the wall clock (business minutes
never exceed wall minutes) that still lack their row; business minutes are then computed in
Python for those few candidates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import String, cast, exists, literal, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from bot.config_schema import TeamConfig
from handlers.business_time import business_minutes_between
from storage.models import Conversation, ConversationStatus, OutboxItem, OutboxStatus
from storage.types import utcnow

Threshold = Literal["first", "escalate"]
NUDGE_KIND = "slack_sla_nudge"
ESCALATION_KIND = "slack_sla_escalation"
SLA_KINDS = (NUDGE_KIND, ESCALATION_KIND)
# Conversations opened longer ago than this are backlog, not an SLA breach to page about. It
# bounds the scan and keeps a first deploy (or a long outage, or a newly added manager) from
# sending a burst of nudges about weeks-old conversations. Far above any threshold plus the
# longest plausible run of holidays.
MAX_AGE = timedelta(days=14)


@dataclass(frozen=True)
class Nudge:
    conversation_id: int
    threshold: Threshold
    minutes: int  # business minutes the conversation had waited when this was found
    channel: str  # the card's Slack channel id (the thread the nudge goes to)


def nudge_key(conversation_id: int, threshold: Threshold, manager_id: str | None = None) -> str:
    if threshold == "escalate":
        return f"sla:{conversation_id}:escalate:{manager_id}"
    return f"sla:{conversation_id}:first"


def _key_expr(suffix: str) -> ColumnElement[str]:
    """SQL for f"sla:{Conversation.id}{suffix}", to compare with outbox idempotency keys."""
    return literal("sla:", String) + cast(Conversation.id, String) + literal(suffix, String)


def _missing(suffix: str) -> ColumnElement[bool]:
    return ~exists().where(OutboxItem.idempotency_key == _key_expr(suffix))


def due_nudges(
    session: Session, team: TeamConfig, now: datetime, *, max_age: timedelta = MAX_AGE
) -> list[Nudge]:
    """Nudges whose threshold has been reached at `now` and whose outbox row does not exist
    yet, "first" before "escalate", oldest conversation first."""
    sla = team.sla
    managers = [m.slack_id for m in team.managers]
    thresholds: list[tuple[Threshold, int, ColumnElement[bool]]] = [
        ("first", sla.first_response_minutes, _missing(":first"))
    ]
    if managers:  # nobody to tell: no escalation rows, so do not look for candidates either
        not_told = or_(*(_missing(f":escalate:{m}") for m in managers))
        thresholds.append(("escalate", sla.escalate_after_minutes, not_told))
    waited: dict[int, float] = {}
    nudges: list[Nudge] = []
    for threshold, minutes, lacking in thresholds:
        rows = session.exec(
            select(Conversation.id, Conversation.created_at, Conversation.slack_channel)
            .where(
                Conversation.status == ConversationStatus.OPEN,
                col(Conversation.assignee_slack_id).is_(None),
                col(Conversation.slack_ts).is_not(None),
                col(Conversation.slack_channel).is_not(None),
                Conversation.created_at <= now - timedelta(minutes=minutes),
                Conversation.created_at >= now - max_age,
                lacking,
            )
            .order_by(col(Conversation.created_at), col(Conversation.id))
        ).all()
        for conv_id, created_at, channel in rows:
            if conv_id is None or channel is None:
                continue
            if conv_id not in waited:
                waited[conv_id] = business_minutes_between(created_at, now, sla)
            if waited[conv_id] >= minutes:
                nudges.append(Nudge(conv_id, threshold, int(waited[conv_id]), channel))
    return nudges


def _rows(team: TeamConfig, nudges: list[Nudge]) -> list[dict[str, Any]]:
    stamp = utcnow()  # the real clock: the row is due now, whatever `now` the check was given
    common = {
        "status": OutboxStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": stamp,
        "created_at": stamp,
        "updated_at": stamp,
    }
    rows: dict[str, dict[str, Any]] = {}
    for nudge in nudges:
        payload = {
            "conversation_id": nudge.conversation_id,
            "threshold": nudge.threshold,
            "minutes": nudge.minutes,
        }
        if nudge.threshold == "first":
            key = nudge_key(nudge.conversation_id, "first")
            rows[key] = {
                **common,
                "kind": NUDGE_KIND,
                "idempotency_key": key,
                "conversation_id": nudge.conversation_id,
                "destination": nudge.channel,
                "payload": payload,
            }
            continue
        for manager in team.managers:
            key = nudge_key(nudge.conversation_id, "escalate", manager.slack_id)
            rows[key] = {
                **common,
                "kind": ESCALATION_KIND,
                "idempotency_key": key,
                "conversation_id": nudge.conversation_id,
                # chat.postMessage to a user id delivers the app's DM (chat:write is enough).
                "destination": manager.slack_id,
                "payload": {**payload, "manager": manager.slack_id},
            }
    # One order for every writer: two workers inserting the same keys in different orders
    # could deadlock on PostgreSQL's unique index.
    return [rows[key] for key in sorted(rows)]


def enqueue_nudges(session: Session, team: TeamConfig, nudges: list[Nudge]) -> int:
    """Queue one outbox row per (conversation, threshold[, manager]); return how many were new.

    INSERT … ON CONFLICT (idempotency_key) DO NOTHING: a row that exists (an earlier run, a
    restart, another worker) is left alone and not counted.
    """
    rows = _rows(team, nudges)
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        insert: Any = postgresql.insert
    elif dialect == "sqlite":
        insert = sqlite.insert
    else:  # pragma: no cover - storage.db accepts only these two
        raise RuntimeError(f"unsupported database {dialect!r}")
    table: Any = OutboxItem.__table__  # type: ignore[attr-defined]
    statement = (
        insert(table)
        .on_conflict_do_nothing(index_elements=[table.c.idempotency_key])
        .returning(table.c.id)
    )
    # A list of rows runs as SQLAlchemy's "insertmanyvalues": batched multi-row INSERTs that
    # stay under each database's bound-parameter limit, with RETURNING for the new ids.
    return len(session.execute(statement, rows).all())
