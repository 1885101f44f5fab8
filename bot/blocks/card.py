"""The conversation surfaces: the card in the home channel, follow-ups in its thread, and the
short notice in other team channels. Pure functions: data in, Slack payload dict out.

Every customer-controlled string (name, handle, text, attachment names, URLs) goes through
`escape`/`truncate`/`link`/`chunks`, so `<!channel>` or `<https://evil|click>` shows as text.
The only mention we emit is the assignee's `<@U…>`, whose id comes from Slack, not a customer.
Text objects carrying customer text are `verbatim`, so Slack does not auto-link bare channel
names or URLs in them either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.blocks.card_parts import (
    button,
    context,
    is_user_id,
    mention,
    outcome_label,
    plain,
    section,
)
from bot.blocks.mrkdwn import chunks, clip, escape, link, safe_url, truncate

# Slack's limits (PLATFORM-NOTES.md) and our own budgets inside them.
SECTION_LIMIT = 3000
FALLBACK_LIMIT = 300  # notification text: a preview, not the message
# The card shows at most this much of the first message (escaped). It must equal
# bot.outbox_render.CARD_TEXT_CHARS, which posts the full text in the thread when it is longer.
CARD_TEXT_LIMIT = 2800
NAME_LIMIT = 150
HANDLE_LIMIT = 100
NETWORK_LIMIT = 50
QUOTE_LIMIT = 200
TAGS_TEXT_LIMIT = 600
MAX_ATTACHMENTS = 5
MAX_OPTIONS = 100
OPTION_TEXT_LIMIT = 75
OPTION_VALUE_LIMIT = 150
FOLLOW_UP_CHUNK = 2900
MAX_FOLLOW_UP_SECTIONS = 45

ACTION_CLAIM = "conversation.claim"
ACTION_UNCLAIM = "conversation.unclaim"
ACTION_DRAFT = "conversation.draft"
ACTION_OUTCOME = "conversation.outcome"
ACTION_TAGS = "conversation.tags"
ACTION_REASSIGN = "conversation.reassign"
REPLY_HINT = (
    "Reply to the customer with *Draft reply*; messages typed in this thread stay internal notes."
)
OUTCOME_VALUE_LIMIT = 60

NETWORKS = {
    "discord": "Discord",
    "mastodon": "Mastodon",
    "bluesky": "Bluesky",
    "rss": "RSS/Atom",
    "webhook": "Webhook",
}
PRIORITIES = {3: ("🔴", "Urgent"), 2: ("🟠", "High"), 1: ("🔵", "Normal"), 0: ("⚪", "Low")}
INTENTS = {
    "complaint": "complaint",
    "question": "question",
    "purchase_intent": "purchase question",
    "praise": "praise",
    "spam": "spam",
    "other": "conversation",
}
SENTIMENTS = {"negative": "🙁 negative", "neutral": "😐 neutral", "positive": "🙂 positive"}
# Slack channel ids look like this; anything else is shown as escaped text, never as `<#…>`.
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,}")


@dataclass(frozen=True)
class CardData:
    conversation_id: int
    source: str  # "discord", "mastodon", "bluesky", "rss", "webhook", or any a-z0-9_- name
    customer_name: str | None
    handle: str | None
    profile_url: str | None
    followers: int | None
    influencer: bool
    text: str  # the first customer message, raw (UNTRUSTED)
    message_url: str | None  # link to the message on its network
    language: str | None
    intent: str | None  # complaint | question | purchase_intent | praise | spam | other
    sentiment: str | None  # negative | neutral | positive
    priority: int  # 0 low, 1 normal, 2 high, 3 urgent
    tags: tuple[str, ...]
    allowed_tags: tuple[str, ...]  # options for the tag picker (configured + auto tags)
    status: str  # open | replied | resolved | suppressed
    assignee_slack_id: str | None
    is_direct: bool
    attachments: tuple[tuple[str, str], ...]  # (name, url)
    created_at: datetime  # aware UTC
    reply_supported: bool = True  # False for read-only sources (RSS)
    message_count: int = 1
    drafting_by: str | None = None  # Slack user id of whoever is drafting a reply right now
    outcome: str | None = None  # resolved | lead_created | sale | refund | escalated | …
    outcome_value: str | None = None  # already formatted, e.g. "120.00 EUR"
    outcome_by: str | None = None  # Slack user id of whoever logged the outcome
    how_to_reply_hint: bool = True  # explain Draft reply vs. internal notes under the buttons
    summary: str | None = None  # one-line English summary (LLM), shown for other languages


# ------------------------------------------------------------------ small pieces
def network_name(source: str) -> str:
    """Display name of a source, escaped: "RSS/Atom", or "Some Forum" for `some_forum`."""
    name = NETWORKS.get(source) or source.replace("_", " ").replace("-", " ").title()
    return truncate(name or "Unknown network", NETWORK_LIMIT)[0]


def _priority(priority: int) -> tuple[str, str]:
    return PRIORITIES[min(max(priority, 0), 3)]


def _display_name(name: str | None, handle: str | None) -> str:
    """Escaped name for headlines; the handle or a neutral word when the network gave none."""
    raw = (name or "").strip() or (handle or "").strip() or "Unknown customer"
    return truncate(raw, NAME_LIMIT)[0]


def _at_handle(handle: str | None) -> str:
    """Raw "@handle" (not escaped: `link`/`truncate` escape it), or "" when there is none."""
    handle = (handle or "").strip()
    if not handle:
        return ""
    return handle if handle.startswith("@") else f"@{handle}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _reach(followers: int | None) -> str:
    """ "850 followers", "12.3k followers", "1.2M followers"."""
    if followers is None or followers < 0:
        return ""
    if followers < 1000:
        return "1 follower" if followers == 1 else f"{followers} followers"
    for scale, unit in ((1_000, "k"), (1_000_000, "M"), (1_000_000_000, "B")):
        value = round(followers / scale, 1)
        if value < 1000 or unit == "B":  # 999,950 is "1M", not "1000k"
            return f"{value:.1f}".removesuffix(".0") + f"{unit} followers"
    raise AssertionError("unreachable")


def _timestamp(created_at: datetime) -> str:
    """Slack's date token: each reader sees their own time zone; the fallback is UTC ISO."""
    when = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    iso = when.isoformat(timespec="minutes").replace("+00:00", "Z")
    return f"<!date^{int(when.timestamp())}^{{date_short_pretty}} {{time}}|{iso}>"


