"""Making untrusted text safe for Slack's mrkdwn.

Everything a customer controls (names, handles, message text, attachment names, URLs) reaches
Slack through these functions only: `escape` neutralises mentions and links, `truncate` and
`chunks` fit Slack's length limits without splitting a user-perceived character (a cut emoji
family, a detached accent or a broken `&amp;` would show as garbage), and `link` builds a
mrkdwn link that cannot be turned into a mention or a different link.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from urllib.parse import urlsplit

ELLIPSIS = "…"
LINK_LABEL_LIMIT = 200
# Longer URLs are shown as their label only: a link must fit, with its label, inside one
# section (3000 chars) next to other content, and real message/profile URLs are far shorter.
LINK_URL_LIMIT = 2000
# The longest escape entity; a piece must be able to hold at least one escaped character.
MIN_CHUNK = len("&amp;")

_ZWJ = "\u200d"
_MARK_CATEGORIES = frozenset({"Mn", "Mc", "Me"})
_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_VIRAMA_CLASS = 9  # canonical combining class of virama/halant signs (Devanagari ्, Bengali ্…)


def escape(text: str) -> str:
    """Escape exactly what Slack asks: `&`, `<`, `>`.

    That neutralises `<!channel>`, `<@U…>` and `<https://evil|click>` while leaving every
    script and emoji untouched.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ------------------------------------------------------------------ grapheme clusters
def _is_extend(ch: str) -> bool:
    """Characters that never start a user-perceived character: they attach to what precedes."""
    cp = ord(ch)
    return (
        cp in (0x200C, 0x200D, 0x20E3, 0xFF9E, 0xFF9F)  # ZWNJ, ZWJ, keycap, kana voicing
        or 0xFE00 <= cp <= 0xFE0F  # variation selectors (text/emoji presentation)
        or 0x1F3FB <= cp <= 0x1F3FF  # skin-tone modifiers
        or 0xE0020 <= cp <= 0xE007F  # tag characters (subdivision flags such as England)
        or 0xE0100 <= cp <= 0xE01EF  # variation selectors supplement
        or unicodedata.category(ch) in _MARK_CATEGORIES
        or unicodedata.combining(ch) != 0
    )


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) in _CONTROL_CATEGORIES and not _is_extend(ch)


