"""bot.blocks.mrkdwn: escaping, grapheme-safe cutting and safe links.

The cut checks use their own small notion of "a place where a character may not be cut"
(built from unicodedata, not from the module under test), so a segmenter bug shows up here.
"""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.blocks.mrkdwn import (
    ELLIPSIS,
    LINK_LABEL_LIMIT,
    chunks,
    clip,
    escape,
    graphemes,
    link,
    safe_url,
    truncate,
)

ZWJ = "\u200d"
FAMILY = "👩‍👩‍👧"
CONJUNCTS = "क्षत्रश्रीद्ध"  # Devanagari consonant + virama + consonant clusters
HINDI = "नमस्ते, मेरा ऑर्डर अभी तक नहीं आया।"
ENTITY = re.compile(r"&(amp|lt|gt);")
CONTROLS = ("Cc", "Cf", "Zl", "Zp")
FLAG_LETTERS = "".join(chr(c) for c in range(0x1F1E6, 0x1F200))
MENTIONS = ("<!channel>", "<!here>", "<@U123>", "<!subteam^S1>", "<https://evil|click here>")


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def attaches(ch: str) -> bool:
    """A character that belongs to the one before it (a mark, selector, modifier, ZWJ…)."""
    cp = ord(ch)
    return (
        ch == ZWJ
        or cp == 0x20E3
        or 0xFE00 <= cp <= 0xFE0F
        or 0x1F3FB <= cp <= 0x1F3FF
        or unicodedata.category(ch) in ("Mn", "Mc", "Me")
    )


def bad_cut(raw: str, at: int) -> str | None:
    """Why cutting `raw` before index `at` would break a character, or None when it is fine."""
    if at <= 0 or at >= len(raw):
        return None
    before, after = raw[at - 1], raw[at]
    # Nothing joins across a line break or other control character (UAX #29 GB4/GB5).
    if unicodedata.category(after) in CONTROLS and not attaches(after):
        return None
    if before == ZWJ:
        return "dangling ZWJ"
    if attaches(after) and unicodedata.category(before) not in CONTROLS:
        return f"separated U+{ord(after):04X} from its base"
    if unicodedata.combining(before) == 9 and unicodedata.category(after) == "Lo":
        return "split an Indic conjunct after the virama"
    run = len(raw[:at]) - len(raw[:at].rstrip(FLAG_LETTERS))  # regional indicators before
    if run % 2 == 1 and after in FLAG_LETTERS:
        return "split a flag"
    return None


def assert_clean_cut(raw: str, shown: str, limit: int) -> None:
    assert len(shown) <= limit
    assert shown.endswith(ELLIPSIS)
    head = shown[: -len(ELLIPSIS)]
    assert "&" not in ENTITY.sub("", head), f"broken entity in {head[-8:]!r}"
    prefix = unescape(head)
    assert raw.startswith(prefix)
    assert bad_cut(raw, len(prefix)) is None, (bad_cut(raw, len(prefix)), prefix[-6:])


# ------------------------------------------------------------------ escape / truncate
@pytest.mark.parametrize("payload", MENTIONS)
def test_escape_neutralises_mentions_and_links(payload: str) -> None:
    assert "<" not in escape(payload) and ">" not in escape(payload)
    assert unescape(escape(payload)) == payload


def test_short_text_is_only_escaped() -> None:
    assert truncate("a < b & c", 100) == ("a &lt; b &amp; c", False)
    assert truncate("", 5) == ("", False)
    # The limit counts escaped characters: "<" is 4 once escaped.
    assert truncate("<<", 8) == ("&lt;&lt;", False)
    assert truncate("<<", 7)[1] is True


@pytest.mark.parametrize(
    "raw",
    [
        FAMILY * 40,
        CONJUNCTS * 30,
        HINDI * 10,
        "a&b<c>" * 60,
        "&" * 100,
        "🇨🇿🇮🇳🇧🇷" * 30,
        "1️⃣👍🏽e\u0301" * 40,
        "👩‍👩‍👧‍👦🏳️‍🌈" * 30,
        "Dobrý den, objednávka stále nedorazila. " * 10,
    ],
    ids=["family", "conjuncts", "hindi", "entities", "amps", "flags", "mixed", "zwj", "czech"],
)
def test_truncate_never_breaks_a_character_at_any_limit(raw: str) -> None:
    for limit in range(1, 90):
        shown, cut = truncate(raw, limit)
        assert cut
        assert_clean_cut(raw, shown, limit)


def test_truncate_keeps_as_much_as_fits() -> None:
    shown, cut = truncate("x" * 50, 10)
    assert (shown, cut) == ("x" * 9 + ELLIPSIS, True)
    # "&" straddling the limit: the entity is dropped whole, not cut in half.
    shown, _ = truncate("abcd&efgh", 7)
    assert shown == "abcd" + ELLIPSIS


