"""Small Block Kit pieces shared by the card, draft, modal and ephemeral builders.

Pure functions, no I/O. Text handed to `section`/`context` must already be safe mrkdwn (built
with `bot.blocks.mrkdwn`); `plain` and `button` take raw text, because Slack shows plain_text
literally and never turns it into a mention or a link.
"""

from __future__ import annotations

import re
from typing import Any

from bot.blocks.mrkdwn import clip, truncate

BUTTON_TEXT_LIMIT = 75
CONFIRM_TITLE_LIMIT = 100
CONFIRM_TEXT_LIMIT = 300
CONFIRM_BUTTON_LIMIT = 30
CONTEXT_ELEMENTS = 10
# Slack user ids (`U…`, or `W…` on Enterprise Grid). Only ids that came from Slack are passed
# here; the pattern is the last line of defence against a value that did not.
USER_ID = re.compile(r"[UW][A-Z0-9]{1,63}")
UNKNOWN_USER_LIMIT = 40

# What a conversation ended with: stored value -> label (outcome modal, card, digest).
OUTCOMES = {
    "resolved": "Resolved",
    "lead_created": "Lead created",
    "sale": "Sale",
    "refund": "Refund",
    "escalated": "Escalated",
    "no_action": "No action needed",
    "spam": "Spam",
}


def mrkdwn(text: str) -> dict[str, Any]:
    """A mrkdwn text object; `verbatim` stops Slack auto-linking bare URLs and #channels."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def plain(text: str, limit: int) -> dict[str, Any]:
    """A plain_text object cut to `limit` on a character boundary (raw text, not escaped)."""
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(text)}


def context(*texts: str) -> dict[str, Any]:
    """A context block of the non-empty `texts`, at most Slack's 10 elements."""
    return {"type": "context", "elements": [mrkdwn(t) for t in texts if t][:CONTEXT_ELEMENTS]}


def confirm_dialog(title: str, text: str, confirm: str, deny: str = "Cancel") -> dict[str, Any]:
    """A Block Kit `confirm` object; every part is plain text (raw, clipped to Slack's limits)."""
    return {
        "title": plain(title, CONFIRM_TITLE_LIMIT),
        "text": plain(text, CONFIRM_TEXT_LIMIT),
        "confirm": plain(confirm, CONFIRM_BUTTON_LIMIT),
        "deny": plain(deny, CONFIRM_BUTTON_LIMIT),
    }


def button(
    label: str,
    action_id: str,
    value: str,
    style: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": plain(label, BUTTON_TEXT_LIMIT),
        "action_id": action_id,
        "value": value,
    }
    if style:
        element["style"] = style
    if confirm:
        element["confirm"] = confirm
    return element


def is_user_id(value: str | None) -> bool:
    return bool(value) and USER_ID.fullmatch(value or "") is not None


def mention(slack_id: str | None, *, default: str = "someone") -> str:
    """`<@U…>` for a Slack user id; anything else escaped (never a mention), `default` when
    empty. The result is safe mrkdwn."""
    if not slack_id:
        return escape_short(default)
    if is_user_id(slack_id):
        return f"<@{slack_id}>"
    return escape_short(slack_id)


def escape_short(text: str, limit: int = UNKNOWN_USER_LIMIT) -> str:
    return truncate(text, limit)[0]


def outcome_label(kind: str) -> str:
    """The label of an outcome as safe mrkdwn: "Sale", or an unknown kind made readable."""
    label = OUTCOMES.get(kind) or kind.replace("_", " ").strip().capitalize() or "Unknown"
    return truncate(label, 60)[0]
