"""Draft replies: asking for one, the drafting mark, edits, and the approved send.

A draft is never sent without a person's click: `approve_send` is the only way a draft
becomes an outbound message, and it flips the draft's status in one conditional UPDATE so
a double-click (or Slack re-delivering the click) sends once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, func, select

from handlers.conversation_actions import ActionError, audit, claim_conversation, get_conversation
from handlers.drafting import NETWORK_LIMITS, DraftContext, Drafter, DraftText
from handlers.ingest import enqueue
from storage.models import (
    Conversation,
    ConversationStatus,
    Customer,
    Direction,
    Draft,
    DraftStatus,
    Message,
    OutboxItem,
    OutboxStatus,
    Outcome,
)

DRAFTING_MARK_TTL = timedelta(minutes=10)
SENDABLE = (DraftStatus.PROPOSED, DraftStatus.FAILED)


def drafting_by_other(conv: Conversation, user: str, now: datetime) -> str | None:
    """Who else is drafting a reply on this conversation right now (the mark times out)."""
    fresh = conv.drafting_since is not None and now - conv.drafting_since < DRAFTING_MARK_TTL
    return conv.drafting_by if fresh and conv.drafting_by not in (None, user) else None


def mark_drafting(session: Session, conversation_id: int, user: str | None, now: datetime) -> None:
    conv = get_conversation(session, conversation_id)
    conv.drafting_by, conv.drafting_since = (user, now) if user else (None, None)
    session.add(conv)


def draft_context(session: Session, conv: Conversation) -> DraftContext:
    """Only this conversation's own messages go into a draft: no other customer's data."""
    # The latest 20 messages, oldest first: enough context without loading a long history.
    latest = session.exec(
        select(Message)
        .where(
            Message.conversation_id == conv.id,
            col(Message.direction).in_([Direction.IN, Direction.OUT]),
        )
        .order_by(col(Message.created_at).desc(), col(Message.id).desc())
        .limit(20)
    ).all()
    messages = list(reversed(latest))
    return DraftContext(
        conversation_id=conv.id or 0,
        source=conv.source,
        intent=conv.intent,
        language=conv.language,
        history=tuple((str(m.direction), m.text) for m in messages),
        max_chars=NETWORK_LIMITS.get(conv.source),
        customer_summary=customer_summary(session, conv),
    )


def customer_summary(session: Session, conv: Conversation) -> str:
    """The customer's record in a few facts (no name or contact data: the draft needs none)."""
    customer = session.get(Customer, conv.customer_id)
    if customer is None:
        return "A new customer."
    outcomes = session.exec(
        select(Outcome.kind, func.count())
        .where(Outcome.customer_id == customer.id)
        .group_by(Outcome.kind)
    ).all()
    others = session.exec(
        select(func.count())
        .select_from(Conversation)
        .where(
            Conversation.customer_id == customer.id,
            Conversation.id != conv.id,
            col(Conversation.status).in_([ConversationStatus.OPEN, ConversationStatus.REPLIED]),
        )
    ).one()
    past = ", ".join(f"{kind} x{n}" for kind, n in sorted(outcomes)) or "none"
    value = f"{customer.lifetime_value:.2f} {customer.currency or ''}".strip()
    return (
        f"Lifecycle stage: {customer.lifecycle_stage}. Lifetime value: {value}. "
        f"Past outcomes: {past}. Other open conversations: {others}."
    )


def create_draft(
    session: Session, conversation_id: int, user: str, drafter: Drafter, now: datetime
) -> Draft:
    """Produce a draft (proposed), replacing any earlier proposed one, and keep the mark."""
    conv = get_conversation(session, conversation_id)
    produced: DraftText = drafter.draft(draft_context(session, conv))
    session.execute(
        update(Draft)
        .where(
            col(Draft.conversation_id) == conversation_id, col(Draft.status) == DraftStatus.PROPOSED
        )
        .values(status=DraftStatus.SUPERSEDED, updated_at=now)
    )
    draft = Draft(
        conversation_id=conversation_id,
        text=produced.text,
        language=produced.language,
        drafter=produced.drafter,
        fallback_reason=produced.fallback_reason,
        requested_by=user,
        created_at=now,
        updated_at=now,
    )
    session.add(draft)
    conv.drafting_by, conv.drafting_since = user, now
    session.add(conv)
    session.flush()
    audit(session, user, "draft.created", conv, now, draft_id=draft.id, drafter=produced.drafter)
    return draft


def get_draft(session: Session, draft_id: int) -> Draft:
    draft = session.get(Draft, draft_id)
    if draft is None:
        raise ActionError(f"Draft {draft_id} no longer exists.")
    return draft


