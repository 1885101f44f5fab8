"""The manager's daily digest as a Block Kit message, and the same figures as plain text.

Pure functions of `DigestData`: every figure shows its change against the daily average of
the 7 days before ("12 (▲ 3 vs 7-day avg)"). Network, intent and sentiment names come from
the database and are escaped; agents are `<@U…>` mentions; links to the oldest unclaimed
cards are permalinks when the caller looked them up, else `app_redirect` links built here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from bot.blocks.card_parts import OUTCOMES, context, mention, mrkdwn, plain, section
from bot.blocks.mrkdwn import escape, link
from handlers.digest import AgentLoad, BacklogItem, Counted, DigestData, Duration, Figure

BARS = "▁▂▃▄▅▆▇█"
HEADER_LIMIT = 150
SECTION_LIMIT = 3000
LIST_LIMIT = 12  # lines per list before "and N more"
_CHANNEL = re.compile(r"[CGD][A-Z0-9]{2,}")
_TS = re.compile(r"\d{6,}\.\d{1,6}")
_SENTIMENT_ICONS = {"negative": "🙁", "neutral": "😐", "positive": "🙂"}


# ------------------------------------------------------------------ formatting
def sparkline(values: Sequence[float]) -> str:
    """One bar per value, scaled from zero to the largest (so a quiet day looks quiet):
    0 → ▁, the maximum → █. Negative values count as zero; no values give ""."""
    top = max(values, default=0)
    if top <= 0:
        return BARS[0] * len(values)
    last = len(BARS) - 1
    return "".join(BARS[min(last, max(0, round(v / top * last)))] for v in values)


def number(value: float) -> str:
    """12, 3.4 or 1,234: whole numbers without decimals, others with one."""
    if abs(value - round(value)) < 0.05:
        return f"{round(value):,}"
    return f"{value:,.1f}"


def change(value: float, average: float, unit: str = "") -> str:
    delta = value - average
    if abs(delta) < 0.05:
        return "= 7-day avg"
    arrow = "▲" if delta > 0 else "▼"
    return f"{arrow} {number(abs(delta))}{unit} vs 7-day avg"


def figure(fig: Figure) -> str:
    return f"{number(fig.value)} ({change(fig.value, fig.average)})"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 90:
        return f"{round(seconds)} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def timed(value: Duration) -> str:
    if value.seconds is None:
        return "— (nothing answered)"
    if value.average is None:
        return f"{duration(value.seconds)} (no 7-day data)"
    delta = value.seconds - value.average
    if abs(delta) < 30:
        return f"{duration(value.seconds)} (≈ 7-day)"
    arrow = "▲" if delta > 0 else "▼"
    return f"{duration(value.seconds)} ({arrow} {duration(abs(delta))} vs 7-day)"


def money(total: Decimal, currency: str) -> str:
    return f"{total:,.2f} {currency}"


def money_change(total: Decimal, average: Decimal, currency: str) -> str:
    delta = total - average
    if not delta:
        return "= 7-day avg"
    return f"{'▲' if delta > 0 else '▼'} {money(abs(delta), currency)} vs 7-day avg"


def _load(agent: AgentLoad) -> str:
    replies = "1 reply" if agent.replies == 1 else f"{agent.replies} replies"
    outcomes = "1 outcome" if agent.outcomes == 1 else f"{agent.outcomes} outcomes"
    return f"{replies}, {outcomes}"


def day_label(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B %Y}"


def _when(moment: datetime, like: datetime) -> str:
    local = moment.astimezone(like.tzinfo)
    return f"{local:%a} {local.day} {local:%b %H:%M}"


def _zone_name(data: DigestData) -> str:
    return str(getattr(data.start.tzinfo, "key", None) or data.start.tzname() or "UTC")


def card_link(item: BacklogItem, permalinks: Mapping[int, str] | None = None) -> str | None:
    """The card's permalink when known, else an app_redirect link into its channel."""
    known = (permalinks or {}).get(item.conversation_id)
    if known:
        return known
    if not item.slack_channel or not _CHANNEL.fullmatch(item.slack_channel):
        return None
    query = {"channel": item.slack_channel}
    if item.slack_ts and _TS.fullmatch(item.slack_ts):
        query["message_ts"] = item.slack_ts
    return "https://slack.com/app_redirect?" + urlencode(query)


