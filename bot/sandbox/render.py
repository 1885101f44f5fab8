"""Block Kit messages and views → HTML for the sandbox page (server-side, escaped)."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from bot.sandbox.elements import Block, RenderContext, element_html, text_html
from bot.sandbox.mrkdwn_html import mrkdwn_to_html


def _section(block: Block, ctx: RenderContext, block_id: str) -> str:
    body = ""
    if block.get("text"):
        body += f'<div class="bk-text-body">{text_html(block["text"], ctx)}</div>'
    if block.get("fields"):
        cells = "".join(f"<div>{text_html(f, ctx)}</div>" for f in block["fields"])
        body += f'<div class="bk-fields">{cells}</div>'
    accessory = block.get("accessory")
    side = ""
    if isinstance(accessory, dict):
        side = f'<div class="bk-accessory">{element_html(accessory, block_id, ctx)}</div>'
    return f'<div class="bk-section"><div class="bk-main">{body}</div>{side}</div>'


def _input(block: Block, ctx: RenderContext, block_id: str, errors: dict[str, str]) -> str:
    element = block.get("element") or {}
    live = bool(block.get("dispatch_action"))
    optional = ' <span class="bk-optional">(optional)</span>' if block.get("optional") else ""
    hint = block.get("hint")
    hint_html = f'<div class="bk-hint">{text_html(hint, ctx)}</div>' if hint else ""
    error = errors.get(block_id)
    error_html = f'<div class="bk-error">{html.escape(error)}</div>' if error else ""
    required = "" if block.get("optional") else ' data-required="1"'
    return (
        f'<div class="bk-input"{required}><label class="bk-label">'
        f"{text_html(block.get('label'), ctx)}{optional}</label>"
        f"{element_html(element, block_id, ctx, live=live)}{hint_html}{error_html}</div>"
    )


def _rich_text(block: Block) -> str:
    """Only the words of a rich_text block (the bot itself never sends one)."""
    words: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                words.append(node["text"])
            for child in node.get("elements") or []:
                walk(child)

    walk(block)
    return f'<div class="bk-section">{html.escape("".join(words))}</div>'


def block_html(
    block: Block, ctx: RenderContext, errors: dict[str, str] | None = None, index: int = 0
) -> str:
    kind = block.get("type")
    block_id = str(block.get("block_id") or f"b{index}")
    if kind == "section":
        return _section(block, ctx, block_id)
    if kind == "header":
        return f'<div class="bk-header">{text_html(block.get("text"), ctx)}</div>'
    if kind == "divider":
        return '<hr class="bk-divider">'
    if kind == "context":
        parts = " ".join(element_html(e, block_id, ctx) for e in block.get("elements") or [])
        return f'<div class="bk-context">{parts}</div>'
    if kind == "actions":
        parts = "".join(element_html(e, block_id, ctx) for e in block.get("elements") or [])
        return f'<div class="bk-actions">{parts}</div>'
    if kind == "input":
        return _input(block, ctx, block_id, errors or {})
    if kind == "image":
        alt = html.escape(str(block.get("alt_text") or "image"))
        return f'<div class="bk-context">[image: {alt}]</div>'
    if kind == "markdown":
        return f'<div class="bk-section">{mrkdwn_to_html(str(block.get("text", "")))}</div>'
    if kind == "rich_text":
        return _rich_text(block)
    return f'<div class="bk-unknown">[{html.escape(str(kind))} block]</div>'


def blocks_html(
    blocks: list[Block], ctx: RenderContext, errors: dict[str, str] | None = None
) -> str:
    return "".join(block_html(b, ctx, errors, i) for i, b in enumerate(blocks or []))


def _clock(ts: str) -> str:
    try:
        return datetime.fromtimestamp(float(ts)).strftime("%H:%M:%S")
    except (TypeError, ValueError, OverflowError):
        return ""


def message_html(message: dict[str, Any], ctx: RenderContext, *, ephemeral: bool = False) -> str:
    """One message: author, time and its blocks (or its text when it has none)."""
    is_bot = bool(message.get("bot_id")) or ephemeral
    author = "Threadline" if is_bot else ctx.name_of(str(message.get("user", "")))
    badge = '<span class="badge">APP</span>' if is_bot else ""
    note = '<span class="only-you">Only visible to you</span>' if ephemeral else ""
    edited = '<span class="edited">(edited)</span>' if message.get("edited") else ""
    if message.get("blocks"):
        body = blocks_html(message["blocks"], ctx)
    else:
        body = f'<div class="bk-section">{mrkdwn_to_html(str(message.get("text", "")))}</div>'
    reactions = "".join(
        f'<span class="reaction">{mrkdwn_to_html(":" + str(r.get("name")) + ":")} '
        f"{int(r.get('count', 0))}</span>"
        for r in message.get("reactions") or []
    )
    return (
        f'<div class="msg-head"><b>{html.escape(author)}</b>{badge}'
        f'<span class="time">{_clock(str(message.get("ts", "")))}</span>{edited}{note}</div>'
        f'<div class="msg-body">{body}</div>'
        + (f'<div class="reactions">{reactions}</div>' if reactions else "")
    )


def view_html(view: dict[str, Any], ctx: RenderContext, errors: dict[str, str]) -> str:
    """A modal: title, blocks, Cancel / Submit. The page reads its inputs on submit."""
    title = text_html(view.get("title") or "", ctx)
    close = text_html(view.get("close") or {"type": "plain_text", "text": "Cancel"}, ctx)
    submit = view.get("submit") or {"type": "plain_text", "text": "Submit"}
    has_inputs = any(b.get("type") == "input" for b in view.get("blocks") or [])
    submit_html = (
        f'<button class="bk-btn bk-primary" data-modal="submit">{text_html(submit, ctx)}</button>'
        if view.get("submit") or has_inputs
        else ""
    )
    return (
        f'<div class="modal-title">{title}</div>'
        f'<div class="modal-body">{blocks_html(view.get("blocks") or [], ctx, errors)}</div>'
        f'<div class="modal-foot"><button class="bk-btn" data-modal="close">{close}</button>'
        f"{submit_html}</div>"
    )