def edit_draft(session: Session, draft_id: int, text: str, user: str, now: datetime) -> Draft:
    draft = get_draft(session, draft_id)
    if draft.status not in SENDABLE:
        raise ActionError("This draft was already sent or discarded.")
    if not text.strip():
        raise ActionError("The reply can't be empty.")
    draft.text, draft.updated_at = text, now
    session.add(draft)
    mark_drafting(session, draft.conversation_id, user, now)
    audit(
        session,
        user,
        "draft.edited",
        get_conversation(session, draft.conversation_id),
        now,
        draft_id=draft_id,
    )
    return draft


def discard_draft(session: Session, draft_id: int, user: str, now: datetime) -> Draft:
    draft = get_draft(session, draft_id)
    if draft.status in SENDABLE:
        draft.status, draft.updated_at = DraftStatus.DISCARDED, now
        session.add(draft)
        mark_drafting(session, draft.conversation_id, None, now)
        audit(
            session,
            user,
            "draft.discarded",
            get_conversation(session, draft.conversation_id),
            now,
            draft_id=draft_id,
        )
    return draft


@dataclass(frozen=True)
class SendDecision:
    sent: bool  # True: this click queued the reply
    reason: str | None = None  # why not: "duplicate", "not_assignee", "read_only"
    assignee: str | None = None
    message_id: int | None = None


def approve_send(
    session: Session, draft_id: int, user: str, now: datetime, *, read_only: bool = False
) -> SendDecision:
    draft = get_draft(session, draft_id)
    conv = get_conversation(session, draft.conversation_id)
    if read_only:
        return SendDecision(sent=False, reason="read_only")
    if conv.assignee_slack_id is None:
        claim_conversation(session, conv.id or 0, user, now)  # unclaimed: the sender takes it
        session.refresh(conv)
    if conv.assignee_slack_id != user:
        return SendDecision(sent=False, reason="not_assignee", assignee=conv.assignee_slack_id)
    flipped = session.execute(
        update(Draft)
        .where(col(Draft.id) == draft_id, col(Draft.status).in_(SENDABLE))
        .values(status=DraftStatus.SENDING, updated_at=now)
    ).rowcount
    if not flipped:
        return SendDecision(sent=False, reason="duplicate", assignee=user)
    reply = Message(
        conversation_id=conv.id or 0,
        source=conv.source,
        direction=Direction.OUT,
        author_slack_id=user,
        text=draft.text,
        language=draft.language,
        created_at=now,
        received_at=now,
    )
    session.add(reply)
    session.flush()
    enqueue(
        session,
        "network_reply",
        f"reply-out:{draft_id}",
        conv,
        {"draft_id": draft_id, "message_id": reply.id},
        destination=conv.source,
    )
    conv.drafting_by = conv.drafting_since = None
    session.add(conv)
    audit(session, user, "draft.approved", conv, now, draft_id=draft_id)
    return SendDecision(sent=True, assignee=user, message_id=reply.id)


def retry_delivery(session: Session, draft_id: int, user: str, now: datetime) -> bool:
    """Queue a failed delivery again (the Retry button)."""
    draft = get_draft(session, draft_id)
    if draft.status != DraftStatus.FAILED:
        return False
    item = session.exec(
        select(OutboxItem).where(OutboxItem.idempotency_key == f"reply-out:{draft_id}")
    ).first()
    if item is None:
        return False
    item.status, item.attempts, item.next_attempt_at = OutboxStatus.PENDING, 0, now
    item.locked_by = item.locked_until = None
    draft.status = DraftStatus.SENDING
    session.add_all([item, draft])
    audit(
        session,
        user,
        "delivery.retried",
        get_conversation(session, draft.conversation_id),
        now,
        draft_id=draft_id,
    )
    return True


def record_delivery(
    session: Session,
    draft_id: int,
    message_id: int,
    *,
    ok: bool,
    external_id: str | None,
    url: str | None,
    error: str | None,
    now: datetime,
) -> None:
    """What the network said about our reply; success records the first response time."""
    draft = get_draft(session, draft_id)
    message = session.get(Message, message_id)
    conv = get_conversation(session, draft.conversation_id)
    if ok:
        draft.status = DraftStatus.SENT
        if message is not None:
            message.external_id, message.url = external_id, url
            session.add(message)
        conv.first_response_at = conv.first_response_at or now
        if conv.status == ConversationStatus.OPEN:
            conv.status = ConversationStatus.REPLIED
        audit(
            session,
            message.author_slack_id if message else "system",
            "reply.delivered",
            conv,
            now,
            draft_id=draft_id,
            external_id=external_id,
        )
    else:
        draft.status = DraftStatus.FAILED  # the reason stays on the outbox row (last_error)
        audit(session, "system", "reply.failed", conv, now, draft_id=draft_id, error=error)
    draft.updated_at = conv.updated_at = now
    session.add_all([draft, conv])
