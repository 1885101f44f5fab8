"""Discord messages → `InboundMessage`: which conversation a message belongs to, and what of
it Threadline keeps. Pure functions of a discord.py `Message` (no network)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import discord
from pydantic import ValidationError

from bot.config_schema import DiscordSource as DiscordConfig
from handlers.inbound import Attachment, Author, InboundMessage

SOURCE = "discord"
MAX_ATTACHMENTS = 20
MEMORY_LIMIT = 10_000  # entries kept of the in-memory maps below
# Message types a customer writes; joins, pins, thread-created notices etc. are not.
CUSTOMER_TYPES = (discord.MessageType.default, discord.MessageType.reply)


def is_direct(message: discord.Message) -> bool:
    return message.guild is None


def account_for(channel_id: int, direct: bool) -> str:
    """The checkpoint account of a channel: its id; DMs are prefixed so a restart can find
    them again (the bot API cannot list DM channels)."""
    return f"dm:{channel_id}" if direct else str(channel_id)


def is_thread(channel: Any) -> bool:
    return isinstance(channel, discord.Thread)


@dataclass
class ConversationKeys:
    """Decides a message's conversation key (`thread_id`) and the message it answers.

    Threads and forum posts: the thread id. DMs: the DM channel. Plain channels follow
    `conversation_per`: the channel; each top-level message (replies join the message they
    answer through `parent_id`); or the author's burst, a new one after
    `author_window_minutes` of silence (kept in memory: after a restart ingest's own
    grouping window joins a burst that straddles it).
    """

    config: DiscordConfig
    # Our own reply parts → the customer message they answer, so a customer replying to
    # part 3 of a long answer continues the right conversation.
    sent_parts: dict[int, int] = field(default_factory=dict)
    _bursts: dict[tuple[int, int], tuple[str, datetime]] = field(default_factory=dict)

    def thread_id(self, message: discord.Message) -> str:
        channel = message.channel
        if is_thread(channel) or is_direct(message):
            return str(channel.id)
        if self.config.conversation_per == "channel":
            return str(channel.id)
        if self.config.conversation_per == "thread":
            return str(message.id)
        return self._burst(channel.id, message)

    def _burst(self, channel_id: int, message: discord.Message) -> str:
        key = (channel_id, message.author.id)
        window = timedelta(minutes=self.config.author_window_minutes)
        current = self._bursts.get(key)
        if current is not None and message.created_at - current[1] <= window:
            thread = current[0]
        else:
            thread = str(message.id)
        self._bursts[key] = (thread, message.created_at)
        if len(self._bursts) > MEMORY_LIMIT:  # forget bursts that have ended
            cutoff = message.created_at - window
            self._bursts = {k: v for k, v in self._bursts.items() if v[1] >= cutoff}
        return thread

    def remember_part(self, part_id: int, answered: int) -> None:
        self.sent_parts[part_id] = answered
        if len(self.sent_parts) > MEMORY_LIMIT:
            del self.sent_parts[next(iter(self.sent_parts))]

    def parent_id(self, message: discord.Message, bot_user_id: int | None) -> str | None:
        ref = message.reference
        if ref is None or ref.message_id is None or ref.type != discord.MessageReferenceType.reply:
            return None
        target = ref.message_id
        if target in self.sent_parts:
            return str(self.sent_parts[target])
        resolved = ref.resolved
        if (
            isinstance(resolved, discord.Message)
            and bot_user_id is not None
            and resolved.author.id == bot_user_id
            and resolved.reference is not None
            and resolved.reference.message_id is not None
        ):
            # A reply to our reply: the conversation is the one our reply answered.
            return str(resolved.reference.message_id)
        return str(target)


def message_text(message: discord.Message) -> str | None:
    """What the customer wrote; attachment names stand in for an empty text. None when there
    is nothing (a sticker, or guild text without the Message Content intent)."""
    if message.content.strip():
        return message.content
    names = [a.filename for a in message.attachments]
    if names:
        return "[attachment: " + ", ".join(names) + "]"
    return None


def to_inbound(
    message: discord.Message, keys: ConversationKeys, bot_user_id: int | None
) -> InboundMessage | None:
    text = message_text(message)
    if text is None:
        return None
    author = message.author
    direct = is_direct(message)
    display = getattr(author, "display_name", None) or author.name
    return InboundMessage(
        source=SOURCE,
        external_id=str(message.id),
        thread_id=keys.thread_id(message),
        parent_id=keys.parent_id(message, bot_user_id),
        author=Author(
            external_id=str(author.id),
            handle=author.name[:255],
            display_name=display[:300],
            profile_url=f"https://discord.com/users/{author.id}",  # type: ignore[arg-type]
        ),
        text=text,
        url=message.jump_url,  # type: ignore[arg-type]
        created_at=message.created_at,
        attachments=attachments(message),
        is_direct=direct,
        reply_meta={
            "channel_id": str(message.channel.id),
            "guild_id": str(message.guild.id) if message.guild else None,
            "message_id": str(message.id),
        },
    )


def attachments(message: discord.Message) -> list[Attachment]:
    """The files, each checked on its own: one odd file (a strange content type, a bad URL)
    is dropped or loses its type, never the message."""
    found = []
    for item in message.attachments[:MAX_ATTACHMENTS]:
        mime = (item.content_type or "").split(";")[0].strip()
        try:
            found.append(
                Attachment(
                    name=item.filename[:300] or "file",
                    url=item.url,  # type: ignore[arg-type]
                    mime=mime if _MIME.fullmatch(mime) else None,
                )
            )
        except ValidationError:
            continue
    return found


_MIME = re.compile(r"[\w.+-]{1,50}/[\w.+-]{1,49}")


def is_customer_type(message: discord.Message) -> bool:
    return message.type in CUSTOMER_TYPES
