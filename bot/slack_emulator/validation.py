"""Request decoding and Block Kit / view validation for FakeSlack.

Slack rejects malformed payloads server-side, and those rejections are exactly what a unit test
with a mocked client never sees. The rules here are a faithful subset of Slack's published
limits; errors carry Slack's `[json-pointer:...]` detail so a failing bot test says *what* broke.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TEXT_CHARS = 40_000
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_MARKDOWN_BLOCK_TEXT = 12_000
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ID_CHARS = 255
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3000

KNOWN_BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)
TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})
# Slack ts values are always "<10 digits>.<6 digits>"; anything else (e.g. a float that lost its
# trailing zeros) is rejected, which is how Slack surfaces the classic `thread_ts=float` bug.
TS_RE = re.compile(r"^\d{10}\.\d{6}$")


class ApiError(Exception):
    """An `{"ok": false}` answer; `extra` is merged into the JSON body (errors, metadata)."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def _where(msg: str, pointer: str) -> str:
    return f"{msg} [json-pointer:{pointer}]"


def decode_json_fields(params: dict[str, Any]) -> None:
    """Form-encoded calls carry structured args as JSON strings; decode them in place."""
    errors = {
        "blocks": "invalid_blocks_format",
        "attachments": "invalid_attachments",
        "metadata": "invalid_metadata_format",
        "view": "invalid_arguments",
    }
    for key, error in errors.items():
        value = params.get(key)
        if isinstance(value, str):
            if key != "view" and value.strip() == "":
                params.pop(key)
                continue
            try:
                params[key] = json.loads(value)
            except ValueError as exc:
                raise ApiError(error, response_metadata={"messages": [f"[ERROR] {exc}"]}) from exc


def _text_object_errors(
    obj: Any, pointer: str, *, limit: int, plain_only: bool = False
) -> list[str]:
    if not isinstance(obj, dict):
        return [_where("must be an object", pointer)]
    kind = obj.get("type")
    allowed = {"plain_text"} if plain_only else TEXT_TYPES
    if kind not in allowed:
        return [_where(f"must be one of {sorted(allowed)}", f"{pointer}/type")]
    text = obj.get("text")
    if not isinstance(text, str) or text == "":
        return [_where("must be more than 0 characters", f"{pointer}/text")]
    if len(text) > limit:
        return [_where(f"must be less than {limit + 1} characters", f"{pointer}/text")]
    return []


def _element_errors(el: Any, pointer: str) -> list[str]:
    if not isinstance(el, dict) or not isinstance(el.get("type"), str):
        return [_where("element must be an object with a type", pointer)]
    errors: list[str] = []
    action_id = el.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or len(action_id) > MAX_ID_CHARS):
        errors.append(_where("action_id must be a string of at most 255 chars", pointer))
    if el["type"] == "button":
        errors += _text_object_errors(
            el.get("text"), f"{pointer}/text", limit=MAX_BUTTON_TEXT, plain_only=True
        )
        value = el.get("value")
        if value is not None and (not isinstance(value, str) or len(value) > MAX_BUTTON_VALUE):
            errors.append(_where("must be less than 2001 characters", f"{pointer}/value"))
    return errors


def _section_errors(block: dict[str, Any], p: str) -> list[str]:
    errors: list[str] = []
    text, fields = block.get("text"), block.get("fields")
    if text is None and fields is None:
        errors.append(_where("section needs text or fields", p))
    if text is not None:
        errors += _text_object_errors(text, f"{p}/text", limit=MAX_SECTION_TEXT)
    if fields is not None:
        if not isinstance(fields, list) or len(fields) > MAX_SECTION_FIELDS:
            errors.append(_where("must provide at most 10 fields", f"{p}/fields"))
        else:
            for i, field in enumerate(fields):
                errors += _text_object_errors(field, f"{p}/fields/{i}", limit=MAX_FIELD_TEXT)
    if block.get("accessory") is not None:
        errors += _element_errors(block["accessory"], f"{p}/accessory")
    return errors


def _elements_errors(block: dict[str, Any], p: str, *, limit: int) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        return [_where("must provide at least 1 element", f"{p}/elements")]
    if len(elements) > limit:
        return [_where(f"must provide at most {limit} elements", f"{p}/elements")]
    if block["type"] == "context":
        return []
    errors: list[str] = []
    for i, el in enumerate(elements):
        errors += _element_errors(el, f"{p}/elements/{i}")
    return errors


