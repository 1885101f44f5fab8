"""Replies longer than a network allows are cut into ordered parts at natural boundaries."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.blocks.mrkdwn import graphemes
from bot.sources.split import bluesky_length, length_in_chars, length_in_graphemes, split_reply


def test_short_text_is_one_part_and_empty_text_none() -> None:
    assert split_reply("Thanks!", 500) == ["Thanks!"]
    assert split_reply("  \n ", 500) == []


def test_4500_characters_become_three_ordered_discord_parts_cut_between_sentences() -> None:
    sentences = [f"Sentence number {i} explains one more step of the fix." for i in range(90)]
    text = " ".join(sentences)
    assert len(text) > 4500
    parts = split_reply(text, 2000)
    assert len(parts) == 3
    assert all(len(p) <= 2000 for p in parts)
    assert all(p.endswith(".") for p in parts)  # each ends on a whole sentence
    assert " ".join(parts) == text


def test_prefers_a_paragraph_break() -> None:
    text = "A" * 300 + "\n\n" + "B " * 150
    parts = split_reply(text, 500)
    assert parts[0] == "A" * 300


def test_chinese_without_spaces_cuts_after_a_full_stop() -> None:
    text = "您好，我们已经收到您的订单。" * 40
    parts = split_reply(text, 300, length_in_graphemes)
    assert all(length_in_graphemes(p) <= 300 for p in parts)
    assert all(p.endswith("。") for p in parts)
    assert "".join(parts) == text


def test_bluesky_counts_graphemes_not_code_points() -> None:
    flags = "🇨🇿" * 299  # 598 code points, 299 graphemes
    assert split_reply(flags, 300, length_in_graphemes) == [flags]
    family = "👨‍👩‍👧" * 400
    parts = split_reply(family, 300, length_in_graphemes)
    assert [length_in_graphemes(p) for p in parts] == [300, 100]


def test_numbered_parts_stay_inside_the_limit() -> None:
    text = "word " * 400
    parts = split_reply(text, 500, numbered=True)
    assert parts[0].endswith(f"(1/{len(parts)})")
    assert all(len(p) <= 500 for p in parts)


def test_tiny_limit_is_refused() -> None:
    with pytest.raises(ValueError):
        split_reply("x" * 50, 5)


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=3000), st.sampled_from([300, 500, 2000]))
def test_any_text_keeps_every_grapheme_in_order(text: str, limit: int) -> None:
    parts = split_reply(text, limit, length_in_chars)
    assert all(len(p) <= limit for p in parts)
    squeezed = "".join("".join(p.split()) for p in parts)
    assert squeezed == "".join(text.split())
    # no cut lands inside a grapheme: each part is made of whole clusters of the original
    for part in parts:
        assert "".join(graphemes(part)) == part


def test_bluesky_parts_fit_both_300_graphemes_and_3000_bytes() -> None:
    family = "👨‍👩‍👧‍👦" * 290  # 290 graphemes, 25 bytes each: 7,250 bytes
    parts = split_reply(family, 300, bluesky_length)
    assert len(parts) == 3
    assert all(len(p.encode()) <= 3000 and length_in_graphemes(p) <= 300 for p in parts)
    assert "".join(parts) == family
    latin = "word " * 59  # 295 graphemes and bytes: one post
    assert split_reply(latin, 300, bluesky_length) == [latin.strip()]
