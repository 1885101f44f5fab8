"""The conversations one ingest batch may join: found with one query per kind of key, then
kept up to date in memory as the batch opens and continues them (see `handlers.ingest`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from bot.config_schema import TeamConfig
from handlers.classify import Classification
from handlers.customers import chunk_params, insert_with_ids, pair_params, pair_query
from handlers.inbound import InboundMessage
from handlers.routing import RoutingDecision
from storage.models import Conversation, ConversationStatus, Message

CONVERSATION = Conversation.__table__  # type: ignore[attr-defined]
MESSAGE = Message.__table__  # type: ignore[attr-defined]
Key = tuple[str, str]


# ---------------------------------------------------------------- conversations in memory
ACTIVE = (ConversationStatus.OPEN, ConversationStatus.REPLIED, ConversationStatus.SUPPRESSED)
_LOADED = ("id", "source", "external_thread_id", "customer_id", "status", "priority")
_LOADED += ("is_direct", "last_message_at", "source_meta", "slack_channel", "home_channel")
_CONTINUED = ("priority", "last_message_at", "updated_at", "source_meta")
# Built once: building a statement costs more than running it on SQLite.
_COLUMNS = [CONVERSATION.c[name] for name in _LOADED]
_CONVERSATIONS_BY_THREAD = pair_query(
    *_COLUMNS, first=CONVERSATION.c.source, second=CONVERSATION.c.external_thread_id
)
_CONVERSATIONS_BY_ID = select(*_COLUMNS).where(
    CONVERSATION.c.id.in_(bindparam("values", expanding=True))
)
# No status condition here (`find` checks it): with one, SQLite walks the queue index over
# every open conversation instead of looking up these customers.
_CONVERSATIONS_IN_WINDOW = select(*_COLUMNS).where(
    CONVERSATION.c.customer_id.in_(bindparam("values", expanding=True)),
    CONVERSATION.c.last_message_at >= bindparam("since"),
)
_MESSAGE_THREADS = pair_query(
    MESSAGE.c.source,
    MESSAGE.c.external_thread_id,
    MESSAGE.c.conversation_id,
    first=MESSAGE.c.source,
    second=MESSAGE.c.external_thread_id,
).order_by(MESSAGE.c.id)
_MESSAGE_IDS = pair_query(
    MESSAGE.c.source,
    MESSAGE.c.external_id,
    MESSAGE.c.conversation_id,
    first=MESSAGE.c.source,
    second=MESSAGE.c.external_id,
)
_CONTINUE = (
    update(CONVERSATION)
    .where(CONVERSATION.c.id == bindparam("b_id"))
    .values({c: bindparam(c) for c in _CONTINUED})
)
_REOPEN = (
    update(CONVERSATION)
    .where(CONVERSATION.c.id.in_(bindparam("values", expanding=True)))
    .values(status=ConversationStatus.OPEN.value, resolved_at=None)
)


@dataclass(eq=False)
class Conv:
    """What ingest needs of a conversation; `row` holds the INSERT of one this batch opens."""

    id: int | None
    customer_id: int
    source: str
    is_direct: bool
    status: str
    priority: int
    last_message_at: datetime
    source_meta: dict[str, Any]
    channel: str | None  # where its posts go: the Slack channel, else the home channel
    row: dict[str, Any] | None = None
    touched: bool = False
    reopened: bool = False

    def continue_with(self, msg: InboundMessage, priority: int, now: datetime) -> bool:
        """A new customer message: bump the clock and priority; reopen a resolved one.
        The newest message's reply facts (post refs, visibility) win, so a reply answers it.
        Returns whether it reopened."""
        if msg.reply_meta and msg.created_at >= self.last_message_at:
            self.source_meta = {**self.source_meta, **msg.reply_meta}
        reopened = self.status == ConversationStatus.RESOLVED
        if reopened:
            self.status = ConversationStatus.OPEN.value
            self.reopened = True
        self.priority = max(self.priority, priority)
        self.last_message_at = max(self.last_message_at, msg.created_at)
        self.touched = True
        return reopened


class Conversations:
    """The conversations a batch may join, found with one query per kind of key, then kept
    up to date in memory as the batch opens and continues them."""

    def __init__(self, window_minutes: float) -> None:
        self.window = timedelta(minutes=window_minutes)
        self.by_id: dict[int, Conv] = {}
        self.by_thread: dict[Key, Conv] = {}  # the conversation's own (source, thread)
        self.by_message_thread: dict[Key, Conv] = {}  # a stored message's (source, thread)
        self.by_message: dict[Key, Conv] = {}  # a stored message's (source, external id)
        self.by_customer: dict[int, list[Conv]] = defaultdict(list)
        self.opened: list[Conv] = []

    @classmethod
    def load(
        cls, conn: Connection, msgs: list[InboundMessage], customers: set[int], window: float
    ) -> Conversations:
        self = cls(window)
        if not msgs:
            return self
        threads = {(m.source, m.thread_id) for m in msgs}
        for params in pair_params(threads):
            self._add_rows(conn, _CONVERSATIONS_BY_THREAD, params)
        parents = {(m.source, m.parent_id or "") for m in msgs if m.parent_id}
        unknown_threads = {k for k in threads if k not in self.by_thread}
        wanted: list[tuple[dict[Key, Conv], Key, int]] = []
        for target, query, keys in (
            # A thread with a conversation of its own needs no other way in.
            (self.by_message_thread, _MESSAGE_THREADS, unknown_threads),
            (self.by_message, _MESSAGE_IDS, parents),
        ):
            for params in pair_params(keys):
                wanted += [(target, (s, v), c) for s, v, c in conn.execute(query, params)]
        for params in chunk_params({c for _, _, c in wanted} - self.by_id.keys()):
            self._add_rows(conn, _CONVERSATIONS_BY_ID, params)
        for target, key, conversation_id in wanted:
            target.setdefault(key, self.by_id[conversation_id])
        if self.window and customers:
            since = min(m.created_at for m in msgs) - self.window
            for params in chunk_params(customers):
                self._add_rows(conn, _CONVERSATIONS_IN_WINDOW, {**params, "since": since})
        return self

    def _add_rows(self, conn: Connection, query: Any, params: dict[str, Any]) -> None:
        for r in conn.execute(query, params):
            if r.id in self.by_id:
                continue
            conv = Conv(
                r.id, r.customer_id, r.source, r.is_direct, r.status, r.priority,
                r.last_message_at, dict(r.source_meta or {}), r.slack_channel or r.home_channel,
            )  # fmt: skip
            self.by_id[r.id] = conv
            self.by_thread[r.source, r.external_thread_id] = conv
            self.by_customer[r.customer_id].append(conv)

    def find(self, msg: InboundMessage, customer_id: int) -> Conv | None:
        """The same social thread, else the thread of the message it answers, else the
        author's conversation still inside the grouping window (a burst becomes one)."""
        thread = (msg.source, msg.thread_id)
        found = self.by_thread.get(thread) or self.by_message_thread.get(thread)
        if found is None and msg.parent_id:
            found = self.by_message.get((msg.source, msg.parent_id))
        if found is not None or not self.window:
            return found
        since = msg.created_at - self.window
        candidates = [
            c
            for c in self.by_customer[customer_id]
            if c.source == msg.source
            and c.is_direct == msg.is_direct
            and c.status in ACTIVE
            and c.last_message_at >= since
        ]
        return max(candidates, key=lambda c: c.last_message_at, default=None)

    def open(self, row: dict[str, Any]) -> Conv:
        conv = Conv(
            None, row["customer_id"], row["source"], row["is_direct"], row["status"],
            row["priority"], row["last_message_at"], row["source_meta"], row["home_channel"], row,
        )  # fmt: skip
        self.opened.append(conv)
        self.by_thread[row["source"], row["external_thread_id"]] = conv
        self.by_customer[conv.customer_id].append(conv)
        return conv

    def add_message(self, msg: InboundMessage, conv: Conv) -> None:
        self.by_message_thread.setdefault((msg.source, msg.thread_id), conv)
        self.by_message.setdefault((msg.source, msg.external_id), conv)

    def write(self, conn: Connection, now: datetime) -> None:
        """INSERT the opened conversations (their state after the whole batch), UPDATE the
        continued ones: clock, priority, reply facts; status only where one reopened."""
        if self.opened:
            for conv in self.opened:
                assert conv.row is not None
                conv.row |= {
                    "status": conv.status,
                    "priority": conv.priority,
                    "last_message_at": conv.last_message_at,
                    "source_meta": conv.source_meta,
                }
            ids = insert_with_ids(
                conn, CONVERSATION, [conv.row for conv in self.opened if conv.row is not None]
            )
            for conv, conversation_id in zip(self.opened, ids, strict=True):
                conv.id = conversation_id
        touched = [c for c in self.by_id.values() if c.touched]
        if touched:
            conn.execute(
                _CONTINUE,
                [
                    {
                        "b_id": c.id,
                        "priority": c.priority,
                        "last_message_at": c.last_message_at,
                        "updated_at": now,
                        "source_meta": c.source_meta,
                    }
                    for c in touched
                ],
            )
        for params in chunk_params(c.id for c in touched if c.reopened):
            conn.execute(_REOPEN, params)


def conversation_row(
    msg: InboundMessage,
    customer_id: int,
    classification: Classification,
    decision: RoutingDecision,
    team: TeamConfig,
    now: datetime,
) -> dict[str, Any]:
    status = ConversationStatus.OPEN if decision.post else ConversationStatus.SUPPRESSED
    return {
        "source": msg.source,
        "external_thread_id": msg.thread_id,
        "customer_id": customer_id,
        "status": status.value,
        "priority": int(decision.priority),
        "intent": classification.intent,
        "sentiment": classification.sentiment,
        "language": classification.language,
        "summary": classification.summary,
        "is_direct": msg.is_direct,
        "url": str(msg.url) if msg.url else None,
        "route_rule": decision.rule,
        "home_channel": team.channel_ref(decision.channel_key),
        "source_meta": dict(msg.reply_meta),
        "created_at": now,
        "updated_at": now,
        "last_message_at": msg.created_at,
    }
