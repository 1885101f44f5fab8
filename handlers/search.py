"""Searching messages in any script and the team's numbers for a period (`/crm find`,
`/crm stats`)."""

from __future__ import annotations

import statistics
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func
from sqlalchemy import text as sql_text
from sqlmodel import Session, col, select

from handlers.lookups import SNIPPET_CHARS, customer_names, like_pattern
from storage.models import (
    Conversation,
    ConversationStatus,
    Customer,
    Message,
    Outcome,
    OutcomeKind,
)

FIND_LIMIT = 10
TRIGRAM = 3  # shortest query the trigram indexes can answer
SHORT_QUERY_WINDOW = 50_000  # a shorter query scans only this many newest messages
SNIPPET_BEFORE = 60


@dataclass(frozen=True)
class SearchHit:
    message_id: int
    conversation_id: int
    direction: str  # in | out | note
    source: str
    created_at: datetime
    snippet: str  # raw text around the first match (untrusted)
    cut_before: bool  # the snippet starts after the beginning of the message
    customer_name: str | None
    slack_channel: str | None
    slack_ts: str | None


@dataclass(frozen=True)
class SearchResult:
    query: str
    hits: tuple[SearchHit, ...]
    recent_only: bool  # too short for the index: only the newest messages were scanned


def _has_fts(session: Session) -> bool:
    found = session.execute(
        sql_text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'message_fts'")
    ).first()
    return found is not None


def _search_ids(session: Session, query: str, limit: int) -> tuple[list[int], bool]:
    """Newest matching message ids (of customers not erased), and whether only recent ones
    were scanned. SQLite: FTS5 trigram index; PostgreSQL: ILIKE on a pg_trgm GIN index."""
    short = len(query) < TRIGRAM
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite and not short and _has_fts(session):
        rows = session.execute(
            sql_text(
                "SELECT m.id FROM message_fts JOIN message m ON m.id = message_fts.rowid "
                "JOIN conversation c ON c.id = m.conversation_id "
                "JOIN customer cu ON cu.id = c.customer_id "
                "WHERE message_fts MATCH :q AND cu.erased_at IS NULL "
                "ORDER BY message_fts.rowid DESC LIMIT :n"
            ),
            {"q": '"' + query.replace('"', '""') + '"', "n": limit},
        )
        return [row[0] for row in rows], False
    stmt = (
        select(Message.id)
        .join(Conversation, col(Conversation.id) == Message.conversation_id)
        .join(Customer, col(Customer.id) == Conversation.customer_id)
        .where(
            col(Message.text).ilike(like_pattern(query), escape="\\"),
            col(Customer.erased_at).is_(None),
        )
        .order_by(col(Message.id).desc())
        .limit(limit)
    )
    if short:
        newest = session.exec(select(func.max(Message.id))).one() or 0
        stmt = stmt.where(Message.id > newest - SHORT_QUERY_WINDOW)
    return list(session.exec(stmt).all()), short


def _snippet(text: str, query: str) -> tuple[str, bool]:
    lowered = text.lower()
    at = lowered.find(query.lower()) if len(lowered) == len(text) else -1
    start = max(0, at - SNIPPET_BEFORE)
    # Never start inside a character: back up over combining marks and joiners.
    while start > 0 and (unicodedata.combining(text[start]) or text[start] in "\u200d\ufe0f"):
        start -= 1
    return text[start : start + SNIPPET_CHARS], start > 0


def find_messages(session: Session, query: str, limit: int = FIND_LIMIT) -> SearchResult:
    """Messages, replies and staff notes containing `query` (any script, case-insensitive
    where the script has case), newest first."""
    ids, recent_only = _search_ids(session, query, limit)
    messages = session.exec(select(Message).where(col(Message.id).in_(ids))).all() if ids else []
    conv_ids = {m.conversation_id for m in messages}
    convs = {
        c.id: c
        for c in session.exec(select(Conversation).where(col(Conversation.id).in_(conv_ids))).all()
    }
    names = customer_names(session, {c.customer_id for c in convs.values()}) if convs else {}
    hits = []
    for message in sorted(messages, key=lambda m: -(m.id or 0)):
        conv = convs[message.conversation_id]
        snippet, cut = _snippet(message.text, query)
        hits.append(
            SearchHit(
                message_id=message.id or 0,
                conversation_id=conv.id or 0,
                direction=str(message.direction),
                source=conv.source,
                created_at=message.created_at,
                snippet=snippet,
                cut_before=cut,
                customer_name=names.get(conv.customer_id),
                slack_channel=conv.slack_channel,
                slack_ts=conv.slack_ts,
            )
        )
    return SearchResult(query=query, hits=tuple(hits), recent_only=recent_only)


# ------------------------------------------------------------------ stats
@dataclass(frozen=True)
class Stats:
    days: int
    since: datetime
    total: int  # new conversations in the period, spam and suppressed ones included
    by_network: tuple[tuple[str, int], ...]
    by_intent: tuple[tuple[str, int], ...]
    answerable: int  # posted to Slack (not suppressed)
    replied: int  # answerable ones with a reply delivered
    median_first_response: timedelta | None
    outcomes: tuple[tuple[str, int], ...]  # outcomes logged in the period
    sale_value: tuple[tuple[str, Decimal], ...]  # per currency ("" when none was given)

    @property
    def replied_percent(self) -> float | None:
        return 100.0 * self.replied / self.answerable if self.answerable else None


def _grouped(session: Session, column: Any, *where: object) -> tuple[tuple[str, int], ...]:
    # `column || ''` (the same value; NULL stays NULL) keeps SQLite from grouping by walking
    # an index on the column over the whole table instead of reading the period's range.
    key = (column + "").label("key")
    rows = session.exec(
        select(key, func.count()).select_from(Conversation).where(*where).group_by(key)
    ).all()
    return tuple(sorted(((str(k or "unknown"), n) for k, n in rows), key=lambda r: (-r[1], r[0])))


def period_stats(session: Session, days: int, now: datetime) -> Stats:
    since = now - timedelta(days=days)
    new = Conversation.created_at >= since
    answerable = (new, Conversation.status != ConversationStatus.SUPPRESSED)
    responses = session.exec(
        select(Conversation.created_at, Conversation.first_response_at).where(
            *answerable, col(Conversation.first_response_at).is_not(None)
        )
    ).all()
    waits = [(answered - opened).total_seconds() for opened, answered in responses if answered]
    sales = session.exec(
        select(Outcome.currency, Outcome.value).where(
            Outcome.created_at >= since, Outcome.kind == OutcomeKind.SALE
        )
    ).all()
    value: dict[str, Decimal] = {}
    for currency, amount in sales:
        value[currency or ""] = value.get(currency or "", Decimal(0)) + Decimal(amount or 0)
    outcome_rows = session.exec(
        select(Outcome.kind, func.count()).where(Outcome.created_at >= since).group_by(Outcome.kind)
    ).all()
    return Stats(
        days=days,
        since=since,
        total=session.exec(select(func.count()).select_from(Conversation).where(new)).one(),
        by_network=_grouped(session, Conversation.source, new),
        by_intent=_grouped(session, Conversation.intent, new),
        answerable=session.exec(select(func.count()).where(*answerable)).one(),
        replied=len(waits),
        median_first_response=timedelta(seconds=statistics.median(waits)) if waits else None,
        outcomes=tuple(sorted(((str(k), n) for k, n in outcome_rows), key=lambda r: -r[1])),
        sale_value=tuple(sorted(value.items())),
    )


# ------------------------------------------------------------------ link