def _assignee(slack_id: str | None) -> str:
    if not slack_id:
        return "Unassigned"
    return f"👤 {mention(slack_id)}"  # a staff id from Slack: the one kind of mention we render


def _fallback(text: str) -> str:
    return truncate(text, FALLBACK_LIMIT)[0]


def _attachments_section(attachments: tuple[tuple[str, str], ...]) -> dict[str, Any] | None:
    """Up to five links, one a line, within one section; the rest counted as "+N more"."""
    if not attachments:
        return None
    lines = ["📎 *Attachments*"]
    room = SECTION_LIMIT - len("\n_+9999999 more_")
    shown = 0
    for name, url in attachments[:MAX_ATTACHMENTS]:
        line = "• " + link(url, name or "attachment")
        if sum(len(x) + 1 for x in lines) + len(line) > room:
            break
        lines.append(line)
        shown += 1
    if len(attachments) > shown:
        lines.append(f"_+{len(attachments) - shown} more_")
    return section("\n".join(lines))


# ------------------------------------------------------------------ the card
def _head_block(data: CardData) -> dict[str, Any]:
    badge, label = _priority(data.priority)
    name = _display_name(data.customer_name, data.handle)
    handle = _at_handle(data.handle)
    who = link(data.profile_url, handle or "profile") if handle or data.profile_url else ""
    network = network_name(data.source)
    facts = [f"{who} on {network}" if who else network]
    if reach := _reach(data.followers):
        facts.append(reach)
    if data.influencer:
        facts.append("⭐ influencer")
    if data.is_direct:
        facts.append("🔒 direct message")
    return section(f"{badge} *{name}*  ·  {label} priority\n" + "  ·  ".join(facts))


def _message_block(data: CardData) -> dict[str, Any]:
    if not data.text.strip():
        return section("_(no text)_")
    # Without a link, outbox_render posts the whole text in the thread when it is cut here.
    if data.message_url:
        suffix = f"\n_({link(data.message_url, 'full message')})_"
    else:
        suffix = "\n_(continues in the thread)_"
    shown, cut = truncate(data.text, min(CARD_TEXT_LIMIT, SECTION_LIMIT - len(suffix)))
    return section(shown + suffix if cut else shown)


def _tags_text(tags: tuple[str, ...]) -> str:
    shown: list[str] = []
    used = 0
    for tag in tags:
        piece = truncate(tag, OPTION_TEXT_LIMIT)[0]
        if used + len(piece) + 2 > TAGS_TEXT_LIMIT:
            break
        shown.append(piece)
        used += len(piece) + 2
    more = f" +{len(tags) - len(shown)} more" if len(tags) > len(shown) else ""
    return "🏷️ " + ", ".join(shown) + more if tags else ""