def test_clip_cuts_plain_text_without_escaping() -> None:
    assert clip("a & b", 10) == "a & b"
    assert clip(FAMILY * 10, 12) == FAMILY * 2 + ELLIPSIS
    assert len(clip("é" * 200, 75)) <= 75


def test_graphemes_group_what_readers_see_as_one_character() -> None:
    text = "👩‍👩‍👧‍👦🏳️‍🌈क्षत्रि🇨🇿🇮🇳1️⃣👍🏽e\u0301\r\n한국"
    assert list(graphemes(text)) == [
        "👩‍👩‍👧‍👦",
        "🏳️‍🌈",
        "क्ष",
        "त्रि",
        "🇨🇿",
        "🇮🇳",
        "1️⃣",
        "👍🏽",
        "e\u0301",
        "\r\n",
        "한",
        "국",
    ]
    assert "".join(graphemes(HINDI)) == HINDI


# ------------------------------------------------------------------ chunks
TRICKY = st.sampled_from(
    ["a", " ", "\n", "&", "<", ">", ZWJ, "\u0301", "\ufe0f", "👩", "🏽", "🇨", "क", "्", "\r"]
)
TEXTS = st.one_of(
    st.text(),
    st.lists(TRICKY, max_size=400).map("".join),
    st.lists(st.sampled_from([FAMILY, "क्ष", "&amp;", "word ", "\n", "🇨🇿"]), max_size=200).map(
        "".join
    ),
)


@settings(max_examples=400, deadline=None)
@given(text=TEXTS, size=st.integers(min_value=5, max_value=60))
def test_chunks_rebuild_the_escaped_text_exactly(text: str, size: int) -> None:
    pieces = chunks(text, size)
    assert "".join(pieces) == escape(text)
    assert all(0 < len(p) <= size for p in pieces)
    # Cuts fall between characters, unless one character alone is bigger than a piece.
    if all(len(escape(g)) <= size for g in graphemes(text)):
        at = 0
        for piece in pieces[:-1]:
            assert "&" not in ENTITY.sub("", piece)
            at += len(unescape(piece))
            assert bad_cut(text, at) is None, (bad_cut(text, at), piece[-6:])


@settings(max_examples=400, deadline=None)
@given(text=TEXTS, limit=st.integers(min_value=1, max_value=60))
@example(text="0000<<\u200d 00", limit=15)  # a blank after a ZWJ must not be stripped alone
def test_truncate_cuts_cleanly_for_any_text(text: str, limit: int) -> None:
    shown, cut = truncate(text, limit)
    assert len(shown) <= limit
    if not cut:
        assert shown == escape(text)
    elif all(len(escape(g)) < limit for g in graphemes(text)):
        assert_clean_cut(text, shown, limit)


def test_chunks_prefer_a_newline_then_a_space_near_the_end() -> None:
    text = "x" * 95 + "\n" + "y" * 10 + " " + "z" * 50
    pieces = chunks(text, 100)
    assert pieces[0] == "x" * 95 + "\n"
    words = chunks("lorem ipsum " * 50, 100)
    assert all(p.endswith(" ") for p in words[:-1])
    assert all(len(p) > 90 for p in words[:-1])


def test_chunks_of_nothing_and_bad_sizes() -> None:
    assert chunks("", 10) == []
    with pytest.raises(ValueError):
        chunks("abc", 4)  # could not hold "&amp;"


def test_chunks_split_an_absurd_cluster_rather_than_loop() -> None:
    zalgo = "a" + "\u0301" * 50
    pieces = chunks(zalgo, 10)
    assert "".join(pieces) == zalgo and all(len(p) <= 10 for p in pieces)


# ------------------------------------------------------------------ links
def test_link_links_only_http_urls() -> None:
    assert link("https://example.com/a", "Ana") == "<https://example.com/a|Ana>"
    assert link("HTTP://example.com", "x") == "<HTTP://example.com|x>"
    for bad in (None, "", "javascript:alert(1)", "ftp://x/y", "/relative", "https://", "x"):
        assert link(bad, "Ana <!here>") == "Ana &lt;!here&gt;"


def test_link_cannot_be_broken_out_of() -> None:
    out = link("https://example.com/?a=1&b=2|<!channel>", "<@U123> & co")
    assert out == "<https://example.com/?a=1&amp;b=2%7C%3C!channel%3E|&lt;@U123&gt; &amp; co>"
    assert out.count("<") == 1 and out.count(">") == 1 and out.count("|") == 1
    spaced = safe_url("https://example.com/a b\n")
    assert spaced == "https://example.com/a%20b"


def test_link_label_is_cut_and_never_empty() -> None:
    label = link("https://example.com", "é" * 500).split("|", 1)[1][:-1]
    assert len(label) <= LINK_LABEL_LIMIT and label.endswith(ELLIPSIS)
    assert link("https://example.com/x", "  ") == "<https://example.com/x|https://example.com/x>"
    assert link("https://example.com/" + "a" * 5000, "long") == "long"
