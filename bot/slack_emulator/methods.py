"""Web API method implementations for FakeSlack.

Each `api_<family>_<snake_name>` handler (chat.postMessage -> api_chat_post_message) receives
decoded params, runs under the workspace lock, validates *everything* before mutating (so a
rejected call leaves no trace) and returns the success body without `ok`. Shapes follow
Slack's documented responses.
"""

from __future__ import annotations

import base64
import copy
import secrets
import time
from typing import Any

from bot.slack_emulator.validation import (
    TS_RE,
    ApiError,
    check_message_content,
    require_view,
    truthy,
)
from bot.slack_emulator.workspace import Message, SlackWorkspace

_CONTENT_KEYS = ("text", "blocks", "attachments", "metadata", "markdown_text")


def _required(params: dict[str, Any], key: str) -> Any:
    value = params.get(key)
    if value in (None, ""):
        raise ApiError(
            "invalid_arguments",
            response_metadata={"messages": [f"[ERROR] missing required field: {key}"]},
        )
    return value


def _page(
    items: list[Any], params: dict[str, Any], default_limit: int = 100
) -> tuple[list[Any], dict[str, Any]]:
    """Slack-style cursor pagination (opaque base64 cursors, empty when exhausted)."""
    try:
        limit = int(params.get("limit") or default_limit)
        cursor = params.get("cursor") or ""
        start = int(base64.b64decode(cursor).decode().split(":")[1]) if cursor else 0
    except (ValueError, IndexError) as exc:
        raise ApiError("invalid_cursor") from exc
    limit = max(1, min(limit, 999))
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    nxt = base64.b64encode(f"next:{start + limit}".encode()).decode() if more else ""
    return chunk, {"has_more": more, "response_metadata": {"next_cursor": nxt}}


