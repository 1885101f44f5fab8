"""A local Discord: the REST API (v10) and the gateway, on 127.0.0.1, for the real discord.py.

Point discord.py at it with ``fake.patch(monkeypatch)`` (sets ``discord.http.Route.BASE`` and
``DiscordWebSocket.DEFAULT_GATEWAY``). It speaks the wire format discord.py relies on: JSON
answers with ``Content-Type: application/json`` exactly, 429s with ``Via`` and a JSON
``retry_after``, newest-first message pages, nonce de-duplication (``enforce_nonce``), and
a gateway that resumes dropped sessions (see discord_gateway.py).

Scripting from the test thread: ``post()`` a customer message (stored and dispatched),
``forum_post()``/``add_thread()``/``open_dm()``, ``drop_connections()``,
``gateway_down()`` (refuse connections until the block ends), ``invalidate_sessions()``,
and a FIFO fault queue for REST (``fail``, ``hang``, ``drop``, ``malformed``) that can be
limited to one method and path fragment (``allow`` lets a request through first).
``requests`` records every REST call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, Self

import pytest
from aiohttp import web

from tests.fakes import discord_payloads as p
from tests.fakes.discord_gateway import GatewayHub
from tests.fakes.discord_rest import install_rest_routes

BOT_TOKEN = "MTMwOTg3NjU0MzIxMDk4NzY1NA.GfAkE1.t3st-t0ken-n0t-real-0123456789abcdef"


@dataclass(frozen=True)
class RestRequest:
    method: str
    path: str  # without /api/v10
    query: dict[str, str]
    body: Any
    headers: dict[str, str]


@dataclass
class RestFault:
    kind: str  # pass | status | hang | drop | malformed
    remaining: int
    method: str | None = None
    path: str | None = None  # a fragment of the path, e.g. "/messages"
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or self.path in path
        )


class FakeDiscord:
    def __init__(self, token: str = BOT_TOKEN) -> None:
        self.token = token
        self.message_content_enabled = True
        self.guild = p.recorded("guild_create.json")
        self.bot = p.recorded("user_me.json")
        self.channels: dict[int, dict[str, Any]] = {int(c["id"]): c for c in self.guild["channels"]}
        self.messages: dict[int, list[dict[str, Any]]] = {}
        self.members: dict[int, dict[str, Any]] = {
            int(m["user"]["id"]): m for m in self.guild["members"]
        }
        self.forbidden_channels: set[int] = set()
        self.faults: list[RestFault] = []
        self.requests_log: list[RestRequest] = []
        self.nonces: dict[tuple[int, str], dict[str, Any]] = {}
        self.hub = GatewayHub(
            lambda: self.token,
            self._ready,
            self._guild_creates,
            lambda: self.message_content_enabled,
        )
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        started = threading.Event()
        self._loop = asyncio.new_event_loop()

        def serve() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start_app())
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="FakeDiscord", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("FakeDiscord did not start")
        return self

    async def _start_app(self) -> None:
        app = web.Application()
        app.router.add_get("/gateway", self.hub.handle)
        install_rest_routes(app, self)
        # No access log: a request finishing after a test ends would log to a closed stream.
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def stop(self) -> None:
        if self._loop is None or self._runner is None:
            return
        self.run(self.hub.drop(1001))
        with contextlib.suppress(Exception):
            self.run(self._runner.cleanup(), timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._loop = self._runner = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def patch(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point discord.py (a third-party library) at this fake, for one test."""
        import discord.gateway
        import discord.http
        import yarl

        monkeypatch.setattr(discord.http.Route, "BASE", self.api_base)
        monkeypatch.setattr(
            discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(self.gateway_url)
        )

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 10) -> Any:
        assert self._loop is not None, "FakeDiscord is not running"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # -- the world ---------------------------------------------------------------------------

    def customer(self, username: str, *, roles: list[int] | None = None) -> dict[str, Any]:
        """A new guild member (a user payload), with these role ids."""
        author = p.user(p.snowflake(), username, global_name=username.title())
        member = p.recorded("message_create.json")["member"]
        member.update(user=author, roles=[str(r) for r in roles or []])
        with self._lock:
            self.members[int(author["id"])] = member
        return author

    def other_bot(self, username: str) -> dict[str, Any]:
        return p.user(p.snowflake(), username, bot=True)

    def post(self, channel_id: int, author: dict[str, Any], content: str, **kw: Any) -> dict:
        """A message by `author`, stored and dispatched to every live gateway session."""
        channel = self.channels[channel_id]
        guild_id = None if channel["type"] == 1 else p.GUILD_ID
        roles = kw.pop("roles", None)
        if roles is None and guild_id is not None:
            member = self.members.get(int(author["id"]))
            roles = [int(r) for r in member["roles"]] if member else []
        data = p.message(channel_id, author, content, guild_id=guild_id, roles=roles, **kw)
        return self.run(self._store_and_dispatch(channel_id, data))

    async def _store_and_dispatch(self, channel_id: int, data: dict[str, Any]) -> dict:
        self.messages.setdefault(channel_id, []).append(data)
        channel = self.channels.get(channel_id)
        if channel is not None:
            channel["last_message_id"] = data["id"]
        await self.hub.dispatch("MESSAGE_CREATE", data)
        return data

    def add_thread(self, parent_id: int, name: str, owner: dict[str, Any], **kw: Any) -> dict:
        data = p.thread(parent_id, name, int(owner["id"]), **kw)
        self.channels[int(data["id"])] = data
        self.run(self.hub.dispatch("THREAD_CREATE", {**data, "newly_created": True}))
        return data

    def archive_thread(self, thread_id: int) -> None:
        """Archive a thread now (Discord does it after its inactivity timeout)."""
        meta = self.channels[thread_id]["thread_metadata"]
        meta["archived"] = True
        meta["archive_timestamp"] = p.iso_from_snowflake(p.snowflake())
        self.run(self.hub.dispatch("THREAD_UPDATE", self.channels[thread_id]))

    def forum_post(self, forum_id: int, author: dict[str, Any], title: str, text: str) -> dict:
        """A forum post: a thread whose starter message has the thread's own id."""
        ident = p.snowflake()
        thread = self.add_thread(forum_id, title, author, thread_id=ident)
        return self.post(ident, author, text, message_id=int(thread["id"]))

    def open_dm(self, recipient: dict[str, Any]) -> int:
        ident = p.snowflake()
        self.channels[ident] = p.dm_channel(ident, recipient)
        return ident

    def channel_messages(self, channel_id: int) -> list[dict[str, Any]]:
        return list(self.messages.get(channel_id, []))

    def sent_by_bot(self, channel_id: int) -> list[dict[str, Any]]:
        return [m for m in self.channel_messages(channel_id) if m["author"]["id"] == self.bot["id"]]

    # -- gateway control ---------------------------------------------------------------------

    def drop_connections(self) -> None:
        self.run(self.hub.drop(4000))

    def invalidate_sessions(self) -> None:
        self._loop_call(self.hub.invalidate)

    @contextlib.contextmanager
    def gateway_down(self) -> Iterator[None]:
        """Drop every connection and refuse new ones until the block ends."""
        self._loop_call(lambda: setattr(self.hub, "refusing", True))
        self.run(self.hub.drop(4000))
        try:
            yield
        finally:
            self._loop_call(lambda: setattr(self.hub, "refusing", False))

    def wait_connected(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(s.socket is not None for s in self.hub.sessions.values()):
                return
            time.sleep(0.02)
        raise AssertionError("no gateway session connected")

    def _loop_call(self, fn: Any) -> None:
        async def call() -> None:
            fn()

        self.run(call())

    def _ready(self, session_id: str) -> dict[str, Any]:
        data = p.recorded("ready.json")
        data["session_id"] = session_id
        data["resume_gateway_url"] = self.gateway_url
        data["application"]["flags"] = self.application_flags()
        return data

    def _guild_creates(self) -> list[dict[str, Any]]:
        guild = json.loads(json.dumps(self.guild))
        guild["threads"] = [
            c for c in self.channels.values() if c["type"] == 11 and not _archived(c)
        ]
        return [guild]

    def application_flags(self) -> int:
        flags = int(p.recorded("application.json")["flags"])
        return flags if self.message_content_enabled else flags & ~p.MESSAGE_CONTENT_FLAGS

    # -- REST faults -------------------------------------------------------------------------

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        method: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
        body: Any = None,
    ) -> Self:
        headers: dict[str, str] = {}
        if status == 429:
            headers = {"Via": "1.1 google", "Retry-After": str(int(retry_after or 1))}
            body = body or {
                "message": "You are being rate limited.",
                "retry_after": retry_after or 1.0,
                "global": False,
            }
        body = body if body is not None else {"message": f"{status}: injected", "code": 0}
        return self._add(RestFault("status", times, method, path, status, body, headers))

    def allow(self, *, times: int = 1, method: str | None = None, path: str | None = None) -> Self:
        """Let the next matching requests through untouched (to fail a later one)."""
        return self._add(RestFault("pass", times, method, path))

    def hang(self, seconds: float, **kw: Any) -> Self:
        return self._add(RestFault("hang", kw.pop("times", 1), seconds=seconds, **kw))

    def drop(self, **kw: Any) -> Self:
        return self._add(RestFault("drop", kw.pop("times", 1), **kw))

    def malformed(self, **kw: Any) -> Self:
        return self._add(RestFault("malformed", kw.pop("times", 1), status=200, **kw))

    def _add(self, fault: RestFault) -> Self:
        with self._lock:
            self.faults.append(fault)
        return self

    def next_fault(self, method: str, path: str) -> RestFault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    @property
    def requests(self) -> list[RestRequest]:
        with self._lock:
            return list(self.requests_log)

    def record(self, request: RestRequest) -> None:
        with self._lock:
            self.requests_log.append(request)


def _archived(channel: dict[str, Any]) -> bool:
    return bool(channel.get("thread_metadata", {}).get("archived"))
