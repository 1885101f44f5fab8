"""The manager's daily digest: what happened in one window, against the 7 days before.

`build_digest` summarises [start, end), normally the manager's local calendar day that just
ended (midnight to midnight: 23 or 25 hours on a DST change day). The comparison days are the
same wall-clock span on each of the 7 calendar days before in `start`'s time zone, so pass
aware datetimes in the manager's zone. Figures come with the daily average of those 7 days
(total / 7); response-time percentiles with the percentile of the 7 days pooled.

All counting is SQL (GROUP BY, conditional sums, one window function), bounded by
`created_at` ranges; Python only folds the grouped rows. Only the daily series reaches back 14
days, and it reads the (created_at, status) index alone; everything else reads the 8 days it
compares (SQLite has no hash aggregation: every grouped row is sorted, so fewer rows is what
makes it fast).
- new conversation: created in the day and posted; suppressed ones (spam, rules with
  `post = false`: stored, never posted) are the separate noise count, spam a part of it;
- first response: created_at → first_response_at of the day's posted conversations that have
  one (even after `end`), to the millisecond; percentiles interpolate like percentile_cont;
- SLA breach (wall-clock minutes): a first response later than the SLA, or none at the end of
  the day although the SLA had passed (resolving without a reply inside the SLA is no breach);
- unclaimed backlog: open and unassigned now;
- influencer engaged: a conversation replied to in the day with an inbound message by an
  identity of at least `routing.influencer_followers` followers (0: no influencers);
- handled per agent: replies written (outbound messages) plus outcomes logged in the day.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, extract, func, literal, or_, union_all
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from bot.config_schema import TeamConfig
from storage.models import (
    Conversation,
    ConversationStatus,
    Direction,
    Identity,
    Message,
    Outcome,
    OutcomeKind,
)

COMPARE_DAYS = 7
SERIES_DAYS = 14
SENTIMENTS = ("negative", "neutral", "positive")
TODAY = SERIES_DAYS - 1  # the bucket of the digest's day; 6..12 are the comparison days
FIRST_COMPARED = TODAY - COMPARE_DAYS
Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Figure:
    value: float
    average: float  # daily average of the 7 days before


@dataclass(frozen=True)
class Duration:
    seconds: float | None  # None: nothing to measure
    average: float | None  # the same percentile over the 7 days before, pooled


@dataclass(frozen=True)
class Counted:
    key: str
    figure: Figure


@dataclass(frozen=True)
class Money:
    currency: str
    total: Decimal
    average: Decimal


@dataclass(frozen=True)
class BacklogItem:
    conversation_id: int
    source: str
    intent: str | None
    priority: int
    created_at: datetime
    slack_channel: str | None
    slack_ts: str | None


@dataclass(frozen=True)
class Backlog:
    count: int
    oldest: tuple[BacklogItem, ...]


@dataclass(frozen=True)
class ResponseTimes:
    answered: Figure
    median: Duration
    p90: Duration
    sla_minutes: int
    late: Figure  # answered after the SLA
    unanswered: Figure  # no answer at the end of the day, SLA passed
    breaches: Figure  # late + unanswered


@dataclass(frozen=True)
class Outcomes:
    resolved: Figure
    leads: Figure
    sales: Figure
    sales_value: tuple[Money, ...]  # per currency, largest first
    by_kind: tuple[Counted, ...]  # every kind logged in the 8 days


@dataclass(frozen=True)
class AgentLoad:
    slack_id: str
    replies: int
    outcomes: int
    handled: Figure  # replies + outcomes


@dataclass(frozen=True)
class DayCount:
    day: date
    count: int


@dataclass(frozen=True)
class DigestData:
    start: datetime
    end: datetime
    new: Figure
    by_network: tuple[Counted, ...]
    by_intent: tuple[Counted, ...]
    noise: Figure  # stored but not posted
    spam: Figure  # the part of the noise classified as spam
    response: ResponseTimes
    backlog: Backlog
    outcomes: Outcomes
    sentiment: tuple[Counted, ...]  # negative, neutral, positive
    influencers: Figure
    agents: tuple[AgentLoad, ...]
    series: tuple[DayCount, ...]  # new conversations, oldest first, the digest's day last


def day_edges(start: datetime, end: datetime) -> list[datetime]:
    """Bucket k (0..13) is [edges[k], edges[k + 1]); bucket 13 is [start, end). Aware datetime
    arithmetic keeps the wall clock, so in a ZoneInfo zone each step is one calendar day."""
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        raise ValueError("start and end must be aware datetimes with start < end")
    return [start - timedelta(days=TODAY - k) for k in range(SERIES_DAYS)] + [end]


def build_digest(
    session: Session, *, start: datetime, end: datetime, team: TeamConfig
) -> DigestData:
    edges = day_edges(start, end)
    sla_minutes = team.sla.first_response_minutes
    rows = _conversation_rows(session, edges, sla_minutes * 60_000)
    series = _series(session, edges)
    posted = [r for r in rows if not r["noise"]]
    noise = [r for r in rows if r["noise"]]
    answered, late = _figure(posted, "answered"), _figure(posted, "late")
    unanswered = _figure(posted, "unanswered")
    median, p90 = _percentiles(session, edges, answered, (0.5, 0.9))
    replies, influencers = _replies(session, edges, team.routing.influencer_followers)
    outcomes, logged = _outcomes(session, edges)
    return DigestData(
        start=start,
        end=end,
        new=_figure(posted),
        by_network=_breakdown(posted, "source"),
        by_intent=_breakdown(posted, "intent"),
        noise=_figure(noise),
        spam=_figure([r for r in noise if r["intent"] == "spam"]),
        response=ResponseTimes(
            answered=answered,
            median=median,
            p90=p90,
            sla_minutes=sla_minutes,
            late=late,
            unanswered=unanswered,
            breaches=Figure(late.value + unanswered.value, late.average + unanswered.average),
        ),
        backlog=_backlog(session),
        outcomes=outcomes,
        sentiment=tuple(c for c in _breakdown(posted, "sentiment") if c.key in SENTIMENTS),
        influencers=influencers,
        agents=_agents(replies, logged),
        series=tuple(DayCount(edges[k].date(), series[k]) for k in range(SERIES_DAYS)),
    )


# ------------------------------------------------------------------ folding grouped rows
def _figure(rows: Rows, field: str = "n") -> Figure:
    today = sum(r[field] for r in rows if r["bucket"] == TODAY)
    before = sum(r[field] for r in rows if FIRST_COMPARED <= r["bucket"] < TODAY)
    return Figure(today, before / COMPARE_DAYS)


def _breakdown(rows: Rows, key: str) -> tuple[Counted, ...]:
    keys = {r[key] for r in rows if r["bucket"] >= FIRST_COMPARED}
    if key == "sentiment":
        keys |= set(SENTIMENTS)
    counted = [Counted(k, _figure([r for r in rows if r[key] == k])) for k in keys]
    if key == "sentiment":
        order = {name: i for i, name in enumerate(SENTIMENTS)}
        return tuple(sorted(counted, key=lambda c: (order.get(c.key, 9), c.key)))
    return tuple(sorted(counted, key=lambda c: (-c.figure.value, -c.figure.average, c.key)))


def _agents(
    replies: dict[tuple[bool, str], int], logged: dict[tuple[bool, str], int]
) -> tuple[AgentLoad, ...]:
    users = {user for _, user in replies} | {user for _, user in logged}
    agents = []
    for user in users:
        wrote, closed = replies.get((True, user), 0), logged.get((True, user), 0)
        before = replies.get((False, user), 0) + logged.get((False, user), 0)
        agents.append(AgentLoad(user, wrote, closed, Figure(wrote + closed, before / COMPARE_DAYS)))
    return tuple(sorted(agents, key=lambda a: (-a.handled.value, -a.handled.average, a.slack_id)))


# ------------------------------------------------------------------ SQL building blocks
def _bucket(column: Any, edges: list[datetime], first: int = 0) -> Any:
    """The day bucket of a timestamp already bounded to [edges[first], end)."""
    return case(*[(column >= edges[k], k) for k in range(TODAY, first, -1)], else_=first)


def _in_range(column: Any, edges: list[datetime], first: int = 0) -> Any:
    return and_(column >= edges[first], column < edges[-1])


def _elapsed_ms(session: Session, later: Any, earlier: Any) -> Any:
    """Whole milliseconds from `earlier` to `later` (SQLite's date functions keep ms)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.round(extract("epoch", later - earlier) * 1000)
    return func.round((func.julianday(later) - func.julianday(earlier)) * 86_400_000.0)


def _conversation_rows(session: Session, edges: list[datetime], sla_ms: int) -> Rows:
    """One pass over the 8 compared days of conversations, grouped by today-or-before,
    network, intent, sentiment and noise, with the first-response counts alongside. The
    days before carry bucket FIRST_COMPARED: the figures need only their total."""
    created, answered_at = Conversation.created_at, col(Conversation.first_response_at)
    resolved_at = col(Conversation.resolved_at)
    # Per day: created early enough for the SLA to run out before that day ended.
    days = range(FIRST_COMPARED, SERIES_DAYS)
    cutoffs = {k: edges[k + 1].astimezone(UTC) - timedelta(milliseconds=sla_ms) for k in days}
    late = and_(answered_at.is_not(None), _elapsed_ms(session, answered_at, created) > sla_ms)
    unanswered = and_(
        answered_at.is_(None),
        or_(*[and_(created >= edges[k], created < cutoffs[k]) for k in days]),
        or_(resolved_at.is_(None), _elapsed_ms(session, resolved_at, created) > sla_ms),
    )
    flags = {
        "noise": Conversation.status == ConversationStatus.SUPPRESSED,
        "answered": answered_at.is_not(None),
        "late": late,
        "unanswered": unanswered,
    }
    rows = (
        select(
            case((created >= edges[TODAY], TODAY), else_=FIRST_COMPARED).label("bucket"),
            col(Conversation.source).label("source"),
            func.coalesce(Conversation.intent, "unclassified").label("intent"),
            func.coalesce(Conversation.sentiment, "unknown").label("sentiment"),
            *[case((cond, 1), else_=0).label(name) for name, cond in flags.items()],
        )
        .where(_in_range(created, edges, FIRST_COMPARED))
        .subquery()
    )
    keys = [rows.c.bucket, rows.c.source, rows.c.intent, rows.c.sentiment, rows.c.noise]
    sums = [func.sum(rows.c[name]).label(name) for name in ("answered", "late", "unanswered")]
    query = select(*keys, func.count().label("n"), *sums).group_by(*keys)
    return [
        {**row._asdict(), "bucket": int(row.bucket), "noise": bool(row.noise)}
        for row in session.execute(query)
    ]


def _series(session: Session, edges: list[datetime]) -> list[int]:
    """Posted conversations per day bucket: one range count per day, each read from the
    (created_at, status) index alone (no per-row bucketing, no sort)."""
    created = Conversation.created_at
    posted = Conversation.status != ConversationStatus.SUPPRESSED
    per_day = [
        select(literal(k).label("bucket"), func.count().label("n"))
        .select_from(Conversation)
        .where(created >= edges[k], created < edges[k + 1], posted)
        for k in range(SERIES_DAYS)
    ]
    counts = dict.fromkeys(range(SERIES_DAYS), 0)
    for bucket, n in session.execute(union_all(*per_day)):
        counts[int(bucket)] = int(n)
    return [counts[k] for k in range(SERIES_DAYS)]


def _percentiles(
    session: Session, edges: list[datetime], answered: Figure, ps: tuple[float, ...]
) -> list[Duration]:
    """Percentiles of the time to first response, today and over the 7 days before, by
    linear interpolation between the two nearest ranks, reading only those rows (one
    window-function pass; the counts come from the grouped conversation rows)."""
    counts = {True: int(answered.value), False: round(answered.average * COMPARE_DAYS)}
    ranks = {
        today: {r for p in ps for r in (int(p * (n - 1)) + 1, int(p * (n - 1)) + 2) if r <= n}
        for today, n in counts.items()
    }
    created = Conversation.created_at
    is_today = case((created >= edges[TODAY], 1), else_=0)
    elapsed = _elapsed_ms(session, Conversation.first_response_at, created)
    ranked = (
        select(
            is_today.label("today"),
            elapsed.label("ms"),
            func.row_number().over(partition_by=is_today, order_by=elapsed).label("rank"),
        )
        .where(
            _in_range(created, edges, FIRST_COMPARED),
            Conversation.status != ConversationStatus.SUPPRESSED,
            col(Conversation.first_response_at).is_not(None),
        )
        .subquery()
    )
    wanted = [
        and_(ranked.c.today == int(today), ranked.c.rank.in_(sorted(rs)))
        for today, rs in ranks.items()
        if rs
    ]
    values: dict[tuple[bool, int], float] = {}
    if wanted:
        query = select(ranked.c.today, ranked.c.rank, ranked.c.ms).where(or_(*wanted))
        for today, rank, ms in session.exec(query).all():
            values[(bool(today), int(rank))] = float(ms)

    def at(today: bool, p: float) -> float | None:
        n = counts[today]
        if not n:
            return None
        position = p * (n - 1)
        low = values[(today, int(position) + 1)]
        high = values.get((today, int(position) + 2), low)
        return round((low + (position - int(position)) * (high - low)) / 1000, 3)

    return [Duration(at(True, p), at(False, p)) for p in ps]


def _backlog(session: Session) -> Backlog:
    unclaimed = [
        Conversation.status == ConversationStatus.OPEN,
        col(Conversation.assignee_slack_id).is_(None),
    ]
    count = session.exec(select(func.count()).select_from(Conversation).where(*unclaimed)).one()
    order = (col(Conversation.created_at), col(Conversation.id))
    oldest = session.exec(select(Conversation).where(*unclaimed).order_by(*order).limit(3)).all()
    return Backlog(
        count,
        tuple(
            BacklogItem(
                c.id or 0, c.source, c.intent, c.priority, c.created_at, c.slack_channel, c.slack_ts
            )
            for c in oldest
        ),
    )


def _outcomes(
    session: Session, edges: list[datetime]
) -> tuple[Outcomes, dict[tuple[bool, str], int]]:
    """One pass over 8 days of outcomes: the figures, and outcomes logged per agent."""
    created = Outcome.created_at
    today = case((created >= edges[TODAY], 1), else_=0).label("today")
    keys = [today, Outcome.kind, Outcome.currency, Outcome.staff_slack_id]
    query = (
        select(*keys, func.count(), func.sum(Outcome.value))
        .where(_in_range(created, edges, FIRST_COMPARED))
        .group_by(*keys)
    )
    counts: dict[tuple[bool, str], int] = defaultdict(int)
    money: dict[tuple[bool, str], Decimal] = defaultdict(Decimal)
    per_agent: dict[tuple[bool, str], int] = defaultdict(int)
    for is_today, kind, currency, staff, n, value in session.exec(query).all():
        counts[(bool(is_today), kind)] += n
        per_agent[(bool(is_today), staff)] += n
        if kind == OutcomeKind.SALE and value is not None and currency:
            money[(bool(is_today), currency)] += Decimal(value)

    def figure(kind: str) -> Figure:
        return Figure(counts[(True, kind)], counts[(False, kind)] / COMPARE_DAYS)

    sales_value = [
        Money(c, money[(True, c)], (money[(False, c)] / COMPARE_DAYS).quantize(Decimal("0.01")))
        for c in {c for _, c in money}
    ]
    kinds = sorted({k for _, k in counts}, key=lambda k: (-counts[(True, k)], k))
    outcomes = Outcomes(
        resolved=figure(OutcomeKind.RESOLVED),
        leads=figure(OutcomeKind.LEAD_CREATED),
        sales=figure(OutcomeKind.SALE),
        sales_value=tuple(sorted(sales_value, key=lambda m: (-m.total, -m.average, m.currency))),
        by_kind=tuple(Counted(k, figure(k)) for k in kinds),
    )
    return outcomes, dict(per_agent)


def _replies(
    session: Session, edges: list[datetime], threshold: int
) -> tuple[dict[tuple[bool, str], int], Figure]:
    """Replies per agent over the 8 days (read from the index alone), and per day the
    conversations with an influencer that we replied in."""
    created = Message.created_at
    outbound = [Message.direction == Direction.OUT, _in_range(created, edges, FIRST_COMPARED)]
    today = case((created >= edges[TODAY], 1), else_=0)
    per_agent: dict[tuple[bool, str], int] = defaultdict(int)
    for is_today, author, n in session.exec(
        select(today, Message.author_slack_id, func.count())
        .where(*outbound, col(Message.author_slack_id).is_not(None))
        .group_by(today, Message.author_slack_id)
    ).all():
        per_agent[(bool(is_today), str(author))] += n
    if threshold <= 0:  # routing treats 0 as "no influencers"
        return dict(per_agent), Figure(0, 0.0)
    # The few conversations an influencer wrote in, found from the identity side (followers
    # and author indexes), not probed once per reply.
    # Nested INs, not a join: SQLite would otherwise scan every message for the join.
    inbound = aliased(Message)
    influencers = select(Identity.id).where(col(Identity.followers) >= threshold)
    influenced = select(inbound.conversation_id).where(
        inbound.direction == Direction.IN, col(inbound.author_identity_id).in_(influencers)
    )
    engaged = session.exec(
        select(_bucket(created, edges, FIRST_COMPARED), Message.conversation_id)
        .where(*outbound, col(Message.conversation_id).in_(influenced))
        .distinct()
    ).all()
    today_count = sum(1 for bucket, _ in engaged if int(bucket) == TODAY)
    return dict(per_agent), Figure(today_count, (len(engaged) - today_count) / COMPARE_DAYS)
