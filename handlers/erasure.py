"""`/crm forget`: erase a customer's personal data everywhere, keeping anonymous counts.

Erased: the customer's name, notes and emails (of the record and of every record merged into
it); each identity's handle, display name, profile URL, follower count and network user id
(a new message from that account starts a new customer); the text, links and attachments
of every message in their conversations and every message they wrote elsewhere; draft
texts; outcome notes; conversation summaries, links and routing facts. Kept: the rows
themselves (conversation counts, outcome kinds and values, message rows reading "[erased]")
and the networks' message and thread ids, so a re-delivered message is still recognised as
already stored instead of being imported again.

Slack is rewritten through the outbox: each card is re-rendered (it now shows nothing
personal) and every other bot message about them (thread copies of their messages, full-text
follow-ups, drafts, notices in other channels) is edited to "[erased]". Staff notes typed in
a thread are the staff's own Slack messages: the bot cannot edit them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, update
from sqlalchemy import text as sql_text
from sqlmodel import Session, col, select

from bot.config_schema import TeamConfig
from handlers.lookups import Matches, NotFound, resolve_one
from handlers.roles import require, role_of
from storage.models import (
    AuditEvent,
    Conversation,
    Customer,
    CustomerEmail,
    Direction,
    Draft,
    DraftStatus,
    Identity,
    Message,
    OutboxItem,
    OutboxStatus,
    Outcome,
    StaffRole,
)

ERASED = "[erased]"
ERASE_KIND = "slack_erase"


@dataclass(frozen=True)
class Erased:
    """What was erased: counts only, never who."""

    customer_id: int
    records: int  # the customer plus records merged into it
    identities: int
    conversations: int
    messages: int
    drafts: int
    outcomes: int
    slack_updates: int  # outbox rows queued to rewrite Slack


ForgetResult = Erased | Matches | NotFound


def forget(
    session: Session, team: TeamConfig, actor: str, query: str, now: datetime
) -> ForgetResult:
    """Admins only; the query is resolved like `/crm lookup` and must name one customer."""
    require(role_of(session, team, actor), StaffRole.ADMIN, action="erase a customer's data")
    found = resolve_one(session, query)
    if not isinstance(found, int):
        return found
    return erase_customer(session, found, actor, now)


def _family(session: Session, customer_id: int) -> list[int]:
    """The customer and every record merged into it, directly or through another merge."""
    family = [customer_id]
    frontier = [customer_id]
    while frontier:
        frontier = list(
            session.exec(select(Customer.id).where(col(Customer.merged_into_id).in_(frontier)))
        )
        frontier = [cid for cid in frontier if cid is not None and cid not in family]
        family += frontier
    return family


@dataclass
class _Scope:
    """Everything of one person: their records, identities, conversations, the messages in
    those conversations plus the ones they wrote in other people's threads, and drafts."""

    customer_id: int
    family: list[int]
    identity_ids: list[int | None]
    convs: list[Conversation]
    messages: list[Message]
    drafts: list[Draft]

    @property
    def conv_ids(self) -> list[int | None]:
        return [c.id for c in self.convs]

    def theirs(self) -> Any:
        return or_(
            col(Message.conversation_id).in_(self.conv_ids),
            col(Message.author_identity_id).in_(self.identity_ids),
        )


def _scope(session: Session, customer_id: int) -> _Scope:
    family = _family(session, customer_id)
    identities = session.exec(select(Identity.id).where(col(Identity.customer_id).in_(family)))
    convs = session.exec(select(Conversation).where(col(Conversation.customer_id).in_(family)))
    scope = _Scope(customer_id, family, list(identities), list(convs), [], [])
    scope.messages = list(session.exec(select(Message).where(scope.theirs())))
    scope.drafts = list(
        session.exec(select(Draft).where(col(Draft.conversation_id).in_(scope.conv_ids)))
    )
    return scope


