"""The JSON the sandbox page polls: the sidebar, the open channel (messages, threads and the
person's ephemeral messages as HTML), the open modal, the Home tab and the customer panel."""

from __future__ import annotations

import hashlib
import html
import json
from typing import Any

from bot.sandbox.customer import NETWORKS, CustomerDesk
from bot.sandbox.elements import RenderContext
from bot.sandbox.mrkdwn_html import plain_to_html
from bot.sandbox.render import blocks_html, message_html, view_html
from bot.sandbox.workspace import SandboxSlack

MAX_SHOWN = 150  # top-level messages per channel: the page polls, so keep each answer small


def render_context(slack: SandboxSlack) -> RenderContext:
    return RenderContext(
        name_of=slack.display_name, users=slack.directory(), channels=slack.public_channels()
    )


def _wrap(
    message: dict[str, Any], channel: str, ctx: RenderContext, ephemeral: bool, thread: str = ""
) -> str:
    attrs = f'data-channel="{html.escape(channel)}" data-ts="{html.escape(message["ts"])}"'
    dismiss = ""
    if ephemeral:
        attrs += ' data-ephemeral="1"'
        dismiss = '<button class="link dismiss" data-dismiss="1">Dismiss</button>'
    kind = "msg ephemeral" if ephemeral else "msg"
    body = message_html(message, ctx, ephemeral=ephemeral)
    return f'<div class="{kind}" {attrs}>{_toolbar(ephemeral)}{body}{dismiss}{thread}</div>'


def _toolbar(ephemeral: bool) -> str:
    """Hover buttons to react, as in Slack: 👀 claims a card, ✅ asks for its outcome."""
    if ephemeral:
        return ""
    return (
        '<div class="toolbar">'
        '<button class="react" data-react="eyes" title="React with :eyes: (claims)">👀</button>'
        '<button class="react" data-react="white_check_mark" title="React with '
        ':white_check_mark: (done)">✅</button></div>'
    )


def _as_message(ephemeral: dict[str, Any]) -> dict[str, Any]:
    return {
        "ts": ephemeral["message_ts"],
        "text": ephemeral.get("text", ""),
        "blocks": ephemeral.get("blocks"),
    }


def channel_html(slack: SandboxSlack, user: str, channel: str, ctx: RenderContext) -> str:
    """Top-level messages, each followed by its thread (replies and the ephemerals in it)."""
    ephemerals = slack.visible_ephemerals(user, channel)
    parts = []
    for message in slack.messages(channel)[-MAX_SHOWN:]:
        replies = [_wrap(r, channel, ctx, False) for r in slack.thread(channel, message["ts"])[1:]]
        replies += [
            _wrap(_as_message(e), channel, ctx, True)
            for e in ephemerals
            if e.get("thread_ts") == message["ts"]
        ]
        thread = ""
        if message.get("thread_ts") == message["ts"] or replies:
            count = len(replies)
            label = f"{count} repl{'y' if count == 1 else 'ies'}"
            thread = (
                f'<div class="thread" data-thread="{html.escape(message["ts"])}">'
                f'<div class="thread-count">{label}</div>{"".join(replies)}'
                '<form class="thread-reply"><input name="text" '
                'placeholder="Reply in thread (an internal note)…" autocomplete="off">'
                "</form></div>"
            )
        parts.append(_wrap(message, channel, ctx, False, thread))
    known = {m["ts"] for m in slack.messages(channel)}
    parts += [
        _wrap(_as_message(e), channel, ctx, True)
        for e in ephemerals
        if e.get("thread_ts") not in known
    ]
    if not parts:
        return '<div class="empty">No messages yet. Post as a customer on the right →</div>'
    return "".join(parts)


def _modal(slack: SandboxSlack, user: str, ctx: RenderContext) -> dict[str, Any] | None:
    view = slack.open_modal(user)
    if view is None:
        return None
    errors = view.get("errors") or {}
    body = view_html(view, ctx, errors)
    if errors.get("_"):
        body = f'<div class="bk-error">{html.escape(errors["_"])}</div>' + body
    return {
        "id": view["id"],
        "key": f"{view['id']}:{view['hash']}:{sorted(errors.items())}",
        "html": body,
    }


def _feed_html(desk: CustomerDesk) -> str:
    rows = []
    for entry in reversed(desk.snapshot()["feed"]):
        if entry["kind"] == "reply":
            head = "↩ Reply delivered to the customer"
            cls = "feed-reply"
        else:
            head = f"{entry['name']} on {entry['network']}"
            cls = "feed-customer"
        rows.append(
            f'<div class="{cls}"><div class="feed-head">{html.escape(head)}</div>'
            f'<div class="feed-text" dir="auto">{plain_to_html(str(entry["text"]))}</div></div>'
        )
    return "".join(rows) or '<div class="empty">Nothing sent yet.</div>'


def page_state(
    slack: SandboxSlack, desk: CustomerDesk | None, user: str, channel: str | None, home: bool
) -> dict[str, Any]:
    ctx = render_context(slack)
    sidebar = slack.sidebar(user)
    ids = [row["id"] for row in sidebar]
    current = (
        channel
        if channel in ids
        else next(
            (row["id"] for row in sidebar if row["name"] == "support"), ids[0] if ids else None
        )
    )
    home_view = slack.home_view(user) if home else None
    state: dict[str, Any] = {
        "user": {"id": user, "name": slack.display_name(user)},
        "sidebar": sidebar,
        "channel": current,
        "channel_name": next((r["name"] for r in sidebar if r["id"] == current), ""),
        "messages_html": channel_html(slack, user, current, ctx) if current and not home else "",
        "home_html": (
            f'<div class="home">{blocks_html(home_view["blocks"], ctx)}</div>' if home_view else ""
        ),
        "modal": _modal(slack, user, ctx),
        "networks": NETWORKS,
        "customer": {
            "feed_html": _feed_html(desk) if desk else "",
            "threads": desk.threads() if desk else [],
            "sample": desk.snapshot()["sample"] if desk else {},
        },
    }
    encoded = json.dumps(state, sort_keys=True, ensure_ascii=False).encode("utf-8")
    state["version"] = hashlib.sha256(encoded).hexdigest()[:16]
    return state
