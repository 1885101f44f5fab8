"""What a person sees on Threadline's App Home: their conversations, the open queue, and
for managers today's numbers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from storage.models import Conversation, ConversationStatus, Customer, Outcome

ACTIVE = (ConversationStatus.OPEN, ConversationStatus.REPLIED)


@dataclass(frozen=True)
class HomeItem:
    conversation_id: int
    customer_name: str | None
    source: str
    intent: str | None
    priority: int
    status: str
    created_at: datetime
    slack_channel: str | None
    slack_ts: str | None


@dataclass(frozen=True)
class TodayNumbers:
    new: int
    replied: int
    resolved: int
    unclaimed_open: int
    sales: int


@dataclass(frozen=True)
class HomeData:
    user: str
    mine: list[HomeItem]
    queue: list[HomeItem]
    queue_total: int
    today: TodayNumbers | None  # managers only


def _items(session: Session, where: list, order: list, limit: int) -> list[HomeItem]:  # type: ignore[type-arg]
    rows = session.exec(
        select(Conversation, Customer.name)
        .join(Customer)
        .where(*where)
        .order_by(*order)
        .limit(limit)
    ).all()
    return [
        HomeItem(
            c.id or 0,
            name,
            c.source,
            c.intent,
            c.priority,
            str(c.status),
            c.created_at,
            c.slack_channel,
            c.slack_ts,
        )
        for c, name in rows
    ]


def home_data(session: Session, user: str, *, manager: bool, now: datetime) -> HomeData:
    unclaimed = [
        col(Conversation.status) == ConversationStatus.OPEN,
        col(Conversation.assignee_slack_id).is_(None),
    ]
    mine = _items(
        session,
        [Conversation.assignee_slack_id == user, col(Conversation.status).in_(ACTIVE)],
        [col(Conversation.priority).desc(), col(Conversation.created_at)],
        20,
    )
    queue = _items(
        session, unclaimed, [col(Conversation.priority).desc(), col(Conversation.created_at)], 15
    )
    total = session.exec(select(func.count()).select_from(Conversation).where(*unclaimed)).one()
    return HomeData(
        user=user,
        mine=mine,
        queue=queue,
        queue_total=total,
        today=today_numbers(session, now) if manager else None,
    )


def today_numbers(session: Session, now: datetime) -> TodayNumbers:
    """The last 24 hours, so the numbers mean the same in every time zone."""
    since = now - timedelta(days=1)

    def count(*where: object) -> int:
        return session.exec(select(func.count()).select_from(Conversation).where(*where)).one()

    sales = session.exec(
        select(func.count())
        .select_from(Outcome)
        .where(Outcome.created_at >= since, Outcome.kind == "sale")
    ).one()
    return TodayNumbers(
        new=count(Conversation.created_at >= since),
        replied=count(col(Conversation.first_response_at) >= since),
        resolved=count(col(Conversation.resolved_at) >= since),
        unclaimed_open=count(
            Conversation.status == ConversationStatus.OPEN,
            col(Conversation.assignee_slack_id).is_(None),
        ),
        sales=sales,
    )
