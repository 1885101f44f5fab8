"""The CRM's tables.

Enumerations are stored as short strings, not database enum types, so adding a value is a
code change rather than a migration on PostgreSQL. Every datetime is timezone-aware UTC.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Any

from sqlalchemy import JSON, Index, Numeric, String, Text, UniqueConstraint, func
from sqlmodel import Field, SQLModel, col

from storage.types import UTCDateTime, utcnow


class LifecycleStage(StrEnum):
    LEAD = "lead"
    PROSPECT = "prospect"
    CUSTOMER = "customer"
    CHURNED = "churned"


class ConversationStatus(StrEnum):
    OPEN = "open"  # waiting for a person
    REPLIED = "replied"  # we answered; the customer may write again
    RESOLVED = "resolved"
    SUPPRESSED = "suppressed"  # stored and counted but not posted (spam, post = false rules)


class Priority(IntEnum):
    """Integers so "highest priority first" is a plain ORDER BY."""

    LOW = 0
    NORMAL = 1
    HIGH = 2
    URGENT = 3


class Direction(StrEnum):
    IN = "in"  # from the customer
    OUT = "out"  # our reply, delivered on the customer's network
    NOTE = "note"  # staff-only, typed in the Slack thread


class OutcomeKind(StrEnum):
    RESOLVED = "resolved"
    LEAD_CREATED = "lead_created"
    SALE = "sale"
    REFUND = "refund"
    ESCALATED = "escalated"
    NO_ACTION = "no_action"
    SPAM = "spam"


class DraftStatus(StrEnum):
    PROPOSED = "proposed"
    SENDING = "sending"  # approved; the network has not confirmed yet
    FAILED = "failed"  # the network refused or kept failing; Retry is offered
    SENT = "sent"
    DISCARDED = "discarded"
    SUPERSEDED = "superseded"


class StaffRole(StrEnum):
    AGENT = "agent"
    MANAGER = "manager"
    ADMIN = "admin"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    PARKED = "parked"  # kept failing; shown by `doctor`, retried by hand


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Customer(SQLModel, table=True):
    __table_args__ = (
        # Merged-away records by survivor: the card's "merged records" count.
        Index("ix_customer_merged_into_id", "merged_into_id"),
        # Name lookups, newest first: read from the index alone, stopping at enough matches.
        Index("ix_customer_updated_name", "updated_at", "name"),
    )
    id: int | None = Field(default=None, primary_key=True)
    name: str | None = Field(default=None, sa_type=String(300))
    lifecycle_stage: LifecycleStage = Field(default=LifecycleStage.LEAD, sa_type=String(20))
    segment: str | None = Field(default=None, sa_type=String(100))
    lifetime_value: Decimal = Field(default=Decimal("0"), sa_type=Numeric(14, 2))
    currency: str | None = Field(default=None, sa_type=String(3))
    notes: str | None = Field(default=None, sa_type=Text)
    # When two records turn out to be one person, the loser points at the survivor.
    merged_into_id: int | None = Field(default=None, foreign_key="customer.id")
    created_at: datetime = _created()
    updated_at: datetime = _created()
    erased_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CustomerEmail(SQLModel, table=True):
    """One row per address: an email seen on any network links identities to one customer."""

    __tablename__ = "customer_email"
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True, ondelete="CASCADE")
    email: str = Field(sa_type=String(320), unique=True)  # stored lower-cased
    created_at: datetime = _created()


class Identity(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_identity_source_ext"),
        Index("ix_identity_profile_url", "profile_url"),  # /crm lookup <profile URL>
        Index("ix_identity_followers", "followers"),  # the digest's influencers
        # Display-name lookups, newest first, from the index alone (as for customer names).
        Index("ix_identity_updated_display_name", "updated_at", "display_name", "customer_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    source: str = Field(sa_type=String(40))
    external_id: str = Field(sa_type=String(255))
    handle: str | None = Field(default=None, sa_type=String(255), index=True)
    display_name: str | None = Field(default=None, sa_type=String(300))
    profile_url: str | None = Field(default=None, sa_type=String(1000))
    followers: int | None = None
    created_at: datetime = _created()
    updated_at: datetime = _created()


# `/crm lookup @handle` matches case-insensitively; the index is on the same expression.
Index("ix_identity_handle_lower", func.lower(col(Identity.handle)))


class Conversation(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("source", "external_thread_id", name="uq_conversation_source_thread"),
        # The open queue: unclaimed, highest priority, oldest first.
        Index("ix_conversation_queue", "status", "assignee_slack_id", "priority", "created_at"),
        # Digests and stats by period; with status, the digest's daily counts read only this.
        Index("ix_conversation_created_status", "created_at", "status"),
        Index("ix_conversation_url", "url"),  # /crm lookup <post URL>
    )
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(sa_type=String(40))
    external_thread_id: str = Field(sa_type=String(255))
    customer_id: int = Field(foreign_key="customer.id", index=True)
    status: ConversationStatus = Field(default=ConversationStatus.OPEN, sa_type=String(20))
    assignee_slack_id: str | None = Field(default=None, sa_type=String(32), index=True)
    priority: int = Field(default=Priority.NORMAL)
    intent: str | None = Field(default=None, sa_type=String(30))
    sentiment: str | None = Field(default=None, sa_type=String(20))
    language: str | None = Field(default=None, sa_type=String(16))
    # One-line English summary from an LLM classifier, shown on cards in other languages.
    summary: str | None = Field(default=None, sa_type=String(500))
    is_direct: bool = False
    url: str | None = Field(default=None, sa_type=String(1000))
    route_rule: str | None = Field(default=None, sa_type=String(100))  # the rule that routed it
    home_channel: str | None = Field(default=None, sa_type=String(100))  # #name or id from config
    # Where replies go and other per-network routing facts (webhook reply_url, visibility…).
    source_meta: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    slack_channel: str | None = Field(default=None, sa_type=String(32))
    slack_ts: str | None = Field(default=None, sa_type=String(32))
    created_at: datetime = _created()
    updated_at: datetime = _created()
    last_message_at: datetime = _created()
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Who has a draft open right now, so a colleague is warned before answering too.
    drafting_by: str | None = Field(default=None, sa_type=String(32))
    drafting_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_response_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Message(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_message_source_ext"),
        Index("ix_message_conversation_created", "conversation_id", "created_at"),
        # A burst joined into another conversation keeps its own thread id; later replies
        # in that thread find the conversation through this index.
        Index("ix_message_source_thread", "source", "external_thread_id"),
        # Replies per period and per agent, read from the index alone. Not led by direction:
        # SQLite would then prefer it over the conversation index for per-conversation probes.
        Index("ix_message_created_direction", "created_at", "direction", "author_slack_id"),
        # The digest's influencer check and erasure find a person's messages through it.
        Index("ix_message_author_identity", "author_identity_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id")
    source: str = Field(sa_type=String(40))
    # Null for notes and for replies not yet delivered (the network assigns the id).
    external_id: str | None = Field(default=None, sa_type=String(255))
    external_parent_id: str | None = Field(default=None, sa_type=String(255))
    external_thread_id: str | None = Field(default=None, sa_type=String(255))
    direction: Direction = Field(sa_type=String(8))
    author_identity_id: int | None = Field(default=None, foreign_key="identity.id")
    author_slack_id: str | None = Field(default=None, sa_type=String(32))
    text: str = Field(sa_type=Text)
    language: str | None = Field(default=None, sa_type=String(16))
    url: str | None = Field(default=None, sa_type=String(1000))
    attachments: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    slack_ts: str | None = Field(default=None, sa_type=String(32))
    created_at: datetime = _created()  # when the author wrote it (the network's clock)
    received_at: datetime = _created()  # when we stored it


class Tag(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=String(80), unique=True)
    created_by: str | None = Field(default=None, sa_type=String(32))
    created_at: datetime = _created()


class ConversationTag(SQLModel, table=True):
    __tablename__ = "conversation_tag"
    conversation_id: int = Field(foreign_key="conversation.id", primary_key=True)
    tag_id: int = Field(foreign_key="tag.id", primary_key=True, index=True)
    added_by: str | None = Field(default=None, sa_type=String(32))  # None = routing rule
    added_at: datetime = _created()


class Outcome(SQLModel, table=True):
    __table_args__ = (Index("ix_outcome_created", "created_at"),)
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    kind: OutcomeKind = Field(sa_type=String(20))
    value: Decimal | None = Field(default=None, sa_type=Numeric(14, 2))
    currency: str | None = Field(default=None, sa_type=String(3))
    lifecycle_stage: LifecycleStage | None = Field(default=None, sa_type=String(20))
    note: str | None = Field(default=None, sa_type=Text)
    staff_slack_id: str = Field(sa_type=String(32))
    created_at: datetime = _created()


class Draft(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    text: str = Field(sa_type=Text)
    language: str | None = Field(default=None, sa_type=String(16))
    drafter: str = Field(sa_type=String(40))  # "offline", "openai:<model>"
    # Why an LLM draft fell back to the offline drafter, shown on the draft.
    fallback_reason: str | None = Field(default=None, sa_type=String(300))
    status: DraftStatus = Field(default=DraftStatus.PROPOSED, sa_type=String(20))
    requested_by: str | None = Field(default=None, sa_type=String(32))
    slack_ts: str | None = Field(default=None, sa_type=String(32))
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Staff(SQLModel, table=True):
    slack_user_id: str = Field(primary_key=True, sa_type=String(32))
    name: str | None = Field(default=None, sa_type=String(300))
    role: StaffRole = Field(default=StaffRole.AGENT, sa_type=String(20))
    timezone: str | None = Field(default=None, sa_type=String(64))
    created_at: datetime = _created()
    updated_at: datetime = _created()


class OutboxItem(SQLModel, table=True):
    """Work for the outside world (Slack posts, replies on a network), done at least once and
    made effectively once by the idempotency key and the Slack message metadata."""

    __tablename__ = "outbox_item"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_type=String(40))
    idempotency_key: str = Field(sa_type=String(200), unique=True)
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id", index=True)
    # Slack channel (for per-channel rate limits) or network the item goes to.
    destination: str | None = Field(default=None, sa_type=String(100))
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    status: OutboxStatus = Field(default=OutboxStatus.PENDING, sa_type=String(20))
    attempts: int = 0
    next_attempt_at: datetime = _created()
    # A lease, so a drainer that died mid-item does not hold it forever.
    locked_by: str | None = Field(default=None, sa_type=String(100))
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=Text)
    result: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _created()
    actor: str = Field(sa_type=String(64))  # Slack user id, or "system"
    action: str = Field(sa_type=String(60), index=True)
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id", index=True)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class DigestRun(SQLModel, table=True):
    """Claimed before a digest is sent, so each manager gets exactly one per local day."""

    __tablename__ = "digest_run"
    __table_args__ = (UniqueConstraint("manager_slack_id", "day", name="uq_digest_manager_day"),)
    id: int | None = Field(default=None, primary_key=True)
    manager_slack_id: str = Field(sa_type=String(32))
    day: date
    status: str = Field(default="claimed", sa_type=String(20))
    slack_channel: str | None = Field(default=None, sa_type=String(32))
    slack_ts: str | None = Field(default=None, sa_type=String(32))
    created_at: datetime = _created()
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SourceCursor(SQLModel, table=True):
    """Where each watched account left off, advanced in the same transaction as the ingest."""

    __tablename__ = "source_cursor"
    source: str = Field(primary_key=True, sa_type=String(40))
    account: str = Field(primary_key=True, sa_type=String(255))
    cursor: str | None = Field(default=None, sa_type=String(255))
    updated_at: datetime = _created()