def _facts_block(data: CardData) -> dict[str, Any]:
    intent, sentiment = data.intent or "", data.sentiment or ""
    labels = [
        f"🌐 {truncate(data.language, 20)[0]}" if data.language else "",
        INTENTS.get(intent) or truncate(intent.replace("_", " "), 40)[0],
        SENTIMENTS.get(sentiment) or truncate(sentiment, 40)[0],
    ]
    classification = "  ·  ".join(label for label in labels if label)
    count = f"💬 {data.message_count} messages" if data.message_count > 1 else ""
    return context(
        classification,
        f"Status: *{truncate(data.status, 30)[0]}*",
        _assignee(data.assignee_slack_id),
        _tags_text(data.tags),
        count,
        f"🕒 {_timestamp(data.created_at)}",
    )


def _status_block(data: CardData) -> dict[str, Any] | None:
    if data.status == "resolved":
        return section("✅ *Resolved*")
    if data.status == "suppressed":
        return context("🔇 _Suppressed as spam or noise: nobody needs to act on it._")
    return None


def _activity_block(data: CardData) -> dict[str, Any] | None:
    """Who is drafting right now, and the outcome once one is logged."""
    lines = []
    if data.drafting_by:
        lines.append(f"✍️ {mention(data.drafting_by)} is drafting a reply")
    if data.outcome:
        parts = [f"✅ Outcome: {outcome_label(data.outcome)}"]
        if (data.outcome_value or "").strip():
            parts.append(truncate(_one_line(data.outcome_value or ""), OUTCOME_VALUE_LIMIT)[0])
        if data.outcome_by:
            parts.append(f"logged by {mention(data.outcome_by)}")
        lines.append(" · ".join(parts))
    return context(*lines) if lines else None


def _read_only_block(data: CardData) -> dict[str, Any] | None:
    if data.reply_supported:
        return None
    where = link(data.message_url, f"open it on {network_name(data.source)}")
    text = "📖 Read-only source: reply on the site"
    return context(f"{text}: {where}" if data.message_url else text)


def _tag_options(data: CardData) -> list[dict[str, Any]]:
    """Current tags first (they must be among the options to show as selected), then the
    allowed ones, capped at Slack's 100 and sorted. A tag whose name is longer than an option
    value can hold is left out: a cut value would name a different tag."""
    usable = [t for t in dict.fromkeys((*data.tags, *sorted(data.allowed_tags))) if t.strip()]
    usable = [t for t in usable if len(t) <= OPTION_VALUE_LIMIT][:MAX_OPTIONS]
    return [
        {"text": {"type": "plain_text", "text": clip(t, OPTION_TEXT_LIMIT)}, "value": t}
        for t in sorted(usable)
    ]


def _tag_picker(data: CardData) -> dict[str, Any] | None:
    options = _tag_options(data)
    if not options:
        return None
    picker: dict[str, Any] = {
        "type": "multi_static_select",
        "action_id": ACTION_TAGS,
        "placeholder": {"type": "plain_text", "text": "Tags"},
        "options": options,
    }
    current = set(data.tags)
    if initial := [o for o in options if o["value"] in current]:
        picker["initial_options"] = initial
    return picker


def _actions_block(data: CardData) -> dict[str, Any]:
    value = str(data.conversation_id)
    elements = [
        button("Unclaim", ACTION_UNCLAIM, value)
        if data.assignee_slack_id
        else button("Claim", ACTION_CLAIM, value, "primary")
    ]
    if data.reply_supported:
        elements.append(button("Draft reply", ACTION_DRAFT, value))
    elements.append(button("Log outcome", ACTION_OUTCOME, value))
    if picker := _tag_picker(data):
        elements.append(picker)
    if reassign := _reassign_picker(data):
        elements.append(reassign)
    return {"type": "actions", "block_id": f"conversation:{value}", "elements": elements}


def _reassign_picker(data: CardData) -> dict[str, Any] | None:
    """Hand the conversation to someone: a manager can assign an unclaimed one directly.
    The handler reads `selected_user` and the conversation id from the block_id."""
    picker: dict[str, Any] = {
        "type": "users_select",
        "action_id": ACTION_REASSIGN,
        "placeholder": plain("Reassign to…", OPTION_TEXT_LIMIT),
    }
    if is_user_id(data.assignee_slack_id):
        picker["initial_user"] = data.assignee_slack_id
    return picker


