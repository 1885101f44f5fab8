"""Capture → prioritize → route: one inbound message in one transaction.

Dedupe, identity and customer, conversation, message, classification, routing and the
outbox row all commit together, so a crash anywhere loses nothing and posts nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from bot.config_schema import TeamConfig
from handlers.classify import Classification
from handlers.customers import upsert_identity
from handlers.inbound import InboundMessage
from handlers.routing import RoutingDecision, RoutingInput, route
from storage.models import (
    AuditEvent,
    Conversation,
    ConversationStatus,
    ConversationTag,
    Direction,
    Identity,
    Message,
    OutboxItem,
    Tag,
)

ACTIVE = (ConversationStatus.OPEN, ConversationStatus.REPLIED, ConversationStatus.SUPPRESSED)


@dataclass(frozen=True)
class IngestResult:
    conversation_id: int
    message_id: int
    duplicate: bool
    new_conversation: bool = False
    reopened: bool = False
    posted: bool = False  # whether Slack will hear of it (False for spam and post = false)


def already_stored(session: Session, msg: InboundMessage) -> IngestResult | None:
    seen = session.exec(
        select(Message.id, Message.conversation_id).where(
            Message.source == msg.source, Message.external_id == msg.external_id
        )
    ).first()
    if seen is None:
        return None
    return IngestResult(conversation_id=seen[1], message_id=seen[0], duplicate=True)


def ingest_message(
    session: Session,
    msg: InboundMessage,
    team: TeamConfig,
    classification: Classification,
    now: datetime | None = None,
) -> IngestResult:
    """`classification` is computed before the transaction: an LLM classifier may take
    seconds, and no write lock should wait on it."""
    now = now or datetime.now(UTC)
    seen = already_stored(session, msg)
    if seen is not None:
        return seen

    identity = upsert_identity(session, msg.source, msg.author, now)
    decision = route(RoutingInput(msg.source, msg.text, msg.followers, classification), team)
    conversation = find_conversation(session, msg, identity, team)
    if conversation is None:
        conversation = open_conversation(
            session, msg, identity, classification, decision, team, now
        )
        message = store_message(session, conversation, msg, identity, classification, now)
        if conversation.status != ConversationStatus.SUPPRESSED:
            enqueue_card(session, conversation, decision, team)
        return IngestResult(
            conversation.id or 0,
            message.id or 0,
            duplicate=False,
            new_conversation=True,
            posted=decision.post,
        )

    reopened = continue_conversation(session, conversation, decision, msg, now)
    message = store_message(session, conversation, msg, identity, classification, now)
    posted = conversation.status != ConversationStatus.SUPPRESSED
    if posted:
        enqueue(
            session, "slack_reply", f"reply:{message.id}", conversation, {"message_id": message.id}
        )
        if reopened:
            enqueue(
                session,
                "slack_card_update",
                f"card-update:{conversation.id}:{message.id}",
                conversation,
                {"conversation_id": conversation.id},
            )
    return IngestResult(
        conversation.id or 0, message.id or 0, duplicate=False, reopened=reopened, posted=posted
    )


def find_conversation(
    session: Session, msg: InboundMessage, identity: Identity, team: TeamConfig
) -> Conversation | None:
    """The same social thread, else the thread of the message it answers, else the author's
    conversation still inside the grouping window (a burst becomes one conversation)."""
    found = session.exec(
        select(Conversation).where(
            Conversation.source == msg.source, Conversation.external_thread_id == msg.thread_id
        )
    ).first()
    if found is not None:
        return found
    keys = [(Message.external_thread_id, msg.thread_id)]
    if msg.parent_id:
        keys.append((Message.external_id, msg.parent_id))
    for column, value in keys:
        conv_id = session.exec(
            select(Message.conversation_id).where(Message.source == msg.source, column == value)
        ).first()
        if conv_id is not None:
            return session.get(Conversation, conv_id)
    window = timedelta(minutes=team.routing.grouping_window_minutes)
    if not window:
        return None
    return session.exec(
        select(Conversation)
        .where(
            Conversation.customer_id == identity.customer_id,
            Conversation.source == msg.source,
            Conversation.is_direct == msg.is_direct,
            col(Conversation.status).in_(ACTIVE),
            Conversation.last_message_at >= msg.created_at - window,
        )
        .order_by(col(Conversation.last_message_at).desc())
    ).first()


def open_conversation(
    session: Session,
    msg: InboundMessage,
    identity: Identity,
    classification: Classification,
    decision: RoutingDecision,
    team: TeamConfig,
    now: datetime,
) -> Conversation:
    status = ConversationStatus.OPEN if decision.post else ConversationStatus.SUPPRESSED
    conversation = Conversation(
        source=msg.source,
        external_thread_id=msg.thread_id,
        customer_id=identity.customer_id,
        status=status,
        priority=int(decision.priority),
        intent=classification.intent,
        sentiment=classification.sentiment,
        language=classification.language,
        summary=classification.summary,
        is_direct=msg.is_direct,
        url=str(msg.url) if msg.url else None,
        route_rule=decision.rule,
        home_channel=team.channel_ref(decision.channel_key),
        source_meta=dict(msg.reply_meta),
        created_at=now,
        updated_at=now,
        last_message_at=msg.created_at,
    )
    session.add(conversation)
    session.flush()
    add_tags(session, conversation.id or 0, decision.tags, added_by=None, now=now)
    session.add(
        AuditEvent(
            actor="system",
            action="conversation.opened",
            conversation_id=conversation.id,
            customer_id=conversation.customer_id,
            at=now,
            detail={
                "rule": decision.rule,
                "channel": decision.channel_key,
                "posted": decision.post,
                "priority": int(decision.priority),
                "influencer": decision.influencer,
            },
        )
    )
    return conversation


def continue_conversation(
    session: Session,
    conversation: Conversation,
    decision: RoutingDecision,
    msg: InboundMessage,
    now: datetime,
) -> bool:
    """A new customer message: bump the clock and priority; reopen a resolved conversation.
    The newest message's reply facts (post refs, visibility) win, so a reply answers it."""
    written_at = msg.created_at
    if msg.reply_meta and written_at >= conversation.last_message_at:
        conversation.source_meta = {**conversation.source_meta, **msg.reply_meta}
    reopened = conversation.status == ConversationStatus.RESOLVED
    if reopened:
        conversation.status = ConversationStatus.OPEN
        conversation.resolved_at = None
        session.add(
            AuditEvent(
                actor="system",
                action="conversation.reopened",
                at=now,
                conversation_id=conversation.id,
                customer_id=conversation.customer_id,
            )
        )
    conversation.priority = max(conversation.priority, int(decision.priority))
    conversation.last_message_at = max(conversation.last_message_at, written_at)
    conversation.updated_at = now
    session.add(conversation)
    return reopened


