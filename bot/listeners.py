"""Bolt listeners for the conversation card: ack, parse, call a handler, render.

Every listener acks first, so Slack's 3-second window holds however slow the database or
the drafter is; slow work (drafting) runs as a bolt lazy listener after the ack.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.blocks.ephemeral import (
    action_failed,
    already_claimed,
    drafting_collision,
    only_assignee_can_send,
)
from bot.blocks.modals import (
    edit_draft_modal,
    outcome_modal,
    parse_edit_submission,
    parse_outcome_submission,
)
from bot.config_schema import TeamConfig
from bot.conversation_view import post_draft, refresh_card, refresh_draft
from bot.outbox_render import READ_ONLY_SOURCES
from handlers import conversation_actions as actions
from handlers import drafts
from handlers.drafting import NETWORK_LIMITS, Drafter
from storage.db import session_scope
from storage.models import Customer
from storage.types import utcnow

log = logging.getLogger(__name__)
READ_ONLY_NOTE = "This conversation comes from a read-only source: reply on the site (see card)."
ListenerFn = Callable[..., None]


@dataclass
class ListenerContext:
    engine: Any
    team: TeamConfig
    drafter: Drafter
    on_send: Callable[[], None] = lambda: None  # wakes the reply drainer in this process


def _action(body: dict[str, Any]) -> dict[str, Any]:
    return body["actions"][0]


def _id(body: dict[str, Any]) -> int:
    return int(_action(body).get("value") or 0)


def _user(body: dict[str, Any]) -> str:
    return str(body["user"]["id"])


def register_conversation_listeners(app: App, ctx: ListenerContext) -> None:
    _claims(app, ctx)
    _drafting(app, ctx)
    _draft_changes(app, ctx)
    _sending(app, ctx)
    _outcomes(app, ctx)

    @app.error
    def on_error(error: Exception, body: dict[str, Any], respond: Respond | None) -> None:
        report_failure(error, body, respond)


def report_failure(error: Exception, body: dict[str, Any] | None, respond: Respond | None) -> None:
    """The one place failures surface: a refusal we expected is said plainly; anything
    else gets an error id that is also in the log, so support can find it."""
    reply: dict[str, Any]
    if isinstance(error, actions.ActionError):
        reply = {"text": str(error)}
    else:
        error_id = uuid.uuid4().hex[:8]
        log.error("listener failed (error %s)", error_id, exc_info=error)
        reply = action_failed(error_id)
    if respond is not None and (body or {}).get("response_url"):
        respond(**reply, response_type="ephemeral", replace_original=False)


def guarded(listener: ListenerFn) -> ListenerFn:
    """Report a listener's failure here and never let it reach bolt: bolt 1.30 answers a
    listener that raises after ack() with 500 (process_before_response) or, racing its own
    ack in the default threaded mode, with 404 after 3 s, and Slack shows the user an error
    on top of ours. bolt reads the wrapped function's parameters (inspect.unwrap)."""

    @functools.wraps(listener)
    def run(**kwargs: Any) -> None:
        try:
            listener(**kwargs)
        except Exception as error:
            ack = kwargs.get("ack")
            if ack is not None and ack.response is None:
                ack()
            report_failure(error, kwargs.get("body"), kwargs.get("respond"))

    return run