def _is_regional_indicator(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _hangul_kind(ch: str) -> str:
    cp = ord(ch)
    if 0x1100 <= cp <= 0x115F or 0xA960 <= cp <= 0xA97C:
        return "L"
    if 0x1160 <= cp <= 0x11A7 or 0xD7B0 <= cp <= 0xD7C6:
        return "V"
    if 0x11A8 <= cp <= 0x11FF or 0xD7CB <= cp <= 0xD7FB:
        return "T"
    if 0xAC00 <= cp <= 0xD7A3:
        return "LV" if (cp - 0xAC00) % 28 == 0 else "LVT"
    return ""


_HANGUL_JOINS = {
    "L": {"L", "V", "LV", "LVT"},
    "LV": {"V", "T"},
    "V": {"V", "T"},
    "LVT": {"T"},
    "T": {"T"},
}


def _joins(prev: str, ch: str, ri_run: int) -> bool:
    """Whether `ch` continues the cluster ending in `prev` (a conservative UAX #29 subset).

    Conservative means "when unsure, keep together": a cut lands a little earlier, which is
    always safe, while a wrong split shows a broken character.
    """
    if prev == "\r" and ch == "\n":
        return True
    if _is_control(prev) or _is_control(ch):
        return False
    if _is_extend(ch) or prev == _ZWJ:
        return True
    if unicodedata.combining(prev) == _VIRAMA_CLASS and unicodedata.category(ch) == "Lo":
        return True  # Indic conjunct: consonant + virama + consonant is one character
    if _is_regional_indicator(ch) and ri_run % 2 == 1:
        return True  # flags are pairs of regional indicators
    kind = _hangul_kind(prev)
    return bool(kind) and _hangul_kind(ch) in _HANGUL_JOINS[kind]


def graphemes(text: str) -> Iterator[str]:
    """The user-perceived characters of `text`, in order; concatenated they give `text`."""
    start = 0
    ri_run = 0  # regional indicators ending at the previous character
    prev = ""
    for i, ch in enumerate(text):
        if i and not _joins(prev, ch, ri_run):
            yield text[start:i]
            start = i
        ri_run = ri_run + 1 if _is_regional_indicator(ch) else 0
        prev = ch
    if text:
        yield text[start:]


# ------------------------------------------------------------------ cutting to size
def _cut(text: str, limit: int, *, escaped: bool) -> tuple[str, bool]:
    full = escape(text) if escaped else text
    if len(full) <= limit:
        return full, False
    budget = limit - len(ELLIPSIS)
    if budget < 0:
        return "", True
    kept: list[str] = []
    used = 0
    for cluster in graphemes(text):
        piece = escape(cluster) if escaped else cluster
        if used + len(piece) > budget:
            break
        kept.append(piece)
        used += len(piece)
    # Whole clusters only, so an entity (`&amp;`) is never split. Blanks before the ellipsis
    # look like a mistake; drop whole blank clusters (a plain rstrip could bare a ZWJ).
    while kept and kept[-1].isspace():
        kept.pop()
    return "".join(kept) + ELLIPSIS, True


def truncate(text: str, limit: int) -> tuple[str, bool]:
    """`escape(text)` cut to at most `limit` characters on a grapheme boundary.

    Returns the escaped text and whether it was cut; a cut text ends with "…" (counted in the
    limit). A single grapheme longer than the limit (e.g. hundreds of stacked combining marks)
    is dropped whole rather than split.
    """
    return _cut(text, limit, escaped=True)


def clip(text: str, limit: int) -> str:
    """Like `truncate` but without escaping: for `plain_text` objects (buttons, options), which
    Slack shows literally and never parses for mentions."""
    return _cut(text, limit, escaped=False)[0]


def _units(text: str, size: int) -> Iterator[str]:
    """Escaped graphemes; one bigger than `size` (only absurd input) is split per code point,
    which still never splits an entity because each code point is escaped on its own."""
    for cluster in graphemes(text):
        piece = escape(cluster)
        if len(piece) <= size:
            yield piece
        else:
            yield from (escape(ch) for ch in cluster)


def _soft_cut(units: list[str], length: int, size: int) -> int:
    """How many units to keep: up to the last newline, else the last space, that falls in the
    last 10% of a full piece, so the reader does not get a word split across two sections."""
    threshold = size - size // 10
    best_space = 0
    offset = length
    for i in range(len(units) - 1, -1, -1):
        if offset < threshold:
            break
        unit = units[i]
        if unit in ("\n", "\r\n"):
            return i + 1
        if not best_space and unit.isspace():
            best_space = i + 1
        offset -= len(unit)
    return best_space or len(units)


def chunks(text: str, size: int) -> list[str]:
    """`escape(text)` split into pieces of at most `size` characters on grapheme boundaries,
    preferring a newline or space near the end of each piece. `"".join(chunks(t, n)) ==
    escape(t)` always holds; an empty text gives no pieces."""
    if size < MIN_CHUNK:
        raise ValueError(f"size must be at least {MIN_CHUNK}, got {size}")
    pieces: list[str] = []
    current: list[str] = []
    length = 0
    for unit in _units(text, size):
        if length + len(unit) > size:
            keep = _soft_cut(current, length, size)
            rest = current[keep:]
            if sum(map(len, rest)) + len(unit) > size:
                keep, rest = len(current), []
            pieces.append("".join(current[:keep]))
            current, length = rest, sum(map(len, rest))
        current.append(unit)
        length += len(unit)
    if current:
        pieces.append("".join(current))
    return pieces


# ------------------------------------------------------------------ links
def _percent_encode(ch: str) -> str:
    return "".join(f"%{b:02X}" for b in ch.encode("utf-8"))


def safe_url(url: str | None) -> str | None:
    """`url` ready to sit inside `<…|label>`, or None when it must not be linked.

    Only absolute http(s) URLs qualify (no `javascript:`, `slack:` or relative tricks). `|`,
    `<`, `>`, whitespace and control characters are percent-encoded so the URL cannot end the
    link early or smuggle in a label or mention; `&` becomes `&amp;`, which Slack decodes.
    """
    if not isinstance(url, str):
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a malformed IPv6 host
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    out = []
    for ch in url:
        if ch in "|<>" or ch.isspace() or unicodedata.category(ch) in _CONTROL_CATEGORIES:
            out.append(_percent_encode(ch))
        elif ch == "&":
            out.append("&amp;")
        else:
            out.append(ch)
    encoded = "".join(out)
    return encoded if len(encoded) <= LINK_URL_LIMIT else None


def link(url: str | None, label: str) -> str:
    """A mrkdwn link `<url|label>` with the label escaped and cut to 200 characters; just the
    escaped label when `url` is not a safe http(s) URL. An empty label shows the URL."""
    target = safe_url(url)
    if not label.strip() and url:
        label = url.strip()
    shown = truncate(label, LINK_LABEL_LIMIT)[0]
    if target is None or not shown:
        return shown
    return f"<{target}|{shown}>"