def store_message(
    session: Session,
    conversation: Conversation,
    msg: InboundMessage,
    identity: Identity,
    classification: Classification,
    now: datetime,
) -> Message:
    message = Message(
        conversation_id=conversation.id or 0,
        source=msg.source,
        external_id=msg.external_id,
        external_parent_id=msg.parent_id,
        external_thread_id=msg.thread_id,
        direction=Direction.IN,
        author_identity_id=identity.id,
        text=msg.text,
        language=classification.language,
        url=str(msg.url) if msg.url else None,
        attachments=[a.model_dump(mode="json") for a in msg.attachments],
        created_at=msg.created_at,
        received_at=now,
    )
    session.add(message)
    session.flush()
    return message


def add_tags(
    session: Session, conversation_id: int, names: list[str], added_by: str | None, now: datetime
) -> None:
    for name in names:
        tag = session.exec(select(Tag).where(Tag.name == name)).first()
        if tag is None:
            tag = Tag(name=name, created_by=added_by, created_at=now)
            session.add(tag)
            session.flush()
        if session.get(ConversationTag, (conversation_id, tag.id)) is None:
            session.add(
                ConversationTag(
                    conversation_id=conversation_id,
                    tag_id=tag.id or 0,
                    added_by=added_by,
                    added_at=now,
                )
            )


def enqueue_card(
    session: Session, conversation: Conversation, decision: RoutingDecision, team: TeamConfig
) -> None:
    enqueue(
        session,
        "slack_card",
        f"card:{conversation.id}",
        conversation,
        {"conversation_id": conversation.id},
    )
    for key in decision.notify:
        enqueue(
            session,
            "slack_notice",
            f"notice:{conversation.id}:{key}",
            conversation,
            {"conversation_id": conversation.id},
            destination=team.channel_ref(key),
        )


def enqueue(
    session: Session,
    kind: str,
    key: str,
    conversation: Conversation,
    payload: dict[str, object],
    destination: str | None = None,
) -> None:
    """Outbox rows hold ids, not text: the drainer renders from the database at send time,
    so a card shows the latest state and no customer text sits in the queue."""
    session.add(
        OutboxItem(
            kind=kind,
            idempotency_key=key,
            conversation_id=conversation.id,
            destination=destination or conversation.slack_channel or conversation.home_channel,
            payload=payload,
        )
    )