def _claims(app: App, ctx: ListenerContext) -> None:
    @app.action("conversation.claim")
    @guarded
    def claim(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        cid, user = _id(body), _user(body)
        with session_scope(ctx.engine, write=True) as session:
            result = actions.claim_conversation(session, cid, user, utcnow())
        if result.won:
            refresh_card(client, ctx.engine, ctx.team, cid)
        else:
            respond(
                **already_claimed(cid, result.assignee or ""),
                response_type="ephemeral",
                replace_original=False,
            )

    def reassigning(action: str, assignee_of: Callable[[dict[str, Any]], str | None]) -> Callable:
        @guarded
        def listener(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
            ack()
            cid = int(
                _action(body).get("value")
                or body["actions"][0].get("block_id", "0:0").split(":")[-1]
            )
            with session_scope(ctx.engine, write=True) as session:
                actions.assign_conversation(
                    session, cid, _user(body), assignee_of(body), utcnow(), action
                )
            refresh_card(client, ctx.engine, ctx.team, cid)

        return listener

    app.action("conversation.takeover")(reassigning("conversation.taken_over", _user))
    app.action("conversation.unclaim")(reassigning("conversation.unclaimed", lambda _b: None))
    app.action("conversation.reassign")(
        reassigning("conversation.reassigned", lambda b: _action(b).get("selected_user"))
    )

    @app.action("conversation.tags")
    @guarded
    def tags(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        action = _action(body)
        cid = int(action["block_id"].split(":")[-1])
        names = [o["value"] for o in action.get("selected_options") or []]
        try:
            with session_scope(ctx.engine, write=True) as session:
                actions.set_tags(session, cid, names, _user(body), ctx.team, utcnow())
        except actions.ActionError as exc:
            respond(text=str(exc), response_type="ephemeral", replace_original=False)
        refresh_card(client, ctx.engine, ctx.team, cid)


def _drafting(app: App, ctx: ListenerContext) -> None:
    def ack_draft(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        cid, user = _id(body), _user(body)
        with session_scope(ctx.engine) as session:
            conv = actions.get_conversation(session, cid)
            other = drafts.drafting_by_other(conv, user, utcnow())
            read_only = conv.source in READ_ONLY_SOURCES
        if read_only:  # the card has no Draft button; a stale or forged click gets this
            respond(text=READ_ONLY_NOTE, response_type="ephemeral", replace_original=False)
            return
        if _action(body)["action_id"] == "conversation.draft_anyway":
            return
        if other:
            respond(
                **drafting_collision(cid, other, "draft"),
                response_type="ephemeral",
                replace_original=False,
            )

    def produce_draft(body: dict[str, Any], client: WebClient) -> None:
        cid, user = _id(body), _user(body)
        with session_scope(ctx.engine) as session:
            conv = actions.get_conversation(session, cid)
            if conv.source in READ_ONLY_SOURCES:
                return  # nowhere to send it: ack_draft said so
            if _action(body)["action_id"] == "conversation.draft" and drafts.drafting_by_other(
                conv, user, utcnow()
            ):
                return  # warned; "Draft anyway" comes back as its own action
        with session_scope(ctx.engine, write=True) as session:
            draft = drafts.create_draft(session, cid, user, ctx.drafter, utcnow())
            draft_id = draft.id or 0
        post_draft(client, ctx.engine, draft_id)
        refresh_card(client, ctx.engine, ctx.team, cid)

    for action_id in ("conversation.draft", "conversation.draft_anyway"):
        app.action(action_id)(ack=guarded(ack_draft), lazy=[produce_draft])


def _draft_changes(app: App, ctx: ListenerContext) -> None:
    """Regenerate, discard and edit an existing draft."""

    def ack_only(ack: Ack) -> None:
        ack()

    def regenerate(body: dict[str, Any], client: WebClient) -> None:
        with session_scope(ctx.engine, write=True) as session:
            old = drafts.get_draft(session, _id(body))
            cid = old.conversation_id
            new = drafts.create_draft(session, cid, _user(body), ctx.drafter, utcnow())
            old_id, new_id = old.id or 0, new.id or 0
        refresh_draft(client, ctx.engine, ctx.team, old_id)
        post_draft(client, ctx.engine, new_id)

    app.action("draft.regenerate")(ack=ack_only, lazy=[regenerate])

    @app.action("draft.discard")
    @guarded
    def discard(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        with session_scope(ctx.engine, write=True) as session:
            draft = drafts.discard_draft(session, _id(body), _user(body), utcnow())
            cid = draft.conversation_id
        refresh_draft(client, ctx.engine, ctx.team, _id(body))
        refresh_card(client, ctx.engine, ctx.team, cid)

    @app.action("draft.edit")
    @guarded
    def edit(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        with session_scope(ctx.engine, write=True) as session:
            draft = drafts.get_draft(session, _id(body))
            conv = actions.get_conversation(session, draft.conversation_id)
            view = edit_draft_modal(
                draft.id or 0,
                conv.id or 0,
                draft.text,
                conv.source,
                NETWORK_LIMITS.get(conv.source),
            )
            drafts.mark_drafting(session, conv.id or 0, _user(body), utcnow())
        client.views_open(trigger_id=body["trigger_id"], view=view)

    @app.view("draft.edit_submit")
    @guarded
    def edit_submit(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        text, errors = parse_edit_submission(view["state"]["values"])
        if errors or text is None:
            ack(response_action="errors", errors=errors)
            return
        ack()
        meta = json.loads(view["private_metadata"])
        with session_scope(ctx.engine, write=True) as session:
            drafts.edit_draft(session, int(meta["draft_id"]), text, _user(body), utcnow())
        refresh_draft(client, ctx.engine, ctx.team, int(meta["draft_id"]))
        refresh_card(client, ctx.engine, ctx.team, int(meta["conversation_id"]))


def _sending(app: App, ctx: ListenerContext) -> None:
    def send(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        draft_id, user = _id(body), _user(body)
        with session_scope(ctx.engine, write=True) as session:
            draft = drafts.get_draft(session, draft_id)
            conv = actions.get_conversation(session, draft.conversation_id)
            other = drafts.drafting_by_other(conv, user, utcnow())
            if other and _action(body)["action_id"] == "draft.send":
                respond(
                    **drafting_collision(draft_id, other, "send"),
                    response_type="ephemeral",
                    replace_original=False,
                )
                return
            decision = drafts.approve_send(
                session, draft_id, user, utcnow(), read_only=conv.source in READ_ONLY_SOURCES
            )
            cid = conv.id or 0
        if decision.reason == "not_assignee":
            respond(
                **only_assignee_can_send(decision.assignee or "", cid),
                response_type="ephemeral",
                replace_original=False,
            )
        if decision.sent:
            ctx.on_send()
        refresh_draft(client, ctx.engine, ctx.team, draft_id)
        refresh_card(client, ctx.engine, ctx.team, cid)

    app.action("draft.send")(guarded(send))
    app.action("draft.send_anyway")(guarded(send))

    @app.action("delivery.retry")
    @guarded
    def retry(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        with session_scope(ctx.engine, write=True) as session:
            queued = drafts.retry_delivery(session, _id(body), _user(body), utcnow())
        if queued:
            ctx.on_send()
        refresh_draft(client, ctx.engine, ctx.team, _id(body))


def _outcomes(app: App, ctx: ListenerContext) -> None:
    @app.action("conversation.outcome")
    @guarded
    def open_outcome(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        with session_scope(ctx.engine) as session:
            conv = actions.get_conversation(session, _id(body))
            customer = session.get(Customer, conv.customer_id)
            view = outcome_modal(
                conv.id or 0,
                customer.name if customer else None,
                str(customer.lifecycle_stage) if customer else None,
            )
        client.views_open(trigger_id=body["trigger_id"], view=view)

    @app.view("outcome.submit")
    @guarded
    def submit(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        form, errors = parse_outcome_submission(view["state"]["values"])
        if errors or form is None:
            ack(response_action="errors", errors=errors)
            return
        ack()
        cid = int(json.loads(view["private_metadata"])["conversation_id"])
        with session_scope(ctx.engine, write=True) as session:
            actions.log_outcome(
                session,
                cid,
                _user(body),
                actions.OutcomeInput(
                    kind=form.kind,
                    value=form.value,
                    currency=form.currency,
                    stage=form.stage,
                    note=form.note,
                ),
                utcnow(),
            )
        refresh_card(client, ctx.engine, ctx.team, cid)
