"""What staff do to a conversation in Slack: claim, hand over, tag, note, log the outcome.

Every state change writes an AuditEvent. Claims are single conditional UPDATEs, so two
people clicking at once cannot both win, on SQLite or PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from bot.config_schema import TeamConfig
from handlers.ingest import add_tags
from storage.models import (
    AuditEvent,
    Conversation,
    ConversationStatus,
    ConversationTag,
    Customer,
    Direction,
    LifecycleStage,
    Message,
    Outcome,
    OutcomeKind,
    Tag,
)


class ActionError(Exception):
    """A request that cannot be done; the message is shown to the person who asked."""


@dataclass(frozen=True)
class ClaimResult:
    won: bool  # the caller holds the conversation now
    assignee: str | None  # who holds it after the attempt
    previous: str | None = None


def get_conversation(session: Session, conversation_id: int) -> Conversation:
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        raise ActionError(f"Conversation {conversation_id} no longer exists.")
    return conv


def audit(
    session: Session, actor: str, action: str, conv: Conversation, now: datetime, **detail: object
) -> None:
    session.add(
        AuditEvent(
            actor=actor,
            action=action,
            conversation_id=conv.id,
            customer_id=conv.customer_id,
            at=now,
            detail=detail,
        )
    )


def claim_conversation(
    session: Session, conversation_id: int, user: str, now: datetime
) -> ClaimResult:
    """Assign to `user` only if nobody holds it; the database decides who was first."""
    won = session.execute(
        update(Conversation)
        .where(
            col(Conversation.id) == conversation_id, col(Conversation.assignee_slack_id).is_(None)
        )
        .values(assignee_slack_id=user, claimed_at=now, updated_at=now)
    ).rowcount
    conv = get_conversation(session, conversation_id)
    session.refresh(conv)
    if won:
        audit(session, user, "conversation.claimed", conv, now)
    return ClaimResult(won=conv.assignee_slack_id == user, assignee=conv.assignee_slack_id)


def assign_conversation(
    session: Session,
    conversation_id: int,
    actor: str,
    assignee: str | None,
    now: datetime,
    action: str,
) -> ClaimResult:
    """Take over, reassign or unclaim: deliberate moves, always logged with who had it."""
    conv = get_conversation(session, conversation_id)
    previous = conv.assignee_slack_id
    conv.assignee_slack_id = assignee
    conv.claimed_at = now if assignee else None
    conv.updated_at = now
    session.add(conv)
    audit(session, actor, action, conv, now, previous=previous, assignee=assignee)
    return ClaimResult(won=assignee == actor, assignee=assignee, previous=previous)


def set_tags(
    session: Session,
    conversation_id: int,
    names: list[str],
    actor: str,
    team: TeamConfig,
    now: datetime,
) -> list[str]:
    """Make the conversation's tags exactly `names` (configured tags or ones already in use)."""
    conv = get_conversation(session, conversation_id)
    known = set(team.tags.allowed) | set(session.exec(select(Tag.name)).all())
    unknown = sorted(set(names) - known)
    if unknown:
        raise ActionError(f"Unknown tag(s): {', '.join(unknown)}. Create them first.")
    current = set(tag_names(session, conversation_id))
    wanted = set(names)
    if current == wanted:
        return sorted(current)
    removed = session.exec(select(Tag.id).where(col(Tag.name).in_(current - wanted))).all()
    if removed:
        session.execute(
            delete(ConversationTag).where(
                col(ConversationTag.conversation_id) == conversation_id,
                col(ConversationTag.tag_id).in_(removed),
            )
        )
    add_tags(session, conversation_id, sorted(wanted - current), added_by=actor, now=now)
    audit(
        session,
        actor,
        "conversation.tagged",
        conv,
        now,
        added=sorted(wanted - current),
        removed=sorted(current - wanted),
    )
    return sorted(wanted)


