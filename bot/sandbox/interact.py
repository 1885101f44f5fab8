"""What a person does on the sandbox page, turned into the signed requests Slack would send
to `/slack/events`: clicks, selections, modal submissions, slash commands, thread replies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.sandbox.workspace import SANDBOX_USER, SandboxSlack
from bot.slack_emulator.driver import DriverResponse, SlackDriver
from bot.slack_emulator.validation import ApiError
from bot.slack_emulator.view_state import option

MISSING_INPUT = "Please fill out this field."
REACTIONS = frozenset({"eyes", "white_check_mark", "heart", "tada"})
_TEXT_INPUTS = ("plain_text_input", "number_input", "email_text_input", "url_text_input")


class InteractionError(Exception):
    """A request from the page that cannot become a Slack payload; the message says why."""


def _elements(view: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for index, block in enumerate(view.get("blocks") or []):
        block_id = str(block.get("block_id") or f"b{index}")
        for element in [block.get("element"), block.get("accessory"), *block.get("elements", [])]:
            if isinstance(element, dict) and element.get("action_id"):
                found[(block_id, str(element["action_id"]))] = element
    return found


def _full_option(element: dict[str, Any], value: str) -> dict[str, Any]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return next((o for o in options if o.get("value") == value), None) or option(value)


def element_state(element: dict[str, Any], sent: dict[str, Any]) -> dict[str, Any]:
    """One input's state in Slack's `view.state.values` shape."""
    kind = str(element.get("type") or sent.get("type") or "plain_text_input")
    value = sent.get("value") or None
    values = [str(v) for v in sent.get("values") or []]
    if kind in ("static_select", "radio_buttons", "external_select"):
        chosen = _full_option(element, str(value)) if value else None
        return {"type": kind, "selected_option": chosen}
    if kind in ("multi_static_select", "checkboxes"):
        return {"type": kind, "selected_options": [_full_option(element, v) for v in values]}
    if kind == "users_select":
        return {"type": kind, "selected_user": value}
    if kind == "multi_users_select":
        return {"type": kind, "selected_users": values}
    if kind in ("conversations_select", "channels_select"):
        key = "selected_conversation" if kind == "conversations_select" else "selected_channel"
        return {"type": kind, key: value}
    if kind == "datepicker":
        return {"type": kind, "selected_date": value}
    if kind == "timepicker":
        return {"type": kind, "selected_time": value}
    return {"type": kind, "value": None if value is None else str(value)}


def _empty(state: dict[str, Any]) -> bool:
    return not any(v for k, v in state.items() if k != "type")


def view_state(view: dict[str, Any], form: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Slack-shaped state for every input in `view`, and the required ones left empty
    (Slack's client refuses to submit those, so the app never sees them)."""
    values: dict[str, dict[str, Any]] = {}
    missing: dict[str, str] = {}
    inputs = {
        str(b.get("block_id")): b for b in view.get("blocks") or [] if b.get("type") == "input"
    }
    for (block_id, action_id), element in _elements(view).items():
        sent = (form.get(block_id) or {}).get(action_id) or {}
        if not isinstance(sent, dict):
            raise InteractionError(f"input {block_id}/{action_id}: expected an object")
        state = element_state(element, sent)
        values.setdefault(block_id, {})[action_id] = state
        block = inputs.get(block_id)
        if block is not None and not block.get("optional") and _empty(state):
            missing[block_id] = MISSING_INPUT
    return values, missing


