"""Building LLM prompts from templates in prompts/: pure functions, no global state.

Customer text is fenced as data between boundary lines that carry a fresh random nonce per
request, so a message cannot close the fence and speak as the system.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from string import Template

from prompts import read_prompt

LANGUAGE_NAMES = {
    "en": "English",
    "es": "Spanish",
    "cs": "Czech",
    "fa": "Persian",
    "zh": "Chinese",
    "hi": "Hindi",
    "de": "German",
    "fr": "French",
    "pt": "Portuguese",
    "it": "Italian",
    "pl": "Polish",
    "ru": "Russian",
    "uk": "Ukrainian",
    "ar": "Arabic",
    "he": "Hebrew",
    "ja": "Japanese",
    "ko": "Korean",
    "tr": "Turkish",
    "nl": "Dutch",
}


@dataclass(frozen=True)
class Fence:
    open: str
    close: str

    @classmethod
    def new(cls) -> Fence:
        nonce = secrets.token_hex(6)
        return cls(f"<<<DATA {nonce}", f"DATA {nonce}>>>")

    def wrap(self, text: str) -> str:
        # The nonce is unguessable, but strip any copy of our markers all the same.
        clean = text.replace(self.open, "").replace(self.close, "")
        return f"{self.open}\n{clean}\n{self.close}"


def language_name(code: str | None) -> str:
    if not code:
        return "the language the customer wrote in"
    return f"{LANGUAGE_NAMES.get(code, code)} ({code})"


def render(template_name: str, **values: str) -> str:
    """Fill a prompt file; `$name` placeholders, a missing value is an error (not silence)."""
    return Template(read_prompt(template_name)).substitute(values)


def conversation_block(history: tuple[tuple[str, str], ...], fence: Fence) -> str:
    parts = []
    for direction, text in history:
        who = "Customer" if direction == "in" else "Us (already sent)"
        parts.append(f"{who}:\n{fence.wrap(text)}")
    return "\n\n".join(parts)
