"""Capture → prioritize → route: inbound messages, one transaction per call.

Dedupe, identity and customer, conversation, message, classification, routing and the
outbox row all commit together, so a crash anywhere loses nothing and posts nothing twice.

`ingest_batch` takes several messages in the caller's one transaction and does the work set
by set: a few SELECTs find what is already stored, the decisions are made in memory message
by message and in order (a follow-up joins the conversation an earlier message of the same
batch opened), and each table gets one multi-row INSERT. A message whose author gives an
email goes through `upsert_identity` on its own, since it may merge two customers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.engine import Connection
from sqlmodel import Session
from sqlmodel import select as orm_select

from bot.config_schema import TeamConfig
from handlers.classify import Classification
from handlers.customers import (
    chunk_params,
    insert_with_ids,
    pair_params,
    pair_query,
    resolve_identities,
    upsert_identity,
)
from handlers.inbound import InboundMessage
from handlers.ingest_conversations import Conv, Conversations, conversation_row
from handlers.routing import RoutingDecision, RoutingInput, route
from storage.models import (
    AuditEvent,
    Conversation,
    ConversationStatus,
    ConversationTag,
    Direction,
    Message,
    OutboxItem,
    OutboxStatus,
    Tag,
)

CONVERSATION = Conversation.__table__  # type: ignore[attr-defined]
MESSAGE = Message.__table__  # type: ignore[attr-defined]
OUTBOX = OutboxItem.__table__  # type: ignore[attr-defined]
AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]
TAG = Tag.__table__  # type: ignore[attr-defined]
CONVERSATION_TAG = ConversationTag.__table__  # type: ignore[attr-defined]

Key = tuple[str, str]
Item = tuple[InboundMessage, Classification]

_STORED = pair_query(
    MESSAGE.c.source,
    MESSAGE.c.external_id,
    MESSAGE.c.id,
    MESSAGE.c.conversation_id,
    first=MESSAGE.c.source,
    second=MESSAGE.c.external_id,
)
_TAGS = select(TAG.c.name, TAG.c.id).where(TAG.c.name.in_(bindparam("values", expanding=True)))


@dataclass(frozen=True)
class IngestResult:
    conversation_id: int
    message_id: int
    duplicate: bool
    new_conversation: bool = False
    reopened: bool = False
    posted: bool = False  # whether Slack will hear of it (False for spam and post = false)


def message_key(msg: InboundMessage) -> Key:
    """The dedupe key: one stored message per (source, external id)."""
    return (msg.source, msg.external_id)


def stored_messages(session: Session, msgs: Sequence[InboundMessage]) -> dict[Key, IngestResult]:
    """The already-stored ones among `msgs`, as duplicate results, in one query per chunk."""
    conn = session.connection()
    found: dict[Key, IngestResult] = {}
    for params in pair_params(message_key(m) for m in msgs):
        for source, external_id, message_id, conversation_id in conn.execute(_STORED, params):
            found[source, external_id] = IngestResult(conversation_id, message_id, duplicate=True)
    return found


def ingest_batch(
    session: Session, items: Sequence[Item], team: TeamConfig, now: datetime | None = None
) -> list[IngestResult]:
    """Ingest `items` in order inside the caller's transaction; one result per item. A
    message seen before (stored, or earlier in `items`) is a duplicate carrying the stored
    ids. The caller commits, or rolls back on any error: then nothing of the batch is kept."""
    now = now or datetime.now(UTC)
    seen = stored_messages(session, [m for m, _ in items])
    firsts: dict[Key, Item] = {}
    for msg, classification in items:
        if message_key(msg) not in seen:
            firsts.setdefault(message_key(msg), (msg, classification))
    pending = list(firsts.values())
    stored: dict[Key, _Stored] = {}
    while pending:  # more than one round only when an email merges two customers
        done = _Batch(session, team, now).run(pending)
        stored.update((message_key(row.msg), row) for row in done)
        pending = pending[len(done) :]
    results, answered = [], set()
    for msg, _ in items:
        key = message_key(msg)
        results.append(seen[key] if key in seen else stored[key].result(key in answered))
        answered.add(key)
    return results


@dataclass(eq=False)
class _Stored:
    """A message this batch stores; `id` is known once it is inserted."""

    msg: InboundMessage
    conv: Conv
    values: dict[str, Any]
    decision: RoutingDecision
    new_conversation: bool
    reopened: bool
    posted: bool
    id: int | None = None

    def result(self, duplicate: bool = False) -> IngestResult:
        if duplicate:
            return IngestResult(self.conv.id or 0, self.id or 0, duplicate=True)
        return IngestResult(
            self.conv.id or 0,
            self.id or 0,
            duplicate=False,
            new_conversation=self.new_conversation,
            reopened=self.reopened,
            posted=self.posted,
        )


class _Batch:
    def __init__(self, session: Session, team: TeamConfig, now: datetime) -> None:
        self.session = session
        self.team = team
        self.now = now

    def run(self, pending: list[Item]) -> list[_Stored]:
        """Store a prefix of `pending`: all of it, unless an author's email merges two
        customers, which goes through the ORM's `upsert_identity` on its own first."""
        authors = resolve_identities(
            self.session, [(m.source, m.author) for m, _ in pending], self.now
        )
        if not authors:
            msg = pending[0][0]
            self.session.flush()
            self.session.expire_all()  # the ORM must read the rows as they are now
            identity = upsert_identity(self.session, msg.source, msg.author, self.now)
            authors = [(identity.id or 0, identity.customer_id)]
        items = pending[: len(authors)]
        conn = self.session.connection()
        window = self.team.routing.grouping_window_minutes
        convs = Conversations.load(conn, [m for m, _ in items], {c for _, c in authors}, window)
        stored = [
            self._decide(convs, msg, classification, identity_id, customer_id)
            for (msg, classification), (identity_id, customer_id) in zip(
                items, authors, strict=True
            )
        ]
        self._write(conn, convs, stored)
        return stored

    def _decide(
        self,
        convs: Conversations,
        msg: InboundMessage,
        classification: Classification,
        identity_id: int,
        customer_id: int,
    ) -> _Stored:
        decision = route(
            RoutingInput(msg.source, msg.text, msg.followers, classification), self.team
        )
        conv = convs.find(msg, customer_id)
        if conv is None:
            conv = convs.open(
                conversation_row(msg, customer_id, classification, decision, self.team, self.now)
            )
            new, reopened, posted = True, False, decision.post
        else:
            new, reopened = False, conv.continue_with(msg, int(decision.priority), self.now)
            posted = conv.status != ConversationStatus.SUPPRESSED
        convs.add_message(msg, conv)
        values = {
            "source": msg.source,
            "external_id": msg.external_id,
            "external_parent_id": msg.parent_id,
            "external_thread_id": msg.thread_id,
            "direction": Direction.IN.value,
            "author_identity_id": identity_id,
            "author_slack_id": None,
            "text": msg.text,
            "language": classification.language,
            "url": str(msg.url) if msg.url else None,
            "attachments": [a.model_dump(mode="json") for a in msg.attachments],
            "slack_ts": None,
            "created_at": msg.created_at,
            "received_at": self.now,
        }
        return _Stored(msg, conv, values, decision, new, reopened, posted)

    # ------------------------------------------------------------------ writing
    def _write(self, conn: Connection, convs: Conversations, stored: list[_Stored]) -> None:
        convs.write(conn, self.now)
        if not stored:
            return
        for row in stored:
            row.values["conversation_id"] = row.conv.id
        ids = insert_with_ids(conn, MESSAGE, [row.values for row in stored])
        for row, message_id in zip(stored, ids, strict=True):
            row.id = message_id
        self._tag(conn, [row for row in stored if row.new_conversation and row.decision.tags])
        audits, outbox = [], []
        for row in stored:
            audits += self._audits(row)
            outbox += self._outbox(row)
        if audits:
            conn.execute(insert(AUDIT), audits)
        if outbox:
            conn.execute(insert(OUTBOX), outbox)

    def _audits(self, row: _Stored) -> list[dict[str, Any]]:
        conv, decision = row.conv, row.decision
        base = {"actor": "system", "at": self.now, "conversation_id": conv.id}
        base["customer_id"] = conv.customer_id
        if row.new_conversation:
            detail = {
                "rule": decision.rule,
                "channel": decision.channel_key,
                "posted": decision.post,
                "priority": int(decision.priority),
                "influencer": decision.influencer,
            }
            return [{**base, "action": "conversation.opened", "detail": detail}]
        if row.reopened:
            return [{**base, "action": "conversation.reopened", "detail": {}}]
        return []

    def _outbox(self, row: _Stored) -> list[dict[str, Any]]:
        """Outbox rows hold ids, not text: the drainer renders from the database at send
        time, so a card shows the latest state and no customer text sits in the queue."""
        conv = row.conv
        if row.new_conversation:
            if not row.posted:
                return []
            card = {"conversation_id": conv.id}
            rows = [self._outbox_row("slack_card", f"card:{conv.id}", conv, card)]
            for key in row.decision.notify:
                rows.append(
                    self._outbox_row(
                        "slack_notice",
                        f"notice:{conv.id}:{key}",
                        conv,
                        {"conversation_id": conv.id},
                        self.team.channel_ref(key),
                    )
                )
            return rows
        if not row.posted:
            return []
        reply = {"message_id": row.id}
        rows = [self._outbox_row("slack_reply", f"reply:{row.id}", conv, reply)]
        if row.reopened:
            key = f"card-update:{conv.id}:{row.id}"
            update_card = {"conversation_id": conv.id}
            rows.append(self._outbox_row("slack_card_update", key, conv, update_card))
        return rows

    def _outbox_row(
        self,
        kind: str,
        key: str,
        conv: Conv,
        payload: dict[str, Any],
        destination: str | None = None,
    ) -> dict[str, Any]:
        return {
            "kind": kind,
            "idempotency_key": key,
            "conversation_id": conv.id,
            "destination": destination or conv.channel,
            "payload": payload,
            "status": OutboxStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": self.now,
            "result": None,  # JSON null, as the ORM writes it
            "created_at": self.now,
            "updated_at": self.now,
        }

    def _tag(self, conn: Connection, opened: list[_Stored]) -> None:
        """The routing rules' tags on conversations this batch opened (none have tags yet)."""
        names = list(dict.fromkeys(name for row in opened for name in row.decision.tags))
        if not names:
            return
        tag_ids: dict[str, int] = {}
        for params in chunk_params(names):
            tag_ids.update((name, tag_id) for name, tag_id in conn.execute(_TAGS, params))
        missing = [name for name in names if name not in tag_ids]
        if missing:
            new_ids = insert_with_ids(
                conn,
                TAG,
                [{"name": name, "created_by": None, "created_at": self.now} for name in missing],
            )
            tag_ids.update(zip(missing, new_ids, strict=True))
        conn.execute(
            insert(CONVERSATION_TAG),
            [
                {
                    "conversation_id": row.conv.id,
                    "tag_id": tag_ids[name],
                    "added_by": None,
                    "added_at": self.now,
                }
                for row in opened
                for name in row.decision.tags
            ],
        )


# ---------------------------------------------------------------- one at a time (ORM)
def add_tags(
    session: Session, conversation_id: int, names: list[str], added_by: str | None, now: datetime
) -> None:
    for name in names:
        tag = session.exec(orm_select(Tag).where(Tag.name == name)).first()
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


def enqueue(
    session: Session,
    kind: str,
    key: str,
    conversation: Conversation,
    payload: dict[str, object],
    destination: str | None = None,
) -> None:
    """Queue work for the drainer on a `Conversation` (staff actions, replies)."""
    session.add(
        OutboxItem(
            kind=kind,
            idempotency_key=key,
            conversation_id=conversation.id,
            destination=destination or conversation.slack_channel or conversation.home_channel,
            payload=payload,
        )
    )
