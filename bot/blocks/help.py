"""The `/crm help` answer, also given for an unknown sub-command or a bad argument."""

from __future__ import annotations

from typing import Any

from bot.blocks.mrkdwn import escape
from handlers.commands import HelpResult


def help_message(result: HelpResult) -> dict[str, Any]:
    command = escape(result.command)
    lines = [
        f"`{command} {escape(sub.usage)}` — {escape(sub.summary)}" for sub in result.subcommands
    ]
    intro = "Threadline commands:"
    if result.unknown:
        intro = f"I don't know `{escape(result.unknown)}`. Threadline commands:"
    if result.problem:
        usage = f" Write it as `{command} {escape(result.usage)}`." if result.usage else ""
        intro = f"{escape(result.problem)}{usage}\n\nThreadline commands:"
    text = intro + "\n" + "\n".join(lines)
    return {
        "response_type": "ephemeral",
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


def tag_created(sentence: str) -> dict[str, Any]:
    """The answer to `/crm tag <name>`; the sentence may hold the user's tag name."""
    text = escape(sentence)
    return {
        "response_type": "ephemeral",
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }
