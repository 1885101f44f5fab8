"""The draft-reply message, posted in a conversation's thread and updated as the draft moves on
(proposed → sending → sent / failed, or discarded / superseded). Pure: data in, dict out.

The draft text comes from an LLM or a template fed with customer text, so it is UNTRUSTED: it
is escaped like customer text and can never ping anyone or become a link. The only mentions
are Slack user ids that came from Slack (who asked for the draft, who sent it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.blocks.card_parts import button, confirm_dialog, context, mention, section
from bot.blocks.mrkdwn import chunks, graphemes, link, safe_url, truncate

ACTION_SEND = "draft.send"
ACTION_EDIT = "draft.edit"
ACTION_REGENERATE = "draft.regenerate"
ACTION_DISCARD = "draft.discard"
ACTION_RETRY = "delivery.retry"

STATUSES = ("proposed", "sending", "sent", "failed", "discarded", "superseded")
FALLBACK_LIMIT = 300
DRAFT_CHUNK = 2900
MAX_DRAFT_SECTIONS = 10
NETWORK_LIMIT = 50
LANGUAGE_LIMIT = 20
DRAFTER_LIMIT = 80
REASON_LIMIT = 500
ERROR_LIMIT = 1000


@dataclass(frozen=True)
class DraftView:
    draft_id: int
    conversation_id: int
    text: str  # the draft: LLM/template output, UNTRUSTED
    language: str | None
    drafter: str  # "offline" | "openai:gpt-4.1-mini" | …
    fallback_reason: str | None  # e.g. "OpenAI timed out; offline template used"
    requested_by: str | None  # Slack user id
    network: str  # raw display name ("Mastodon"); escaped here
    max_chars: int | None = None  # the network's limit, e.g. 500 for Mastodon
    status: str = "proposed"  # proposed | sending | sent | failed | discarded | superseded
    sent_by: str | None = None  # Slack user id
    sent_url: str | None = None  # the reply on the network, after delivery
    error: str | None = None  # delivery error text


def draft_length(text: str) -> int:
    """Length as the small-limit networks count it: user-perceived characters (Mastodon and
    Bluesky count grapheme clusters), so "👩‍👩‍👧" or "क्ष" counts once."""
    return sum(1 for _ in graphemes(text))


def _raw_network(view: DraftView) -> str:
    return " ".join(view.network.split()) or "the network"


def _network(view: DraftView) -> str:
    return truncate(_raw_network(view), NETWORK_LIMIT)[0]


def _drafter(drafter: str) -> str:
    """ "offline drafter", or "gpt-4.1-mini (openai)" for a "provider:model" drafter."""
    provider, sep, model = drafter.strip().partition(":")
    if sep and provider and model:
        return truncate(f"{model} ({provider})", DRAFTER_LIMIT)[0]
    return truncate(f"{drafter.strip() or 'unknown'} drafter", DRAFTER_LIMIT)[0]


def _header(view: DraftView) -> dict[str, Any]:
    title = "📝 *Draft reply*"
    if (view.language or "").strip():
        title += f" ({truncate((view.language or '').strip(), LANGUAGE_LIMIT)[0]})"
    parts = [title, _drafter(view.drafter)]
    if view.requested_by:
        parts.append(f"requested by {mention(view.requested_by)}")
    return context(" · ".join(parts))


def _text_sections(text: str) -> list[dict[str, Any]]:
    pieces = [p for p in chunks(text, DRAFT_CHUNK) if p.strip()]
    if not pieces:
        return [section("_(empty draft)_")]
    if len(pieces) > MAX_DRAFT_SECTIONS:
        hidden = sum(len(p) for p in pieces[MAX_DRAFT_SECTIONS - 1 :])
        note = f"_… {hidden:,} more characters are not shown here._"
        pieces = [*pieces[: MAX_DRAFT_SECTIONS - 1], note]
    return [section(p) for p in pieces]


def _over_limit(view: DraftView) -> bool:
    return view.max_chars is not None and draft_length(view.text) > view.max_chars


def _length_line(view: DraftView) -> dict[str, Any] | None:
    if view.max_chars is None:
        return None
    count = f"{draft_length(view.text):,}/{view.max_chars:,} characters"
    if _over_limit(view):
        return context(f"⚠️ *{count}*: too long for {_network(view)}; shorten it with *Edit*")
    return context(count)


def _send_confirm(view: DraftView) -> dict[str, Any]:
    network = _raw_network(view)
    text = f"Send this reply to the customer on {network}?"
    if _over_limit(view):
        text += f" It is longer than {network}'s {view.max_chars:,} characters."
    return confirm_dialog("Send reply?", text, "Send")


def _actions(view: DraftView, elements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "actions", "block_id": f"draft:{view.draft_id}", "elements": elements}


def _status_blocks(view: DraftView) -> list[dict[str, Any]]:
    value = str(view.draft_id)
    network = _network(view)
    if view.status == "proposed":
        return [
            _actions(
                view,
                [
                    button("Send", ACTION_SEND, value, "primary", _send_confirm(view)),
                    button("Edit", ACTION_EDIT, value),
                    button("Regenerate", ACTION_REGENERATE, value),
                    button("Discard", ACTION_DISCARD, value, "danger"),
                ],
            )
        ]
    if view.status == "sending":
        return [context(f"⏳ Sending to {network}…")]
    if view.status == "sent":
        by = f" by {mention(view.sent_by)}" if view.sent_by else ""
        line = f"✅ Sent{by} to {network}"
        if safe_url(view.sent_url):
            line += f" · {link(view.sent_url, f'view it on {_raw_network(view)}')}"
        return [section(line)]
    if view.status == "failed":
        reason = truncate((view.error or "").strip() or "unknown error", ERROR_LIMIT)[0]
        return [
            section(f"❌ *Delivery failed:* {reason}"),
            _actions(view, [button("Retry", ACTION_RETRY, value, "primary")]),
        ]
    if view.status == "discarded":
        return [context("🗑️ Discarded")]
    if view.status == "superseded":
        return [context("↻ Replaced by a newer draft")]
    return [context(f"Status: {truncate(view.status, 30)[0]}")]


def _fallback(view: DraftView) -> str:
    network = _raw_network(view)
    headline = {
        "sent": f"Reply sent to {network}",
        "sending": f"Sending reply to {network}",
        "failed": f"Reply to {network} failed",
        "discarded": "Draft reply discarded",
        "superseded": "Draft reply replaced",
    }.get(view.status, "Draft reply")
    text = " ".join(view.text.split())
    return truncate(f"📝 {headline}: {text}" if text else f"📝 {headline}", FALLBACK_LIMIT)[0]


def draft_message(view: DraftView) -> dict[str, Any]:
    """The draft in the card's thread, with the buttons its status allows."""
    blocks: list[dict[str, Any] | None] = [_header(view), *_text_sections(view.text)]
    if (view.fallback_reason or "").strip():
        reason = truncate((view.fallback_reason or "").strip(), REASON_LIMIT)[0]
        blocks.append(context(f"⚠️ {reason}"))
    blocks.append(_length_line(view))
    blocks.extend(_status_blocks(view))
    return {"text": _fallback(view), "blocks": [b for b in blocks if b]}
