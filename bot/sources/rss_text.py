"""Text helpers for the RSS/Atom source: HTML to plain text, keyword rules, bounded ids.

Feed text is customer text: it is only ever read and matched, never executed or rendered as
HTML. Entities are unescaped once (feeds escape `&` as `&amp;`), markup is dropped.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from html.parser import HTMLParser

MAX_ID_CHARS = 255
# Block elements end a line, so "<p>a</p><p>b</p>" reads "a\nb", not "ab".
_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "tr", "h1", "h2", "h3", "h4", "h5", "h6",
     "blockquote", "pre", "hr", "table", "section", "article"}
)  # fmt: skip
_SKIPPED_TAGS = frozenset({"script", "style", "template", "noscript"})

# Scripts written without spaces between words: a keyword in them matches as a substring.
_UNSPACED_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x1100, 0x11FF),  # Hangul Jamo (Korean attaches particles to words)
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x31FF),  # Bopomofo, Hangul compatibility Jamo, Katakana extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x20000, 0x3134F),  # CJK extensions B-G
)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def plain_text(html: str) -> str:
    """Markup dropped, entities unescaped, runs of spaces collapsed, paragraphs kept."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    text = "".join(extractor.parts).replace("\xa0", " ")
    lines = (re.sub(r"[^\S\n]+", " ", line).strip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a space when one is near, marked with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ", max(0, limit - 80))
    return (cut[:space] if space > 0 else cut).rstrip() + "…"


def bounded_id(value: str, prefix: str = "") -> str:
    """`prefix + value` when it fits an external id (255 chars), else a stable hash of it."""
    full = prefix + value
    if len(full) <= MAX_ID_CHARS:
        return full
    return f"{prefix}sha256:{hashlib.sha256(value.encode('utf-8')).hexdigest()}"


def fold(text: str) -> str:
    """The form keyword matching compares: compatibility-normalised and case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def _is_unspaced(keyword: str) -> bool:
    return any(low <= ord(ch) <= high for ch in keyword for low, high in _UNSPACED_RANGES)


class KeywordRules:
    """A feed's `keywords`: any one matching selects the entry; none configured selects all."""

    def __init__(self, keywords: Iterable[str]) -> None:
        self.keywords = [k.strip() for k in keywords if k.strip()]
        self._patterns = [self._pattern(fold(k)) for k in self.keywords]

    @staticmethod
    def _pattern(keyword: str) -> re.Pattern[str]:
        if _is_unspaced(keyword):
            return re.compile(re.escape(keyword))
        # A phrase matches across any run of whitespace; \w is Unicode-aware, so "café" is
        # one word and "cafés" is another.
        body = r"\s+".join(re.escape(word) for word in keyword.split())
        return re.compile(rf"(?<!\w){body}(?!\w)")

    def matches(self, text: str) -> bool:
        if not self._patterns:
            return True
        folded = fold(text)
        return any(pattern.search(folded) for pattern in self._patterns)
