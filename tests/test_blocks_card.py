"""bot.blocks.card: the conversation card, thread follow-ups and cross-channel notices.

Properties, not snapshots: nothing a customer wrote can become a mention or a link, every
script arrives byte-exact, Slack's limits hold for absurd input, and FakeSlack (which enforces
Slack's block rules) accepts what we build when it goes through the real WebClient.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.models.blocks import Block

from bot.blocks.card import (
    CARD_TEXT_LIMIT,
    CardData,
    channel_notice,
    conversation_card,
    follow_up_message,
)
from bot.blocks.mrkdwn import escape
from tests.fakes.slack import FakeSlack

WHEN = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
STAFF = "U0STAFF1"
PAYLOADS = ("<!channel>", "<!here>", "<@U123>", "<!subteam^S1>", "<https://evil|click here>")
UNICODE = {
    "fa": "سلام، سفارش من هنوز نرسیده است و پشتیبانی جواب نمی‌دهد.",
    "zh": "你好，我的订单还没有到，客服也不回复。",
    "hi": "नमस्ते, मेरा ऑर्डर अभी तक नहीं आया।",
    "cs": "Dobrý den, objednávka stále nedorazila. Děkuji.",
    "emoji": "👩‍👩‍👧‍👦🏳️‍🌈",
}
BLOCK_TYPES = {"section", "context", "actions", "header", "divider"}
# Every `<…>` we may emit ourselves; anything else is customer text that escaped escaping.
OUR_MARKUP = [
    re.compile(r"<!date\^\d+\^\{date_short_pretty\} \{time\}\|[0-9T:Z-]+>"),
    re.compile(r"<@U0STAFF1>"),
    re.compile(r"<#C[A-Z0-9]+>"),
    re.compile(r"<https://(example\.com|fake\.slack\.com)/[^<>|\s]*\|[^<>]+>"),
]


def card_data(**changes: Any) -> CardData:
    base = CardData(
        conversation_id=42,
        source="mastodon",
        customer_name="Ana Nováková",
        handle="ana@mastodon.example",
        profile_url="https://example.com/@ana",
        followers=12_345,
        influencer=False,
        text="My order has not arrived & nobody answers.",
        message_url="https://example.com/@ana/1",
        language="en",
        intent="complaint",
        sentiment="negative",
        priority=2,
        tags=("billing",),
        allowed_tags=("billing", "bug", "vip"),
        status="open",
        assignee_slack_id=None,
        is_direct=False,
        attachments=(("receipt.png", "https://example.com/receipt.png"),),
        created_at=WHEN,
    )
    return dataclasses.replace(base, **changes)


def follow_up(**changes: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "author_name": "Ana Nováková",
        "handle": "ana",
        "source": "discord",
        "text": "Any news?",
        "url": "https://example.com/m/2",
        "attachments": (),
        "created_at": WHEN,
    }
    return follow_up_message(**{**args, **changes})


def notice(data: CardData | None = None, **changes: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "home_channel": "C0SUPPORT",
        "permalink": "https://fake.slack.com/archives/C0SUPPORT/p1700000000000100",
        "data": data or card_data(),
    }
    return channel_notice(**{**args, **changes})


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from strings(value)


def foreign_markup(payload: dict[str, Any]) -> list[str]:
    """Every `<…>` token in the payload that is not one of ours."""
    found = []
    for text in strings(payload):
        for token in re.findall(r"<[^>]*>?", text):
            if not any(p.fullmatch(token) for p in OUR_MARKUP):
                found.append(token)
    return found


def texts_of(blocks: list[dict[str, Any]], kind: str) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == kind and "text" in b]


def elements(card: dict[str, Any]) -> list[dict[str, Any]]:
    actions = [b for b in card["blocks"] if b["type"] == "actions"]
    assert len(actions) == 1
    return actions[0]["elements"]


def by_action(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["action_id"]: e for e in elements(card)}


def assert_within_limits(payload: dict[str, Any], *, fallback: int = 300) -> None:
    """Slack's Block Kit limits (PLATFORM-NOTES.md), checked on every object we emit."""
    assert 0 < len(payload["text"]) <= fallback
    blocks = payload["blocks"]
    assert 0 < len(blocks) <= 50
    for block in blocks:
        assert block["type"] in BLOCK_TYPES
        assert len(block.get("block_id", "")) <= 255
        if block["type"] == "section":
            assert 0 < len(block["text"]["text"]) <= 3000
        if block["type"] == "header":
            assert 0 < len(block["text"]["text"]) <= 150
        if block["type"] == "context":
            assert 0 < len(block["elements"]) <= 10
            assert all(0 < len(e["text"]) <= 3000 for e in block["elements"])
        if block["type"] == "actions":
            assert 0 < len(block["elements"]) <= 25
            for el in block["elements"]:
                assert_element_within_limits(el)


