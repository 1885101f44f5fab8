"""Answers to `/crm` lookups: the customer card, match lists, queues, search results, stats,
and the replies to `link` and `forget`. Pure functions: typed results in, Slack payload out.

Everything a customer controls (names, handles, emails, URLs, message text) is escaped and
cut through `bot.blocks.mrkdwn`; the only mentions are staff ids that came from Slack.
Links to conversation threads come from a `Permalink` function passed in (see
`archive_permalink`), so no builder calls Slack.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bot.blocks.card import INTENTS, PRIORITIES, network_name
from bot.blocks.card_parts import context, mention, outcome_label, section
from bot.blocks.mrkdwn import escape, link, truncate
from handlers.erasure import Erased
from handlers.lookups import (
    ConversationItem,
    CustomerCard,
    CustomerMatch,
    IdentityView,
    Linked,
    Matches,
    NotFound,
    Queue,
)
from handlers.search import SearchResult, Stats

Permalink = Callable[[str, str], str | None]

NAME_LIMIT = 80
HANDLE_LIMIT = 80
EMAIL_LIMIT = 120
QUERY_LIMIT = 80
SNIPPET_LIMIT = 160
FALLBACK_LIMIT = 300
SECTION_LIMIT = 3000
_DOMAIN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_CHANNEL = re.compile(r"[CGD][A-Z0-9]{2,}")
_TS = re.compile(r"\d{1,12}\.\d{1,6}")


def archive_permalink(team_domain: str | None) -> Permalink:
    """Links to a card without calling chat.getPermalink: Slack's permalink format
    `https://<workspace>.slack.com/archives/<channel>/p<ts without the dot>`, built from the
    workspace domain that every slash command carries. Without a usable domain, a link that
    opens the channel (`slack.com/app_redirect`)."""
    domain = (team_domain or "").lower()

    def permalink(channel: str, ts: str) -> str | None:
        if not (_CHANNEL.fullmatch(channel or "") and _TS.fullmatch(ts or "")):
            return None
        if _DOMAIN.fullmatch(domain):
            return f"https://{domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return f"https://slack.com/app_redirect?channel={channel}"

    return permalink


# ------------------------------------------------------------------ small pieces
def ephemeral(text: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """`text` is safe mrkdwn (the notification fallback); blocks as built here."""
    return {
        "response_type": "ephemeral",
        "text": truncate_safe(text),
        "blocks": [b for b in blocks if b][:50],
    }


def truncate_safe(text: str) -> str:
    """Cut already-escaped mrkdwn for the notification text, never inside an entity
    (`&amp;`) or a `<…>` token."""
    if len(text) <= FALLBACK_LIMIT:
        return text
    cut = re.sub(r"&[a-z]{0,4}$", "", text[: FALLBACK_LIMIT - 1])
    if cut.rfind("<") > cut.rfind(">"):
        cut = cut[: cut.rfind("<")]
    return cut.rstrip() + "…"


def sentence(text: str) -> dict[str, Any]:
    """A one-section answer from raw text (escaped here)."""
    safe = escape(text)
    return ephemeral(safe, [section(safe)])


def _name(name: str | None, fallback: str = "Unknown customer") -> str:
    return truncate((name or "").strip() or fallback, NAME_LIMIT)[0]


def _quoted(query: str) -> str:
    return "“" + truncate(" ".join(query.split()), QUERY_LIMIT)[0] + "”"


def _at(handle: str | None) -> str:
    handle = (handle or "").strip()
    return handle if not handle or handle.startswith("@") else f"@{handle}"


def _followers(count: int | None) -> str:
    if count is None or count < 0:
        return ""
    if count < 1000:
        return f"{count} follower" + ("" if count == 1 else "s")
    value, unit = (count / 1_000_000, "M") if count >= 999_950 else (count / 1000, "k")
    return f"{value:.1f}".removesuffix(".0") + f"{unit} followers"


def _date(when: datetime) -> str:
    when = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    iso = when.date().isoformat()
    return f"<!date^{int(when.timestamp())}^{{date_short}}|{iso}>"


def _money(value: Decimal | None, currency: str | None) -> str:
    amount = f"{Decimal(value or 0):.2f}"
    return escape(f"{amount} {currency or ''}".strip())


def _snippet(text: str, cut_before: bool = False) -> str:
    shown = truncate(" ".join(text.split()), SNIPPET_LIMIT)[0]
    return ("…" if cut_before and shown else "") + shown


def _lines(title: str, lines: list[str]) -> list[dict[str, Any]]:
    """A titled list in as many sections as Slack's 3,000-character limit needs."""
    blocks: list[dict[str, Any]] = []
    current = title
    for line in lines:
        if len(current) + len(line) + 1 > SECTION_LIMIT:
            blocks.append(section(current))
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        blocks.append(section(current))
    return blocks