def tag_names(session: Session, conversation_id: int) -> list[str]:
    return sorted(
        session.exec(
            select(Tag.name)
            .join(ConversationTag)
            .where(ConversationTag.conversation_id == conversation_id)
        ).all()
    )


def create_tag(session: Session, name: str, actor: str, team: TeamConfig, now: datetime) -> Tag:
    name = name.strip().lower()
    if not team.tags.allow_create:
        raise ActionError(
            "New tags are switched off ([tags] allow_create = false in threadline.toml)."
        )
    if not name or len(name) > 80 or "," in name:
        raise ActionError("A tag is 1–80 characters, without commas.")
    tag = session.exec(select(Tag).where(Tag.name == name)).first()
    if tag is None:
        tag = Tag(name=name, created_by=actor, created_at=now)
        session.add(tag)
        session.add(AuditEvent(actor=actor, action="tag.created", at=now, detail={"tag": name}))
        session.flush()
    return tag


def add_note(
    session: Session, conversation_id: int, author: str, text: str, slack_ref: str, now: datetime
) -> Message | None:
    """A staff message typed in the card's thread: kept as an internal note, never sent.
    `slack_ref` (channel:ts) makes Slack's event re-deliveries harmless."""
    exists = session.exec(
        select(Message.id).where(Message.source == "slack", Message.external_id == slack_ref)
    ).first()
    if exists is not None:
        return None
    conv = get_conversation(session, conversation_id)
    note = Message(
        conversation_id=conversation_id,
        source="slack",
        external_id=slack_ref,
        direction=Direction.NOTE,
        author_slack_id=author,
        text=text,
        created_at=now,
        received_at=now,
        slack_ts=slack_ref.split(":", 1)[1],
    )
    session.add(note)
    audit(session, author, "conversation.note_added", conv, now)
    return note


@dataclass(frozen=True)
class OutcomeInput:
    kind: str
    value: Decimal | None = None
    currency: str | None = None
    stage: str | None = None
    note: str | None = None


# Which outcomes move the customer's lifetime value, and which way.
_VALUE_SIGN = {OutcomeKind.SALE: 1, OutcomeKind.REFUND: -1}


def log_outcome(
    session: Session, conversation_id: int, actor: str, form: OutcomeInput, now: datetime
) -> Outcome:
    conv = get_conversation(session, conversation_id)
    kind = OutcomeKind(form.kind)
    customer = session.get(Customer, conv.customer_id)
    if customer is None:
        raise ActionError("This conversation's customer record is gone.")
    outcome = Outcome(
        conversation_id=conversation_id,
        customer_id=customer.id or 0,
        kind=kind,
        value=form.value,
        currency=form.currency if form.value is not None else None,
        lifecycle_stage=LifecycleStage(form.stage) if form.stage else None,
        note=form.note,
        staff_slack_id=actor,
        created_at=now,
    )
    session.add(outcome)
    if form.value is not None and kind in _VALUE_SIGN:
        customer.lifetime_value += _VALUE_SIGN[kind] * form.value
        customer.currency = customer.currency or form.currency
    if form.stage:
        customer.lifecycle_stage = LifecycleStage(form.stage)
    customer.updated_at = now
    session.add(customer)
    conv.status = ConversationStatus.RESOLVED
    conv.resolved_at = now
    conv.updated_at = now
    conv.drafting_by = conv.drafting_since = None
    session.add(conv)
    audit(
        session,
        actor,
        "conversation.outcome_logged",
        conv,
        now,
        kind=str(kind),
        value=str(form.value) if form.value is not None else None,
        currency=form.currency,
    )
    session.flush()
    return outcome


def latest_outcome(session: Session, conversation_id: int) -> Outcome | None:
    return session.exec(
        select(Outcome)
        .where(Outcome.conversation_id == conversation_id)
        .order_by(col(Outcome.created_at).desc(), col(Outcome.id).desc())
    ).first()
