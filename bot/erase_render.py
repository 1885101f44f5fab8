"""Rendering the outbox kind "slack_erase": edit one bot message to "[erased]" after
`/crm forget` (handlers/erasure.py queues it).

Payload: {"conversation_id", "message_id"} for a customer message copied into a card's
thread (its `slack_ts`), or {"conversation_id", "ts"[, "channel"]} for a post whose ts only
the outbox or a draft knows (full-text follow-ups, drafts, notices in other channels). The
channel defaults to the conversation's card channel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from bot.blocks.card_parts import section
from handlers.erasure import ERASED
from storage.models import Conversation, Message, OutboxItem

if TYPE_CHECKING:
    from bot.outbox_render import SlackPost

ERASED_NOTICE = "🗑️ _This message was erased at the customer's request._"


def erased_blocks() -> list[dict[str, Any]]:
    return [section(ERASED_NOTICE)]


def render_erase(session: Session, item: OutboxItem) -> SlackPost | None:
    """A chat.update replacing the message, or None when there is nothing to edit (the
    conversation is gone, or the message never reached Slack)."""
    from bot.outbox_render import SlackPost  # outbox_render imports this module

    conv = session.get(Conversation, item.conversation_id) if item.conversation_id else None
    if conv is None:
        return None
    ts = item.payload.get("ts")
    message_id = item.payload.get("message_id")
    if not ts and message_id is not None:
        message = session.get(Message, message_id)
        ts = message.slack_ts if message else None
    channel = item.payload.get("channel") or conv.slack_channel
    if not (ts and channel):
        return None
    ids = {"conversation_id": conv.id or 0}
    if message_id is not None:
        ids["message_id"] = int(message_id)
    return SlackPost(
        "erase",
        "chat.update",
        channel,
        {"ts": ts, "text": ERASED, "blocks": erased_blocks()},
        ids,
    )