class WebApiMethods(SlackWorkspace):
    """The Web API surface; FakeSlack adds the HTTP front end."""

    # ------------------------------------------------------------------ helpers
    def _bot_message(self, params: dict[str, Any], ts: str) -> Message:
        msg: Message = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": params.get("text") or "",
            "ts": ts,
            "team": self.team_id,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.app_id,
                "name": "Threadline",
                "team_id": self.team_id,
                "deleted": False,
            },
        }
        for key in ("blocks", "attachments", "metadata", "markdown_text"):
            if params.get(key) is not None:
                msg[key] = copy.deepcopy(params[key])
        return msg

    def _message_or_fail(self, cid: str, ts: Any) -> Message:
        msg = self._find(cid, ts)
        if msg is None:
            raise ApiError("message_not_found")
        return msg

    @staticmethod
    def _public(msg: Message, with_metadata: bool) -> Message:
        out = copy.deepcopy(msg)
        if not with_metadata:
            out.pop("metadata", None)
        return out

    def _new_view(self, view: dict[str, Any], **extra: Any) -> dict[str, Any]:
        external_id = view.get("external_id") or ""
        if external_id and any(v["external_id"] == external_id for v in self._views.values()):
            raise ApiError("duplicate_external_id")
        vid = self._new_id("V")
        stored = {
            "id": vid,
            "team_id": self.team_id,
            "type": view["type"],
            "blocks": copy.deepcopy(view.get("blocks", [])),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "title": view.get("title"),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "previous_view_id": None,
            "root_view_id": vid,
            "app_id": self.app_id,
            "external_id": external_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
            **extra,
        }
        self._views[vid] = stored
        return stored

    def _exchange_trigger(self, params: dict[str, Any]) -> str:
        trigger = params.get("trigger_id") or params.get("interactivity_pointer")
        if not trigger:
            raise ApiError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] missing required field: trigger_id"]},
            )
        issued = self._triggers.get(trigger)
        if issued is not None:
            if issued["used"]:
                raise ApiError("exchanged_trigger_id")
            if self.trigger_ttl is not None and time.monotonic() - issued["at"] > self.trigger_ttl:
                raise ApiError("expired_trigger_id")
        return str(trigger)

    # ------------------------------------------------------------------ auth / chat
    def api_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self._users[self.bot_user_id]["name"],
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def api_chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._channel_id(params.get("channel"))
        if not self._channels[cid].get("is_member", True):
            raise ApiError("not_in_channel")
        check_message_content(params)
        thread_ts = params.get("thread_ts")
        if thread_ts is not None and not TS_RE.match(str(thread_ts)):
            raise ApiError(
                "invalid_thread_ts",
                response_metadata={"messages": [f"[ERROR] {thread_ts} is not a valid thread_ts"]},
            )
        msg = self._bot_message(params, self._ts())
        if thread_ts:
            msg["thread_ts"] = str(thread_ts)
            if truthy(params.get("reply_broadcast")):
                msg["subtype"] = "thread_broadcast"
        self._store(cid, msg)
        self._api_posts.append((cid, msg["ts"]))
        return {"channel": cid, "ts": msg["ts"], "message": self._public(msg, True)}

    def api_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._channel_id(params.get("channel"))
        msg = self._message_or_fail(cid, params.get("ts"))
        if msg.get("user") != self.bot_user_id:
            raise ApiError("cant_update_message")
        check_message_content(params)
        for key in _CONTENT_KEYS:
            if key in params:
                msg[key] = copy.deepcopy(params[key])
        msg["edited"] = {"user": self.bot_user_id, "ts": self._ts()}
        return {
            "channel": cid,
            "ts": msg["ts"],
            "text": msg.get("text", ""),
            "message": self._public(msg, True),
        }

    def api_chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._channel_id(params.get("channel"))
        msg = self._message_or_fail(cid, params.get("ts"))
        if msg.get("user") != self.bot_user_id:
            raise ApiError("cant_delete_message")
        self._msgs[cid].remove(msg)
        return {"channel": cid, "ts": msg["ts"]}

    def api_chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._channel_id(params.get("channel"))
        user = _required(params, "user")
        members = self._members.get(cid)
        if user not in self._users or (members is not None and user not in members):
            raise ApiError("user_not_in_channel")
        check_message_content(params)
        message_ts = self._ts()
        record = {
            "channel": cid,
            "user": user,
            "message_ts": message_ts,
            "text": params.get("text") or "",
        }
        for key in ("blocks", "thread_ts", "attachments"):
            if params.get(key) is not None:
                record[key] = copy.deepcopy(params[key])
        self._ephemerals.append(record)
        return {"message_ts": message_ts}

    def api_chat_get_permalink(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._channel_id(params.get("channel"))
        msg = self._message_or_fail(cid, params.get("message_ts"))
        link = f"https://fake.slack.com/archives/{cid}/p{msg['ts'].replace('.', '')}"
        if msg.get("thread_ts") not in (None, msg["ts"]):
            link += f"?thread_ts={msg['thread_ts']}&cid={cid}"
        return {"channel": cid, "permalink": link}

    def api_reactions_add(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._channel_id(params.get("channel"))
        name = str(_required(params, "name")).strip(":")
        msg = self._message_or_fail(cid, params.get("timestamp"))
        reactions = msg.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["name"] == name:
                if self.bot_user_id in reaction["users"]:
                    raise ApiError("already_reacted")
                reaction["users"].append(self.bot_user_id)
                reaction["count"] += 1
                return {}
        reactions.append({"name": name, "users": [self.bot_user_id], "count": 1})
        return {}

    # ------------------------------------------------------------------ views
    def api_views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        view = require_view(params.get("view"), allowed_types=("modal",))
        trigger = self._exchange_trigger(params)
        stored = self._new_view(view)
        if trigger in self._triggers:
            self._triggers[trigger]["used"] = True
        self._views_opened.append(copy.deepcopy(stored))
        return {"view": copy.deepcopy(stored)}

    def api_views_push(self, params: dict[str, Any]) -> dict[str, Any]:
        view = require_view(params.get("view"), allowed_types=("modal",))
        trigger = self._exchange_trigger(params)
        stored = self._new_view(view)
        if trigger in self._triggers:
            self._triggers[trigger]["used"] = True
        self._views_pushed.append(copy.deepcopy(stored))
        return {"view": copy.deepcopy(stored)}

    def api_views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view = require_view(params.get("view"), allowed_types=("modal", "home"))
        view_id, external_id = params.get("view_id"), params.get("external_id")
        if not view_id and not external_id:
            raise ApiError(
                "invalid_arguments",
                response_metadata={
                    "messages": ["[ERROR] either view_id or external_id is required"]
                },
            )
        target = (
            self._views.get(str(view_id))
            if view_id
            else next((v for v in self._views.values() if v["external_id"] == external_id), None)
        )
        if target is None:
            raise ApiError("not_found")
        if params.get("hash") and params["hash"] != target["hash"]:
            raise ApiError("hash_conflict")
        for key in ("blocks", "title", "close", "submit", "private_metadata", "callback_id"):
            if key in view:
                target[key] = copy.deepcopy(view[key])
        target["hash"] = f"{int(time.time())}.{secrets.token_hex(4)}"
        return {"view": copy.deepcopy(target)}

    def api_views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = _required(params, "user_id")
        view = require_view(params.get("view"), allowed_types=("home",))
        if user_id not in self._users:
            raise ApiError("user_not_found")
        previous = self._views_published.get(user_id)
        if previous and params.get("hash") and params["hash"] != previous["hash"]:
            raise ApiError("hash_conflict")
        if previous:
            self._views.pop(previous["id"], None)
        stored = self._new_view(view)
        self._views_published[user_id] = stored
        return {"view": copy.deepcopy(stored)}

    # ------------------------------------------------------------------ users
    def api_users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self._users.get(str(params.get("user")))
        if user is None:
            raise ApiError("user_not_found")
        return {"user": copy.deepcopy(user)}

    def api_users_lookup_by_email(self, params: dict[str, Any]) -> dict[str, Any]:
        email = str(params.get("email", "")).lower()
        for user in self._users.values():
            if user["profile"].get("email", "").lower() == email and email:
                return {"user": copy.deepcopy(user)}
        raise ApiError("users_not_found")

    # ------------------------------------------------------------------ conversations
    def api_conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("channel"):
            cid = self._channel_id(params["channel"])
            return {
                "channel": copy.deepcopy(self._channels[cid])
                if truthy(params.get("return_im"))
                else {"id": cid},
                "no_op": True,
                "already_open": True,
            }
        raw = params.get("users") or ""
        users = [
            u.strip() for u in (raw if isinstance(raw, list) else str(raw).split(",")) if u.strip()
        ]
        if not users:
            raise ApiError("users_list_not_supplied")
        for user in users:
            if user not in self._users:
                raise ApiError("user_not_found")
        cid, existed = self._open_im(users)
        out: dict[str, Any] = {
            "channel": copy.deepcopy(self._channels[cid])
            if truthy(params.get("return_im"))
            else {"id": cid}
        }
        if existed:
            out.update({"no_op": True, "already_open": True})
        return out

    def api_conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._channel_id(params.get("channel"))
        channel = copy.deepcopy(self._channels[cid])
        if truthy(params.get("include_num_members")):
            members = self._members[cid]
            channel["num_members"] = len(self._users) if members is None else len(members)
        return {"channel": channel}

    def api_conversations_list(self, params: dict[str, Any]) -> dict[str, Any]:
        wanted = set(str(params.get("types") or "public_channel").split(","))
        exclude_archived = truthy(params.get("exclude_archived"))

        def kind(ch: dict[str, Any]) -> str:
            if ch["is_im"]:
                return "im"
            if ch["is_mpim"]:
                return "mpim"
            return "private_channel" if ch["is_private"] else "public_channel"

        chans = [
            copy.deepcopy(c)
            for c in self._channels.values()
            if kind(c) in wanted and not (exclude_archived and c["is_archived"])
        ]
        chunk, meta = _page(chans, params)
        meta.pop("has_more")
        return {"channels": chunk, **meta}

    def api_conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._channel_id(params.get("channel"))
        with_meta = truthy(params.get("include_all_metadata"))
        inclusive = truthy(params.get("inclusive"))
        oldest, latest = params.get("oldest"), params.get("latest")

        def in_range(ts: str) -> bool:
            t = float(ts)
            lo_ok = oldest is None or (t >= float(oldest) if inclusive else t > float(oldest))
            hi_ok = latest is None or (t <= float(latest) if inclusive else t < float(latest))
            return lo_ok and hi_ok

        msgs = [
            self._public(m, with_meta)
            for m in reversed(self._msgs.get(cid, []))
            if self._visible(m) and in_range(m["ts"])
        ]
        chunk, meta = _page(msgs, params)
        return {"messages": chunk, "pin_count": 0, **meta}

    def api_conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._channel_id(params.get("channel"))
        ts = _required(params, "ts")
        root = self._find(cid, ts)
        if root is None:
            raise ApiError("thread_not_found")
        root_ts = root.get("thread_ts") or root["ts"]
        with_meta = truthy(params.get("include_all_metadata"))
        msgs = [
            self._public(m, with_meta)
            for m in self._msgs[cid]
            if m["ts"] == root_ts or m.get("thread_ts") == root_ts
        ]
        chunk, meta = _page(msgs, params, default_limit=1000)
        return {"messages": chunk, **meta}

    # ------------------------------------------------------------------ response_url
    def _apply_response_url(self, hook: dict[str, Any], body: dict[str, Any]) -> None:
        """Apply a response_url POST the way Slack does (ephemeral by default)."""
        check_message_content(body, require_content=not truthy(body.get("delete_original")))
        record = {**hook, "payload": copy.deepcopy(body)}
        cid, ts = self._channel_id(hook["channel"]), hook.get("message_ts")
        if truthy(body.get("delete_original")) or truthy(body.get("replace_original")):
            msg = self._find(cid, ts) if ts else None
            if msg is None:
                raise ApiError("message_not_found")
            if truthy(body.get("delete_original")):
                self._msgs[cid].remove(msg)
            else:
                for key in _CONTENT_KEYS:
                    if key in body:
                        msg[key] = copy.deepcopy(body[key])
        elif body.get("response_type") == "in_channel":
            msg = self._bot_message(body, self._ts())
            if body.get("thread_ts"):
                msg["thread_ts"] = str(body["thread_ts"])
            self._store(cid, msg)
            self._api_posts.append((cid, msg["ts"]))
        else:
            self._ephemerals.append(
                {
                    "channel": cid,
                    "user": hook["user"],
                    "message_ts": self._ts(),
                    "text": body.get("text") or "",
                    **({"blocks": body["blocks"]} if body.get("blocks") else {}),
                }
            )
        self._responses.append(record)
