"""Reading what was said while we were away, from each channel's saved cursor.

Runs on every fresh READY. The first start ever records "now" (the `since` checkpoint) and
reads nothing older, so a new install does not flood Slack with old history; a channel,
thread or DM without a cursor of its own is read from that mark, so a thread opened while
Threadline was down is not missed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import discord
from sqlmodel import col, select

from bot.sources.base import Checkpoint
from bot.sources.cursors import CursorStore
from bot.sources.discord_convert import SOURCE, account_for
from storage.db import session_scope
from storage.models import SourceCursor

if TYPE_CHECKING:
    from bot.sources.discord_gateway import DiscordGateway

log = logging.getLogger(__name__)
SINCE_ACCOUNT = "since"
ARCHIVED_THREADS_PER_CHANNEL = 50


def since_mark(cursors: CursorStore) -> int:
    saved = cursors.load(SOURCE, SINCE_ACCOUNT)
    if saved is not None:
        return int(saved)
    mark = discord.utils.time_snowflake(datetime.now(UTC))
    cursors.save(Checkpoint(SOURCE, SINCE_ACCOUNT, str(mark)))
    return mark


def dm_channel_ids(cursors: CursorStore) -> list[int]:
    with session_scope(cursors.engine) as session:
        accounts = session.exec(
            select(SourceCursor.account).where(
                SourceCursor.source == SOURCE, col(SourceCursor.account).startswith("dm:")
            )
        ).all()
    return [int(a.removeprefix("dm:")) for a in accounts if a.removeprefix("dm:").isdigit()]


async def backfill(gateway: DiscordGateway, client: discord.Client) -> None:
    since = since_mark(gateway.cursors)
    targets: list[Any] = []
    for guild in client.guilds:
        if gateway.config.guild_ids and guild.id not in gateway.config.guild_ids:
            continue
        targets += [c for c in guild.text_channels if gateway.watched(c, guild)]
        targets += await _threads(gateway, guild, since)
    if gateway.config.watch_dms:
        targets += [
            client.get_partial_messageable(ident, type=discord.ChannelType.private)
            for ident in dm_channel_ids(gateway.cursors)
        ]
    for channel in targets:
        await _read_channel(gateway, channel, since)


async def _threads(gateway: DiscordGateway, guild: discord.Guild, since: int) -> list[Any]:
    threads = {t.id: t for t in guild.threads}
    threads.update({t.id: t for t in await guild.active_threads()})
    oldest = discord.utils.snowflake_time(since)
    parents: list[Any] = [*guild.text_channels, *guild.forums]
    for parent in parents:
        if not gateway.watched(parent, guild):
            continue
        try:
            async for thread in parent.archived_threads(limit=ARCHIVED_THREADS_PER_CHANNEL):
                if thread.archive_timestamp < oldest:
                    break  # newest archived first: the rest were archived before we started
                threads[thread.id] = thread
        except discord.Forbidden:
            log.warning(
                "discord: cannot list archived threads of #%s: no Read Message History", parent.name
            )
    return [t for t in threads.values() if gateway.watched(t, guild)]


async def _read_channel(gateway: DiscordGateway, channel: Any, since: int) -> None:
    direct = isinstance(channel, discord.PartialMessageable | discord.DMChannel)
    saved = gateway.cursors.load(SOURCE, account_for(channel.id, direct))
    after = max(int(saved), 0) if saved and saved.isdigit() else since
    last = getattr(channel, "last_message_id", None)
    if last is not None and last <= after:
        return  # nothing new: save a request
    try:
        async for message in channel.history(
            limit=None, after=discord.Object(id=after), oldest_first=True
        ):
            await gateway.handle(message)
    except discord.Forbidden:
        name = getattr(channel, "name", channel.id)
        log.warning(
            "discord: cannot read history of #%s: the bot needs View Channels and "
            "Read Message History there",
            name,
        )
    except discord.NotFound:
        log.info("discord: channel %s is gone; not read", channel.id)
