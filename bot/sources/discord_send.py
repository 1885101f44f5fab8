"""Sending an approved reply on Discord, and turning discord.py's errors into ours.

A reply longer than Discord's 2,000 characters goes out as ordered parts: the first answers
the customer's message (a Discord reply, shown with a quote of it), each later part answers
the part before, so they read in order. Each part carries a nonce derived from the reply's
idempotency key with `enforce_nonce`, so a retry after a partial failure gets the parts
Discord already has back instead of posting them again (Discord remembers nonces for a few
minutes; the outbox retries well inside that).
"""

from __future__ import annotations

import asyncio
import hashlib

import aiohttp
import discord

from bot.sources.base import (
    DeliveryResult,
    OutboundReply,
    SourceAuthError,
    SourceError,
    SourceRateLimitedError,
    SourceUnavailableError,
)
from bot.sources.discord_convert import ConversationKeys
from bot.sources.split import length_in_chars, split_reply

MAX_MESSAGE_CHARS = 2000
TOKEN_FIX = (
    "set DISCORD_BOT_TOKEN to the token from https://discord.com/developers/applications "
    "→ your app → Bot → Reset Token"
)
INTENT_FIX = (
    "turn on Message Content Intent: https://discord.com/developers/applications → your app "
    "→ Bot → Privileged Gateway Intents"
)
PERMISSION_FIX = (
    "give the bot's role View Channels, Read Message History, Send Messages and Send "
    "Messages in Threads on that channel (Server Settings → Roles, or the channel's "
    "Permissions)"
)
NETWORK_FIX = "check this machine's network and https://discordstatus.com; retrying by itself"
# Sent replies never ping @everyone or roles, whatever the text says; the customer is
# notified of the reply itself.
ALLOWED_MENTIONS = discord.AllowedMentions(
    everyone=False, roles=False, users=True, replied_user=True
)


def part_nonce(idempotency_key: str, index: int) -> str:
    """Discord nonces are at most 25 characters."""
    return hashlib.sha256(f"{idempotency_key}:{index}".encode()).hexdigest()[:25]


async def send_parts(
    client: discord.Client, reply: OutboundReply, keys: ConversationKeys
) -> DeliveryResult:
    channel_id = _int(reply.reply_meta.get("channel_id")) or _int(reply.thread_id)
    if channel_id is None:
        return DeliveryResult(ok=False, error="no Discord channel is known for this conversation")
    parts = split_reply(reply.text, MAX_MESSAGE_CHARS, length_in_chars)
    if not parts:
        return DeliveryResult(ok=False, error="the reply is empty")
    guild_id = _int(reply.reply_meta.get("guild_id"))
    channel = client.get_channel(channel_id) or client.get_partial_messageable(
        channel_id,
        guild_id=guild_id,
        type=discord.ChannelType.private if guild_id is None else None,
    )
    answered = _int(reply.in_reply_to)
    reference = (
        discord.MessageReference(
            message_id=answered, channel_id=channel_id, fail_if_not_exists=False
        )
        if answered is not None
        else None
    )
    sent: list[discord.Message] = []
    for index, part in enumerate(parts):
        message = await channel.send(  # type: ignore[union-attr]
            part,
            nonce=part_nonce(reply.idempotency_key, index),
            reference=reference,  # type: ignore[arg-type]
            allowed_mentions=ALLOWED_MENTIONS,
        )
        if answered is not None:
            keys.remember_part(message.id, answered)
        sent.append(message)
        reference = message.to_reference(fail_if_not_exists=False)
    # Built here: a message sent without the gateway's guild cache would say "@me".
    url = f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{sent[0].id}"
    return DeliveryResult(ok=True, external_id=str(sent[0].id), url=url)


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def source_error(exc: BaseException, doing: str) -> SourceError:
    """One of our SourceErrors, with the fix, for anything discord.py or the network raised."""
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, discord.PrivilegedIntentsRequired) or (
        isinstance(exc, discord.ConnectionClosed) and exc.code == 4014
    ):
        return SourceAuthError("the bot's Message Content intent is off", INTENT_FIX)
    if isinstance(exc, discord.LoginFailure) or (
        isinstance(exc, discord.ConnectionClosed) and exc.code == 4004
    ):
        return SourceAuthError("Discord refused the bot token (401 Unauthorized)", TOKEN_FIX)
    if isinstance(exc, discord.RateLimited):
        return SourceRateLimitedError(
            f"Discord rate limit while {doing}: retry in {exc.retry_after:.0f} s",
            "nothing to do: Threadline waits as Discord asks",
            retry_after=exc.retry_after,
        )
    if isinstance(exc, discord.HTTPException):
        return _http_error(exc, doing)
    if isinstance(exc, aiohttp.ClientError | OSError | asyncio.TimeoutError | TimeoutError):
        detail = type(exc).__name__ if isinstance(exc, TimeoutError) else str(exc) or repr(exc)
        return SourceUnavailableError(f"cannot reach Discord while {doing}: {detail}", NETWORK_FIX)
    if isinstance(exc, discord.GatewayNotFound | discord.ConnectionClosed):
        return SourceUnavailableError(f"Discord gateway trouble while {doing}: {exc}", NETWORK_FIX)
    if isinstance(exc, ValueError):  # a JSON answer that is not JSON
        return SourceUnavailableError(f"Discord sent a malformed answer while {doing}", NETWORK_FIX)
    return SourceError(f"{type(exc).__name__} while {doing}: {exc}", "see the log for details")


def _http_error(exc: discord.HTTPException, doing: str) -> SourceError:
    said = f"{exc.status} {exc.text or ''}".strip()
    if exc.status == 401:
        return SourceAuthError("Discord refused the bot token (401 Unauthorized)", TOKEN_FIX)
    if exc.status == 403:
        permission = "Send Messages" if "send" in doing else "View Channels / Read Message History"
        error = SourceError(
            f"Discord says missing permission {permission} ({said})", PERMISSION_FIX
        )
        error.retryable = False
        return error
    if exc.status == 429:
        return SourceRateLimitedError(
            f"Discord rate limit while {doing} ({said})", "wait; Threadline retries by itself"
        )
    if exc.status >= 500:
        return SourceUnavailableError(f"Discord server error while {doing}: {said}", NETWORK_FIX)
    error = SourceError(f"Discord refused {doing}: {said}", "see the error; this will not retry")
    error.retryable = False
    return error


def delivery_failure(exc: BaseException) -> DeliveryResult:
    error = source_error(exc, "sending a reply")
    return DeliveryResult(
        ok=False,
        error=f"{error} (fix: {error.fix})",
        retryable=error.retryable,
        retry_after=error.retry_after,
    )
