"""What each outbox item sends: read the current state, build the Slack call, and record
what Slack answered. Rendering happens at send time, so a card always shows the latest state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, func, select

from bot.blocks.card import (
    CARD_TEXT_LIMIT,
    CardData,
    channel_notice,
    conversation_card,
    follow_up_message,
)
from bot.blocks.mrkdwn import escape, safe_url
from bot.config_schema import TeamConfig
from handlers.ingest import enqueue
from storage.models import (
    Conversation,
    ConversationTag,
    Customer,
    Direction,
    Identity,
    Message,
    OutboxItem,
    Tag,
)

READ_ONLY_SOURCES = frozenset({"rss"})


class NotReadyError(Exception):
    """The item depends on a post that has not happened yet (a reply before its card)."""


@dataclass(frozen=True)
class SlackPost:
    kind: str
    method: str  # chat.postMessage or chat.update
    channel_ref: str  # #name or id; also the pacing key
    kwargs: dict[str, Any]
    ids: dict[str, int] = field(default_factory=dict)  # our ids for the message metadata


@dataclass(frozen=True)
class Delivery:
    channel: str | None
    ts: str | None


Permalink = Callable[[str, str], str | None]


def render_item(
    session: Session, item: OutboxItem, team: TeamConfig, permalink: Permalink
) -> SlackPost | None:
    if item.kind == "slack_erase":
        from bot.erase_render import render_erase  # these modules import SlackPost from here

        return render_erase(session, item)
    if item.kind in ("slack_sla_nudge", "slack_sla_escalation"):
        from bot.sla_render import render_sla

        return render_sla(session, item, team, permalink)
    conv = session.get(Conversation, item.conversation_id) if item.conversation_id else None
    if conv is None:
        return None
    if item.kind == "slack_card":
        if conv.slack_ts:
            return None  # already posted by an earlier item
        return SlackPost(
            "card",
            "chat.postMessage",
            item.destination or conv.home_channel or "",
            message_kwargs(conversation_card(card_data(session, conv, team))),
            {"conversation_id": conv.id or 0},
        )
    if not (conv.slack_ts and conv.slack_channel):
        raise NotReadyError(f"conversation {conv.id} has no card yet")
    if item.kind == "slack_reply":
        return _reply(session, item, conv)
    if item.kind == "slack_card_update":
        kwargs = message_kwargs(conversation_card(card_data(session, conv, team)))
        kwargs.pop("unfurl_links"), kwargs.pop("unfurl_media")
        return SlackPost(
            "card_update",
            "chat.update",
            conv.slack_channel,
            {**kwargs, "ts": conv.slack_ts},
            {"conversation_id": conv.id or 0},
        )
    if item.kind == "slack_notice":
        link = permalink(conv.slack_channel, conv.slack_ts)
        payload = channel_notice(
            home_channel=conv.slack_channel, permalink=link, data=card_data(session, conv, team)
        )
        return SlackPost(
            "notice",
            "chat.postMessage",
            item.destination or "",
            message_kwargs(payload),
            {"conversation_id": conv.id or 0},
        )
    raise ValueError(f"unknown outbox kind {item.kind!r}")


def _reply(session: Session, item: OutboxItem, conv: Conversation) -> SlackPost | None:
    message = session.get(Message, item.payload.get("message_id"))
    full_text = bool(item.payload.get("full_text"))
    if message is None or (message.slack_ts and not full_text):
        return None
    author = (
        session.get(Identity, message.author_identity_id) if message.author_identity_id else None
    )
    payload = follow_up_message(
        author_name=author.display_name if author else None,
        handle=author.handle if author else None,
        source=conv.source,
        text=message.text,
        url=message.url,
        attachments=tuple((a["name"], a["url"]) for a in message.attachments),
        created_at=message.created_at,
    )
    return SlackPost(
        "message",
        "chat.postMessage",
        conv.slack_channel or "",
        {**message_kwargs(payload), "thread_ts": conv.slack_ts},
        {"conversation_id": conv.id or 0, "message_id": message.id or 0},
    )


def message_kwargs(payload: dict[str, Any]) -> dict[str, Any]:
    """text and blocks for chat.postMessage, with link previews off.

    Customer links must not unfurl: a preview would fetch and show third-party content.
    Every bot post goes through here so that rule lives in one place."""
    return {
        "text": payload["text"],
        "blocks": payload["blocks"],
        "unfurl_links": False,
        "unfurl_media": False,
    }


def card_data(session: Session, conv: Conversation, team: TeamConfig) -> CardData:
    first = session.exec(
        select(Message)
        .where(Message.conversation_id == conv.id, Message.direction == Direction.IN)
        .order_by(col(Message.created_at), col(Message.id))
    ).first()
    author = (
        session.get(Identity, first.author_identity_id)
        if first and first.author_identity_id
        else None
    )
    customer = session.get(Customer, conv.customer_id)
    tags = session.exec(
        select(Tag.name).join(ConversationTag).where(ConversationTag.conversation_id == conv.id)
    ).all()
    count = session.exec(
        select(func.count()).select_from(Message).where(Message.conversation_id == conv.id)
    ).one()
    followers = author.followers if author else None
    threshold = team.routing.influencer_followers
    return CardData(
        conversation_id=conv.id or 0,
        source=conv.source,
        customer_name=(customer.name if customer else None)
        or (author.display_name if author else None),
        handle=author.handle if author else None,
        profile_url=author.profile_url if author else None,
        followers=followers,
        influencer=bool(threshold and followers and followers >= threshold),
        text=first.text if first else "",
        message_url=(first.url if first else None) or conv.url,
        language=conv.language,
        intent=conv.intent,
        sentiment=conv.sentiment,
        priority=conv.priority,
        tags=tuple(sorted(tags)),
        allowed_tags=tuple(team.tags.allowed),
        status=str(conv.status),
        assignee_slack_id=conv.assignee_slack_id,
        is_direct=conv.is_direct,
        attachments=tuple((a["name"], a["url"]) for a in (first.attachments if first else [])),
        created_at=first.created_at if first else conv.created_at,
        reply_supported=conv.source not in READ_ONLY_SOURCES,
        message_count=count,
        summary=conv.summary,
    )


def store_delivery(
    session: Session, item: OutboxItem, delivery: Delivery, team: TeamConfig
) -> None:
    """Record where a post landed, in the same transaction that marks the item done."""
    if delivery.ts is None:
        return
    conv = session.get(Conversation, item.conversation_id) if item.conversation_id else None
    if conv is None:
        return
    if item.kind == "slack_card":
        conv.slack_channel, conv.slack_ts = delivery.channel, delivery.ts
        session.add(conv)
        first = session.exec(
            select(Message).where(Message.conversation_id == conv.id).order_by(col(Message.id))
        ).first()
        if first is not None:
            first.slack_ts = delivery.ts
            session.add(first)
            if len(escape(first.text)) > CARD_TEXT_LIMIT and not safe_url(first.url):
                # The card showed the start and has no link to the original: the whole text
                # follows in the thread.
                enqueue(
                    session,
                    "slack_reply",
                    f"fulltext:{first.id}",
                    conv,
                    {"message_id": first.id, "full_text": True},
                    destination=delivery.channel,
                )
    elif item.kind == "slack_reply" and not item.payload.get("full_text"):
        message = session.get(Message, item.payload.get("message_id"))
        if message is not None:
            message.slack_ts = delivery.ts
            session.add(message)
