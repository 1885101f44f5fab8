"""What `/crm` reads: find a customer and their record, the queues, message search, stats,
and linking two records of one person. Session and typed inputs in, typed results out;
bot/blocks/lookup.py renders them.

A merged-away record resolves to the record it was merged into; an erased customer is never
returned (their conversations still count in stats, anonymously).
"""

from __future__ import annotations

import re
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import AnyHttpUrl, TypeAdapter, ValidationError
from sqlalchemy import ColumnElement, func, union_all
from sqlmodel import Session, col, select

from handlers.customers import merge_customers
from storage.models import (
    Conversation,
    ConversationStatus,
    ConversationTag,
    Customer,
    CustomerEmail,
    Direction,
    Identity,
    Message,
    Outcome,
    Tag,
)

MAX_MATCHES = 10
SNIPPET_CHARS = 300  # raw characters handed to the builder, which cuts on a grapheme boundary
CANDIDATES = 50
RECENT_CONVERSATIONS = 5
RECENT_OUTCOMES = 5
QUEUE_LIMIT = 15

_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_HTTP_URL = TypeAdapter(AnyHttpUrl)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class IdentityView:
    source: str
    handle: str | None
    display_name: str | None
    profile_url: str | None
    followers: int | None


@dataclass(frozen=True)
class ConversationItem:
    id: int
    source: str
    status: str
    priority: int
    intent: str | None
    created_at: datetime
    slack_channel: str | None
    slack_ts: str | None
    assignee: str | None
    customer_name: str | None  # the name, else the main handle (raw, untrusted)
    snippet: str  # the start of the first customer message (raw, untrusted)
    outcome: str | None = None


@dataclass(frozen=True)
class OutcomeView:
    kind: str
    value: Decimal | None
    currency: str | None
    staff: str
    created_at: datetime


@dataclass(frozen=True)
class CustomerCard:
    id: int
    name: str | None
    stage: str
    segment: str | None
    lifetime_value: Decimal
    currency: str | None
    emails: tuple[str, ...]
    identities: tuple[IdentityView, ...]  # most followed first
    tags: tuple[str, ...]
    conversations: tuple[ConversationItem, ...]  # the latest few
    conversation_count: int
    outcomes: tuple[OutcomeView, ...]  # the latest few
    outcome_counts: tuple[tuple[str, int], ...]
    worked_by: tuple[str, ...]  # Slack ids: assignees, repliers, who logged outcomes
    merged_records: int


@dataclass(frozen=True)
class CustomerMatch:
    id: int
    name: str | None
    identity: IdentityView | None  # the main one, to refine the query with


@dataclass(frozen=True)
class Matches:
    query: str
    matches: tuple[CustomerMatch, ...]
    total: int


@dataclass(frozen=True)
class NotFound:
    query: str


LookupResult = CustomerCard | Matches | NotFound


# ------------------------------------------------------------------ finding a customer
def like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _handle_hits(session: Session, query: str) -> list[int]:
    bare = query.lstrip("@").lower()
    # lower(handle) is what ix_identity_handle_lower indexes: the same expression, or a scan.
    wanted = func.lower(Identity.handle).in_([bare, f"@{bare}"])
    return list(session.exec(select(Identity.customer_id).where(wanted)).all())


def _contains(session: Session, column: Any, pattern: str) -> ColumnElement[bool]:
    """Case-insensitive substring match. SQLite's LIKE already ignores ASCII case, exactly
    as lower() LIKE lower() would (both fold ASCII only), and can read the name from a
    covering index without calling lower() on every row; PostgreSQL folds with ILIKE."""
    if session.get_bind().dialect.name == "sqlite":
        return col(column).like(pattern, escape="\\")
    return col(column).ilike(pattern, escape="\\")


def _name_hits(session: Session, query: str) -> list[int]:
    pattern = like_pattern(query)
    by_name = session.exec(
        select(Customer.id)
        .where(_contains(session, Customer.name, pattern))
        .order_by(col(Customer.updated_at).desc())
        .limit(CANDIDATES)
    ).all()
    by_display = session.exec(
        select(Identity.customer_id)
        .where(_contains(session, Identity.display_name, pattern))
        .order_by(col(Identity.updated_at).desc())
        .limit(CANDIDATES)
    ).all()
    return [*by_name, *by_display]


def _url_variants(url: str) -> set[str]:
    """The URL as typed and as ingest stored it (pydantic-normalized), with and without a
    trailing slash."""
    forms = {url}
    with suppress(ValidationError):
        forms.add(str(_HTTP_URL.validate_python(url)))
    return forms | {f.rstrip("/") for f in forms} | {f.rstrip("/") + "/" for f in forms}


def _candidates(session: Session, query: str) -> list[int]:
    """Customer ids (possibly merged away) the query names, best first."""
    if _URL.fullmatch(query):
        variants = _url_variants(query)
        by_profile = session.exec(
            select(Identity.customer_id).where(col(Identity.profile_url).in_(variants))
        ).all()
        by_post = session.exec(
            select(Conversation.customer_id).where(col(Conversation.url).in_(variants))
        ).all()
        return [*by_profile, *by_post]
    found = _handle_hits(session, query)
    if _EMAIL.fullmatch(query) and not query.startswith("@"):
        found += session.exec(
            select(CustomerEmail.customer_id).where(CustomerEmail.email == query.lower())
        ).all()
    if found or query.startswith("@"):
        return found
    return _name_hits(session, query)


def survivor(session: Session, customer_id: int) -> Customer | None:
    """The record a merged-away customer now lives in (itself when not merged)."""
    return _survivors(session, [customer_id]).get(customer_id)


def _survivors(session: Session, candidates: list[int]) -> dict[int, Customer | None]:
    """Each candidate's surviving record, loading records one merge hop at a time for all
    candidates together (a query per hop, not per candidate). Merges never form a cycle;
    the bound of 20 hops only guards bad data (None past it, as for a missing record)."""
    loaded: dict[int, Customer] = {}
    found: dict[int, Customer | None] = dict.fromkeys(candidates)
    current = {candidate: candidate for candidate in candidates}  # candidate -> id reached
    for _ in range(20):
        missing = set(current.values()) - loaded.keys()
        if missing:
            rows = session.exec(select(Customer).where(col(Customer.id).in_(missing))).all()
            loaded.update({c.id: c for c in rows if c.id is not None})
        for candidate, reached in list(current.items()):
            customer = loaded.get(reached)
            if customer is None or customer.merged_into_id is None:
                found[candidate] = customer
                del current[candidate]
            else:
                current[candidate] = customer.merged_into_id
        if not current:
            break
    return found


def resolve_customers(session: Session, query: str) -> list[int]:
    """Distinct live (not erased) customers the query names, best match first."""
    candidates = _candidates(session, query.strip())
    survivors = _survivors(session, candidates) if candidates else {}
    ids: list[int] = []
    for candidate in candidates:
        customer = survivors[candidate]
        if customer and customer.id and customer.erased_at is None and customer.id not in ids:
            ids.append(customer.id)
    return ids


def resolve_one(session: Session, query: str) -> int | Matches | NotFound:
    ids = resolve_customers(session, query)
    if not ids:
        return NotFound(query)
    if len(ids) > 1:
        return _matches(session, query, ids)
    return ids[0]


def _matches(session: Session, query: str, ids: list[int]) -> Matches:
    shown = tuple(customer_match(session, cid) for cid in ids[:MAX_MATCHES])
    return Matches(query=query, matches=shown, total=len(ids))


def lookup(session: Session, query: str) -> LookupResult:
    found = resolve_one(session, query)
    return customer_card(session, found) if isinstance(found, int) else found


# ------------------------------------------------------------------ the record
def _identities(session: Session, customer_id: int) -> list[IdentityView]:
    rows = session.exec(
        select(Identity).where(Identity.customer_id == customer_id).order_by(col(Identity.id))
    ).all()
    rows = sorted(rows, key=lambda i: -(i.followers or 0))
    return [
        IdentityView(i.source, i.handle, i.display_name, i.profile_url, i.followers) for i in rows
    ]


