"""Discord API v10 payloads for the fake, built from the recorded ones in tests/data/discord/.

The recorded files are real shapes (a READY, a GUILD_CREATE, a MESSAGE_CREATE...); these
helpers copy them and fill in fresh snowflakes, so every message the fake makes is one the
real gateway could have sent.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "data" / "discord"
DISCORD_EPOCH_MS = 1_420_070_400_000

GUILD_ID = 1179412436915454012
HELP_CHANNEL_ID = 1179412437573959782
OFFTOPIC_CHANNEL_ID = 1179412438001234567
FORUM_CHANNEL_ID = 1179412439112345678
STAFF_ROLE_ID = 1179415551229345812
CUSTOMER_ROLE_ID = 1179415900123456789
BOT_USER_ID = 1309876543210987654
# Application flags: GATEWAY_MESSAGE_CONTENT_LIMITED is bit 19, GATEWAY_MESSAGE_CONTENT bit 18.
MESSAGE_CONTENT_FLAGS = (1 << 18) | (1 << 19)

_lock = threading.Lock()
_counter = itertools.count()
_last = 0


@cache
def _recorded(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def recorded(name: str) -> dict[str, Any]:
    """A fresh deep copy of one recorded payload (e.g. ``"guild_create.json"``)."""
    return copy.deepcopy(_recorded(name))


def snowflake() -> int:
    """A new id carrying the current time, strictly increasing within this process."""
    global _last
    with _lock:
        value = ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (next(_counter) % 4096)
        _last = max(value, _last + 1)
        return _last


def iso_from_snowflake(ident: int) -> str:
    ms = (ident >> 22) + DISCORD_EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="microseconds")


def user(user_id: int, username: str, *, bot: bool = False, global_name: str | None = None) -> dict:
    data = recorded("message_create.json")["author"]
    data.update(id=str(user_id), username=username, global_name=global_name)
    if bot:
        data["bot"] = True
    return data


def message(
    channel_id: int,
    author: dict[str, Any],
    content: str,
    *,
    guild_id: int | None = GUILD_ID,
    roles: list[int] | None = None,
    reference: dict[str, Any] | None = None,
    attachments: list[dict[str, Any]] | None = None,
    webhook_id: int | None = None,
    nonce: str | None = None,
    message_id: int | None = None,
) -> dict[str, Any]:
    """A MESSAGE_CREATE payload (also what REST returns for one message, minus ``member``)."""
    data = recorded("message_create.json")
    ident = message_id or snowflake()
    data.update(
        id=str(ident),
        channel_id=str(channel_id),
        content=content,
        author=author,
        timestamp=iso_from_snowflake(ident),
        attachments=attachments or [],
        nonce=nonce,
    )
    if guild_id is None:
        del data["guild_id"], data["member"]
    else:
        data["guild_id"] = str(guild_id)
        data["member"]["roles"] = [str(r) for r in roles or []]
    if reference is not None:
        data["type"] = 19  # REPLY
        data["message_reference"] = {
            "type": 0,
            "message_id": reference["id"],
            "channel_id": reference["channel_id"],
            **({"guild_id": reference["guild_id"]} if "guild_id" in reference else {}),
        }
        data["referenced_message"] = rest_message(reference)
    if webhook_id is not None:
        data["webhook_id"] = str(webhook_id)
    return data


def rest_message(data: dict[str, Any]) -> dict[str, Any]:
    """REST returns messages without the ``member`` object and without ``guild_id``."""
    out = {k: v for k, v in data.items() if k not in ("member", "guild_id")}
    if isinstance(out.get("referenced_message"), dict):
        out["referenced_message"] = rest_message(out["referenced_message"])
    return out


def attachment(filename: str, content_type: str) -> dict[str, Any]:
    data = recorded("attachment.json")
    data.update(id=str(snowflake()), filename=filename, content_type=content_type)
    return data


def thread(parent_id: int, name: str, owner_id: int, *, thread_id: int | None = None) -> dict:
    data = recorded("thread.json")
    data.update(
        id=str(thread_id or snowflake()),
        parent_id=str(parent_id),
        owner_id=str(owner_id),
        name=name,
    )
    return data


def dm_channel(channel_id: int, recipient: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(channel_id), "type": 1, "last_message_id": None, "recipients": [recipient]}
