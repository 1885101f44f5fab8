"""Block Kit interactive elements → HTML controls the sandbox page's script drives.

Every control carries `data-*` attributes naming its action_id, block_id, type and value;
the page turns a click or a change into the same block_actions payload Slack would send.
Elements of an input block are read only when the modal is submitted (unless the block
has `dispatch_action`), just like in Slack.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.mrkdwn_html import link, mrkdwn_to_html, plain_to_html

Block = dict[str, Any]


@dataclass(frozen=True)
class RenderContext:
    name_of: Callable[[str], str] = lambda key: key
    users: list[tuple[str, str]] = field(default_factory=list)  # (id, display name)
    channels: list[tuple[str, str]] = field(default_factory=list)  # (id, name)


def text_html(obj: Any, ctx: RenderContext) -> str:
    """A text object (plain_text or mrkdwn) or a bare string."""
    if isinstance(obj, str):
        return plain_to_html(obj)
    if not isinstance(obj, dict):
        return ""
    raw = str(obj.get("text") or "")
    if obj.get("type") == "mrkdwn":
        return mrkdwn_to_html(raw, ctx.name_of)
    return plain_to_html(raw)


def _attrs(**values: Any) -> str:
    parts = []
    for key, value in values.items():
        if value is None or value is False:
            continue
        name = key.rstrip("_").replace("_", "-")
        parts.append(name if value is True else f'{name}="{html.escape(str(value))}"')
    return " ".join(parts)


def _data(element: Block, block_id: str, live: bool) -> str:
    return _attrs(
        data_action_id=element.get("action_id") or "",
        data_block_id=block_id,
        data_type=element.get("type"),
        data_live="1" if live else None,
    )


def _options(element: Block) -> list[Block]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return options


def _option_tags(options: list[Block], chosen: set[str], ctx: RenderContext) -> str:
    return "".join(
        f"<option {_attrs(value=o.get('value', ''), selected=o.get('value') in chosen)}>"
        f"{html.escape(str((o.get('text') or {}).get('text', '')))}</option>"
        for o in options
    )


def _placeholder(element: Block, fallback: str) -> str:
    return html.escape(str((element.get("placeholder") or {}).get("text") or fallback))


def _words(obj: Any) -> str | None:
    return str(obj.get("text") or "") if isinstance(obj, dict) else None


def _confirm(element: Block) -> str:
    """A confirm object: the page asks first, as Slack does, with these words."""
    dialog = element.get("confirm")
    if not isinstance(dialog, dict):
        return ""
    return _attrs(
        data_confirm_title=_words(dialog.get("title")) or "Are you sure?",
        data_confirm_text=_words(dialog.get("text")) or "",
        data_confirm_yes=_words(dialog.get("confirm")) or "Yes",
        data_confirm_no=_words(dialog.get("deny")) or "Cancel",
    )


def button(element: Block, block_id: str, ctx: RenderContext) -> str:
    label = text_html(element.get("text"), ctx)
    if element.get("url"):
        return link(str(element["url"]), str((element.get("text") or {}).get("text", "")))
    style = element.get("style") or "default"
    return (
        f'<button class="bk-btn bk-{html.escape(str(style))}" '
        f"{_data(element, block_id, True)} {_attrs(data_value=element.get('value'))} "
        f"{_confirm(element)}>{label}</button>"
    )


def static_select(element: Block, block_id: str, ctx: RenderContext, live: bool) -> str:
    initial = (element.get("initial_option") or {}).get("value")
    chosen = {initial} if initial else set()
    blank = "" if initial else "selected"
    return (
        f'<select class="bk-select" {_data(element, block_id, live)}>'
        f'<option value="" disabled {blank}>{_placeholder(element, "Select an item")}</option>'
        f"{_option_tags(_options(element), chosen, ctx)}</select>"
    )


def overflow(element: Block, block_id: str, ctx: RenderContext) -> str:
    return (
        f'<select class="bk-select bk-overflow" aria-label="More actions" '
        f'{_data(element, block_id, True)}><option value="" selected disabled>⋯</option>'
        f"{_option_tags(_options(element), set(), ctx)}</select>"
    )


def choice_list(element: Block, block_id: str, ctx: RenderContext, live: bool) -> str:
    """multi_static_select, checkboxes and radio_buttons: a list of ticks."""
    kind = element.get("type")
    initial = element.get("initial_options") or []
    if element.get("initial_option"):
        initial = [element["initial_option"]]
    chosen = {o.get("value") for o in initial}
    box = "radio" if kind == "radio_buttons" else "checkbox"
    group = html.escape(f"{block_id}/{element.get('action_id', '')}")
    ticks = "".join(
        f"<label class='bk-choice'><input type='{box}' name='{group}' "
        f"{_attrs(value=o.get('value', ''), checked=o.get('value') in chosen)}> "
        f"{text_html(o.get('text'), ctx)}</label>"
        for o in _options(element)
    )
    title = _placeholder(element, "Choose") if kind == "multi_static_select" else ""
    head = f"<span class='bk-choices-title'>{title}</span>" if title else ""
    return f'<div class="bk-choices" {_data(element, block_id, live)}>{head}{ticks}</div>'


def directory_select(element: Block, block_id: str, ctx: RenderContext, live: bool) -> str:
    """users_select and conversations/channels_select, from the emulated workspace."""
    is_users = element.get("type", "").endswith("users_select")
    entries = ctx.users if is_users else ctx.channels
    initial = (
        element.get("initial_user")
        or element.get("initial_conversation")
        or (element.get("initial_channel"))
    )
    opts = "".join(
        f"<option {_attrs(value=key, selected=key == initial)}>"
        f"{'@' if is_users else '#'}{html.escape(name)}</option>"
        for key, name in entries
    )
    blank = "" if initial else "selected"
    return (
        f'<select class="bk-select" {_data(element, block_id, live)}>'
        f'<option value="" disabled {blank}>{_placeholder(element, "Select")}</option>'
        f"{opts}</select>"
    )


def text_input(element: Block, block_id: str, live: bool) -> str:
    value = str(element.get("initial_value") or "")
    common = _attrs(
        placeholder=(element.get("placeholder") or {}).get("text"),
        maxlength=element.get("max_length"),
    )
    if element.get("multiline"):
        return (
            f'<textarea class="bk-text" rows="6" {_data(element, block_id, live)} {common}>'
            f"{html.escape(value)}</textarea>"
        )
    kind = "number" if element.get("type") == "number_input" else "text"
    return (
        f'<input class="bk-text" type="{kind}" {_data(element, block_id, live)} {common} '
        f"{_attrs(value=value)}>"
    )


def picker(element: Block, block_id: str, live: bool) -> str:
    kind = {"datepicker": "date", "timepicker": "time"}.get(element.get("type", ""), "text")
    initial = element.get("initial_date") or element.get("initial_time")
    return f'<input class="bk-text" type="{kind}" {_data(element, block_id, live)} ' + (
        f"{_attrs(value=initial)}>"
    )


def element_html(element: Block, block_id: str, ctx: RenderContext, *, live: bool = True) -> str:
    kind = element.get("type")
    if kind == "button":
        return button(element, block_id, ctx)
    if kind == "static_select":
        return static_select(element, block_id, ctx, live)
    if kind == "overflow":
        return overflow(element, block_id, ctx)
    if kind in ("multi_static_select", "checkboxes", "radio_buttons"):
        return choice_list(element, block_id, ctx, live)
    if kind in ("users_select", "conversations_select", "channels_select"):
        return directory_select(element, block_id, ctx, live)
    if kind in ("plain_text_input", "number_input", "email_text_input", "url_text_input"):
        return text_input(element, block_id, live)
    if kind in ("datepicker", "timepicker"):
        return picker(element, block_id, live)
    if kind == "image":
        alt = html.escape(str(element.get("alt_text", "")))
        return f'<span class="bk-image">[image: {alt}]</span>'
    if kind in ("mrkdwn", "plain_text"):
        return f"<span>{text_html(element, ctx)}</span>"
    return f'<span class="bk-unknown">[{html.escape(str(kind))}]</span>'
