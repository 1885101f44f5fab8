"""SlackDriver: plays the Slack side of the Events/Interactivity/Commands HTTP contract.

Every request is signed (v0 HMAC-SHA256 over `v0:{timestamp}:{body}`) and shaped like the
real thing, so the bolt app's signature check, body parsing and listener matching all run.

`view_submission(values=...)` takes the simple mapping documented in `slack_view_state`
(re-exported here): `{"block": {"action": "text"}}`, helpers like `users_select("U2")`, lists
for multi-selects, or full state dicts.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from bot.slack_emulator.validation import ApiError
from bot.slack_emulator.view_state import (
    checkboxes,
    conversations_select,
    datepicker,
    multi_static_select,
    multi_users_select,
    number_input,
    option,
    plain_text,
    radio_buttons,
    state_values,
    static_select,
    timepicker,
    users_select,
)

if TYPE_CHECKING:
    from bot.slack_emulator.server import FakeSlack

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"

__all__ = [
    "DriverResponse",
    "SlackDriver",
    "checkboxes",
    "conversations_select",
    "datepicker",
    "multi_static_select",
    "multi_users_select",
    "number_input",
    "option",
    "plain_text",
    "radio_buttons",
    "state_values",
    "static_select",
    "timepicker",
    "users_select",
]


@dataclass(frozen=True)
class DriverResponse:
    status: int
    body: str
    headers: dict[str, str]
    elapsed: float  # seconds; Slack gives up (and retries events) after 3
    sent: Any = field(default=None, repr=False)  # the payload we delivered, for re-delivery

    def json(self) -> Any:
        return json.loads(self.body)


def _now_ts() -> str:
    return f"{time.time():.6f}"


class SlackDriver:
    """Sends signed Slack requests to a bolt app's `/slack/events` URL."""

    def __init__(
        self,
        events_url: str,
        signing_secret: str,
        team_id: str = "T0001",
        fake: FakeSlack | None = None,
        *,
        api_app_id: str = "A0APP",
        team_domain: str = "threadline",
        verification_token: str = "legacy-verification-token",
        timeout: float = 10.0,
    ) -> None:
        self.events_url = events_url
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.fake = fake
        self.api_app_id = api_app_id
        self.team_domain = team_domain
        self.verification_token = verification_token
        self.timeout = timeout

    # ---------------------------------------------------------------- transport
    def signed_headers(
        self,
        body: str,
        content_type: str,
        headers: dict[str, str] | None = None,
        sign: bool = True,
        timestamp_offset: int = 0,
    ) -> dict[str, str]:
        """The headers Slack sends with `body`, signed with the signing secret (or, with
        `sign=False`, with a wrong one)."""
        timestamp = str(int(time.time()) + timestamp_offset)
        secret = self.signing_secret if sign else "not-" + self.signing_secret
        signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
        return {
            "Content-Type": content_type,
            "User-Agent": USER_AGENT,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature or "",
            **(headers or {}),
        }

    def send(
        self,
        body: str,
        content_type: str,
        *,
        headers: dict[str, str] | None = None,
        sign: bool = True,
        timestamp_offset: int = 0,
        sent: Any = None,
    ) -> DriverResponse:
        """POST a raw body. `sign=False` sends a well-formed but wrong signature;
        `timestamp_offset=-600` makes the request stale (Slack's window is 5 minutes)."""
        all_headers = self.signed_headers(body, content_type, headers, sign, timestamp_offset)
        req = urllib.request.Request(
            self.events_url, data=body.encode("utf-8"), headers=all_headers, method="POST"
        )
        started = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                status, raw, resp_headers = resp.status, resp.read(), dict(resp.headers.items())
        except urllib.error.HTTPError as err:
            status, raw, resp_headers = err.code, err.read(), dict(err.headers.items())
        return DriverResponse(
            status,
            raw.decode("utf-8", errors="replace"),
            resp_headers,
            time.monotonic() - started,
            sent,
        )

    def interactive(
        self, payload: dict[str, Any], *, sign: bool = True, timestamp_offset: int = 0
    ) -> DriverResponse:
        """Any interactivity payload (shortcut, view_closed, block_suggestion...)."""
        body = urlencode({"payload": json.dumps(payload)})
        return self.send(body, FORM, sign=sign, timestamp_offset=timestamp_offset, sent=payload)

    # ---------------------------------------------------------------- shared bits
    def _trigger_id(self, user_id: str) -> str:
        if self.fake is not None:
            return self.fake.issue_trigger_id(user_id)
        return f"{int(time.time())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"

    def _response_url(self, channel_id: str, user_id: str, message_ts: str | None) -> str:
        if self.fake is not None:
            return self.fake.issue_response_url(channel_id, user_id, message_ts)
        return f"https://hooks.slack.com/actions/{self.team_id}/{secrets.randbelow(10**12)}/x"

    def _channel_name(self, channel_id: str) -> str:
        if channel_id.startswith("D"):
            return "directmessage"
        if self.fake is not None:
            try:
                return str(self.fake.channel(channel_id).get("name") or "privategroup")
            except ApiError:  # unknown to the fake: the bot should cope with it anyway
                return "unknown"
        return "general"

    def _user(self, user_id: str, user_name: str | None = None) -> dict[str, Any]:
        name = user_name
        if name is None and self.fake is not None:
            known = self.fake.user(user_id)
            name = known["name"] if known else None
        name = name or "ana"
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    def _team(self) -> dict[str, Any]:
        return {"id": self.team_id, "domain": self.team_domain}

    def _base(self, kind: str, user: dict[str, Any], trigger_id: str | None) -> dict[str, Any]:
        return {
            "type": kind,
            "user": user,
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "trigger_id": trigger_id or self._trigger_id(user["id"]),
        }

    # ---------------------------------------------------------------- commands
    def slash_command(
        self,
        command: str = "/crm",
        text: str = "",
        user_id: str = "U1",
        channel_id: str = "C1",
        user_name: str = "ana",
        response_url: str | None = None,
        trigger_id: str | None = None,
        *,
        sign: bool = True,
        timestamp_offset: int = 0,
    ) -> DriverResponse:
        fields = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel_id,
            "channel_name": self._channel_name(channel_id),
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url or self._response_url(channel_id, user_id, None),
            "trigger_id": trigger_id or self._trigger_id(user_id),
        }
        return self.send(
            urlencode(fields), FORM, sign=sign, timestamp_offset=timestamp_offset, sent=fields
        )

    # ---------------------------------------------------------------- interactivity
    def block_action(
        self,
        action_id: str,
        value: str | None = None,
        user_id: str = "U1",
        channel_id: str = "C1",
        message_ts: str | None = None,
        block_id: str | None = None,
        selected_options: list[str | dict[str, Any]] | None = None,
        selected_user: str | None = None,
        message: dict[str, Any] | None = None,
        container: dict[str, Any] | None = None,
        trigger_id: str | None = None,
        action_type: str = "button",
        view: dict[str, Any] | None = None,
        *,
        sign: bool = True,
        timestamp_offset: int = 0,
    ) -> DriverResponse:
        """A click/selection. With `view` it comes from a modal/Home tab, else from a message
        (looked up in the fake when only `message_ts` is given)."""
        action: dict[str, Any] = {
            "action_id": action_id,
            "block_id": block_id or "b-" + action_id,
            "type": action_type,
            "action_ts": _now_ts(),
        }
        if action_type == "button":
            action["text"] = {"type": "plain_text", "text": action_id, "emoji": True}
            if value is not None:
                action["value"] = value
        elif action_type in ("static_select", "external_select", "overflow", "radio_buttons"):
            action["selected_option"] = None if value is None else option(value)
        elif action_type.startswith("multi_") and action_type.endswith("users_select"):
            action["selected_users"] = list(selected_options or [])
        elif action_type.startswith("multi_") or action_type == "checkboxes":
            action["selected_options"] = [option(o) for o in selected_options or []]
        elif action_type == "users_select":
            action["selected_user"] = selected_user or value
        elif action_type == "datepicker":
            action["selected_date"] = value
        elif value is not None:
            action["value"] = value
        user = self._user(user_id)
        payload = self._base("block_actions", user, trigger_id)
        payload["actions"] = [action]
        if view is not None:
            payload["container"] = container or {"type": "view", "view_id": view.get("id")}
            payload["view"] = {"state": {"values": {}}, **view}
            return self.interactive(payload, sign=sign, timestamp_offset=timestamp_offset)
        if message is None and message_ts and self.fake is not None:
            message = self.fake.message(channel_id, message_ts)
        ts = message_ts or (message or {}).get("ts") or _now_ts()
        payload.update(
            {
                "container": container
                or {
                    "type": "message",
                    "message_ts": ts,
                    "channel_id": channel_id,
                    "is_ephemeral": False,
                },
                "channel": {"id": channel_id, "name": self._channel_name(channel_id)},
                "message": message or {"type": "message", "ts": ts, "text": "", "user": "U0BOT"},
                "state": {"values": {}},
                "response_url": self._response_url(channel_id, user_id, ts),
            }
        )
        return self.interactive(payload, sign=sign, timestamp_offset=timestamp_offset)

    def view_submission(
        self,
        callback_id: str,
        values: dict[str, Any],
        user_id: str = "U1",
        private_metadata: str | None = None,
        view_id: str | None = None,
        *,
        view: dict[str, Any] | None = None,
        sign: bool = True,
        timestamp_offset: int = 0,
    ) -> DriverResponse:
        """Submit a modal. With a fake and a `view_id` it opened, that view (blocks, title,
        private_metadata) is the base, as on Slack; `private_metadata=None` keeps the base's."""
        base = view or (self.fake.view(view_id) if self.fake is not None and view_id else None)
        vid = view_id or (base or {}).get("id") or f"V{secrets.token_hex(5).upper()}"
        submitted: dict[str, Any] = {
            "id": vid,
            "team_id": self.team_id,
            "type": "modal",
            "blocks": [],
            "private_metadata": "",
            "callback_id": callback_id,
            "hash": f"{int(time.time())}.x",
            "title": {"type": "plain_text", "text": "Modal"},
            "clear_on_close": False,
            "notify_on_close": False,
            "close": None,
            "submit": None,
            "previous_view_id": None,
            "root_view_id": vid,
            "app_id": self.api_app_id,
            "external_id": "",
            "app_installed_team_id": self.team_id,
            "bot_id": "B0BOT",
            **(base or {}),
        }
        submitted["callback_id"] = callback_id
        submitted["state"] = {"values": state_values(values)}
        if private_metadata is not None:
            submitted["private_metadata"] = private_metadata
        payload = self._base("view_submission", self._user(user_id), None)
        payload.update({"view": submitted, "response_urls": []})
        return self.interactive(payload, sign=sign, timestamp_offset=timestamp_offset)

    # ---------------------------------------------------------------- events
    def event(
        self,
        event: dict[str, Any],
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        *,
        sign: bool = True,
        timestamp_offset: int = 0,
    ) -> DriverResponse:
        """An Events API `event_callback`. Re-deliver with the same `event_id` and a
        `retry_num` to imitate Slack retrying after a slow or failed ack."""
        inner = dict(event)
        inner.setdefault("event_ts", inner.get("ts") or _now_ts())
        bot_user = self.fake.bot_user_id if self.fake is not None else "U0BOT"
        envelope = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "context_enterprise_id": None,
            "api_app_id": self.api_app_id,
            "event": inner,
            "type": "event_callback",
            "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": bot_user,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{secrets.token_hex(12)}",
        }
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        return self.send(
            json.dumps(envelope),
            JSON,
            headers=headers,
            sign=sign,
            timestamp_offset=timestamp_offset,
            sent=envelope,
        )

    def message(
        self,
        text: str,
        user: str = "U1",
        channel: str = "C1",
        *,
        ts: str | None = None,
        thread_ts: str | None = None,
        event_type: str = "message",
        **extra: Any,
    ) -> DriverResponse:
        """A human message (or app_mention) event; with a fake, the message is first seeded
        into its history so the bot can thread under it, read it, or react to it."""
        if self.fake is not None:
            ts = self.fake.add_message(channel, text, user, thread_ts=thread_ts, ts=ts)["ts"]
        ev: dict[str, Any] = {
            "type": event_type,
            "user": user,
            "text": text,
            "ts": ts or _now_ts(),
            "channel": channel,
            "team": self.team_id,
            "client_msg_id": str(uuid.uuid4()),
            "channel_type": "im" if channel.startswith("D") else "channel",
            **extra,
        }
        if thread_ts:
            ev["thread_ts"] = thread_ts
        return self.event(ev)

    def url_verification(self, challenge: str, *, sign: bool = True) -> DriverResponse:
        body = {
            "token": self.verification_token,
            "challenge": challenge,
            "type": "url_verification",
        }
        return self.send(json.dumps(body), JSON, sign=sign, sent=body)