def _block_errors(block: Any, p: str) -> list[str]:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        return [_where("block must be an object with a string type", p)]
    kind = block["type"]
    if kind not in KNOWN_BLOCK_TYPES:
        return [_where(f"unknown block type {kind!r}", f"{p}/type")]
    block_id = block.get("block_id")
    if block_id is not None and (not isinstance(block_id, str) or len(block_id) > MAX_ID_CHARS):
        return [_where("block_id must be a string of at most 255 chars", f"{p}/block_id")]
    if kind == "section":
        return _section_errors(block, p)
    if kind == "header":
        return _text_object_errors(
            block.get("text"), f"{p}/text", limit=MAX_HEADER_TEXT, plain_only=True
        )
    if kind == "actions":
        return _elements_errors(block, p, limit=MAX_ACTIONS_ELEMENTS)
    if kind == "context":
        return _elements_errors(block, p, limit=MAX_CONTEXT_ELEMENTS)
    if kind == "markdown":
        text = block.get("text")
        if not isinstance(text, str) or not 0 < len(text) <= MAX_MARKDOWN_BLOCK_TEXT:
            return [_where("must be 1..12000 characters", f"{p}/text")]
    if kind == "input":
        errors = _text_object_errors(block.get("label"), f"{p}/label", limit=2000, plain_only=True)
        return errors + _element_errors(block.get("element"), f"{p}/element")
    if kind == "image" and (
        not block.get("alt_text") or not (block.get("image_url") or block.get("slack_file"))
    ):
        return [_where("image needs image_url (or slack_file) and alt_text", p)]
    return []


def block_errors(blocks: Any, *, limit: int) -> list[str]:
    """All problems with a `blocks` array; empty list means Slack would accept it."""
    if not isinstance(blocks, list):
        return [_where("must be an array", "/blocks")]
    if len(blocks) > limit:
        return [_where(f"no more than {limit} items allowed", "/blocks")]
    errors: list[str] = []
    seen_ids: set[str] = set()
    for i, block in enumerate(blocks):
        errors += _block_errors(block, f"/blocks/{i}")
        block_id = block.get("block_id") if isinstance(block, dict) else None
        if isinstance(block_id, str):
            if block_id in seen_ids:
                errors.append(_where(f"duplicate block_id {block_id!r}", f"/blocks/{i}/block_id"))
            seen_ids.add(block_id)
    return errors


def check_message_content(params: dict[str, Any], *, require_content: bool = True) -> None:
    """Shared text/blocks/metadata rules of chat.postMessage, chat.update, chat.postEphemeral."""
    text = params.get("text")
    if text is not None and not isinstance(text, str):
        text = str(text)
        params["text"] = text
    blocks = params.get("blocks")
    has_blocks = blocks is not None and blocks != []
    has_attachments = bool(params.get("attachments"))
    markdown = params.get("markdown_text")
    # Whitespace-only text counts as missing (slack_sdk warns on exactly that condition).
    has_text = bool(text and text.strip()) or bool(isinstance(markdown, str) and markdown.strip())
    if require_content and not has_text and not has_blocks and not has_attachments:
        raise ApiError("no_text")
    if text is not None and len(text) > MAX_TEXT_CHARS:
        raise ApiError("msg_too_long")
    if has_blocks:
        errors = block_errors(blocks, limit=MAX_MESSAGE_BLOCKS)
        if errors:
            raise ApiError(
                "invalid_blocks",
                errors=errors,
                response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
            )
    metadata = params.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise ApiError("invalid_metadata_format")
        event_type = metadata.get("event_type")
        if (
            not isinstance(event_type, str)
            or not event_type
            or not isinstance(metadata.get("event_payload"), dict)
        ):
            raise ApiError("invalid_metadata_schema")


def view_errors(view: Any, *, allowed_types: tuple[str, ...]) -> list[str]:
    """Problems with a view payload (views.open/push/update/publish)."""
    if not isinstance(view, dict):
        return ["view must be a JSON object"]
    kind = view.get("type")
    if kind not in allowed_types:
        return [f"view type must be one of {list(allowed_types)}"]
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        return ["missing required field: blocks [json-pointer:/view/blocks]"]
    errors = [
        f"{e.replace('json-pointer:', 'json-pointer:/view')}"
        for e in block_errors(blocks, limit=MAX_VIEW_BLOCKS)
    ]
    for key in ("private_metadata", "callback_id", "external_id"):
        value = view.get(key)
        limit = MAX_PRIVATE_METADATA if key == "private_metadata" else MAX_ID_CHARS
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            errors.append(f"must be less than {limit + 1} characters [json-pointer:/view/{key}]")
    if kind == "modal":
        for key, required in (("title", True), ("submit", False), ("close", False)):
            if view.get(key) is None and not required:
                continue
            errors += [
                e.replace("json-pointer:", "json-pointer:/view")
                for e in _text_object_errors(
                    view.get(key), f"/{key}", limit=MAX_VIEW_TITLE, plain_only=True
                )
            ]
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
        if has_input and view.get("submit") is None:
            errors.append(
                "submit is required when an input block is present [json-pointer:/view/submit]"
            )
    return errors


def require_view(view: Any, *, allowed_types: tuple[str, ...]) -> dict[str, Any]:
    errors = view_errors(view, allowed_types=allowed_types)
    if errors:
        raise ApiError(
            "invalid_arguments", response_metadata={"messages": [f"[ERROR] {e}" for e in errors]}
        )
    assert isinstance(view, dict)
    return view


def truthy(value: Any) -> bool:
    """Booleans arrive as True, "1" or "true" depending on whether the body was JSON or form."""
    return (
        value is True
        or (isinstance(value, int) and value == 1)
        or str(value).lower() in {"1", "true"}
    )