def assert_element_within_limits(el: dict[str, Any]) -> None:
    assert len(el["action_id"]) <= 255
    if el["type"] == "button":
        assert 0 < len(el["text"]["text"]) <= 75 and len(el["value"]) <= 2000
    if el["type"] == "multi_static_select":
        assert 0 < len(el["options"]) <= 100
        values = [o["value"] for o in el["options"]]
        assert len(set(values)) == len(values)
        for option in el["options"]:
            assert 0 < len(option["text"]["text"]) <= 75 and 0 < len(option["value"]) <= 150
        assert all(o in el["options"] for o in el.get("initial_options", []))


def assert_valid_structure(payload: dict[str, Any]) -> None:
    for block in payload["blocks"]:
        parsed = Block.parse(block)
        assert parsed is not None and parsed.type == block["type"]
        parsed.validate_json()  # slack_sdk's own model checks
        for node in _dicts(block):
            if isinstance(node.get("text"), dict):
                assert node["text"]["type"] in {"mrkdwn", "plain_text"}
        for element in block.get("elements", []):
            if block["type"] == "context":
                assert element["type"] in {"mrkdwn", "plain_text", "image"}


def _dicts(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _dicts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _dicts(value)


# ------------------------------------------------------------------ injection
CUSTOMER_FIELDS = ("customer_name", "handle", "text", "attachment")


def evil_card(field: str, payload: str, **changes: Any) -> CardData:
    if field == "attachment":
        changes["attachments"] = ((payload, "https://example.com/file"),)
    else:
        changes[field] = payload
    return card_data(**changes)


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("field", CUSTOMER_FIELDS)
def test_customer_text_never_becomes_a_mention_or_link(field: str, payload: str) -> None:
    data = evil_card(field, f"hi {payload} there", assignee_slack_id=STAFF)
    card = conversation_card(data)
    outputs = {
        "card": card,
        "notice": notice(data),
        "follow-up": follow_up(
            author_name=data.customer_name,
            handle=data.handle,
            text=data.text,
            attachments=data.attachments,
        ),
    }
    for name, out in outputs.items():
        assert foreign_markup(out) == [], name
    shown = json.dumps(card, ensure_ascii=False)
    assert escape(payload) in shown  # still visible, as text
    # The one mention we do render: our own staff member from Slack.
    assert any("<@U0STAFF1>" in s for s in strings(card["blocks"]))


def test_the_check_itself_catches_an_unescaped_mention() -> None:
    leaked = {"text": "x", "blocks": [{"type": "section", "text": {"text": "hi <!here>"}}]}
    assert foreign_markup(leaked) == ["<!here>"]


def test_hostile_urls_do_not_break_out_of_their_link() -> None:
    data = card_data(
        profile_url="https://example.com/a|<!channel>",
        message_url="javascript:alert(1)",
        attachments=(("x", "https://example.com/f>|<@U123>"), ("y", "data:text/html,hi")),
        text="long " * 2000,
    )
    dump = json.dumps(conversation_card(data), ensure_ascii=False)
    assert "<!channel>" not in dump and "<@U123>" not in dump
    assert "javascript:" not in dump and "data:text" not in dump


def test_a_forged_assignee_id_is_not_rendered_as_a_mention() -> None:
    card = conversation_card(card_data(assignee_slack_id="<!channel>"))
    assert foreign_markup(card) == []


# ------------------------------------------------------------------ unicode
@pytest.mark.parametrize("lang", sorted(UNICODE))
def test_every_script_comes_through_byte_exact(lang: str) -> None:
    text = UNICODE[lang]
    card = conversation_card(card_data(text=text, customer_name=text))
    sections = texts_of(card["blocks"], "section")
    assert escape(text).encode() in [s.encode() for s in sections]  # the message, untouched
    assert any(f"*{text}*".encode() in s.encode() for s in sections)  # the name
    reply = follow_up(text=text)
    assert texts_of(reply["blocks"], "section") == [escape(text)]
    assert escape(text) in texts_of(notice(card_data(text=text))["blocks"], "section")[0]


# ------------------------------------------------------------------ limits
HUGE = card_data(
    customer_name="N" * 10_000,
    handle="h" * 10_000,
    text="word&" * 20_000,
    tags=tuple(f"tag-{i:03}" for i in range(300)),
    allowed_tags=tuple(f"allowed-{i:03}-" + "x" * 100 for i in range(300)),
    attachments=tuple((f"file-{i}-" + "n" * 500, f"https://example.com/{i}") for i in range(50)),
    profile_url="https://example.com/" + "p" * 1900,
    message_url="https://example.com/" + "m" * 1900,
    followers=10**12,
    influencer=True,
    is_direct=True,
    assignee_slack_id=STAFF,
    source="some_very_long_network_name-" * 20,
    message_count=10**6,
)


@pytest.mark.parametrize(
    "data",
    [
        HUGE,
        dataclasses.replace(HUGE, status="resolved", reply_supported=False),
        dataclasses.replace(HUGE, status="suppressed", message_url=None, profile_url=None),
        card_data(text="", customer_name=None, handle=None, tags=(), allowed_tags=()),
        card_data(text="   ", attachments=(), followers=None, priority=99, intent=None),
    ],
    ids=["huge", "resolved-read-only", "suppressed", "empty", "blank"],
)
def test_the_card_respects_slack_limits_for_any_input(data: CardData) -> None:
    card = conversation_card(data)
    assert_within_limits(card)
    assert_valid_structure(card)


def test_huge_input_is_cut_not_dropped() -> None:
    card = conversation_card(HUGE)
    head, message = texts_of(card["blocks"], "section")[:2]
    assert "N" * 140 in head
    # The 1900-char message URL takes its room from the text, within the same 3000.
    assert message.startswith(escape(HUGE.text)[:1000]) and "full message" in message
    picker = by_action(card)["conversation.tags"]
    # All 300 current tags cannot be options; those that are must all be shown as selected.
    assert [o["value"] for o in picker["initial_options"]] == sorted(HUGE.tags)[:100]
    attachments = next(s for s in texts_of(card["blocks"], "section") if "Attachments" in s)
    assert attachments.count("• ") == 5 and "+45 more" in attachments


def test_message_text_is_cut_exactly_where_the_thread_takes_over() -> None:
    exact = "a" * (CARD_TEXT_LIMIT - 5) + "&"  # escaped length == the limit
    shown = texts_of(conversation_card(card_data(text=exact))["blocks"], "section")[1]
    assert shown == escape(exact)
    longer = exact + "b"
    shown = texts_of(
        conversation_card(card_data(text=longer, message_url=None))["blocks"], "section"
    )[1]
    body, note = shown.rsplit("\n", 1)
    assert note == "_(continues in the thread)_" and body.endswith("…")
    assert escape(longer).startswith(body[:-1]) and len(body) <= CARD_TEXT_LIMIT


def test_tag_picker_options() -> None:
    card = conversation_card(card_data(tags=("zeta", "alpha"), allowed_tags=("beta", "alpha")))
    picker = by_action(card)["conversation.tags"]
    assert [o["value"] for o in picker["options"]] == ["alpha", "beta", "zeta"]
    assert [o["value"] for o in picker["initial_options"]] == ["alpha", "zeta"]
    assert picker["placeholder"]["text"] == "Tags"
    none = conversation_card(card_data(tags=(), allowed_tags=()))
    assert "conversation.tags" not in by_action(none)
    no_current = by_action(conversation_card(card_data(tags=())))["conversation.tags"]
    assert "initial_options" not in no_current
    long_tag = "t" * 200  # cannot round-trip through a 150-char value: left out, not renamed
    odd = by_action(conversation_card(card_data(tags=(long_tag, "e" * 90))))["conversation.tags"]
    assert long_tag not in [o["value"] for o in odd["options"]]
    assert_element_within_limits(odd)


# ------------------------------------------------------------------ buttons and states
def test_unassigned_card_offers_claim() -> None:
    actions = by_action(conversation_card(card_data()))
    assert set(actions) == {
        "conversation.claim",
        "conversation.draft",
        "conversation.outcome",
        "conversation.tags",
        "conversation.reassign",
    }
    assert "initial_user" not in actions["conversation.reassign"]
    assert actions["conversation.claim"]["style"] == "primary"
    buttons = [e for e in actions.values() if e["type"] == "button"]
    assert {b["value"] for b in buttons} == {"42"}
    block = next(b for b in conversation_card(card_data())["blocks"] if b["type"] == "actions")
    assert block["block_id"] == "conversation:42"


def test_assigned_card_offers_unclaim_and_names_the_assignee() -> None:
    card = conversation_card(card_data(assignee_slack_id=STAFF, conversation_id=7))
    actions = by_action(card)
    assert "conversation.claim" not in actions and actions["conversation.unclaim"]["value"] == "7"
    assert any("<@U0STAFF1>" in s for s in strings(card["blocks"]))
    assert not any("<@" in s for s in strings(conversation_card(card_data())["blocks"]))


def test_read_only_source_has_no_draft_button_and_points_to_the_site() -> None:
    card = conversation_card(card_data(source="rss", reply_supported=False))
    assert "conversation.draft" not in by_action(card)
    notes = [e["text"] for b in card["blocks"] if b["type"] == "context" for e in b["elements"]]
    hint = next(n for n in notes if "Read-only source: reply on the site" in n)
    assert "<https://example.com/@ana/1|" in hint and "RSS/Atom" in hint


def test_card_shows_who_and_how_urgent() -> None:
    card = conversation_card(
        card_data(priority=3, followers=12_345, influencer=True, is_direct=True)
    )
    head = texts_of(card["blocks"], "section")[0]
    assert head.startswith("🔴") and "*Ana Nováková*" in head
    assert "<https://example.com/@ana|@ana@mastodon.example> on Mastodon" in head
    for fact in ("12.3k followers", "⭐ influencer", "🔒 direct message"):
        assert fact in head
    badges = {
        p: texts_of(conversation_card(card_data(priority=p))["blocks"], "section")[0][0]
        for p in range(4)
    }
    assert badges == {0: "⚪", 1: "🔵", 2: "🟠", 3: "🔴"}
    assert "🔴" in card["text"] and "Ana Nováková" in card["text"]


@pytest.mark.parametrize(
    ("status", "marker", "kind"),
    [("resolved", "✅", "section"), ("suppressed", "Suppressed", "context")],
)
def test_status_lines(status: str, marker: str, kind: str) -> None:
    blocks = conversation_card(card_data(status=status))["blocks"]
    assert any(marker in s for b in blocks if b["type"] == kind for s in strings(b))
    open_blocks = conversation_card(card_data())["blocks"]
    assert not any(marker in s for s in strings(open_blocks))


def test_time_is_a_slack_date_token() -> None:
    card = conversation_card(card_data())
    stamp = f"<!date^{int(WHEN.timestamp())}^{{date_short_pretty}} {{time}}|2026-11-23T09:00Z>"
    assert any(stamp in s for s in strings(card["blocks"]))


# ------------------------------------------------------------------ follow-ups and notices
def test_long_follow_up_is_split_across_sections_without_losing_a_character() -> None:
    text = ("Ещё раз & снова: 👩‍👩‍👧 क्षत्रिय <b>\n" * 2500)[:100_000]
    reply = follow_up(text=text)
    sections = texts_of(reply["blocks"], "section")
    assert len(sections) > 1 and "".join(sections) == escape(text)
    assert_within_limits(reply)
    assert_valid_structure(reply)


def test_a_follow_up_beyond_45_sections_says_it_was_cut_and_links_the_original() -> None:
    reply = follow_up(text="x" * 200_000, attachments=(("a", "https://example.com/a"),) * 9)
    sections = texts_of(reply["blocks"], "section")
    assert len(sections) == 46  # 45 of text + the attachments
    assert "cut" in sections[44] and "<https://example.com/m/2|" in sections[44]
    assert_within_limits(reply)


def test_follow_up_context_names_who_and_when() -> None:
    context = follow_up()["blocks"][0]
    assert context["type"] == "context"
    line = context["elements"][0]["text"]
    assert "*Ana Nováková* (@ana) on Discord" in line and "<!date^" in line
    assert follow_up(text="", attachments=())["blocks"][1]["text"]["text"] == "_(no text)_"


def test_notice_points_to_the_thread() -> None:
    text = texts_of(notice()["blocks"], "section")[0]
    headline, quote = text.split("\n")
    assert headline.startswith("🟠 New complaint from *Ana Nováková* on Mastodon in <#C0SUPPORT>")
    assert "<https://fake.slack.com/archives/C0SUPPORT/p1700000000000100|open the thread>" in text
    assert quote == ">" + escape(card_data().text)
    by_name = texts_of(notice(home_channel="#support")["blocks"], "section")[0]
    assert " in #support" in by_name and "<#" not in by_name
    assert "open the thread" not in texts_of(notice(permalink=None)["blocks"], "section")[0]


def test_notice_quote_is_one_short_line() -> None:
    out = notice(card_data(text="line one\nline two " + "z" * 1000))
    quote = texts_of(out["blocks"], "section")[0].split("\n")[1]
    assert quote.startswith(">line one line two") and len(quote) <= 201
    assert_within_limits(out)
    assert_valid_structure(out)


# ------------------------------------------------------------------ through real Slack calls
def test_fake_slack_accepts_and_stores_all_three_byte_exact() -> None:
    text = " ".join(UNICODE.values()) + " <!channel> & " + "ok " * 2000
    data = card_data(text=text, customer_name="مریم <!here>", assignee_slack_id=STAFF)
    card, reply = conversation_card(data), follow_up(text=text)
    with FakeSlack() as slack:
        client = WebClient(base_url=slack.api_url, token="xoxb-test")
        posted = client.chat_postMessage(
            channel="C1",
            text=card["text"],
            blocks=card["blocks"],
            metadata={"event_type": "threadline_card", "event_payload": {"conversation_id": 42}},
        )
        client.chat_postMessage(
            channel="C1",
            thread_ts=posted["ts"],
            text=reply["text"],
            blocks=reply["blocks"],
            metadata={"event_type": "threadline_message", "event_payload": {"message_id": 2}},
        )
        sent = notice(data, home_channel="C1")
        client.chat_postMessage(channel="C1", text=sent["text"], blocks=sent["blocks"])
        stored = slack.messages("C1", include_replies=True)
    assert [m["blocks"] for m in stored] == [card["blocks"], reply["blocks"], sent["blocks"]]
    assert [m["text"] for m in stored] == [card["text"], reply["text"], sent["text"]]
    assert stored[0]["metadata"]["event_payload"] == {"conversation_id": 42}
    assert stored[1]["thread_ts"] == posted["ts"]
    shown = texts_of(stored[1]["blocks"], "section")
    assert "".join(shown).encode() == escape(text).encode()
