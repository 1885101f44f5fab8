"""SLA nudges: the reply in a late card's thread and the manager's direct message.

Pure functions, data in and a Slack payload dict out. The nudge carries no customer text at
all; the only mention either message emits is the on-call user group from config, checked
against Slack's id shape so nothing else can become `<!subteam^…>`. The escalation's customer
name is escaped and cut like on the card.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from bot.blocks.card import NAME_LIMIT, PRIORITIES, network_name
from bot.blocks.card_parts import context, section
from bot.blocks.mrkdwn import link, safe_url, truncate

SUBTEAM_ID = re.compile(r"^S[A-Z0-9]+$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_TS = re.compile(r"^\d{1,12}\.\d{1,6}$")


def _minutes(value: int) -> str:
    return f"{value} business minute{'' if value == 1 else 's'}"


def _sla(sla_minutes: int | None) -> str:
    return f" (SLA {sla_minutes})" if sla_minutes else ""


def _priority_badge(priority: int) -> str:
    """The "🔴 Urgent · " prefix for high and urgent conversations; "" for normal and low."""
    if priority < 2:
        return ""
    badge, label = PRIORITIES[min(priority, 3)]
    return f"{badge} {label} · "


def sla_nudge_message(
    *, minutes: int, oncall_group: str | None, priority: int, sla_minutes: int | None = None
) -> dict[str, Any]:
    """A reply in the card's thread: "⏰ Unclaimed for 45 business minutes (SLA 30).
    <!subteam^S…> can someone take it?" (the mention only for a valid configured group)."""
    head = f"{_priority_badge(priority)}⏰ Unclaimed for {_minutes(minutes)}{_sla(sla_minutes)}."
    if oncall_group and SUBTEAM_ID.fullmatch(oncall_group):
        text = f"{head} <!subteam^{oncall_group}> can someone take it?"
    else:
        text = f"{head} Can someone take it?"
    return {"text": text, "blocks": [section(text)]}


def _card_time(ts: str) -> str:
    """The card's time in each reader's own zone (Slack's date token), UTC as fallback."""
    if not _TS.fullmatch(ts):
        return ""
    seconds = int(ts.split(".", 1)[0])
    fallback = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{seconds}^{{date_short_pretty}} at {{time}}|{fallback}>"


def sla_escalation_message(
    *,
    minutes: int,
    channel: str,
    ts: str,
    permalink: str | None,
    customer_name: str | None,
    network: str,
    sla_minutes: int | None = None,
) -> dict[str, Any]:
    """A direct message to a manager: who has waited how long, where, and a link to the card."""
    raw_name = (customer_name or "").strip() or "A customer"
    name = truncate(raw_name, NAME_LIMIT)[0]
    where = f"<#{channel}>" if _CHANNEL_ID.fullmatch(channel) else "a team channel"
    headline = (
        f"⏰ *{name}* on {network_name(network)} has waited {_minutes(minutes)} "
        f"unclaimed{_sla(sla_minutes)} in {where}."
    )
    if safe_url(permalink):
        headline += f" {link(permalink, 'Open the card')}"
    posted = _card_time(ts)
    blocks = [section(headline)]
    if posted:
        blocks.append(context(f"Card posted {posted}"))
    fallback = truncate(
        f"⏰ {raw_name} has waited {_minutes(minutes)} unclaimed{_sla(sla_minutes)}", 300
    )[0]
    return {"text": fallback, "blocks": blocks}