# ------------------------------------------------------------------ shared lines
def _label(key: str) -> str:
    """A stored name as safe mrkdwn: escaped, and `purchase_intent` without the underscore
    (Slack may read underscores as italics)."""
    return escape(key.replace("_", " "))


def _counted_lines(items: Sequence[Counted], esc: Callable[[str], str]) -> list[str]:
    return [f"{esc(c.key)}: {figure(c.figure)}" for c in items]


def _outcome_lines(data: DigestData, esc: Callable[[str], str]) -> list[str]:
    out = data.outcomes
    lines = [
        f"Resolved {figure(out.resolved)}",
        f"Leads {figure(out.leads)}",
        f"Sales {figure(out.sales)}",
    ]
    lines += [
        f"Sales value {money(m.total, esc(m.currency))} "
        f"({money_change(m.total, m.average, esc(m.currency))})"
        for m in out.sales_value
    ]
    shown = {"resolved", "lead_created", "sale"}
    lines += [
        f"{esc(OUTCOMES.get(c.key, c.key))} {figure(c.figure)}"
        for c in out.by_kind
        if c.key not in shown
    ]
    return lines


def _capped(title: str, lines: list[str], empty: str) -> str:
    """A title and bullet lines, at most LIST_LIMIT of them and within a section's limit."""
    if not lines:
        return f"{title}\n{empty}"
    text = title
    for i, line in enumerate(lines):
        if i == LIST_LIMIT or len(text) + len(line) + 40 > SECTION_LIMIT:
            return f"{text}\n…and {len(lines) - i} more"
        text += f"\n• {line}"
    return text


# ------------------------------------------------------------------ Block Kit
def digest_message(
    data: DigestData,
    *,
    manager: str,
    day: date,
    permalinks: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """`{"text", "blocks"}` for chat.postMessage. `day` is the local day summarised;
    `permalinks` maps conversation ids to card permalinks (optional)."""
    resp = data.response
    fields = [
        f"*New conversations*\n{figure(data.new)}",
        f"*Not posted (noise)*\n{figure(data.noise)}, spam {number(data.spam.value)}",
        f"*First response, median*\n{timed(resp.median)}",
        f"*First response, 90th percentile*\n{timed(resp.p90)}",
        f"*SLA breaches* (> {resp.sla_minutes} min)\n{figure(resp.breaches)}: "
        f"{number(resp.late.value)} late, {number(resp.unanswered.value)} unanswered",
        f"*Answered*\n{figure(resp.answered)}",
        f"*Unclaimed now*\n{number(data.backlog.count)}",
        f"*Influencers engaged*\n{figure(data.influencers)}",
    ]
    series = [d.count for d in data.series]
    spark = (
        f"*New conversations, last {len(series)} days*\n`{sparkline(series)}`  "
        f"{day_label(data.series[0].day)} → {day_label(data.series[-1].day)}: "
        f"lowest {number(min(series))}, highest {number(max(series))}"
        if series
        else "*New conversations*\nno history yet"
    )
    sentiment = [
        f"{_SENTIMENT_ICONS.get(c.key, '')} {escape(c.key)} {figure(c.figure)}".strip()
        for c in data.sentiment
    ]
    agents = [f"{mention(a.slack_id)} {figure(a.handled)}: {_load(a)}" for a in data.agents]
    oldest = [_backlog_line(item, data, permalinks) for item in data.backlog.oldest]
    window = f"{_when(data.start, data.start)} → {_when(data.end, data.start)}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": plain(f"📊 Daily digest · {day_label(day)}", HEADER_LIMIT)},
        context(
            f"For {mention(manager)} · {escape(window)} ({escape(_zone_name(data))}) · "
            "changes compare with the daily average of the 7 days before"
        ),
        {"type": "section", "fields": [mrkdwn(f) for f in fields]},
        section(spark),
        {"type": "divider"},
        section(_capped("*By network*", _counted_lines(data.by_network, _label), "nothing new")),
        section(_capped("*By intent*", _counted_lines(data.by_intent, _label), "nothing new")),
        section(_capped("*Sentiment*", sentiment, "nothing new")),
        section(_capped("*Outcomes*", _outcome_lines(data, escape), "none logged")),
        section(_capped("*Team: handled (replies + outcomes)*", agents, "nobody yet")),
        section(
            _capped(
                f"*Oldest unclaimed* ({number(data.backlog.count)} waiting)",
                oldest,
                "none: every open conversation has an owner 🎉",
            )
        ),
        context(
            f"SLA: first response within {resp.sla_minutes} min · "
            "noise = stored but not posted (spam, rules with post = false) · Threadline"
        ),
    ]
    return {"text": _fallback(data, day), "blocks": blocks}