def erase_customer(session: Session, customer_id: int, actor: str, now: datetime) -> Erased:
    scope = _scope(session, customer_id)
    slack_updates = _queue_slack_rewrites(session, scope)
    _cancel_replies(session, scope.conv_ids, now)
    secure = _secure_delete(session, True)
    _erase_people(session, scope, now)
    _erase_texts(session, scope, now)
    _purge_search_index(session)
    _secure_delete(session, secure)
    outcomes = session.exec(select(Outcome.id).where(col(Outcome.customer_id).in_(scope.family)))
    result = Erased(
        customer_id=customer_id,
        records=len(scope.family),
        identities=len(scope.identity_ids),
        conversations=len(scope.convs),
        messages=len(scope.messages),
        drafts=len(scope.drafts),
        outcomes=len(outcomes.all()),
        slack_updates=slack_updates,
    )
    detail = {k: v for k, v in asdict(result).items() if k != "customer_id"}
    session.add(
        AuditEvent(
            actor=actor, action="customer.erased", customer_id=customer_id, at=now, detail=detail
        )
    )
    session.flush()
    session.expire_all()  # rows changed behind the identity map's back
    return result


def _erase_people(session: Session, scope: _Scope, now: datetime) -> None:
    session.execute(
        update(Customer)
        .where(col(Customer.id).in_(scope.family))
        .values(name=None, notes=None, erased_at=now, updated_at=now)
    )
    session.execute(delete(CustomerEmail).where(col(CustomerEmail.customer_id).in_(scope.family)))
    for identity_id in scope.identity_ids:  # a fresh external id each, so uniqueness holds
        session.execute(
            update(Identity)
            .where(col(Identity.id) == identity_id)
            .values(
                handle=None,
                display_name=None,
                profile_url=None,
                followers=None,
                external_id=f"erased:{identity_id}",
                updated_at=now,
            )
        )


def _erase_texts(session: Session, scope: _Scope, now: datetime) -> None:
    in_convs = scope.conv_ids
    session.execute(
        update(Conversation)
        .where(col(Conversation.id).in_(in_convs))
        .values(summary=None, url=None, source_meta={}, drafting_by=None, drafting_since=None)
    )
    session.execute(
        update(Message).where(scope.theirs()).values(text=ERASED, url=None, attachments=[])
    )
    session.execute(
        update(Draft)
        .where(col(Draft.conversation_id).in_(in_convs))
        .values(text=ERASED, fallback_reason=None, updated_at=now)
    )
    unsent = [DraftStatus.PROPOSED, DraftStatus.FAILED, DraftStatus.SENDING]
    session.execute(
        update(Draft)
        .where(col(Draft.conversation_id).in_(in_convs), col(Draft.status).in_(unsent))
        .values(status=DraftStatus.DISCARDED)
    )
    session.execute(
        update(Outcome)
        .where(
            or_(
                col(Outcome.customer_id).in_(scope.family),
                col(Outcome.conversation_id).in_(in_convs),
            )
        )
        .values(note=None)
    )


def _cancel_replies(session: Session, conv_ids: list[int | None], now: datetime) -> None:
    """A reply still waiting to go out would now carry "[erased]": it must never be sent."""
    session.execute(
        update(OutboxItem)
        .where(
            col(OutboxItem.conversation_id).in_(conv_ids),
            OutboxItem.kind == "network_reply",
            col(OutboxItem.status).in_([OutboxStatus.PENDING, OutboxStatus.PARKED]),
        )
        .values(
            status=OutboxStatus.DONE,
            locked_by=None,
            locked_until=None,
            result={"note": "cancelled: the customer's data was erased"},
            updated_at=now,
        )
    )


class _Rewrites:
    """Outbox rows rewriting Slack, keyed per erasure so one post is queued once."""

    def __init__(self, customer_id: int) -> None:
        self.prefix = f"erase:{customer_id}:"
        self.rows: dict[str, OutboxItem] = {}

    def add(self, kind: str, ref: str, conv: Conversation, **payload: Any) -> None:
        key = self.prefix + ref
        self.rows[key] = OutboxItem(
            kind=kind,
            idempotency_key=key,
            conversation_id=conv.id,
            destination=payload.get("channel") or conv.slack_channel,
            payload={"conversation_id": conv.id, **payload},
        )

    def card(self, conv: Conversation) -> None:
        if conv.slack_ts:  # re-rendered from the erased rows: nothing personal is left on it
            self.add("slack_card_update", f"card:{conv.id}", conv)

    def message(self, message: Message, conv: Conversation) -> None:
        if not message.slack_ts or message.direction == Direction.NOTE:
            return  # never posted by us, or a person's own Slack message
        if message.slack_ts == conv.slack_ts:
            self.card(conv)  # the card itself shows it
        else:
            self.add(ERASE_KIND, f"message:{message.id}", conv, message_id=message.id)


def _queue_slack_rewrites(session: Session, scope: _Scope) -> int:
    """Re-render each card and edit every other bot message about them to "[erased]"."""
    threads: dict[int | None, Conversation] = {c.id: c for c in scope.convs}
    for message in scope.messages:  # their messages in someone else's thread
        other = threads.get(message.conversation_id) or session.get(
            Conversation, message.conversation_id
        )
        if other is not None:
            threads[message.conversation_id] = other
    rewrites = _Rewrites(scope.customer_id)
    for conv in scope.convs:
        rewrites.card(conv)
    for message in scope.messages:
        if (conv := threads.get(message.conversation_id)) is not None:
            rewrites.message(message, conv)
    for draft in scope.drafts:
        if draft.slack_ts:
            conv = threads[draft.conversation_id]
            rewrites.add(
                ERASE_KIND, f"draft:{draft.id}", conv, draft_id=draft.id, ts=draft.slack_ts
            )
    message_ids = {m.id for m in scope.messages}
    for item in _posted_copies(session, list(threads), message_ids, set(scope.conv_ids)):
        conv = threads[item.conversation_id]
        where = {"ts": item.result["ts"], "channel": item.result.get("channel")}
        rewrites.add(ERASE_KIND, f"post:{item.id}", conv, **where)
    session.add_all(rewrites.rows.values())
    return len(rewrites.rows)


def _posted_copies(
    session: Session, conv_ids: list[int | None], message_ids: set[int | None], own: set[Any]
) -> list[OutboxItem]:
    """Posts whose ts only the outbox knows: full-text follow-ups of their messages and
    notices about their conversations in other channels."""
    items = session.exec(
        select(OutboxItem).where(
            col(OutboxItem.conversation_id).in_(conv_ids),
            col(OutboxItem.kind).in_(["slack_reply", "slack_notice"]),
            OutboxItem.status == OutboxStatus.DONE,
        )
    ).all()
    return [
        item
        for item in items
        if (item.result or {}).get("ts")
        and (
            (item.kind == "slack_notice" and item.conversation_id in own)
            or (item.payload.get("full_text") and item.payload.get("message_id") in message_ids)
        )
    ]


def _sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _secure_delete(session: Session, on: bool) -> bool:
    """SQLite: overwrite freed content while erasing, so old text does not linger in free
    pages of the file. Returns the previous setting."""
    if not _sqlite(session):
        return False
    before = bool(session.execute(sql_text("PRAGMA secure_delete")).scalar())
    session.execute(sql_text(f"PRAGMA secure_delete = {1 if on else 0}"))
    return before


def _purge_search_index(session: Session) -> None:
    """FTS5 keeps deleted terms in old segments until they merge; merge them now. On large
    indexes this takes a while, which is why `/crm forget` answers after the ack."""
    if not _sqlite(session):
        return
    exists = session.execute(
        sql_text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'message_fts'")
    ).first()
    if exists:
        session.execute(sql_text("INSERT INTO message_fts(message_fts) VALUES ('optimize')"))
