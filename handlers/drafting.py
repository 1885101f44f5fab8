"""The `Drafter` seam and the offline drafter that needs no network and no model.

The offline drafter fills a reply template chosen by intent and language from
prompts/templates/replies.toml; LLM drafters (a later issue) implement the same protocol.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from prompts import read_prompt

# What each network accepts in one reply; drafts are measured (and flagged) against it.
NETWORK_LIMITS = {"mastodon": 500, "bluesky": 300, "discord": 2000}


@dataclass(frozen=True)
class DraftContext:
    conversation_id: int
    source: str
    intent: str | None
    language: str | None
    history: tuple[tuple[str, str], ...]  # (direction, text), oldest first; this customer only
    max_chars: int | None = None  # the network's limit for one reply
    customer_summary: str = ""  # stage, value, past outcomes: this customer's record only


@dataclass(frozen=True)
class DraftText:
    text: str
    language: str | None
    drafter: str
    fallback_reason: str | None = None


class Drafter(Protocol):
    def draft(self, context: DraftContext) -> DraftText: ...


@lru_cache(maxsize=1)
def _templates() -> dict[str, dict[str, str]]:
    return tomllib.loads(read_prompt("templates/replies.toml"))


class TemplateDrafter:
    """Picks the template for the conversation's intent in the customer's language,
    falling back to English, then to the generic template."""

    name = "offline"

    def draft(self, context: DraftContext) -> DraftText:
        templates = _templates()
        by_language = templates.get(context.intent or "other") or templates["other"]
        language = context.language if context.language in by_language else "en"
        return DraftText(text=by_language[language], language=language, drafter=self.name)
