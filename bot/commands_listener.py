"""The `/crm` listener: parse, call a handler, render, answer only the person who asked.

Quick sub-commands (help, tag, lookup, open, mine, link) answer in the ack. `find`, `stats`
and `forget` may read many rows (forget also compacts the search index), so they ack at
once and answer through `respond()` from a bolt lazy listener: Slack's 3-second window holds
however large the database is. Every failure becomes a short ephemeral answer (an expected
refusal said plainly, anything else with an error id that is also in the log), never a 500.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.blocks.ephemeral import action_failed
from bot.blocks.help import help_message, tag_created
from bot.blocks.lookup import (
    Permalink,
    archive_permalink,
    forget_answer,
    link_answer,
    lookup_answer,
    queue_answer,
    search_answer,
    sentence,
    stats_answer,
)
from bot.config_schema import TeamConfig
from bot.listeners import ListenerContext
from handlers import lookups, search
from handlers.commands import (
    CommandRequest,
    FindRequest,
    ForgetRequest,
    HelpResult,
    LinkRequest,
    LookupRequest,
    MineRequest,
    OpenRequest,
    RoleRequest,
    StatsRequest,
    TagRequest,
    parse_command,
)
from handlers.conversation_actions import ActionError, create_tag
from handlers.erasure import forget
from handlers.roles import set_role
from storage.db import session_scope
from storage.models import StaffRole
from storage.types import utcnow

log = logging.getLogger(__name__)

SLOW = (FindRequest, StatsRequest, ForgetRequest)
NO_DATABASE = "This needs the database, and this process has none."


@dataclass(frozen=True)
class CommandCall:
    """Who asked, and what the handlers need."""

    user: str
    command: str
    team: TeamConfig
    ctx: ListenerContext
    permalink: Permalink


def register_command_listener(
    app: App, team: TeamConfig, listeners: ListenerContext | None
) -> None:
    name = team.slack.command

    def parsed(command: dict[str, Any]) -> CommandRequest:
        return parse_command(command.get("command") or name, command.get("text") or "")

    def is_slow(command: dict[str, Any]) -> bool:
        return listeners is not None and isinstance(parsed(command), SLOW)

    def ack_only(ack: Ack) -> None:
        ack()

    def answer_later(command: dict[str, Any], respond: Respond) -> None:
        respond(**answer(parsed(command), command, team, listeners))

    app.command(name, matchers=[is_slow])(ack=ack_only, lazy=[answer_later])

    @app.command(name)
    def answer_now(ack: Ack, command: dict[str, Any]) -> None:
        ack(**answer(parsed(command), command, team, listeners))


def answer(
    request: CommandRequest,
    command: dict[str, Any],
    team: TeamConfig,
    listeners: ListenerContext | None,
) -> dict[str, Any]:
    """The ephemeral payload answering `request`; never raises."""
    if isinstance(request, HelpResult):
        return help_message(request)
    if listeners is None:
        no_db = tag_created if isinstance(request, TagRequest) else sentence
        return no_db(NO_DATABASE)
    call = CommandCall(
        user=str(command.get("user_id") or ""),
        command=str(command.get("command") or team.slack.command),
        team=team,
        ctx=listeners,
        permalink=archive_permalink(command.get("team_domain")),
    )
    try:
        return _HANDLERS[type(request)](request, call)
    except ActionError as exc:
        return sentence(str(exc))
    except Exception:
        error_id = uuid.uuid4().hex[:8]
        log.exception("%s failed (error %s)", type(request).__name__, error_id)
        return {**action_failed(error_id), "response_type": "ephemeral"}


def _tag(request: TagRequest, call: CommandCall) -> dict[str, Any]:
    try:
        with session_scope(call.ctx.engine, write=True) as session:
            tag = create_tag(session, request.name, call.user, call.team, utcnow())
            return tag_created(f"Tag “{tag.name}” is ready: pick it from any card's tag menu.")
    except ActionError as exc:
        return tag_created(str(exc))


def _lookup(request: LookupRequest, call: CommandCall) -> dict[str, Any]:
    with session_scope(call.ctx.engine) as session:
        result = lookups.lookup(session, request.query)
    return lookup_answer(result, call.permalink, call.command)


def _open(request: OpenRequest, call: CommandCall) -> dict[str, Any]:
    with session_scope(call.ctx.engine) as session:
        queue = lookups.open_queue(session)
    empty = "No unclaimed open conversations right now. 🎉"
    return queue_answer("Open and unclaimed, most urgent first", queue, call.permalink, empty)


def _mine(request: MineRequest, call: CommandCall) -> dict[str, Any]:
    with session_scope(call.ctx.engine) as session:
        queue = lookups.my_queue(session, call.user)
    empty = "Nothing assigned to you is waiting. Try `open` for unclaimed conversations."
    return queue_answer("Assigned to you, open or replied", queue, call.permalink, empty)


def _find(request: FindRequest, call: CommandCall) -> dict[str, Any]:
    with session_scope(call.ctx.engine) as session:
        result = search.find_messages(session, request.text)
    return search_answer(result, call.permalink)


def _stats(request: StatsRequest, call: CommandCall) -> dict[str, Any]:
    with session_scope(call.ctx.engine) as session:
        stats = search.period_stats(session, request.days, utcnow())
    return stats_answer(stats)


def _link(request: LinkRequest, call: CommandCall) -> dict[str, Any]:
    with session_scope(call.ctx.engine, write=True) as session:
        result = lookups.link_customers(session, request.first, request.second, call.user, utcnow())
    return link_answer(result, call.command)


def _forget(request: ForgetRequest, call: CommandCall) -> dict[str, Any]:
    with session_scope(call.ctx.engine, write=True) as session:
        result = forget(session, call.team, call.user, request.query, utcnow())
    return forget_answer(result, call.command)


def _role(request: RoleRequest, call: CommandCall) -> dict[str, Any]:
    with session_scope(call.ctx.engine, write=True) as session:
        effective = set_role(
            session, call.team, call.user, request.user_id, StaffRole(request.role), utcnow()
        )
    note = "" if effective == request.role else f" (threadline.toml keeps them {effective})"
    return sentence(f"{request.user_id} is now {request.role}{note}.")


_HANDLERS: dict[type, Callable[[Any, CommandCall], dict[str, Any]]] = {
    RoleRequest: _role,
    TagRequest: _tag,
    LookupRequest: _lookup,
    OpenRequest: _open,
    MineRequest: _mine,
    FindRequest: _find,
    StatsRequest: _stats,
    LinkRequest: _link,
    ForgetRequest: _forget,
}
