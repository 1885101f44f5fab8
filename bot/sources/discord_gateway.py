"""The discord.py client in its own thread and event loop, feeding a thread-safe queue.

`on_message` and the backfill put `Item`s on the queue that `DiscordAdapter.watch()` reads.
On every fresh READY (a first connect, or after Discord invalidated the session; not on a
RESUMED, where the gateway replays what we missed) each watched channel, active or recently
archived thread and known DM is read from its saved cursor with `channel.history`. Live
messages that arrive meanwhile wait until the backfill is done, so each channel is fed
oldest first and a cursor never passes a message not yet handed over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp
import discord
from pydantic import ValidationError

from bot.config_schema import DiscordSource as DiscordConfig
from bot.sources.base import Checkpoint, SourceError
from bot.sources.cursors import CursorStore
from bot.sources.discord_backfill import backfill
from bot.sources.discord_convert import (
    SOURCE,
    ConversationKeys,
    account_for,
    is_customer_type,
    is_direct,
    to_inbound,
)
from bot.sources.discord_send import source_error
from handlers.inbound import InboundMessage

log = logging.getLogger(__name__)
SEEN_LIMIT = 10_000
STAFF_CACHE_LIMIT = 5_000


@dataclass(frozen=True)
class Item:
    checkpoint: Checkpoint | None = None
    message: InboundMessage | None = None  # None: read but not ingested (staff, bots, empty)
    error: SourceError | None = None


class DiscordGateway:
    def __init__(
        self,
        token: str,
        config: DiscordConfig,
        cursors: CursorStore,
        *,
        ready_timeout: float,
        keys: ConversationKeys,
    ) -> None:
        self._token = token
        self.config = config
        self.cursors = cursors
        self.ready_timeout = ready_timeout
        self.keys = keys
        self.items: queue.Queue[Item] = queue.Queue()
        self.client: discord.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._loop_lock = threading.Lock()
        self._connect_task: asyncio.Task[None] | None = None
        self._client_lock: asyncio.Lock | None = None
        self._holding = False
        self._held: list[discord.Message] = []
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._staff: OrderedDict[tuple[int, int], bool] = OrderedDict()

    # -- the loop thread ---------------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        # watch() (the runner's thread) and send_reply() (the reply drainer's) may both
        # arrive first: one loop only.
        with self._loop_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=loop.run_forever, name="discord-gateway", daemon=True
                )
                self._thread.start()
                self._loop = loop
            return self._loop

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float) -> Any:
        """Run `coro` on the client's loop from another thread; cancel it after `timeout`."""
        future = asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def start_watching(self) -> None:
        """Connect to the gateway unless a connection is already running."""
        self.run(self._start_connect(), timeout=5)

    async def _start_connect(self) -> None:
        if self._connect_task is None or self._connect_task.done():
            self._connect_task = asyncio.create_task(self._connect())

    def watching(self) -> bool:
        task = self._connect_task
        return task is not None and not task.done()

    async def logged_in(self) -> discord.Client:
        """The client, logged in over REST (creating a fresh one after a closed one)."""
        if self._client_lock is None:
            self._client_lock = asyncio.Lock()
        async with self._client_lock:
            if self.client is None or self.client.is_closed():
                client = _Client(self, intents=intents(), guild_ready_timeout=self.ready_timeout)
                try:
                    await client.login(self._token)
                except BaseException:
                    await client.close()
                    raise
                self.client = client
            return self.client

    async def _connect(self) -> None:
        client: discord.Client | None = None
        try:
            client = await self.logged_in()
            await client.connect(reconnect=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.items.put(Item(error=source_error(exc, "watching the gateway")))
        finally:
            if client is not None:
                await client.close()

    def close(self, timeout: float = 5.0) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            self.run(self._shutdown(), timeout)
        except Exception:  # closing is best effort; the thread is a daemon
            log.debug("discord client did not close cleanly", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout)
        with self._loop_lock:
            self._loop = self._thread = None

    async def _shutdown(self) -> None:
        if self.client is not None:
            await self.client.close()
        task = self._connect_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- events (on the client's loop) -------------------------------------------------------

    def on_connect(self) -> None:
        """A READY arrived (not a RESUMED): hold live messages until the backfill is done."""
        self._holding = True

    async def on_ready(self, client: discord.Client) -> None:
        log.info("discord: connected as %s to %d server(s)", client.user, len(client.guilds))
        delay = 1.0
        while not client.is_closed():
            try:
                await backfill(self, client)
                break
            except Exception as exc:
                error = source_error(exc, "backfilling history")
                self.items.put(Item(error=error))
                await asyncio.sleep(delay)
                delay = min(60.0, delay * 2)
        held, self._held, self._holding = self._held, [], False
        for message in sorted(held, key=lambda m: m.id):
            await self.handle(message)

    async def on_message(self, message: discord.Message) -> None:
        if not self.watched(message.channel, message.guild):
            return
        if self._holding:
            self._held.append(message)
            return
        await self.handle(message)

    async def handle(self, message: discord.Message) -> None:
        """Queue one message of a watched channel, once, as a customer message or a skip."""
        if message.id in self._seen:
            return
        checkpoint = Checkpoint(
            SOURCE, account_for(message.channel.id, is_direct(message)), str(message.id)
        )
        inbound = None
        if is_customer_type(message) and not await self.is_staff(message):
            bot_id = self.client.user.id if self.client and self.client.user else None
            try:
                inbound = to_inbound(message, self.keys, bot_id)
            except ValidationError as exc:
                log.warning("discord: message %s skipped: %s", message.id, _first_error(exc))
            if inbound is None and not message.attachments and not message.content:
                log.info(
                    "discord: message %s has no text (Message Content intent off?)", message.id
                )
        self.items.put(Item(checkpoint=checkpoint, message=inbound))
        # Only now: a failure above (a member lookup) leaves it to be read again.
        self._seen[message.id] = None
        if len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)

    def watched(self, channel: Any, guild: discord.Guild | None) -> bool:
        if guild is None:
            return self.config.watch_dms
        if self.config.guild_ids and guild.id not in self.config.guild_ids:
            return False
        if not self.config.channel_ids:
            return True
        parent = getattr(channel, "parent_id", None)
        return channel.id in self.config.channel_ids or parent in self.config.channel_ids

    async def is_staff(self, message: discord.Message) -> bool:
        """The bot itself, other bots and webhooks, and members with a staff role."""
        author = message.author
        if author.bot or author.system or message.webhook_id is not None:
            return True
        guild = message.guild
        if guild is None or not self.config.staff_role_ids:
            return False
        if isinstance(author, discord.Member):  # live messages carry the member's roles
            return self._has_staff_role(author)
        key = (guild.id, author.id)
        if key not in self._staff:  # history pages carry no roles: ask once per author
            member = guild.get_member(author.id)
            try:
                member = member or await guild.fetch_member(author.id)
            except discord.NotFound:
                member = None  # left the server: a customer
            except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
                # Unsure: better a staff message shown in Slack than a customer's lost.
                log.warning("discord: cannot look up member %s (%s)", author.id, exc)
                return False
            self._staff[key] = member is not None and self._has_staff_role(member)
            if len(self._staff) > STAFF_CACHE_LIMIT:
                self._staff.popitem(last=False)
        return self._staff[key]

    def _has_staff_role(self, member: discord.Member) -> bool:
        return any(role.id in self.config.staff_role_ids for role in member.roles)


def intents() -> discord.Intents:
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.dm_messages = True
    wanted.message_content = True  # privileged: also switched on in the Developer Portal
    return wanted


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"


class _Client(discord.Client):
    def __init__(self, gateway: DiscordGateway, **options: Any) -> None:
        # Threadline never joins voice: skip discord.py's warnings about voice libraries.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(
            max_messages=200,
            chunk_guilds_at_startup=False,
            # A longer 429 wait raises RateLimited instead of sleeping inside a send.
            max_ratelimit_timeout=30.0,
            **options,
        )
        self.gateway = gateway

    async def on_connect(self) -> None:
        self.gateway.on_connect()

    async def on_ready(self) -> None:
        await self.gateway.on_ready(self)

    async def on_resumed(self) -> None:
        log.info("discord: gateway session resumed")

    async def on_message(self, message: discord.Message) -> None:
        await self.gateway.on_message(message)