def _backlog_line(item: BacklogItem, data: DigestData, permalinks: Mapping[int, str] | None) -> str:
    label = " · ".join(
        part
        for part in (
            item.source,
            (item.intent or "").replace("_", " "),
            f"since {_when(item.created_at, data.start)}",
        )
        if part
    )
    url = card_link(item, permalinks)
    return link(url, label) if url else escape(label)


def _fallback(data: DigestData, day: date) -> str:
    return (
        f"Daily digest for {day_label(day)}: {number(data.new.value)} new conversations, "
        f"{number(data.response.breaches.value)} SLA breaches, "
        f"{number(data.backlog.count)} unclaimed now."
    )


# ------------------------------------------------------------------ plain text
def digest_text(data: DigestData, day: date) -> str:
    """The same digest as plain text (the CLI's --dry-run)."""
    resp = data.response
    series = [d.count for d in data.series]
    lines = [
        f"Daily digest · {day_label(day)}",
        f"Window: {_when(data.start, data.start)} → {_when(data.end, data.start)} "
        f"({_zone_name(data)}); changes compare with the daily average of the 7 days before",
        "",
        f"New conversations      {figure(data.new)}",
        f"Not posted (noise)     {figure(data.noise)}, spam {number(data.spam.value)}",
        f"First response median  {timed(resp.median)}",
        f"First response p90     {timed(resp.p90)}",
        f"SLA breaches (>{resp.sla_minutes} min) {figure(resp.breaches)}: "
        f"{number(resp.late.value)} late, {number(resp.unanswered.value)} unanswered",
        f"Answered               {figure(resp.answered)}",
        f"Unclaimed now          {number(data.backlog.count)}",
        f"Influencers engaged    {figure(data.influencers)}",
        f"Last {len(series)} days           {sparkline(series)}  "
        f"(lowest {number(min(series, default=0))}, highest {number(max(series, default=0))})",
    ]
    sections: list[tuple[str, list[str]]] = [
        ("By network", _counted_lines(data.by_network, str)),
        ("By intent", _counted_lines(data.by_intent, str)),
        ("Sentiment", _counted_lines(data.sentiment, str)),
        ("Outcomes", _outcome_lines(data, str)),
        (
            "Team: handled (replies + outcomes)",
            [f"{a.slack_id}: {figure(a.handled)}: {_load(a)}" for a in data.agents],
        ),
        (
            f"Oldest unclaimed ({number(data.backlog.count)} waiting)",
            [
                f"{i.source} · {i.intent or 'unclassified'} · since "
                f"{_when(i.created_at, data.start)} · {card_link(i) or 'not posted yet'}"
                for i in data.backlog.oldest
            ],
        ),
    ]
    for title, items in sections:
        lines += ["", title] + [f"  - {item}" for item in items or ["none"]]
    return "\n".join(lines) + "\n"
