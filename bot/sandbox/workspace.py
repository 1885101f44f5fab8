"""The sandbox's Slack: the emulator plus what a Slack client shows a person: which modal is
open for whom, answers given in an ack, dismissed ephemeral messages."""

from __future__ import annotations

import copy
from typing import Any

from bot.slack_emulator.server import FakeSlack
from bot.slack_emulator.validation import ApiError

CALL_LOG_SIZE = 500
SANDBOX_USER = "U0YOU01"  # the person at the keyboard; the sandbox team's manager
TEAMMATES = [("U0BEN01", "ben", "Ben Okafor"), ("U0CHL01", "chloe", "Chloé Martin")]


class SandboxSlack(FakeSlack):
    """FakeSlack with a per-user modal stack (views.open/push/update as Slack keeps it)."""

    def __init__(self, bot_token: str, channels: list[str]) -> None:
        super().__init__(bot_token=bot_token, team_name="Sandbox", team_domain="sandbox")
        self._stacks: dict[str, list[str]] = {}
        self._view_errors: dict[str, dict[str, str]] = {}
        self._dismissed: set[str] = set()
        self.add_user(SANDBOX_USER, "you", "You (sandbox)", is_admin=True, email="you@example.com")
        for user_id, name, real_name in TEAMMATES:
            self.add_user(user_id, name, real_name)
        for name in channels:
            if name not in {c["name"] for c in self._channels.values() if "name" in c}:
                self.add_channel(name)

    # ----------------------------------------------------------------- Web API hooks
    def _handle_api(self, method: str, query: str, raw: bytes, headers: Any) -> Any:
        reply = super()._handle_api(method, query, raw, headers)
        with self._lock:
            # Tests read the whole call log; a sandbox left running for days must not grow.
            del self._calls[:-CALL_LOG_SIZE]
        return reply

    def _trigger_user(self, params: dict[str, Any]) -> str:
        trigger = str(params.get("trigger_id") or params.get("interactivity_pointer") or "")
        return str(self._triggers.get(trigger, {}).get("user") or SANDBOX_USER)

    def api_views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self._trigger_user(params)
        result = super().api_views_open(params)
        self._stacks[user] = [result["view"]["id"]]
        return result

    def api_views_push(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self._trigger_user(params)
        result = super().api_views_push(params)
        self._stacks.setdefault(user, []).append(result["view"]["id"])
        return result

    def api_views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        result = super().api_views_update(params)
        self._view_errors.pop(result["view"]["id"], None)
        return result

    # ----------------------------------------------------------------- what the page shows
    def open_modal(self, user: str) -> dict[str, Any] | None:
        with self._lock:
            stack = self._stacks.get(user) or []
            view = self._views.get(stack[-1]) if stack else None
            if view is None:
                return None
            return {**copy.deepcopy(view), "errors": dict(self._view_errors.get(view["id"], {}))}

    def close_modal(self, user: str, view_id: str, *, everything: bool = False) -> None:
        with self._lock:
            stack = self._stacks.get(user) or []
            if everything:
                stack.clear()
            elif view_id in stack:
                del stack[stack.index(view_id) :]
            self._view_errors.pop(view_id, None)

    def answer_submission(self, user: str, view_id: str, answer: dict[str, Any]) -> None:
        """Apply a view_submission ack's `response_action` the way Slack does."""
        action = answer.get("response_action")
        with self._lock:
            if action == "errors":
                self._view_errors[view_id] = {
                    str(k): str(v) for k, v in (answer.get("errors") or {}).items()
                }
            elif action == "update" and isinstance(answer.get("view"), dict):
                self._replace_view(view_id, answer["view"])
            elif action == "push" and isinstance(answer.get("view"), dict):
                pushed = self._new_view(answer["view"])
                self._stacks.setdefault(user, []).append(pushed["id"])
            elif action == "clear":
                self.close_modal(user, view_id, everything=True)
            else:
                self.close_modal(user, view_id)

    def _replace_view(self, view_id: str, view: dict[str, Any]) -> None:
        target = self._views.get(view_id)
        if target is None:
            return
        for key in ("blocks", "title", "close", "submit", "private_metadata", "callback_id"):
            if key in view:
                target[key] = copy.deepcopy(view[key])
        target["hash"] = f"{target['hash']}+"
        self._view_errors.pop(view_id, None)

    def add_ephemeral(
        self, channel: str, user: str, answer: dict[str, Any], thread_ts: str | None = None
    ) -> None:
        """An answer carried in an ack (a slash command's reply), shown only to `user`."""
        with self._lock:
            record: dict[str, Any] = {
                "channel": self._channel_id(channel),
                "user": user,
                "message_ts": self._ts(),
                "text": str(answer.get("text") or ""),
            }
            if answer.get("blocks"):
                record["blocks"] = copy.deepcopy(answer["blocks"])
            if thread_ts:
                record["thread_ts"] = thread_ts
            self._ephemerals.append(record)

    def dismiss_ephemeral(self, message_ts: str) -> None:
        with self._lock:
            self._dismissed.add(message_ts)

    def visible_ephemerals(self, user: str, channel_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(
                [
                    e
                    for e in self._ephemerals
                    if e["user"] == user
                    and e["channel"] == channel_id
                    and e["message_ts"] not in self._dismissed
                ]
            )

    def ephemeral(self, message_ts: str) -> dict[str, Any] | None:
        with self._lock:
            found = next((e for e in self._ephemerals if e["message_ts"] == message_ts), None)
            return copy.deepcopy(found)

    def sidebar(self, user: str) -> list[dict[str, Any]]:
        """Public channels the bot is in, then the user's DM with the app."""
        with self._lock:
            rows = []
            for cid, ch in self._channels.items():
                if ch["is_im"] and (self._members.get(cid) or [None])[0] != user:
                    continue
                if ch.get("is_mpim"):
                    continue
                top = [m for m in self._msgs.get(cid, []) if self._visible(m)]
                name = "Threadline" if ch["is_im"] else str(ch.get("name"))
                rows.append({"id": cid, "name": name, "dm": ch["is_im"], "count": len(top)})
            return sorted(rows, key=lambda r: (r["dm"], r["name"] in ("general", "random")))

    def directory(self) -> list[tuple[str, str]]:
        with self._lock:
            return [(u["id"], u["name"]) for u in self._users.values() if not u["is_bot"]]

    def public_channels(self) -> list[tuple[str, str]]:
        with self._lock:
            return [(c["id"], str(c["name"])) for c in self._channels.values() if not c["is_im"]]

    def display_name(self, key: str) -> str:
        with self._lock:
            if key in self._users:
                return str(self._users[key]["name"])
            channel = self._channels.get(key)
            return str(channel.get("name") or key) if channel else key

    def home_view(self, user: str) -> dict[str, Any] | None:
        return self.views_published.get(user)

    def react(self, channel: str, ts: str, user: str, name: str) -> bool:
        """A person's reaction on a message; False when they had already added it."""
        with self._lock:
            message = self._find(self._channel_id(channel), ts)
            if message is None:
                raise ApiError("message_not_found")
            reactions = message.setdefault("reactions", [])
            found = next((r for r in reactions if r["name"] == name), None)
            if found is None:
                reactions.append({"name": name, "users": [user], "count": 1})
                return True
            if user in found["users"]:
                return False
            found["users"].append(user)
            found["count"] += 1
            return True

    def dm_channel(self, user: str) -> str:
        """The user's DM with the app (opened on first use, as Slack does)."""
        with self._lock:
            return self._open_im([user])[0]
