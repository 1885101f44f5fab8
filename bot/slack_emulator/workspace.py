"""In-memory Slack workspace: the state behind FakeSlack, its seeding and inspection helpers.

All state lives behind one re-entrant lock; every helper returns deep copies so a test can never
race the server thread or mutate what the bot will read next.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.slack_emulator.validation import TS_RE, ApiError

Message = dict[str, Any]


class SlackWorkspace:
    """Channels, users, messages, views and the traffic log of one fake workspace."""

    def __init__(
        self,
        bot_token: str = "xoxb-test",
        team_id: str = "T0001",
        bot_user_id: str = "U0BOT",
        *,
        team_name: str = "Threadline",
        team_domain: str = "threadline",
        bot_id: str = "B0BOT",
        app_id: str = "A0APP",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bot_token = bot_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.bot_id = bot_id
        self.app_id = app_id
        # Seconds granted to exchange a trigger_id we issued; Slack's real limit is 3s. Off by
        # default so a slow CI box cannot flake, set it to 3.0 to catch slow views.open paths.
        self.trigger_ttl: float | None = None
        self._clock = clock
        self._lock = threading.RLock()
        self._ids = itertools.count(0x1000)
        self._last_ts_us = 0
        self._init_directory()
        self._init_activity()

    # ----------------------------------------------------------------- state lifecycle
    def _init_directory(self) -> None:
        self._channels: dict[str, dict[str, Any]] = {}
        self._members: dict[str, list[str] | None] = {}
        self._users: dict[str, dict[str, Any]] = {}
        self._ims: dict[str, str] = {}
        self.add_user(self.bot_user_id, "threadline", "Threadline", is_bot=True)
        self.add_user("U1", "ana", "Ana Silva", email="ana@example.com")
        self.add_channel("general", "C1")
        self.add_channel("random", "C2")

    def _init_activity(self) -> None:
        self._msgs: dict[str, list[Message]] = {}
        self._api_posts: list[tuple[str, str]] = []
        self._ephemerals: list[dict[str, Any]] = []
        self._views: dict[str, dict[str, Any]] = {}
        self._views_opened: list[dict[str, Any]] = []
        self._views_pushed: list[dict[str, Any]] = []
        self._views_published: dict[str, dict[str, Any]] = {}
        self._calls: list[tuple[str, dict[str, Any]]] = []
        self._responses: list[dict[str, Any]] = []
        self._triggers: dict[str, dict[str, Any]] = {}
        self._response_urls: dict[str, dict[str, Any]] = {}

    def reset(self, full: bool = False) -> None:
        """Forget all traffic (messages, views, calls, faults...); keep users and channels
        unless `full`, so a fixture can seed a directory once and reset between tests."""
        with self._lock:
            self._init_activity()
            if full:
                self._init_directory()

    # ----------------------------------------------------------------- seeding
    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08X}"

    def add_channel(
        self,
        name: str,
        id: str | None = None,
        *,
        is_private: bool = False,
        members: list[str] | None = None,
        bot_is_member: bool = True,
    ) -> str:
        """Create a channel; `members=None` means everyone (like #general)."""
        with self._lock:
            cid = id or self._new_id("G" if is_private else "C")
            self._channels[cid] = {
                "id": cid,
                "name": name,
                "name_normalized": name.lower(),
                "is_channel": not is_private,
                "is_group": is_private,
                "is_im": False,
                "is_mpim": False,
                "is_private": is_private,
                "is_archived": False,
                "is_general": name == "general",
                "is_member": bot_is_member,
                "created": int(self._clock()),
                "creator": "U1",
                "topic": {"value": "", "creator": "", "last_set": 0},
                "purpose": {"value": "", "creator": "", "last_set": 0},
            }
            self._members[cid] = None if members is None else list(members)
            return cid

    def add_user(
        self,
        id: str,
        name: str,
        real_name: str = "",
        tz: str = "UTC",
        is_admin: bool = False,
        *,
        email: str | None = None,
        is_bot: bool = False,
    ) -> dict[str, Any]:
        try:
            now = datetime.now(ZoneInfo(tz))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown tz {tz!r}") from exc
        offset = now.utcoffset()
        profile: dict[str, Any] = {
            "real_name": real_name,
            "real_name_normalized": real_name,
            "display_name": name,
            "display_name_normalized": name,
            "team": self.team_id,
            "image_48": f"https://fake.slack.com/avatars/{id}_48.png",
        }
        if is_bot:
            profile.update({"bot_id": self.bot_id, "api_app_id": self.app_id})
        else:
            profile["email"] = email or f"{name}@example.com"
        user = {
            "id": id,
            "team_id": self.team_id,
            "name": name,
            "deleted": False,
            "real_name": real_name,
            "tz": tz,
            "tz_label": now.tzname() or tz,
            "tz_offset": int(offset.total_seconds()) if offset else 0,
            "profile": profile,
            "is_admin": is_admin,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": int(self._clock()),
        }
        with self._lock:
            self._users[id] = user
        return copy.deepcopy(user)

    def add_message(
        self,
        channel: str,
        text: str,
        user: str = "U1",
        *,
        thread_ts: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
        ts: str | None = None,
    ) -> Message:
        """Seed a message as if a human had typed it (the bot cannot chat.update it)."""
        with self._lock:
            cid = self._channel_id(channel)
            msg: Message = {
                "type": "message",
                "user": user,
                "text": text,
                "ts": ts or self._ts(),
                "team": self.team_id,
            }
            if blocks is not None:
                msg["blocks"] = blocks
            if thread_ts:
                msg["thread_ts"] = thread_ts
            return copy.deepcopy(self._store(cid, msg))

    def issue_trigger_id(self, user_id: str = "U1") -> str:
        with self._lock:
            trigger = f"{int(self._clock())}.{next(self._ids)}.{secrets.token_hex(16)}"
            self._triggers[trigger] = {"user": user_id, "at": time.monotonic(), "used": False}
            return trigger

    # ----------------------------------------------------------------- inspection
    def messages(self, channel: str, include_replies: bool = False) -> list[Message]:
        """Channel history oldest first: top-level messages (and broadcast replies)."""
        with self._lock:
            msgs = self._msgs.get(self._channel_id(channel), [])
            return copy.deepcopy([m for m in msgs if include_replies or self._visible(m)])

    def thread(self, channel: str, ts: str) -> list[Message]:
        """Parent (if it exists) followed by its replies, in order."""
        with self._lock:
            msgs = self._msgs.get(self._channel_id(channel), [])
            return copy.deepcopy([m for m in msgs if m["ts"] == ts or m.get("thread_ts") == ts])

    def message(self, channel: str, ts: str) -> Message | None:
        with self._lock:
            found = self._find(self._channel_id(channel), ts)
            return copy.deepcopy(found)

    def all_posts(self) -> list[Message]:
        """Every message the app created through the API (not seeded ones), oldest first,
        each with its `channel`; edits are reflected, deleted ones are skipped."""
        with self._lock:
            out = []
            for cid, ts in self._api_posts:
                msg = self._find(cid, ts)
                if msg is not None:
                    out.append({**copy.deepcopy(msg), "channel": cid})
            return out

    def user(self, user_id: str) -> dict[str, Any] | None:
        with self._lock:
            return copy.deepcopy(self._users.get(user_id))

    def channel(self, channel: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._channels[self._channel_id(channel)])

    def view(self, view_id: str) -> dict[str, Any] | None:
        """Current state of a view (after any views.update)."""
        with self._lock:
            return copy.deepcopy(self._views.get(view_id))

    @property
    def ephemerals(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._ephemerals)

    @property
    def views_opened(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._views_opened)

    @property
    def views_pushed(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._views_pushed)

    @property
    def views_published(self) -> dict[str, dict[str, Any]]:
        """Latest Home tab view per user id."""
        with self._lock:
            return copy.deepcopy(self._views_published)

    @property
    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        """(method, params) of every API request in arrival order, faulted ones included."""
        with self._lock:
            return copy.deepcopy(self._calls)

    def count_calls(self, method: str) -> int:
        with self._lock:
            return sum(1 for m, _ in self._calls if m == method)

    @property
    def responses(self) -> list[dict[str, Any]]:
        """Bodies POSTed to response_urls issued by this fake (with channel/user context)."""
        with self._lock:
            return copy.deepcopy(self._responses)

    # ----------------------------------------------------------------- internals
    def _ts(self) -> str:
        """Wall-clock based, strictly increasing, Slack-formatted message timestamp."""
        with self._lock:
            now_us = max(int(self._clock() * 1_000_000), self._last_ts_us + 1)
            self._last_ts_us = now_us
            return f"{now_us // 1_000_000}.{now_us % 1_000_000:06d}"

    def _channel_id(self, channel: Any) -> str:
        """Resolve an id, a name, a '#name' or a user id (its app DM) like chat.postMessage."""
        if not isinstance(channel, str) or not channel:
            raise ApiError("channel_not_found")
        if channel in self._channels:
            return channel
        name = channel.removeprefix("#")
        for cid, ch in self._channels.items():
            if ch.get("name") == name and not ch["is_im"]:
                return cid
        if channel in self._users:
            return self._open_im([channel])[0]
        raise ApiError("channel_not_found")

    def _open_im(self, users: list[str]) -> tuple[str, bool]:
        key = ",".join(sorted(set(users)))
        if key in self._ims:
            return self._ims[key], True
        is_mpim = len(set(users)) > 1
        cid = self._new_id("G" if is_mpim else "D")
        channel: dict[str, Any] = {
            "id": cid,
            "created": int(self._clock()),
            "is_im": not is_mpim,
            "is_mpim": is_mpim,
            "is_private": True,
            "is_org_shared": False,
            "is_member": True,
            "is_channel": False,
            "is_group": False,
            "is_archived": False,
        }
        if is_mpim:
            channel["name"] = "mpdm-" + "--".join(self._users[u]["name"] for u in users) + "-1"
        else:
            channel.update({"user": users[0], "is_user_deleted": False, "priority": 0})
        self._channels[cid] = channel
        self._members[cid] = [*users, self.bot_user_id]
        self._ims[key] = cid
        return cid, False

    @staticmethod
    def _visible(msg: Message) -> bool:
        thread_ts = msg.get("thread_ts")
        return thread_ts in (None, msg["ts"]) or msg.get("subtype") == "thread_broadcast"

    def _find(self, cid: str, ts: Any) -> Message | None:
        for msg in self._msgs.get(cid, []):
            if msg["ts"] == ts:
                return msg
        return None

    def _store(self, cid: str, msg: Message) -> Message:
        """Insert in ts order and maintain the parent's thread bookkeeping like Slack does."""
        if not TS_RE.match(msg["ts"]):
            raise ValueError(f"bad ts {msg['ts']!r}")
        thread_ts = msg.get("thread_ts")
        if thread_ts and thread_ts != msg["ts"]:
            parent = self._find(cid, thread_ts)
            if parent is not None and parent.get("thread_ts") not in (None, parent["ts"]):
                # Replying to a reply re-parents onto the thread root, as Slack does.
                thread_ts = msg["thread_ts"] = parent["thread_ts"]
                parent = self._find(cid, thread_ts)
            if parent is not None:
                parent["thread_ts"] = parent["ts"]
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                users = parent.setdefault("reply_users", [])
                if msg.get("user") and msg["user"] not in users:
                    users.append(msg["user"])
                parent["reply_users_count"] = len(users)
                parent["latest_reply"] = msg["ts"]
                msg["parent_user_id"] = parent.get("user")
        msgs = self._msgs.setdefault(cid, [])
        msgs.insert(bisect.bisect([m["ts"] for m in msgs], msg["ts"]), msg)
        return msg