def customer_match(session: Session, customer_id: int) -> CustomerMatch:
    customer = session.get(Customer, customer_id)
    identities = _identities(session, customer_id)
    return CustomerMatch(
        id=customer_id,
        name=customer.name if customer else None,
        identity=identities[0] if identities else None,
    )


def customer_names(session: Session, customer_ids: set[int]) -> dict[int, str | None]:
    """Each customer's name, else the handle or display name of an identity."""
    rows = session.exec(
        select(Customer.id, Customer.name).where(col(Customer.id).in_(customer_ids))
    )
    names: dict[int, str | None] = {cid: name for cid, name in rows.all() if cid is not None}
    for cid, handle, display in session.exec(
        select(Identity.customer_id, Identity.handle, Identity.display_name).where(
            col(Identity.customer_id).in_(customer_ids)
        )
    ).all():
        names[cid] = names.get(cid) or display or handle
    return names


def _first_per_conversation(
    session: Session, value: Any, conversation: Any, order: tuple[Any, ...], *where: Any
) -> dict[int, Any]:
    """`value` of the first row per conversation in `order`, for many conversations in one
    query (a window function, not one query per conversation)."""
    rank = func.row_number().over(partition_by=conversation, order_by=order)
    ranked = select(conversation.label("cid"), value.label("value"), rank.label("rank"))
    ranked_rows = ranked.where(*where).subquery()
    rows = session.execute(
        select(ranked_rows.c.cid, ranked_rows.c.value).where(ranked_rows.c.rank == 1)
    )
    return {cid: found for cid, found in rows.all()}


def _items(session: Session, convs: list[Conversation]) -> list[ConversationItem]:
    if not convs:
        return []
    names = customer_names(session, {c.customer_id for c in convs})
    ids = [c.id for c in convs if c.id is not None]
    firsts = _first_per_conversation(
        session,
        col(Message.text),
        col(Message.conversation_id),
        (col(Message.created_at), col(Message.id)),
        col(Message.conversation_id).in_(ids),
        Message.direction == Direction.IN,
    )
    outcomes = _first_per_conversation(
        session,
        col(Outcome.kind),
        col(Outcome.conversation_id),
        (col(Outcome.created_at).desc(), col(Outcome.id).desc()),
        col(Outcome.conversation_id).in_(ids),
    )
    return [
        ConversationItem(
            id=conv.id or 0,
            source=conv.source,
            status=str(conv.status),
            priority=conv.priority,
            intent=conv.intent,
            created_at=conv.created_at,
            slack_channel=conv.slack_channel,
            slack_ts=conv.slack_ts,
            assignee=conv.assignee_slack_id,
            customer_name=names.get(conv.customer_id),
            snippet=firsts.get(conv.id or 0, "")[:SNIPPET_CHARS],
            outcome=str(outcomes[conv.id]) if conv.id in outcomes else None,
        )
        for conv in convs
    ]


def _worked_by(session: Session, customer_id: int) -> tuple[str, ...]:
    """Assignees, repliers and who logged outcomes, in one round trip."""
    of_customer = Conversation.customer_id == customer_id
    everyone = union_all(
        select(col(Conversation.assignee_slack_id).label("who")).where(of_customer),
        select(col(Message.author_slack_id).label("who"))
        .join(Conversation, col(Conversation.id) == Message.conversation_id)
        .where(of_customer, Message.direction == Direction.OUT),
        select(col(Outcome.staff_slack_id).label("who")).where(Outcome.customer_id == customer_id),
    )
    return tuple(sorted({who for (who,) in session.execute(everyone).all() if who}))


def _counts(session: Session, customer_id: int) -> tuple[int, int]:
    """Conversations, and records merged into this one, in one round trip."""
    conversations = select(func.count()).where(Conversation.customer_id == customer_id)
    merged = select(func.count()).where(Customer.merged_into_id == customer_id)
    row = session.execute(select(conversations.scalar_subquery(), merged.scalar_subquery()))
    total, merged_records = row.one()
    return int(total), int(merged_records)