# ------------------------------------------------------------------ customers
def _identity_line(identity: IdentityView) -> str:
    handle = _at(identity.handle)
    who = link(identity.profile_url, handle or "profile") if handle or identity.profile_url else ""
    parts = [f"*{network_name(identity.source)}*", who]
    if identity.display_name and identity.display_name.strip() != handle:
        parts.append(truncate(identity.display_name, NAME_LIMIT)[0])
    parts.append(_followers(identity.followers))
    return "• " + "  ·  ".join(p for p in parts if p)


def conversation_line(item: ConversationItem, permalink: Permalink) -> str:
    """One conversation: a link to its Slack thread, status, who has it, how it ended."""
    badge = PRIORITIES.get(min(max(item.priority, 0), 3), ("", ""))[0]
    intent = INTENTS.get(item.intent or "other", "conversation")
    label = f"{intent} on {network_name(item.source)}"
    url = permalink(item.slack_channel, item.slack_ts or "") if item.slack_channel else None
    target = link(url, label) if url else label  # `label` is already safe mrkdwn
    facts = [_date(item.created_at), escape(item.status)]
    facts.append(mention(item.assignee) if item.assignee else "unassigned")
    if item.outcome:
        facts.append(f"outcome: {outcome_label(item.outcome)}")
    head = f"{badge} *{_name(item.customer_name)}* · {target}  ·  " + "  ·  ".join(facts)
    quote = _snippet(item.snippet)
    return f"{head}\n>{quote}" if quote else head


def customer_card(card: CustomerCard, permalink: Permalink) -> dict[str, Any]:
    main = card.identities[0] if card.identities else None
    name = _name(card.name or (main and (main.display_name or main.handle)), "No name given")
    value = _money(card.lifetime_value, card.currency)
    facts = [f"Stage: *{escape(card.stage)}*", f"Lifetime value: *{value}*"]
    if card.segment:
        facts.insert(1, f"Segment: *{truncate(card.segment, NAME_LIMIT)[0]}*")
    extras = []
    if card.emails:
        extras.append("✉️ " + ", ".join(truncate(e, EMAIL_LIMIT)[0] for e in card.emails[:5]))
    if card.tags:
        extras.append("🏷️ " + ", ".join(truncate(t, 60)[0] for t in card.tags[:30]))
    if card.worked_by:
        extras.append("👥 Worked by " + ", ".join(mention(s) for s in card.worked_by[:15]))
    if card.merged_records:
        extras.append(f"🔗 {card.merged_records} merged record(s)")
    shown = len(card.conversations)
    convs_title = f"*Recent conversations* ({shown} of {card.conversation_count})"
    blocks = [
        section(f"👤 *{name}*  ·  customer #{card.id}\n" + "  ·  ".join(facts)),
        *_lines("*Identities*", [_identity_line(i) for i in card.identities] or ["_none_"]),
        context(*extras) if extras else None,
        *_lines(convs_title, [conversation_line(c, permalink) for c in card.conversations]),
        *_outcome_blocks(card),
    ]
    return ephemeral(f"Customer {name}", [b for b in blocks if b])


def _outcome_blocks(card: CustomerCard) -> list[dict[str, Any]]:
    if not card.outcome_counts:
        return [context("No outcomes logged yet.")]
    counts = ", ".join(f"{outcome_label(k)} ×{n}" for k, n in card.outcome_counts)
    lines = [
        f"• {outcome_label(o.kind)}"
        + (f" {_money(o.value, o.currency)}" if o.value is not None else "")
        + f" · {mention(o.staff)} · {_date(o.created_at)}"
        for o in card.outcomes
    ]
    return _lines(f"*Outcomes*: {counts}", lines)


def match_line(match: CustomerMatch) -> str:
    identity = match.identity
    where = ""
    if identity is not None:
        handle = truncate(_at(identity.handle), HANDLE_LIMIT)[0]
        where = f"{handle} on {network_name(identity.source)}" if handle else ""
        where = where or f"on {network_name(identity.source)}"
    name = _name(match.name or (identity.display_name if identity else None))
    return f"• *{name}*  ·  {where}  ·  #{match.id}" if where else f"• *{name}*  ·  #{match.id}"


def matches_answer(result: Matches, command: str, verb: str = "lookup") -> dict[str, Any]:
    more = f" (showing {len(result.matches)})" if result.total > len(result.matches) else ""
    title = f"{_quoted(result.query)} matches {result.total} customers{more}. Which one?"
    hint = f"Refine with `{escape(command)} {verb} @handle`, an email or a profile URL."
    return ephemeral(
        title, [*_lines(title, [match_line(m) for m in result.matches]), context(hint)]
    )


def not_found_answer(result: NotFound, command: str) -> dict[str, Any]:
    text = (
        f"No customer matches {_quoted(result.query)}. Try an @handle, an email address, "
        f"a profile URL or part of a name, e.g. `{escape(command)} lookup @ana`."
    )
    return ephemeral(text, [section(text)])


