"""Showing the current state in Slack: the card and draft messages, re-rendered from the
database after every change so everyone in the channel sees the same truth."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.blocks.card import CardData, conversation_card, network_name
from bot.blocks.draft import DraftView, draft_message
from bot.config_schema import TeamConfig
from bot.outbox_render import card_data, message_kwargs
from handlers.conversation_actions import latest_outcome
from handlers.drafting import NETWORK_LIMITS
from handlers.drafts import drafting_by_other
from storage.db import session_scope
from storage.models import Conversation, Draft, Message, OutboxItem
from storage.types import utcnow

log = logging.getLogger(__name__)

OUTCOME_LABELS = {"lead_created": "lead created", "no_action": "no action"}


def full_card_data(session: Session, conv: Conversation, team: TeamConfig) -> CardData:
    data = card_data(session, conv, team)
    outcome = latest_outcome(session, conv.id or 0) if conv.resolved_at else None
    value = (
        f"{outcome.value:.2f} {outcome.currency or ''}".strip()
        if outcome and outcome.value
        else None
    )
    return replace(
        data,
        drafting_by=drafting_by_other(conv, "", utcnow()),
        outcome=str(outcome.kind) if outcome else None,
        outcome_value=value,
        outcome_by=outcome.staff_slack_id if outcome else None,
    )


def draft_view(session: Session, draft: Draft, error: str | None = None) -> DraftView:
    conv = session.get(Conversation, draft.conversation_id)
    source = conv.source if conv else "webhook"
    reply_id = _reply_message_id(session, draft)
    sent = session.get(Message, reply_id) if reply_id else None
    return DraftView(
        draft_id=draft.id or 0,
        conversation_id=draft.conversation_id,
        text=draft.text,
        language=draft.language,
        drafter=draft.drafter,
        fallback_reason=draft.fallback_reason,
        requested_by=draft.requested_by,
        network=network_name(source),
        max_chars=NETWORK_LIMITS.get(source),
        status=str(draft.status),
        sent_by=sent.author_slack_id if sent else None,
        sent_url=sent.url if sent else None,
        error=error,
    )


def _reply_message_id(session: Session, draft: Draft) -> int | None:
    item = session.exec(
        select(OutboxItem).where(OutboxItem.idempotency_key == f"reply-out:{draft.id}")
    ).first()
    return item.payload.get("message_id") if item else None


def _update(client: WebClient, channel: str, ts: str, payload: dict[str, Any]) -> None:
    try:
        client.chat_update(channel=channel, ts=ts, text=payload["text"], blocks=payload["blocks"])
    except SlackApiError as exc:
        # The state is committed; a later change re-renders it. Say so, don't fail the click.
        log.warning("could not update message %s in %s: %s", ts, channel, exc.response.get("error"))


def refresh_card(client: WebClient, engine: Engine, team: TeamConfig, conversation_id: int) -> None:
    with session_scope(engine) as session:
        conv = session.get(Conversation, conversation_id)
        if conv is None or not (conv.slack_channel and conv.slack_ts):
            return
        payload = conversation_card(full_card_data(session, conv, team))
        channel, ts = conv.slack_channel, conv.slack_ts
    _update(client, channel, ts, payload)


def refresh_draft(
    client: WebClient, engine: Engine, team: TeamConfig, draft_id: int, error: str | None = None
) -> None:
    with session_scope(engine) as session:
        draft = session.get(Draft, draft_id)
        conv = session.get(Conversation, draft.conversation_id) if draft else None
        if draft is None or conv is None or not (draft.slack_ts and conv.slack_channel):
            return
        payload = draft_message(draft_view(session, draft, error))
        channel, ts = conv.slack_channel, draft.slack_ts
    _update(client, channel, ts, payload)


def post_draft(client: WebClient, engine: Engine, draft_id: int) -> None:
    """Post a new draft in the card's thread and remember where it is."""
    with session_scope(engine) as session:
        draft = session.get(Draft, draft_id)
        conv = session.get(Conversation, draft.conversation_id) if draft else None
        if draft is None or conv is None or not (conv.slack_channel and conv.slack_ts):
            return
        payload = draft_message(draft_view(session, draft))
        channel, thread_ts = conv.slack_channel, conv.slack_ts
    response = client.chat_postMessage(
        channel=channel, thread_ts=thread_ts, **message_kwargs(payload)
    )
    with session_scope(engine, write=True) as session:
        draft = session.get(Draft, draft_id)
        if draft is not None:
            draft.slack_ts = response["ts"]
            session.add(draft)
