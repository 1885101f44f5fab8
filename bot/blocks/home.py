"""The App Home tab (views.publish): a pure builder, ≤ 100 blocks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.blocks.card import network_name
from bot.blocks.mrkdwn import escape, truncate
from handlers.home import HomeData, HomeItem

PRIORITY_BADGES = {3: "🔴", 2: "🟠", 1: "🔵", 0: "⚪"}


def _when(moment: datetime) -> str:
    """Slack renders this in each reader's own time zone; the fallback is UTC."""
    fallback = f"{moment:%Y-%m-%d %H:%M} UTC"
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _line(item: HomeItem) -> str:
    who = truncate(item.customer_name or "Someone", 80)[0]
    what = escape((item.intent or "conversation").replace("_", " "))
    where = f"<#{item.slack_channel}>" if item.slack_channel else "not posted"
    badge = PRIORITY_BADGES.get(item.priority, "🔵")
    return (
        f"{badge} *{who}* · {what} on {network_name(item.source)} · {where} · "
        f"{_when(item.created_at)}"
    )


def _list(title: str, items: list[HomeItem], empty: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title}}
    ]
    if not items:
        return [*blocks, {"type": "context", "elements": [{"type": "mrkdwn", "text": empty}]}]
    return blocks + [
        {"type": "section", "text": {"type": "mrkdwn", "text": _line(i)}} for i in items
    ]


def home_view(data: HomeData) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = []
    if data.today is not None:
        t = data.today
        facts = (
            f"*New:* {t.new}   *Replied:* {t.replied}   *Resolved:* {t.resolved}   "
            f"*Unclaimed now:* {t.unclaimed_open}   *Sales:* {t.sales}"
        )
        blocks += [
            {"type": "header", "text": {"type": "plain_text", "text": "Last 24 hours"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": facts}},
            {"type": "divider"},
        ]
    blocks += _list("Your conversations", data.mine, "Nothing assigned to you. 🎉")
    blocks.append({"type": "divider"})
    more = data.queue_total - len(data.queue)
    blocks += _list(f"Open queue ({data.queue_total})", data.queue, "The queue is empty.")
    if more > 0:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"…and {more} more. `/crm open` lists them."}
                ],
            }
        )
    return {"type": "home", "blocks": blocks[:100]}
