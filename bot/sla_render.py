"""Rendering SLA outbox rows at send time: the thread nudge and the manager's DM.

Read at send time like every outbox item, so a conversation claimed, answered or resolved
between the check and the send is skipped (None) instead of nudging about nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import Session

from bot.blocks.sla import sla_escalation_message, sla_nudge_message
from bot.config_schema import TeamConfig
from handlers.sla import ESCALATION_KIND, NUDGE_KIND, SLA_KINDS
from storage.models import Conversation, ConversationStatus, OutboxItem

if TYPE_CHECKING:
    from bot.outbox_render import Permalink, SlackPost

__all__ = ["SLA_KINDS", "render_sla"]


def _still_late(conv: Conversation | None) -> bool:
    return (
        conv is not None
        and conv.status == ConversationStatus.OPEN
        and conv.assignee_slack_id is None
        and bool(conv.slack_channel and conv.slack_ts)
    )


def render_sla(
    session: Session, item: OutboxItem, team: TeamConfig, permalink: Permalink
) -> SlackPost | None:
    """The Slack call for an SLA row, or None when there is nothing to say any more."""
    # Imported here, not at the top: bot.outbox_render imports this module, in either order.
    from bot.outbox_render import SlackPost, card_data, message_kwargs

    conv = session.get(Conversation, item.conversation_id) if item.conversation_id else None
    if conv is None or not _still_late(conv):
        return None
    assert conv.slack_channel is not None and conv.slack_ts is not None  # _still_late
    minutes = int(item.payload.get("minutes") or 0)
    ids = {"conversation_id": conv.id or 0}
    if item.kind == NUDGE_KIND:
        payload = sla_nudge_message(
            minutes=minutes,
            oncall_group=team.slack.oncall_group,
            priority=conv.priority,
            sla_minutes=team.sla.first_response_minutes,
        )
        return SlackPost(
            "sla_nudge",
            "chat.postMessage",
            conv.slack_channel,
            {**message_kwargs(payload), "thread_ts": conv.slack_ts},
            ids,
        )
    if item.kind == ESCALATION_KIND:
        if not item.destination:
            return None
        data = card_data(session, conv, team)
        payload = sla_escalation_message(
            minutes=minutes,
            channel=conv.slack_channel,
            ts=conv.slack_ts,
            permalink=permalink(conv.slack_channel, conv.slack_ts),
            customer_name=data.customer_name or data.handle,
            network=conv.source,
            sla_minutes=team.sla.escalate_after_minutes,
        )
        # A user id as the channel: chat.postMessage delivers it in the app's DM.
        return SlackPost(
            "sla_escalation", "chat.postMessage", item.destination, message_kwargs(payload), ids
        )
    raise ValueError(f"not an SLA outbox kind: {item.kind!r}")
