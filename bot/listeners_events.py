"""Slack events on cards: staff replies in a card's thread and triage reactions."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot.blocks.ephemeral import already_claimed
from bot.blocks.home import home_view
from bot.blocks.reactions import outcome_prompt
from bot.conversation_view import refresh_card
from bot.listeners import ListenerContext
from handlers import conversation_actions as actions
from handlers.home import home_data
from handlers.roles import role_of
from storage.db import session_scope
from storage.models import Conversation, StaffRole
from storage.types import utcnow

log = logging.getLogger(__name__)
CLAIM_REACTIONS = {"eyes"}
DONE_REACTIONS = {"white_check_mark", "heavy_check_mark"}


def conversation_at(ctx: ListenerContext, channel: str, ts: str) -> int | None:
    with session_scope(ctx.engine) as session:
        return session.exec(
            select(Conversation.id).where(
                Conversation.slack_channel == channel, Conversation.slack_ts == ts
            )
        ).first()


def register_event_listeners(app: App, ctx: ListenerContext) -> None:
    register_home_listener(app, ctx)

    @app.event("message")
    def thread_reply(event: dict[str, Any]) -> None:
        # Only people's replies inside a card's thread; edits, bots and top-level posts pass.
        if event.get("subtype") or event.get("bot_id") or "user" not in event:
            return
        thread_ts, ts = event.get("thread_ts"), event.get("ts")
        if not thread_ts or thread_ts == ts:
            return
        cid = conversation_at(ctx, event["channel"], thread_ts)
        if cid is None:
            return
        try:
            with session_scope(ctx.engine, write=True) as session:
                actions.add_note(
                    session,
                    cid,
                    event["user"],
                    event.get("text") or "",
                    f"{event['channel']}:{ts}",
                    utcnow(),
                )
        except IntegrityError:
            # Slack re-delivered the event while the first delivery was being stored (bolt
            # does not drop retries); the unique key kept one note, and that one won.
            log.info("re-delivered Slack message %s:%s already stored", event["channel"], ts)

    @app.event("reaction_added")
    def reaction(event: dict[str, Any], client: WebClient) -> None:
        item = event.get("item") or {}
        name = event.get("reaction", "").split("::")[0]  # skin tones arrive as "eyes::skin-tone-2"
        if item.get("type") != "message" or name not in CLAIM_REACTIONS | DONE_REACTIONS:
            return
        channel, user = item["channel"], event["user"]
        cid = conversation_at(ctx, channel, item["ts"])
        if cid is None:
            return
        if name in CLAIM_REACTIONS:
            with session_scope(ctx.engine, write=True) as session:
                result = actions.claim_conversation(session, cid, user, utcnow())
            if not result.won:
                client.chat_postEphemeral(
                    channel=channel, user=user, **already_claimed(cid, result.assignee or "")
                )
        elif ctx.team.slack.check_reaction_resolves:
            with session_scope(ctx.engine, write=True) as session:
                actions.log_outcome(
                    session, cid, user, actions.OutcomeInput(kind="resolved"), utcnow()
                )
        else:
            client.chat_postEphemeral(channel=channel, user=user, **outcome_prompt(cid))
        refresh_card(client, ctx.engine, ctx.team, cid)

    @app.event("reaction_removed")
    def reaction_removed() -> None:
        """Taking a reaction back changes nothing; listening keeps bolt from warning."""


def register_home_listener(app: App, ctx: ListenerContext) -> None:
    @app.event("app_home_opened")
    def home(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        user = event["user"]
        with session_scope(ctx.engine) as session:
            manager = role_of(session, ctx.team, user) in (StaffRole.MANAGER, StaffRole.ADMIN)
            data = home_data(session, user, manager=manager, now=utcnow())
        client.views_publish(user_id=user, view=home_view(data))