def _summary_block(data: CardData) -> dict[str, Any] | None:
    """For a message not in English, the model's English gist (model output: escaped)."""
    if not data.summary or (data.language or "en") == "en":
        return None
    return context(f"🇬🇧 {truncate(data.summary, 300)[0]}")


def _hint_block(data: CardData) -> dict[str, Any] | None:
    if not (data.how_to_reply_hint and data.reply_supported):
        return None
    return context(REPLY_HINT)


def conversation_card(data: CardData) -> dict[str, Any]:
    """The card that opens a conversation's thread; re-rendered on every state change."""
    badge, label = _priority(data.priority)
    raw_name = (data.customer_name or "").strip() or (data.handle or "").strip() or "Someone"
    intent = INTENTS.get(data.intent or "other", "conversation")
    network = NETWORKS.get(data.source) or data.source
    fallback = f"{badge} {label}: {intent} from {raw_name} on {network}: {_one_line(data.text)}"
    blocks = [
        _head_block(data),
        _message_block(data),
        _summary_block(data),
        _attachments_section(data.attachments),
        _facts_block(data),
        _activity_block(data),
        _read_only_block(data),
        _status_block(data),
        _actions_block(data),
        _hint_block(data),
    ]
    return {"text": _fallback(fallback), "blocks": [b for b in blocks if b]}


# ------------------------------------------------------------------ thread and notices
def _follow_up_sections(text: str, url: str | None, network: str) -> list[dict[str, Any]]:
    pieces = [p for p in chunks(text, FOLLOW_UP_CHUNK) if p.strip()]
    if len(pieces) > MAX_FOLLOW_UP_SECTIONS:
        # Slack allows 50 blocks; past that the reader follows the link to the original.
        where = link(url, f"Read the full message on {network}") if url else ""
        note = "_… the rest of this message is too long for Slack and was cut._"
        pieces = [*pieces[: MAX_FOLLOW_UP_SECTIONS - 1], f"{note} {where}".strip()]
    return [section(p) for p in pieces]


def follow_up_message(
    *,
    author_name: str | None,
    handle: str | None,
    source: str,
    text: str,
    url: str | None,
    attachments: tuple[tuple[str, str], ...],
    created_at: datetime,
) -> dict[str, Any]:
    """A later customer message, posted in the card's thread, in as many sections as needed."""
    name = _display_name(author_name, handle)
    network = network_name(source)
    at = truncate(_at_handle(handle), HANDLE_LIMIT)[0] if (author_name or "").strip() else ""
    who = f"💬 *{name}*" + (f" ({at})" if at else "") + f" on {network}"
    opened = link(url, "open") if url else ""
    head = context("  ·  ".join(x for x in (who, _timestamp(created_at), opened) if x))
    sections = _follow_up_sections(text, url, network)
    files = _attachments_section(attachments)
    if not sections and not files:
        sections = [section("_(no text)_")]
    raw_name = (author_name or "").strip() or (handle or "").strip() or "Customer"
    fallback = f"{raw_name}: {_one_line(text)}"
    blocks = [head, *sections, *([files] if files else [])]
    return {"text": _fallback(fallback), "blocks": blocks}


def _channel_ref(home_channel: str) -> str:
    if _CHANNEL_ID.fullmatch(home_channel):
        return f"<#{home_channel}>"  # Slack renders the channel's current name
    return escape(home_channel)  # "#support" from our config: shown as plain text


def channel_notice(*, home_channel: str, permalink: str | None, data: CardData) -> dict[str, Any]:
    """A one-message pointer in another team's channel to the card's thread."""
    badge, _ = _priority(data.priority)
    intent = INTENTS.get(data.intent or "other", "conversation")
    name = _display_name(data.customer_name, data.handle)
    headline = (
        f"{badge} New {intent} from *{name}* on {network_name(data.source)} "
        f"in {_channel_ref(home_channel)}"
    )
    if safe_url(permalink):
        headline += f": {link(permalink, 'open the thread')}"
    quote = truncate(_one_line(data.text), QUOTE_LIMIT)[0]
    raw_name = (data.customer_name or "").strip() or (data.handle or "").strip() or "someone"
    network = NETWORKS.get(data.source) or data.source
    fallback = f"New {intent} from {raw_name} on {network}: {_one_line(data.text)}"
    return {
        "text": _fallback(fallback),
        "blocks": [section(f"{headline}\n>{quote}" if quote else headline)],
    }
