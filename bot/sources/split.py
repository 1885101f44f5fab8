"""Cut an approved reply into parts a network accepts, at the most natural boundary.

Networks cap one post (Discord 2,000 characters, Mastodon 500, Bluesky 300 graphemes). A
longer reply goes out as ordered parts: each cut falls at a paragraph break if one is near
the end of the part, else after a sentence, else between words, and never inside a
grapheme (a flag, an emoji with skin tone, a Devanagari conjunct stay whole). Joined back,
the parts give the approved text except for the whitespace at the cuts, so what the person
approved is what the customer reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.blocks.mrkdwn import graphemes

# Sentence ends in the scripts our customers write: Latin, CJK (。！？), Devanagari (।),
# Arabic/Persian (؟ ۔).
_SENTENCE_END = re.compile(r"[.!?।؟۔][\"'”’)\]]*\s|[。！？][”」』]*")
# A cut is only worth making at a boundary in the last half of a part; earlier, a hard cut
# between words gives a less ragged result than a very short part.
_MIN_FILL = 0.5


def length_in_chars(text: str) -> int:
    return len(text)


def length_in_graphemes(text: str) -> int:
    return sum(1 for _ in graphemes(text))


def bluesky_length(text: str) -> int:
    """Bluesky allows 300 graphemes and 3,000 UTF-8 bytes per post: a text of emoji
    sequences can fit the first and break the second. Bytes are scaled to the grapheme
    budget (10 bytes per grapheme), so one number against a limit of 300 checks both."""
    return max(length_in_graphemes(text), -(-len(text.encode("utf-8")) // 10))


def split_reply(
    text: str,
    limit: int,
    measure: Callable[[str], int] = length_in_chars,
    *,
    numbered: bool = False,
) -> list[str]:
    """Parts of at most `limit` (by `measure`); `numbered` adds " (1/3)" to each part when
    there is more than one, counted inside the limit."""
    text = text.strip()
    if not text:
        return []
    if measure(text) <= limit:
        return [text]
    if not numbered:
        return _split(text, limit, measure)
    # The suffix length depends on the number of parts: size for 2 digits, then recount.
    parts = _split(text, limit - len(" (99/99)"), measure)
    total = len(parts)
    return [f"{part} ({i}/{total})" for i, part in enumerate(parts, 1)]


def _split(text: str, limit: int, measure: Callable[[str], int]) -> list[str]:
    if limit < 10:
        raise ValueError(f"limit must be at least 10, got {limit}")
    parts: list[str] = []
    rest = text
    while measure(rest) > limit:
        head = _longest_prefix(rest, limit, measure)
        cut = _natural_cut(head) or len(head)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def _longest_prefix(text: str, limit: int, measure: Callable[[str], int]) -> str:
    """The longest run of whole graphemes from the start that fits in `limit`."""
    if measure is length_in_chars:
        clusters: list[str] = []
        used = 0
        for cluster in graphemes(text[: limit + 16]):
            if used + len(cluster) > limit:
                break
            clusters.append(cluster)
            used += len(cluster)
        return "".join(clusters) or text[:limit]
    # Any other measure grows with every grapheme added: find the longest fitting run by
    # bisection (a few dozen measurements, not one per grapheme).
    clusters = list(graphemes(text))
    low, high = 1, len(clusters)
    while low < high:
        mid = (low + high + 1) // 2
        if measure("".join(clusters[:mid])) <= limit:
            low = mid
        else:
            high = mid - 1
    return "".join(clusters[:low])


def _natural_cut(head: str) -> int:
    """Where to end this part inside `head`: paragraph, sentence, word, else all of it."""
    floor = int(len(head) * _MIN_FILL)
    paragraph = head.rfind("\n\n")
    if paragraph >= floor:
        return paragraph
    sentences = [m.end() for m in _SENTENCE_END.finditer(head)]
    if sentences and sentences[-1] >= floor:
        return sentences[-1]
    for sep in ("\n", " ", "\u3000"):
        space = head.rfind(sep)
        if space >= floor:
            return space
    return len(head)  # one long word (or a script without spaces, e.g. Chinese)
