"""The gateway half of FakeDiscord: HELLO → IDENTIFY → READY → GUILD_CREATE → dispatches,
with RESUME replaying what a dropped session missed, and INVALID_SESSION when told to.

Sessions outlive their websocket, as on Discord: events dispatched while a session has no
socket are kept and replayed on RESUME. A client that closes with 1000 ends its session.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

HEARTBEAT_MS = 41_250
INTENT_MESSAGE_CONTENT = 1 << 15


@dataclass
class GatewaySession:
    session_id: str
    seq: int = 0
    events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    socket: web.WebSocketResponse | None = None
    resumable: bool = True


class GatewayHub:
    """Owned by FakeDiscord; every method runs on the fake's event loop."""

    def __init__(
        self,
        token: Callable[[], str],
        ready: Callable[[str], dict[str, Any]],
        guilds: Callable[[], list[dict[str, Any]]],
        message_content_allowed: Callable[[], bool],
    ) -> None:
        self._token = token
        self._ready = ready
        self._guilds = guilds
        self._content_allowed = message_content_allowed
        self.sessions: dict[str, GatewaySession] = {}
        self.refusing = False
        self.identifies = 0
        self.resumes = 0
        self.sockets: list[web.WebSocketResponse] = []
        self._dropped: set[web.WebSocketResponse] = set()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.refusing:
            return web.Response(status=503, text="gateway unavailable")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.sockets.append(ws)
        session: GatewaySession | None = None
        await self._send(ws, {"op": 10, "d": {"heartbeat_interval": HEARTBEAT_MS}})
        try:
            async for frame in ws:
                if frame.type is not WSMsgType.TEXT:
                    continue
                payload = json.loads(frame.data)
                session = await self._on_frame(ws, payload, session)
        finally:
            self.sockets.remove(ws)
            if session is not None and session.socket is ws:
                session.socket = None
                if ws.close_code == 1000 and ws not in self._dropped:
                    # A clean close by the client ends the session (the client also answers
                    # our own close with 1000: that one keeps it).
                    self.sessions.pop(session.session_id, None)
            self._dropped.discard(ws)
        return ws

    async def _on_frame(
        self, ws: web.WebSocketResponse, payload: dict[str, Any], session: GatewaySession | None
    ) -> GatewaySession | None:
        op, data = payload.get("op"), payload.get("d") or {}
        if op == 1:
            await self._send(ws, {"op": 11})
        elif op == 2:
            return await self._identify(ws, data)
        elif op == 6:
            return await self._resume(ws, data)
        return session

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> Any:
        if data.get("token") != self._token():
            await ws.close(code=4004, message=b"Authentication failed.")
            return None
        if int(data.get("intents", 0)) & INTENT_MESSAGE_CONTENT and not self._content_allowed():
            await ws.close(code=4014, message=b"Disallowed intent(s).")
            return None
        self.identifies += 1
        session = GatewaySession(uuid.uuid4().hex)
        self.sessions[session.session_id] = session
        session.socket = ws
        await self.dispatch_to(session, "READY", self._ready(session.session_id))
        for guild in self._guilds():
            await self.dispatch_to(session, "GUILD_CREATE", guild)
        return session

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> Any:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or not session.resumable or data.get("token") != self._token():
            await self._send(ws, {"op": 9, "d": False})
            return None
        self.resumes += 1
        session.socket = ws
        after = int(data.get("seq") or 0)
        for seq, name, event in session.events:
            if seq > after:
                await self._send(ws, {"op": 0, "s": seq, "t": name, "d": event})
        session.seq += 1
        await self._send(ws, {"op": 0, "s": session.seq, "t": "RESUMED", "d": {}})
        return session

    async def dispatch(self, name: str, event: dict[str, Any]) -> None:
        for session in list(self.sessions.values()):
            if session.resumable:
                await self.dispatch_to(session, name, event)

    async def dispatch_to(self, session: GatewaySession, name: str, event: dict) -> None:
        session.seq += 1
        session.events.append((session.seq, name, event))
        if session.socket is not None and not session.socket.closed:
            await self._send(session.socket, {"op": 0, "s": session.seq, "t": name, "d": event})

    async def drop(self, code: int = 4000) -> None:
        """Close every socket as a network blip would; sessions stay resumable."""
        for ws in list(self.sockets):
            self._dropped.add(ws)
            await ws.close(code=code)

    def invalidate(self) -> None:
        for session in self.sessions.values():
            session.resumable = False

    @staticmethod
    async def _send(ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        frame.setdefault("s", None)
        frame.setdefault("t", None)
        if not ws.closed:
            await ws.send_str(json.dumps(frame))
