"""Mastodon text both ways: a status's HTML to plain text, and a reply to ≤ 500-char parts.

Mastodon sends `content` as HTML (`<p>`, `<br>`, mention and link markup, entities). Slack
must get plain text: tags stripped, paragraphs and line breaks kept as newlines, entities
unescaped, and the leading @brand mention (which every mention of us starts with) dropped.

Replies address the customer the way Mastodon's own `status_reply()` does: every part starts
with the @mentions of the people in the conversation (the customer first), so a direct
message reaches them and a public reply threads under their name. The mentions count inside
the limit. Mastodon itself counts a URL as 23 characters and a remote mention without its
domain, so counting plain characters, as we do, is stricter than the server and always fits.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from bot.sources.split import split_reply

# Below this many characters left for the text after the mentions, we keep only the
# customer's own mention (a reply to a status that mentions twenty people).
MIN_TEXT_BUDGET = 100

_BLOCK_TAGS = {"p", "div", "blockquote", "li", "pre", "h1", "h2", "h3", "h4", "h5", "h6"}


class _TextExtractor(HTMLParser):
    """Collects text segments; each mention link becomes one segment tagged with the
    account URL it points at (entities are decoded once, by the parser)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.segments: list[tuple[str | None, str]] = []  # (mention href or None, text)
        self._mention_depth = 0
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._text("\n")
        elif tag in _BLOCK_TAGS and self.segments:
            self._text("\n\n")
        elif tag == "a":
            self._depth += 1
            attributes = dict(attrs)
            if "mention" in (attributes.get("class") or "").split() and not self._mention_depth:
                self._mention_depth = self._depth
                self.segments.append((attributes.get("href") or "", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            if self._mention_depth == self._depth:
                self._mention_depth = 0
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._mention_depth:
            href, text = self.segments[-1]
            self.segments[-1] = (href, text + data)
        else:
            self._text(data)

    def _text(self, data: str) -> None:
        self.segments.append((None, data))


def html_to_text(content: str, drop_mentions_of: set[str] | None = None) -> str:
    """Plain text of a status's HTML. Mentions of the accounts whose profile URLs are in
    `drop_mentions_of` are removed when they lead the text (the "@brand" that addressed us)."""
    parser = _TextExtractor()
    parser.feed(content or "")
    parser.close()
    drop = {url.rstrip("/").lower() for url in drop_mentions_of or set() if url}
    leading = True
    pieces: list[str] = []
    for href, text in parser.segments:
        if href is not None and leading and href.rstrip("/").lower() in drop:
            continue
        if text.strip():
            leading = False
        pieces.append(text)
    text = "".join(pieces).replace("\xa0", " ")
    lines = [re.sub(r"[ \t]{2,}", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def reply_parts(text: str, mentions: list[str], limit: int) -> list[str]:
    """The statuses of one reply, in order, each starting with the @mentions (those the
    approved text does not already address). Empty when the text is empty."""
    body = text.strip()
    if not body:
        return []
    addressed = [acct for acct in _unique(mentions) if not _mentions(body, acct)]
    prefix = "".join(f"@{acct} " for acct in addressed)
    if limit - len(prefix) < MIN_TEXT_BUDGET and addressed:
        prefix = f"@{addressed[0]} "
    budget = limit - len(prefix)
    if budget < MIN_TEXT_BUDGET:
        raise ValueError(f"the @mention leaves {budget} characters for the reply")
    return [prefix + part for part in split_reply(body, budget)]


def _mentions(body: str, acct: str) -> bool:
    pattern = r"(?<![\w@])@" + re.escape(acct) + r"(?![\w@.-])"
    return re.search(pattern, body, flags=re.IGNORECASE) is not None


def _unique(accts: list[str]) -> list[str]:
    seen: set[str] = set()
    result = []
    for acct in accts:
        key = acct.lower().lstrip("@")
        if key and key not in seen:
            seen.add(key)
            result.append(acct.lstrip("@"))
    return result