def lookup_answer(
    result: CustomerCard | Matches | NotFound, permalink: Permalink, command: str
) -> dict[str, Any]:
    if isinstance(result, CustomerCard):
        return customer_card(result, permalink)
    if isinstance(result, Matches):
        return matches_answer(result, command)
    return not_found_answer(result, command)


# ------------------------------------------------------------------ queues
def queue_answer(title: str, queue: Queue, permalink: Permalink, empty: str) -> dict[str, Any]:
    if not queue.items:
        return ephemeral(escape(empty), [section(escape(empty))])
    head = f"*{escape(title)}* ({len(queue.items)} of {queue.total})"
    blocks = [section(head)]
    blocks += [section(conversation_line(item, permalink)) for item in queue.items]
    return ephemeral(head, blocks)


def _duration(delta: timedelta | None) -> str:
    if delta is None:
        return "n/a"
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if hours < 1:
        return f"{minutes} min"
    if days < 1:
        return f"{hours} h {minutes % 60} min"
    return f"{days} d {hours % 24} h"


# ------------------------------------------------------------------ search and stats
_DIRECTIONS = {"in": "💬", "out": "↩️ reply", "note": "📝 note"}


def search_answer(result: SearchResult, permalink: Permalink) -> dict[str, Any]:
    query = _quoted(result.query)
    scope = " among the newest messages (short searches scan only those)"
    scope = scope if result.recent_only else ""
    if not result.hits:
        text = f"Nothing found for {query}{scope}."
        return ephemeral(text, [section(text)])
    head = f"*{len(result.hits)} newest message(s) containing {query}*{scope}"
    blocks = [section(head)]
    for hit in result.hits:
        url = permalink(hit.slack_channel, hit.slack_ts or "") if hit.slack_channel else None
        where = link(url, "open the thread") if url else "not in Slack"
        kind = _DIRECTIONS.get(hit.direction, "💬")
        line = (
            f"{kind} *{_name(hit.customer_name)}* on {network_name(hit.source)}  ·  "
            f"{_date(hit.created_at)}  ·  {where}\n>{_snippet(hit.snippet, hit.cut_before)}"
        )
        blocks.append(section(line))
    return ephemeral(head, blocks)


def _counts(pairs: tuple[tuple[str, int], ...], labels: dict[str, str]) -> str:
    shown = [f"{labels.get(k) or escape(k.replace('_', ' '))} {n}" for k, n in pairs[:20]]
    return ", ".join(shown) or "none"


def stats_answer(stats: Stats) -> dict[str, Any]:
    networks = {k: network_name(k) for k, _ in stats.by_network}
    percent = stats.replied_percent
    replied = f"{percent:.0f}%" if percent is not None else "n/a"
    sales = ", ".join(_money(v, c) for c, v in stats.sale_value) or "none"
    outcomes = ", ".join(f"{outcome_label(k)} {n}" for k, n in stats.outcomes) or "none"
    head = f"*Last {stats.days} day{'s' if stats.days != 1 else ''}* (since {_date(stats.since)})"
    lines = [
        f"*New conversations:* {stats.total}",
        f"• by network: {_counts(stats.by_network, networks)}",
        f"• by intent: {_counts(stats.by_intent, INTENTS)}",
        f"*Replied:* {replied} ({stats.replied} of {stats.answerable} posted)",
        f"*Median first response:* {_duration(stats.median_first_response)}",
        f"*Outcomes:* {outcomes}",
        f"*Sales:* {sales}",
    ]
    return ephemeral(head, _lines(head, lines))


# ------------------------------------------------------------------ link and forget
def link_answer(result: Linked | Matches | NotFound, command: str) -> dict[str, Any]:
    if isinstance(result, Matches):
        return matches_answer(result, command, "link")
    if isinstance(result, NotFound):
        return not_found_answer(result, command)
    kept = match_line(result.kept).removeprefix("• ")
    if result.already:
        text = f"Both name the same record: {kept}. Nothing to link."
    else:
        merged = match_line(result.merged).removeprefix("• ")
        text = f"🔗 Linked: {merged} is now part of {kept}. Both find the same record now."
    return ephemeral(text, [section(text)])


def forget_answer(result: Erased | Matches | NotFound, command: str) -> dict[str, Any]:
    if isinstance(result, Matches):
        return matches_answer(result, command, "forget")
    if isinstance(result, NotFound):
        return not_found_answer(result, command)
    text = (
        f"🗑️ Customer #{result.customer_id} is erased: {result.conversations} conversation(s), "
        f"{result.messages} message(s), {result.drafts} draft(s) and {result.identities} "
        f"identit{'y' if result.identities == 1 else 'ies'} no longer hold personal data; "
        f"outcomes and counts stay, anonymously. {result.slack_updates} Slack message(s) are "
        "being rewritten. Notes people typed in card threads are their own: delete those by hand."
    )
    return ephemeral(text, [section(text)])