@dataclass
class Interactions:
    slack: SandboxSlack
    driver: SlackDriver
    command: str = "/crm"
    user: str = SANDBOX_USER

    def click(self, request: dict[str, Any]) -> DriverResponse:
        """A button, select or overflow on a message, an ephemeral message or a modal."""
        action_id = str(request.get("action_id") or "")
        if not action_id:
            raise InteractionError("action_id is missing")
        kind = str(request.get("type") or "button")
        values = [str(v) for v in request.get("values") or []]
        common: dict[str, Any] = {
            "value": request.get("value"),
            "user_id": self.user,
            "block_id": request.get("block_id") or None,
            "action_type": kind,
            "selected_options": values,
            "selected_user": request.get("value") if kind == "users_select" else None,
        }
        if kind.startswith("multi_") and kind.endswith("users_select"):
            common["selected_options"] = values
        view_id = request.get("view_id")
        if view_id:
            view = self.slack.view(str(view_id))
            if view is None:
                raise InteractionError("that modal is no longer open")
            state, _ = view_state(view, request.get("form") or {})
            view["state"] = {"values": state}
            return self.driver.block_action(action_id, view=view, **common)
        channel = str(request.get("channel") or "")
        ts = str(request.get("ts") or "")
        if request.get("ephemeral"):
            return self._ephemeral_click(action_id, channel, ts, common)
        self._existing(channel, ts)
        return self.driver.block_action(action_id, channel_id=channel, message_ts=ts, **common)

    def _existing(self, channel: str, ts: str) -> None:
        try:
            found = self.slack.message(channel, ts)
        except ApiError:
            found = None
        if found is None:
            raise InteractionError("that message is gone (or its channel is)")

    def _ephemeral_click(
        self, action_id: str, channel: str, ts: str, common: dict[str, Any]
    ) -> DriverResponse:
        record = self.slack.ephemeral(ts)
        if record is None:
            raise InteractionError("that message is gone")
        message = {"type": "message", "ts": ts, "text": record.get("text", "")}
        if record.get("blocks"):
            message["blocks"] = record["blocks"]
        container = {
            "type": "message",
            "message_ts": ts,
            "channel_id": channel,
            "is_ephemeral": True,
        }
        return self.driver.block_action(
            action_id, channel_id=channel, message=message, container=container, **common
        )

    def submit(self, view_id: str, form: dict[str, Any]) -> dict[str, str]:
        """Submit the modal; returns the per-block errors it was refused with (if any)."""
        view = self.slack.view(view_id)
        if view is None:
            raise InteractionError("that modal is no longer open")
        state, missing = view_state(view, form)
        if missing:
            self.slack.answer_submission(
                self.user, view_id, {"response_action": "errors", "errors": missing}
            )
            return missing
        answer = self.driver.view_submission(
            str(view.get("callback_id") or ""), state, user_id=self.user, view_id=view_id
        )
        if answer.status != 200:
            problem = {"_": f"The app answered HTTP {answer.status}; try again."}
            self.slack.answer_submission(
                self.user, view_id, {"response_action": "errors", "errors": problem}
            )
            return problem
        body = _json_object(answer.body)
        self.slack.answer_submission(self.user, view_id, body)
        errors = body.get("errors") if body.get("response_action") == "errors" else None
        return {str(k): str(v) for k, v in (errors or {}).items()}

    def close(self, view_id: str) -> None:
        view = self.slack.view(view_id)
        self.slack.close_modal(self.user, view_id)
        if view is not None and view.get("notify_on_close"):
            self.driver.interactive(
                {
                    "type": "view_closed",
                    "user": {"id": self.user},
                    "team": {"id": self.driver.team_id},
                    "api_app_id": self.driver.api_app_id,
                    "view": view,
                    "is_cleared": False,
                }
            )

    def slash_command(self, line: str, channel: str) -> DriverResponse:
        words = line.strip().split(maxsplit=1)
        try:
            self.slack.channel(channel)
        except (ApiError, KeyError):
            raise InteractionError("pick a channel first") from None
        if not words:
            raise InteractionError("type a command, for example: /crm help")
        command = words[0] if words[0].startswith("/") else self.command
        text = words[1] if words[0].startswith("/") and len(words) > 1 else ""
        if not words[0].startswith("/"):
            text = line.strip()
        answer = self.driver.slash_command(
            command, text, user_id=self.user, channel_id=channel, user_name="you"
        )
        if answer.status != 200:
            failure = {"text": f'{command} failed with the error "dispatch_failed"'}
            self.slack.add_ephemeral(channel, self.user, failure)
        else:
            body = _json_object(answer.body)
            if body.get("text") or body.get("blocks"):
                self.slack.add_ephemeral(channel, self.user, body)
        return answer

    def thread_reply(self, channel: str, thread_ts: str, text: str) -> DriverResponse:
        if not text.strip():
            raise InteractionError("the reply is empty")
        self._existing(channel, thread_ts)
        return self.driver.message(text, user=self.user, channel=channel, thread_ts=thread_ts)

    def react(self, channel: str, ts: str, name: str) -> DriverResponse | None:
        """Add a reaction and tell the app, as Slack's reaction_added event does."""
        if name not in REACTIONS:
            raise InteractionError(f"reaction: one of {', '.join(sorted(REACTIONS))}")
        self._existing(channel, ts)
        if not self.slack.react(channel, ts, self.user, name):
            return None  # Slack sends no event for a reaction already there
        return self.driver.event(
            {
                "type": "reaction_added",
                "user": self.user,
                "reaction": name,
                "item": {"type": "message", "channel": channel, "ts": ts},
                "item_user": self.slack.bot_user_id,
            }
        )

    def open_home(self) -> DriverResponse:
        channel = self.slack.dm_channel(self.user)
        return self.driver.event(
            {"type": "app_home_opened", "user": self.user, "channel": channel, "tab": "home"}
        )


def _json_object(body: str) -> dict[str, Any]:
    try:
        parsed = json.loads(body) if body.strip() else {}
    except ValueError:
        return {"text": body}  # bolt answers a plain-text ack as text
    return parsed if isinstance(parsed, dict) else {}
