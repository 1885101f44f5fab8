"""Builders for interactive-element state, in the exact shape Slack puts in payloads.

Used for `view.state.values` in view_submission payloads and for block_actions selections.
`state_values()` accepts these spellings of a values mapping:

    {"title_block": {"title": "Fix login"}}          # str -> plain_text_input
    {"owner_block": {"owner": users_select("U2")}}   # helper -> that element's state
    {"tags_block": {"tags": ["a", "b"]}}              # list[str] -> multi_static_select
    {"due": datepicker("2024-12-31")}                 # flat: block_id == action_id == "due"
    {"b": {"a": {"type": "number_input", "value": "3"}}}  # a full state dict passes verbatim
"""

from __future__ import annotations

from typing import Any


def option(value: str | dict[str, Any], text: str | None = None) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    return {"text": {"type": "plain_text", "text": text or value, "emoji": True}, "value": value}


def plain_text(value: str | None) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def number_input(value: str | int | float | None) -> dict[str, Any]:
    return {"type": "number_input", "value": None if value is None else str(value)}


def static_select(value: str | None, text: str | None = None) -> dict[str, Any]:
    return {
        "type": "static_select",
        "selected_option": None if value is None else option(value, text),
    }


def radio_buttons(value: str | None, text: str | None = None) -> dict[str, Any]:
    return {**static_select(value, text), "type": "radio_buttons"}


def multi_static_select(values: list[str]) -> dict[str, Any]:
    return {"type": "multi_static_select", "selected_options": [option(v) for v in values]}


def checkboxes(values: list[str]) -> dict[str, Any]:
    return {"type": "checkboxes", "selected_options": [option(v) for v in values]}


def users_select(user_id: str | None) -> dict[str, Any]:
    return {"type": "users_select", "selected_user": user_id}


def multi_users_select(user_ids: list[str]) -> dict[str, Any]:
    return {"type": "multi_users_select", "selected_users": list(user_ids)}


def conversations_select(channel_id: str | None) -> dict[str, Any]:
    return {"type": "conversations_select", "selected_conversation": channel_id}


def datepicker(date: str | None) -> dict[str, Any]:
    return {"type": "datepicker", "selected_date": date}


def timepicker(hh_mm: str | None) -> dict[str, Any]:
    return {"type": "timepicker", "selected_time": hh_mm}


def _state(value: Any) -> dict[str, Any]:
    if isinstance(value, dict) and "type" in value:
        return value
    if isinstance(value, list):
        return multi_static_select(value)
    if value is None or isinstance(value, str):
        return plain_text(value)
    raise TypeError(f"cannot turn {value!r} into a view state value")


def state_values(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Normalise the accepted spellings (see module doc) into Slack's state.values shape."""
    out: dict[str, dict[str, Any]] = {}
    for block_id, inner in values.items():
        if isinstance(inner, dict) and "type" not in inner:
            out[block_id] = {action_id: _state(v) for action_id, v in inner.items()}
        else:
            out[block_id] = {block_id: _state(inner)}
    return out
