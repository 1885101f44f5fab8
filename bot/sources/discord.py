"""Discord: watch a bot's servers (channels, threads, forum posts) and its DMs; answer there.

The discord.py client runs in its own thread and event loop (discord_gateway.py); `watch()`
yields what it queues, oldest first per channel. The cursor of each channel, thread and
DM is the id of the last message read there (`source_cursor`, account = channel id, DMs
`dm:<id>`), saved with the message it follows, or directly for messages Threadline skips
(staff, bots, webhooks, empty ones). Messages from staff accounts (any of
`staff_role_ids`), the bot itself, other bots and webhooks are never customer messages.
Discord has no follower counts: `followers` stays unset.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Iterator

from discord.http import HTTPClient

from bot.config import ConfigError
from bot.config_schema import DiscordSource as DiscordConfig
from bot.sources.base import (
    Checkpoint,
    DeliveryResult,
    OutboundReply,
    SourceAuthError,
    SourceUnavailableError,
)
from bot.sources.cursors import CursorStore
from bot.sources.discord_convert import SOURCE, ConversationKeys
from bot.sources.discord_gateway import DiscordGateway, Item
from bot.sources.discord_send import INTENT_FIX, delivery_failure, send_parts, source_error
from bot.sources.registry import SourceContext
from handlers.inbound import InboundMessage

# Application flags that mean the Message Content intent is on (full, or "limited" for bots
# in fewer than 100 servers).
MESSAGE_CONTENT_FLAGS = (1 << 18) | (1 << 19)
POLL_SECONDS = 0.2


class DiscordAdapter:
    name = SOURCE

    def __init__(
        self,
        token: str,
        config: DiscordConfig,
        cursors: CursorStore,
        *,
        send_timeout: float | None = None,
        ready_timeout: float | None = None,
    ) -> None:
        self.config = config
        self.cursors = cursors
        self.send_timeout = send_timeout or config.send_timeout_seconds
        self._token = token
        self.keys = ConversationKeys(config)
        self.gateway = DiscordGateway(
            token,
            config,
            cursors,
            ready_timeout=ready_timeout or config.ready_timeout_seconds,
            keys=self.keys,
        )
        self._closed = threading.Event()
        self._pending: dict[str, Checkpoint] = {}
        self._cursor_max: dict[str, int] = {}

    # -- reading -----------------------------------------------------------------------------

    def watch(self) -> Iterator[InboundMessage]:
        if self._closed.is_set():
            return
        self.gateway.start_watching()
        while not self._closed.is_set():
            try:
                item = self.gateway.items.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if not self.gateway.watching() and not self._closed.is_set():
                    raise SourceUnavailableError(
                        "the Discord connection ended", "retrying by itself; see the log"
                    ) from None
                continue
            yield from self._take(item)

    def _take(self, item: Item) -> Iterator[InboundMessage]:
        if item.error is not None:
            raise item.error
        if item.checkpoint is None:
            return
        checkpoint = self._advance(item.checkpoint)
        if item.message is None:
            self.cursors.save(checkpoint)
            return
        self._pending[item.message.external_id] = checkpoint
        try:
            yield item.message
        finally:
            self._pending.pop(item.message.external_id, None)

    def _advance(self, checkpoint: Checkpoint) -> Checkpoint:
        """Cursors only move forward, whatever order backfill and live messages came in."""
        account = checkpoint.account
        if account not in self._cursor_max:
            saved = self.cursors.load(SOURCE, account)
            self._cursor_max[account] = int(saved) if saved and saved.isdigit() else 0
        newest = max(self._cursor_max[account], int(checkpoint.cursor))
        self._cursor_max[account] = newest
        return Checkpoint(SOURCE, account, str(newest))

    def checkpoint(self, msg: InboundMessage) -> Checkpoint | None:
        return self._pending.get(msg.external_id)

    # -- answering ---------------------------------------------------------------------------

    def send_reply(self, reply: OutboundReply) -> DeliveryResult:
        async def deliver() -> DeliveryResult:
            client = await self.gateway.logged_in()
            return await send_parts(client, reply, self.keys)

        try:
            return self.gateway.run(deliver(), self.send_timeout)
        except TimeoutError:
            return DeliveryResult(
                ok=False,
                error=f"Discord did not answer within {self.send_timeout:g} s",
                retryable=True,
            )
        except Exception as exc:
            return delivery_failure(exc)

    # -- doctor ------------------------------------------------------------------------------

    def probe(self) -> str:
        return asyncio.run(self._probe())

    async def _probe(self) -> str:
        http = HTTPClient(asyncio.get_running_loop(), max_ratelimit_timeout=30.0)
        try:
            me = await http.static_login(self._token)
            app = await http.application_info()
            guilds = await http.get_guilds(200)
            await http.get_bot_gateway()
        except Exception as exc:
            raise source_error(exc, "logging in") from None
        finally:
            await http.close()
        if not int(app.get("flags") or 0) & MESSAGE_CONTENT_FLAGS:
            raise SourceAuthError(
                f"logged in as {me['username']}, but the Message Content intent is off "
                "(customer messages would arrive empty)",
                INTENT_FIX,
            )
        watched = [
            g for g in guilds if not self.config.guild_ids or int(g["id"]) in self.config.guild_ids
        ]
        missing = set(self.config.guild_ids) - {int(g["id"]) for g in guilds}
        line = f"logged in as {me['username']}; in {len(guilds)} server(s), watching {len(watched)}"
        if missing:
            line += f"; not a member of guild_ids {sorted(missing)} (invite the bot)"
        return line + "; Message Content intent on"

    def close(self) -> None:
        self._closed.set()
        self.gateway.close()


def from_config(ctx: SourceContext) -> DiscordAdapter:
    token = ctx.settings.discord_bot_token
    if token is None or not token.get_secret_value().strip():
        raise ConfigError("set DISCORD_BOT_TOKEN")  # doctor prints it as the fix
    return DiscordAdapter(token.get_secret_value().strip(), ctx.team.sources.discord, ctx.cursors)
