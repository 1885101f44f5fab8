"""The REST half of FakeDiscord: the v10 routes discord.py calls for this bot."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes import discord_payloads as p

if TYPE_CHECKING:
    from tests.fakes.discord import FakeDiscord

PREFIX = "/api/v10"
MAX_CONTENT = 2000


def reply(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py parses JSON only when Content-Type is exactly application/json.
    raw = json.dumps(body).encode()
    return web.Response(
        status=status, body=raw, headers={"Content-Type": "application/json", **(headers or {})}
    )


def error(status: int, message: str, code: int) -> web.Response:
    return reply(status, {"message": message, "code": code})


def install_rest_routes(app: web.Application, fake: FakeDiscord) -> None:
    routes = Routes(fake)
    app.router.add_route("*", PREFIX + "/{tail:.*}", routes.handle)


class Routes:
    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake

    async def handle(self, request: web.Request) -> web.StreamResponse:
        fake = self.fake
        path = "/" + request.match_info["tail"]
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        fake.record(
            _rest_request(request.method, path, dict(request.query), body, dict(request.headers))
        )
        fault = fake.next_fault(request.method, path)
        if fault is not None:
            answer = await self._fault(request, fault)
            if answer is not None:
                return answer
        if request.headers.get("Authorization") != f"Bot {fake.token}":
            return error(401, "401: Unauthorized", 0)
        return await self._route(request.method, path, dict(request.query), body)

    async def _fault(self, request: web.Request, fault: Any) -> web.StreamResponse | None:
        if fault.kind == "pass":
            return None
        if fault.kind == "status":
            return reply(fault.status, fault.body, fault.headers)
        if fault.kind == "malformed":
            return web.Response(
                status=200, body=b'{"id": "12', headers={"Content-Type": "application/json"}
            )
        if fault.kind == "hang":
            await asyncio.sleep(fault.seconds)
        transport = request.transport
        if transport is not None:
            transport.abort()  # no answer at all: a dropped connection
        return web.Response(status=500)  # never reaches the client

    async def _route(
        self, method: str, path: str, query: dict[str, str], body: Any
    ) -> web.Response:
        fake = self.fake
        parts = path.strip("/").split("/")
        if method == "GET" and path == "/users/@me":
            return reply(200, fake.bot)
        if method == "GET" and path == "/oauth2/applications/@me":
            data = p.recorded("application.json")
            data["flags"] = fake.application_flags()
            return reply(200, data)
        if method == "GET" and path == "/users/@me/guilds":
            guild = fake.guild
            return reply(200, [{"id": guild["id"], "name": guild["name"], "icon": None}])
        if method == "GET" and path == "/gateway/bot":
            limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
            return reply(200, {"url": fake.gateway_url, "shards": 1, "session_start_limit": limit})
        if parts[0] == "channels" and len(parts) >= 2:
            return await self._channel(method, parts, query, body)
        if parts[0] == "guilds" and len(parts) >= 3:
            return self._guild(method, parts)
        return error(404, "404: Not Found", 0)

    async def _channel(
        self, method: str, parts: list[str], query: dict[str, str], body: Any
    ) -> web.Response:
        fake = self.fake
        channel_id = int(parts[1])
        channel = fake.channels.get(channel_id)
        if channel is None:
            return error(404, "Unknown Channel", 10003)
        rest = parts[2:]
        if method == "GET" and not rest:
            return reply(200, channel)
        if rest == ["messages"] and method == "GET":
            if channel_id in fake.forbidden_channels:
                return error(403, "Missing Access", 50001)
            return reply(200, self._history(channel_id, query))
        if rest == ["messages"] and method == "POST":
            return await self._create_message(channel_id, body or {})
        if rest == ["threads", "archived", "public"] and method == "GET":
            threads = [
                c
                for c in fake.channels.values()
                if c.get("parent_id") == str(channel_id)
                and c.get("thread_metadata", {}).get("archived")
            ]
            return reply(200, {"threads": threads, "members": [], "has_more": False})
        return error(404, "404: Not Found", 0)

    def _history(self, channel_id: int, query: dict[str, str]) -> list[dict[str, Any]]:
        limit = min(100, int(query.get("limit", 50)))
        found = sorted(self.fake.channel_messages(channel_id), key=lambda m: int(m["id"]))
        if "after" in query:
            found = [m for m in found if int(m["id"]) > int(query["after"])][:limit]
        else:
            if "before" in query:
                found = [m for m in found if int(m["id"]) < int(query["before"])]
            found = found[-limit:]
        return [p.rest_message(m) for m in reversed(found)]  # newest first, as Discord does

    async def _create_message(self, channel_id: int, body: dict[str, Any]) -> web.Response:
        fake = self.fake
        if channel_id in fake.forbidden_channels:
            return error(403, "Missing Permissions", 50013)
        content = body.get("content") or ""
        if not content or len(content) > MAX_CONTENT:
            errors = {
                "content": {
                    "_errors": [
                        {
                            "code": "BASE_TYPE_BAD_LENGTH",
                            "message": "Must be 2000 or fewer in length.",
                        }
                    ]
                }
            }
            return reply(400, {"message": "Invalid Form Body", "code": 50035, "errors": errors})
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            seen = fake.nonces.get((channel_id, str(nonce)))
            if seen is not None:
                return reply(200, p.rest_message(seen))
        ref = body.get("message_reference")
        referenced = None
        if ref:
            referenced = next(
                (m for m in fake.channel_messages(channel_id) if m["id"] == str(ref["message_id"])),
                None,
            )
            if referenced is None and ref.get("fail_if_not_exists", True):
                return error(400, "Invalid Form Body: Unknown message", 50035)
        channel = fake.channels[channel_id]
        guild_id = None if channel["type"] == 1 else p.GUILD_ID
        data = p.message(
            channel_id,
            fake.bot,
            content,
            guild_id=guild_id,
            reference=referenced,
            nonce=None if nonce is None else str(nonce),
        )
        if nonce is not None:
            fake.nonces[(channel_id, str(nonce))] = data
        await fake._store_and_dispatch(channel_id, data)
        return reply(200, p.rest_message(data))

    def _guild(self, method: str, parts: list[str]) -> web.Response:
        fake = self.fake
        if parts[1] != fake.guild["id"]:
            return error(404, "Unknown Guild", 10004)
        if method == "GET" and parts[2:] == ["threads", "active"]:
            threads = [
                c
                for c in fake.channels.values()
                if c["type"] == 11 and not c.get("thread_metadata", {}).get("archived")
            ]
            return reply(200, {"threads": threads, "members": []})
        if method == "GET" and len(parts) == 4 and parts[2] == "members":
            member = fake.members.get(int(parts[3]))
            if member is None:
                return error(404, "Unknown Member", 10007)
            return reply(200, member)
        return error(404, "404: Not Found", 0)


def _rest_request(method: str, path: str, query: dict, body: Any, headers: dict) -> Any:
    from tests.fakes.discord import RestRequest

    return RestRequest(method, path, query, body, {k.lower(): v for k, v in headers.items()})