def customer_card(session: Session, customer_id: int) -> CustomerCard:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise LookupError(f"no customer {customer_id}")
    of_customer = Conversation.customer_id == customer_id
    convs = session.exec(
        select(Conversation)
        .where(of_customer)
        .order_by(col(Conversation.last_message_at).desc(), col(Conversation.id).desc())
        .limit(RECENT_CONVERSATIONS)
    ).all()
    tags = session.exec(
        select(Tag.name)
        .join(ConversationTag, col(ConversationTag.tag_id) == Tag.id)
        .join(Conversation, col(Conversation.id) == ConversationTag.conversation_id)
        .where(of_customer)
        .distinct()
    ).all()
    outcomes = session.exec(
        select(Outcome)
        .where(Outcome.customer_id == customer_id)
        .order_by(col(Outcome.created_at).desc(), col(Outcome.id).desc())
    ).all()
    emails = session.exec(
        select(CustomerEmail.email).where(CustomerEmail.customer_id == customer_id)
    )
    conversation_count, merged_records = _counts(session, customer_id)
    return CustomerCard(
        id=customer_id,
        name=customer.name,
        stage=str(customer.lifecycle_stage),
        segment=customer.segment,
        lifetime_value=Decimal(customer.lifetime_value or 0),
        currency=customer.currency,
        emails=tuple(sorted(emails.all())),
        identities=tuple(_identities(session, customer_id)),
        tags=tuple(sorted(tags)),
        conversations=tuple(_items(session, list(convs))),
        conversation_count=conversation_count,
        outcomes=tuple(
            OutcomeView(str(o.kind), o.value, o.currency, o.staff_slack_id, o.created_at)
            for o in outcomes[:RECENT_OUTCOMES]
        ),
        outcome_counts=tuple(sorted(Counter(str(o.kind) for o in outcomes).items())),
        worked_by=_worked_by(session, customer_id),
        merged_records=merged_records,
    )


# ------------------------------------------------------------------ queues
@dataclass(frozen=True)
class Queue:
    items: tuple[ConversationItem, ...]
    total: int


def _queue(session: Session, *where: object, limit: int) -> Queue:
    conditions = list(where)
    convs = session.exec(
        select(Conversation)
        .where(*conditions)
        .order_by(
            col(Conversation.priority).desc(), col(Conversation.created_at), col(Conversation.id)
        )
        .limit(limit)
    ).all()
    total = session.exec(select(func.count()).select_from(Conversation).where(*conditions)).one()
    return Queue(items=tuple(_items(session, list(convs))), total=total)


def open_queue(session: Session, limit: int = QUEUE_LIMIT) -> Queue:
    """Unclaimed open conversations: highest priority first, then oldest."""
    return _queue(
        session,
        Conversation.status == ConversationStatus.OPEN,
        col(Conversation.assignee_slack_id).is_(None),
        limit=limit,
    )


def my_queue(session: Session, user: str, limit: int = QUEUE_LIMIT) -> Queue:
    """Open and replied conversations assigned to `user`, most urgent and oldest first."""
    return _queue(
        session,
        col(Conversation.status).in_([ConversationStatus.OPEN, ConversationStatus.REPLIED]),
        Conversation.assignee_slack_id == user,
        limit=limit,
    )


# ------------------------------------------------------------------ search
@dataclass(frozen=True)
class Linked:
    kept: CustomerMatch
    merged: CustomerMatch
    already: bool = False  # both arguments named the same record


LinkResult = Linked | Matches | NotFound


def link_customers(
    session: Session, first: str, second: str, actor: str, now: datetime
) -> LinkResult:
    """Merge the record `second` names into the one `first` names (audited by the merge)."""
    keep = resolve_one(session, first)
    if not isinstance(keep, int):
        return keep
    merge = resolve_one(session, second)
    if not isinstance(merge, int):
        return merge
    kept, merged = customer_match(session, keep), customer_match(session, merge)  # as they were
    if keep != merge:
        merge_customers(session, keep=keep, merge=merge, actor=actor, now=now)
    return Linked(kept=kept, merged=merged, already=keep == merge)
