"""The action surfaces: the card's new lines and Reassign picker, the draft message, the edit and
outcome modals with their submission parsers, and the ephemeral answers.

Properties, not snapshots: LLM and customer text never becomes a mention or a link, every
script arrives byte-exact, Slack's limits hold for absurd input, each draft status offers only
its own buttons, and FakeSlack accepts what we build through the real WebClient.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.blocks.card import CardData, conversation_card
from bot.blocks.draft import DraftView, draft_length, draft_message
from bot.blocks.ephemeral import (
    action_failed,
    already_claimed,
    drafting_collision,
    only_assignee_can_send,
)
from bot.blocks.modals import (
    OutcomeForm,
    edit_draft_modal,
    outcome_modal,
    parse_edit_submission,
    parse_outcome_submission,
)
from bot.blocks.mrkdwn import escape
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_view_state import plain_text, state_values, static_select

WHEN = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
STAFF = "U0STAFF1"
OTHER = "W0STAFF2"
PAYLOADS = ("<!channel>", "<!here>", "<@U1>", "<!subteam^S1>", "<https://evil|x>", "<#C1>")
UNICODE = {
    "fa": "سلام مریم، از تأخیر عذرخواهی می‌کنیم؛ سفارش شما فردا ارسال می‌شود.",
    "zh": "您好，很抱歉让您久等了，您的订单明天发货。",
    "hi": "नमस्ते, देरी के लिए क्षमा करें। आपका ऑर्डर कल भेजा जाएगा।",
    "cs": "Dobrý den, omlouváme se za zpoždění; objednávka odejde zítra. Děkujeme!",
}
STATUSES = ("proposed", "sending", "sent", "failed", "discarded", "superseded")
# Markup we emit ourselves; any other `<…>` in mrkdwn is untrusted text that escaped escaping.
OUR_MARKUP = [
    re.compile(r"<@(U0STAFF1|W0STAFF2)>"),
    re.compile(r"<!date\^\d+\^\{date_short_pretty\} \{time\}\|[0-9T:Z-]+>"),
    re.compile(r"<https://example\.com/[^<>|\s]*\|[^<>]+>"),
]
# Keys whose strings Slack never renders (identifiers, values, raw input).
NOT_RENDERED = {"action_id", "block_id", "callback_id", "value", "private_metadata", "type"}
NOT_RENDERED |= {"initial_value", "initial_user", "style"}


# ------------------------------------------------------------------ helpers
def card_data(**changes: Any) -> CardData:
    base = CardData(
        conversation_id=42,
        source="mastodon",
        customer_name="Ana Nováková",
        handle="ana@mastodon.example",
        profile_url="https://example.com/@ana",
        followers=120,
        influencer=False,
        text="My order has not arrived.",
        message_url="https://example.com/@ana/1",
        language="en",
        intent="complaint",
        sentiment="negative",
        priority=2,
        tags=("billing",),
        allowed_tags=("billing", "bug"),
        status="open",
        assignee_slack_id=None,
        is_direct=False,
        attachments=(),
        created_at=WHEN,
    )
    return dataclasses.replace(base, **changes)


def draft_view(**changes: Any) -> DraftView:
    base = DraftView(
        draft_id=7,
        conversation_id=42,
        text="Dobrý den, omlouváme se za zpoždění.",
        language="cs",
        drafter="offline",
        fallback_reason=None,
        requested_by=STAFF,
        network="Mastodon",
        max_chars=500,
    )
    return dataclasses.replace(base, **changes)


def rendered_strings(node: Any, key: str = "") -> Iterator[str]:
    """Every string Slack parses as mrkdwn (or as notification text): plain_text objects and
    identifiers are left out, because Slack shows or uses them literally."""
    if isinstance(node, str):
        if key not in NOT_RENDERED:
            yield node
    elif isinstance(node, dict):
        if node.get("type") == "plain_text":
            return
        for k, value in node.items():
            yield from rendered_strings(value, k)
    elif isinstance(node, list):
        for value in node:
            yield from rendered_strings(value, key)


def all_strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from all_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from all_strings(value)


def foreign_markup(payload: Any) -> list[str]:
    """Every `<…>` token in rendered text that is not one of ours."""
    found = []
    for text in rendered_strings(payload):
        for token in re.findall(r"<[^>]*>?", text):
            if not any(p.fullmatch(token) for p in OUR_MARKUP):
                found.append(token)
    return found


def dicts(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from dicts(value)
    elif isinstance(node, list):
        for value in node:
            yield from dicts(value)


def section_texts(payload: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]


def context_texts(payload: dict[str, Any]) -> list[str]:
    return [e["text"] for b in payload["blocks"] if b["type"] == "context" for e in b["elements"]]


def action_elements(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]]


def by_action(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["action_id"]: e for e in action_elements(payload)}


def check_text_object(obj: dict[str, Any], limit: int, *, plain_only: bool = False) -> None:
    assert obj["type"] in ({"plain_text"} if plain_only else {"plain_text", "mrkdwn"})
    assert 0 < len(obj["text"]) <= limit


def check_element(el: dict[str, Any]) -> None:
    assert 0 < len(el["action_id"]) <= 255
    kind = el["type"]
    if kind == "button":
        check_text_object(el["text"], 75, plain_only=True)
        assert 0 < len(el["value"]) <= 2000
        assert el.get("style") in (None, "primary", "danger")
        if "confirm" in el:
            dialog = el["confirm"]
            check_text_object(dialog["title"], 100, plain_only=True)
            check_text_object(dialog["text"], 300)
            check_text_object(dialog["confirm"], 30, plain_only=True)
            check_text_object(dialog["deny"], 30, plain_only=True)
    elif kind in ("static_select", "multi_static_select"):
        check_text_object(el["placeholder"], 150, plain_only=True)
        assert 0 < len(el["options"]) <= 100
        values = [o["value"] for o in el["options"]]
        assert len(set(values)) == len(values)
        for option in el["options"]:
            check_text_object(option["text"], 75, plain_only=True)
            assert 0 < len(option["value"]) <= 150
        if "initial_option" in el:
            assert el["initial_option"] in el["options"]
    elif kind == "users_select":
        check_text_object(el["placeholder"], 150, plain_only=True)
        if "initial_user" in el:
            assert re.fullmatch(r"[UW][A-Z0-9]+", el["initial_user"])
    elif kind == "plain_text_input":
        assert 0 < el.get("max_length", 3000) <= 3000
        assert 0 < len(el.get("initial_value", "x")) <= el.get("max_length", 3000)
        if "placeholder" in el:
            check_text_object(el["placeholder"], 150, plain_only=True)
    else:
        raise AssertionError(f"unexpected element {kind}")


def check_blocks(blocks: list[dict[str, Any]], *, limit: int) -> None:
    assert 0 < len(blocks) <= limit
    ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(set(ids)) == len(ids)
    for block in blocks:
        assert 0 < len(block.get("block_id", "x")) <= 255
        kind = block["type"]
        if kind == "section":
            check_text_object(block["text"], 3000)
        elif kind == "context":
            assert 0 < len(block["elements"]) <= 10
            for element in block["elements"]:
                check_text_object(element, 3000)
        elif kind == "actions":
            assert 0 < len(block["elements"]) <= 25
            for element in block["elements"]:
                check_element(element)
        elif kind == "input":
            check_text_object(block["label"], 2000, plain_only=True)
            if "hint" in block:
                check_text_object(block["hint"], 2000, plain_only=True)
            check_element(block["element"])
        else:
            raise AssertionError(f"unexpected block {kind}")
        parsed = Block.parse(block)
        assert parsed is not None and parsed.type == kind
        parsed.validate_json()  # slack_sdk's own model checks


def check_message(payload: dict[str, Any], *, fallback: int = 300) -> None:
    assert set(payload) == {"text", "blocks"}
    assert 0 < len(payload["text"]) <= fallback
    check_blocks(payload["blocks"], limit=50)


def check_view(view: dict[str, Any]) -> None:
    assert view["type"] == "modal"
    for key in ("title", "submit", "close"):
        check_text_object(view[key], 24, plain_only=True)
    assert len(view["private_metadata"]) <= 3000
    assert json.loads(view["private_metadata"])  # our ids, as JSON
    assert 0 < len(view["callback_id"]) <= 255
    check_blocks(view["blocks"], limit=100)
    assert len(json.dumps(view).encode()) < 250_000
    View(**view).validate_json()


# ------------------------------------------------------------------ the checks can fail
def test_the_checks_catch_a_leak_and_a_broken_limit() -> None:
    leaked = {"blocks": [{"type": "context", "elements": [{"type": "mrkdwn", "text": "<!here>"}]}]}
    assert foreign_markup(leaked) == ["<!here>"]
    as_plain = {"type": "plain_text", "text": "<!here>"}  # Slack shows plain_text literally
    assert foreign_markup({"blocks": [{"type": "header", "text": as_plain}]}) == []
    long_button = {"type": "button", "action_id": "a", "value": "1"}
    long_button["text"] = {"type": "plain_text", "text": "x" * 76}
    with pytest.raises(AssertionError):
        check_element(long_button)
    view = edit_draft_modal(1, 2, "hi", "Mastodon", 500)
    view["title"] = {"type": "plain_text", "text": "A title that is far too long"}
    with pytest.raises(AssertionError):
        check_view(view)


# ------------------------------------------------------------------ card additions
def test_card_says_who_is_drafting() -> None:
    card = conversation_card(card_data(drafting_by=STAFF))
    assert "✍️ <@U0STAFF1> is drafting a reply" in context_texts(card)
    assert not any("drafting" in s for s in all_strings(conversation_card(card_data())))
    forged = conversation_card(card_data(drafting_by="<!channel>"))
    assert foreign_markup(forged) == []
    assert "✍️ &lt;!channel&gt; is drafting a reply" in context_texts(forged)


@pytest.mark.parametrize(
    ("kind", "label"),
    [
        ("resolved", "Resolved"),
        ("lead_created", "Lead created"),
        ("sale", "Sale"),
        ("refund", "Refund"),
        ("escalated", "Escalated"),
        ("no_action", "No action needed"),
        ("spam", "Spam"),
    ],
)
def test_card_shows_the_outcome_with_a_nice_label(kind: str, label: str) -> None:
    card = conversation_card(card_data(outcome=kind, outcome_value="120.00 EUR", outcome_by=STAFF))
    line = f"✅ Outcome: {label} · 120.00 EUR · logged by <@U0STAFF1>"
    assert line in context_texts(card)


def test_outcome_line_leaves_out_what_is_missing_and_escapes_the_rest() -> None:
    assert "✅ Outcome: Sale" in context_texts(conversation_card(card_data(outcome="sale")))
    card = conversation_card(
        card_data(outcome="<!here>_deal", outcome_value="<@U1> 5 & co", outcome_by="<!channel>")
    )
    assert foreign_markup(card) == []
    line = next(t for t in context_texts(card) if t.startswith("✅ Outcome:"))
    assert (
        line
        == "✅ Outcome: &lt;!here&gt; deal · &lt;@U1&gt; 5 &amp; co · logged by &lt;!channel&gt;"
    )
    assert not any("Outcome" in s for s in all_strings(conversation_card(card_data())))


def test_reply_hint_sits_under_the_actions_unless_off_or_read_only() -> None:
    hint = (
        "Reply to the customer with *Draft reply*; "
        "messages typed in this thread stay internal notes."
    )
    blocks = conversation_card(card_data())["blocks"]
    kinds = [b["type"] for b in blocks]
    after = blocks[kinds.index("actions") + 1]
    assert after["type"] == "context" and after["elements"][0]["text"] == hint
    assert hint not in context_texts(conversation_card(card_data(how_to_reply_hint=False)))
    read_only = conversation_card(card_data(source="rss", reply_supported=False))
    assert hint not in context_texts(read_only)


def test_claimed_card_offers_reassign_with_the_assignee_preselected() -> None:
    card = conversation_card(card_data(assignee_slack_id=STAFF))
    picker = by_action(card)["conversation.reassign"]
    assert picker["type"] == "users_select"
    assert picker["placeholder"]["text"] == "Reassign to…"
    assert picker["initial_user"] == STAFF
    block = next(b for b in card["blocks"] if b["type"] == "actions")
    assert block["block_id"] == "conversation:42" and len(block["elements"]) <= 25
    check_message(card)
    # Unclaimed: the picker is there too (a manager assigns directly), with nobody chosen.
    assert "initial_user" not in by_action(conversation_card(card_data()))["conversation.reassign"]
    forged = by_action(conversation_card(card_data(assignee_slack_id="<!channel>")))
    assert "initial_user" not in forged["conversation.reassign"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_card_additions_survive_hostile_text_and_huge_input(payload: str) -> None:
    data = card_data(
        customer_name=payload * 500,
        text=payload * 2000,
        assignee_slack_id=STAFF,
        drafting_by=OTHER,
        outcome="sale",
        outcome_value=payload * 100,
        outcome_by=STAFF,
        tags=tuple(f"t{i}" for i in range(200)),
        allowed_tags=tuple(f"a{i}" for i in range(200)),
    )
    card = conversation_card(data)
    check_message(card)
    assert foreign_markup(card) == []
    assert escape(payload) in json.dumps(card, ensure_ascii=False)


# ------------------------------------------------------------------ draft message
EXPECTED_ACTIONS = {
    "proposed": {"draft.send", "draft.edit", "draft.regenerate", "draft.discard"},
    "failed": {"delivery.retry"},
}


@pytest.mark.parametrize("status", STATUSES)
def test_each_status_offers_only_its_own_buttons(status: str) -> None:
    message = draft_message(
        draft_view(
            status=status,
            sent_by=STAFF,
            sent_url="https://example.com/@shop/9",
            error="HTTP 503 from the instance",
        )
    )
    check_message(message)
    actions = by_action(message)
    assert set(actions) == EXPECTED_ACTIONS.get(status, set())
    assert all(e["type"] == "button" and e["value"] == "7" for e in actions.values())
    blocks = [b for b in message["blocks"] if b["type"] == "actions"]
    assert [b["block_id"] for b in blocks] == (["draft:7"] if actions else [])


def test_proposed_draft_buttons() -> None:
    actions = by_action(draft_message(draft_view(network="Discord")))
    assert [a["text"]["text"] for a in actions.values()] == [
        "Send",
        "Edit",
        "Regenerate",
        "Discard",
    ]
    assert actions["draft.send"]["style"] == "primary"
    assert actions["draft.discard"]["style"] == "danger"
    assert "style" not in actions["draft.edit"] and "style" not in actions["draft.regenerate"]
    confirm = actions["draft.send"]["confirm"]
    assert confirm["text"]["text"] == "Send this reply to the customer on Discord?"
    assert confirm["confirm"]["text"] == "Send" and confirm["deny"]["text"] == "Cancel"
    assert all("confirm" not in a for k, a in actions.items() if k != "draft.send")


@pytest.mark.parametrize(
    ("status", "line"),
    [
        ("sending", "⏳ Sending to Mastodon…"),
        (
            "sent",
            "✅ Sent by <@U0STAFF1> to Mastodon · "
            "<https://example.com/@shop/9|view it on Mastodon>",
        ),
        ("failed", "❌ *Delivery failed:* HTTP 503 from the instance"),
        ("discarded", "🗑️ Discarded"),
        ("superseded", "↻ Replaced by a newer draft"),
    ],
)
def test_status_lines(status: str, line: str) -> None:
    view = draft_view(
        status=status,
        sent_by=STAFF,
        sent_url="https://example.com/@shop/9",
        error="HTTP 503 from the instance",
    )
    message = draft_message(view)
    shown = section_texts(message) + context_texts(message)
    assert line in shown
    others = {"⏳", "✅", "❌", "🗑️", "↻"} - {line.split()[0]}
    assert not any(s.startswith(tuple(others)) for s in shown)


def test_sent_links_only_to_a_real_web_address() -> None:
    for url in ("javascript:alert(1)", None, "slack://open", "https://example.com/a|<!here>"):
        message = draft_message(draft_view(status="sent", sent_by=STAFF, sent_url=url))
        assert foreign_markup(message) == []
        dump = json.dumps(message)
        assert "javascript:" not in dump and "slack://" not in dump and "<!here>" not in dump
    anonymous = draft_message(draft_view(status="sent", sent_by=None, sent_url=None))
    assert "✅ Sent to Mastodon" in section_texts(anonymous)


def test_header_names_language_drafter_and_requester() -> None:
    offline = context_texts(draft_message(draft_view()))[0]
    assert offline == "📝 *Draft reply* (cs) · offline drafter · requested by <@U0STAFF1>"
    llm = context_texts(
        draft_message(draft_view(drafter="openai:gpt-4.1-mini", language=None, requested_by=None))
    )[0]
    assert llm == "📝 *Draft reply* · gpt-4.1-mini (openai)"


def test_fallback_reason_and_length_line() -> None:
    reason = "OpenAI timed out; offline template used"
    message = draft_message(draft_view(fallback_reason=reason, text="x" * 120))
    assert f"⚠️ {reason}" in context_texts(message)
    assert "120/500 characters" in context_texts(message)
    assert not any("⚠️" in t for t in context_texts(draft_message(draft_view())))
    over = draft_message(draft_view(text="y" * 612))
    warning = next(t for t in context_texts(over) if "612/500" in t)
    assert warning.startswith("⚠️") and "too long for Mastodon" in warning
    assert "longer than Mastodon's 500" in by_action(over)["draft.send"]["confirm"]["text"]["text"]
    unlimited = draft_message(draft_view(max_chars=None))
    assert not any("characters" in t for t in context_texts(unlimited))


def test_length_counts_what_a_reader_counts() -> None:
    family = "👩‍👩‍👧‍👦"
    assert draft_length(family * 3) == 3 and len(family * 3) == 21
    assert draft_length(UNICODE["hi"]) < len(UNICODE["hi"])
    message = draft_message(draft_view(text=family * 300, max_chars=300))
    assert "300/300 characters" in context_texts(message)


@pytest.mark.parametrize("lang", sorted(UNICODE))
def test_every_script_comes_through_byte_exact(lang: str) -> None:
    text = UNICODE[lang]
    message = draft_message(draft_view(text=text, language=lang))
    assert [s.encode() for s in section_texts(message)] == [text.encode()]
    view = edit_draft_modal(7, 42, text, "Discord", 2000)
    assert view["blocks"][0]["element"]["initial_value"].encode() == text.encode()
    submitted, errors = parse_edit_submission(state_values({"draft_text": {"text": text}}))
    assert errors == {} and submitted is not None and submitted.encode() == text.encode()


def test_long_draft_is_split_and_absurd_draft_is_capped() -> None:
    text = ("Ещё раз & снова: 👩‍👩‍👧 क्षत्रिय <b>\n" * 600)[:20_000]
    sections = section_texts(draft_message(draft_view(text=text)))
    assert 1 < len(sections) <= 10 and "".join(sections) == escape(text)
    huge = draft_message(draft_view(text="z" * 100_000))
    check_message(huge)
    sections = section_texts(huge)
    assert len(sections) == 10 and "more characters are not shown" in sections[-1]
    empty = draft_message(draft_view(text="  \n "))
    assert "_(empty draft)_" in section_texts(empty)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_llm_text_never_becomes_a_mention_or_link(payload: str) -> None:
    evil = f"hi {payload} there"
    for status in STATUSES:
        view = draft_view(
            text=evil * 300,
            language=evil,
            drafter=evil,
            fallback_reason=evil,
            network=evil,
            status=status,
            error=evil,
            sent_by=STAFF,
            sent_url="https://example.com/r/1",
            requested_by=evil,
        )
        message = draft_message(view)
        check_message(message)
        assert foreign_markup(message) == [], status
        assert escape(payload) in section_texts(message)[0]
        assert escape(payload) in message["text"] and payload not in message["text"]


def test_fallback_text_is_short_and_escaped() -> None:
    message = draft_message(draft_view(text="<!channel> " * 1000))
    assert len(message["text"]) <= 300 and "&lt;!channel&gt;" in message["text"]
    assert draft_message(draft_view(status="sent", text="ok"))["text"].startswith("📝 Reply sent")


# ------------------------------------------------------------------ edit modal
def test_edit_modal_structure() -> None:
    text = "Hi <@U1> & <!channel>, sorry!"  # plain_text_input: shown literally, not escaped
    view = edit_draft_modal(7, 42, text, "Mastodon", 500)
    check_view(view)
    assert view["callback_id"] == "draft.edit_submit"
    assert [view[k]["text"] for k in ("title", "submit", "close")] == [
        "Edit reply",
        "Save",
        "Cancel",
    ]
    assert json.loads(view["private_metadata"]) == {"draft_id": 7, "conversation_id": 42}
    (block,) = view["blocks"]
    assert block["type"] == "input" and block["block_id"] == "draft_text"
    element = block["element"]
    assert element["type"] == "plain_text_input" and element["action_id"] == "text"
    assert element["multiline"] is True and element["initial_value"] == text
    assert "Mastodon" in block["hint"]["text"] and "500" in block["hint"]["text"]
    by_source = edit_draft_modal(7, 42, text, "mastodon", 500)["blocks"][0]["hint"]["text"]
    assert by_source == block["hint"]["text"]  # a source key shows as its display name
    unlimited = edit_draft_modal(7, 42, text, "Webhook", None)["blocks"][0]["hint"]["text"]
    assert "Webhook" in unlimited and not re.search(r"\d", unlimited)


def test_edit_modal_caps_the_text_on_a_character_boundary() -> None:
    family = "👨‍👩‍👧"  # 5 code points
    view = edit_draft_modal(7, 42, "a" + family * 1000, "Discord", 2000)
    check_view(view)
    initial = view["blocks"][-1]["element"]["initial_value"]
    assert len(initial) <= 3000 and initial == "a" + family * ((3000 - 1) // 5)
    assert "…" not in initial
    assert any("longer than 3,000" in s for s in all_strings(view["blocks"][0]))
    empty = edit_draft_modal(7, 42, "", "Discord", 2000)
    assert "initial_value" not in empty["blocks"][0]["element"]
    check_view(empty)


def test_parse_edit_submission() -> None:
    assert parse_edit_submission(state_values({"draft_text": {"text": "  Hello!\n"}})) == (
        "Hello!",
        {},
    )
    for blank in ("", "   \n\t", None):
        values = state_values({"draft_text": {"text": blank}})
        assert parse_edit_submission(values) == (None, {"draft_text": "The reply can't be empty"})
    missing = {"draft_text": {"text": {"type": "plain_text_input"}}}
    assert parse_edit_submission(missing)[1] == {"draft_text": "The reply can't be empty"}
    assert parse_edit_submission({})[1] == {"draft_text": "The reply can't be empty"}


# ------------------------------------------------------------------ outcome modal
def test_outcome_modal_structure() -> None:
    view = outcome_modal(42, "Ana <!here> & co", "prospect", default_currency="CZK")
    check_view(view)
    assert view["callback_id"] == "outcome.submit" and view["title"]["text"] == "Log outcome"
    assert json.loads(view["private_metadata"]) == {"conversation_id": 42}
    assert foreign_markup(view) == []
    intro = view["blocks"][0]
    assert intro["type"] == "section" and "*Ana &lt;!here&gt; &amp; co*" in intro["text"]["text"]
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert list(inputs) == ["outcome", "amount", "currency", "stage", "note"]
    assert {b["element"]["action_id"] for b in inputs.values()} == {"value"}
    assert [b["optional"] for b in inputs.values()] == [False, True, True, True, True]
    outcome = inputs["outcome"]["element"]
    assert outcome["type"] == "static_select" and "initial_option" not in outcome
    assert [o["value"] for o in outcome["options"]] == [
        "resolved",
        "lead_created",
        "sale",
        "refund",
        "escalated",
        "no_action",
        "spam",
    ]
    assert outcome["options"][1]["text"]["text"] == "Lead created"
    amount = inputs["amount"]["element"]
    assert amount["type"] == "plain_text_input" and amount["placeholder"]["text"] == "e.g. 120.50"
    currency = inputs["currency"]["element"]
    assert [o["value"] for o in currency["options"]] == [
        "EUR", "USD", "GBP", "CZK", "CHF", "PLN", "INR", "CNY", "IRR", "JPY", "CAD", "AUD",
    ]  # fmt: skip
    assert currency["initial_option"]["value"] == "CZK"
    stage = inputs["stage"]["element"]
    assert [o["value"] for o in stage["options"]] == ["lead", "prospect", "customer", "churned"]
    assert stage["initial_option"]["value"] == "prospect"
    note = inputs["note"]["element"]
    assert note["multiline"] is True and note["max_length"] == 3000


def test_outcome_modal_defaults_and_odd_input() -> None:
    plain_view = outcome_modal(1, None, None)
    check_view(plain_view)
    inputs = {b["block_id"]: b["element"] for b in plain_view["blocks"] if b["type"] == "input"}
    assert inputs["currency"]["initial_option"]["value"] == "EUR"
    assert "initial_option" not in inputs["stage"]
    assert "this conversation" in plain_view["blocks"][0]["text"]["text"]
    odd = outcome_modal(1, "N" * 10_000, "vip", default_currency="sek")
    check_view(odd)
    inputs = {b["block_id"]: b["element"] for b in odd["blocks"] if b["type"] == "input"}
    assert inputs["currency"]["initial_option"]["value"] == "SEK"  # configured, so offered
    assert "initial_option" not in inputs["stage"]
    bad = outcome_modal(1, "x", None, default_currency="<!here>")
    check_view(bad)
    currency = next(b["element"] for b in bad["blocks"] if b.get("block_id") == "currency")
    assert "initial_option" not in currency and "<!here>" not in json.dumps(bad)


def outcome_state(
    kind: str | None = "sale",
    amount: str | None = None,
    currency: str | None = "EUR",
    stage: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """Slack's view.state.values for the outcome modal."""
    return state_values(
        {
            "outcome": {"value": static_select(kind)},
            "amount": {"value": plain_text(amount)},
            "currency": {"value": static_select(currency)},
            "stage": {"value": static_select(stage)},
            "note": {"value": plain_text(note)},
        }
    )


@pytest.mark.parametrize(
    ("typed", "value", "currency"),
    [
        ("120", "120", "EUR"),
        ("120.5", "120.5", "EUR"),
        ("120,5", "120.5", "EUR"),
        ("1 200,50", "1200.50", "EUR"),
        ("1\u00a0200,50", "1200.50", "EUR"),  # no-break space, as some keyboards type it
        ("1,200.50", "1200.50", "EUR"),
        ("1.200,50", "1200.50", "EUR"),
        ("1,234,567.89", "1234567.89", "EUR"),
        ("  0.99 ", "0.99", "EUR"),
        ("0", "0", "EUR"),
        ("10 000 000 000", "10000000000", "EUR"),
        ("€120", "120", "EUR"),
        ("120 USD", "120", "USD"),
        ("120 czk", "120", "CZK"),
        ("99 Kč", "99", "CZK"),
        ("£5.50", "5.50", "GBP"),
        ("$20", "20", "USD"),
    ],
)
def test_amount_formats(typed: str, value: str, currency: str) -> None:
    form, errors = parse_outcome_submission(outcome_state(amount=typed))
    assert errors == {}
    assert form == OutcomeForm(
        kind="sale", value=Decimal(value), currency=currency, stage=None, note=None
    )


def test_a_shared_currency_sign_follows_the_selected_currency() -> None:
    form, _ = parse_outcome_submission(outcome_state(amount="$20", currency="CAD"))
    assert form is not None and form.currency == "CAD"
    form, _ = parse_outcome_submission(outcome_state(amount="¥500", currency="CNY"))
    assert form is not None and form.currency == "CNY"
    form, _ = parse_outcome_submission(outcome_state(amount="¥500", currency="EUR"))
    assert form is not None and form.currency == "JPY"


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("abc", "Enter a number"),
        ("12 apples", "Enter a number"),
        ("12abc", "Unknown currency"),
        ("1e5", "Enter a number"),
        ("NaN", "Enter a number"),
        ("1_000", "Enter a number"),
        ("1,2,3", "Enter a number"),
        ("12 00", "Enter a number"),
        ("1.2.3,4", "Enter a number"),
        ("€120 EUR", "Enter a number"),
        ("-5", "can't be negative"),
        ("−5", "can't be negative"),  # U+2212 minus sign
        ("€-5", "can't be negative"),
        ("12.345", "at most 2 decimals"),
        ("0.125", "at most 2 decimals"),
        ("1,200", "at most 2 decimals"),  # 1200 or 1.2? ask rather than guess
        ("10000000000.01", "too large"),
        ("9" * 40, "too large"),
        ("120 XYZ", "Unknown currency"),
    ],
)
def test_amount_errors(typed: str, message: str) -> None:
    form, errors = parse_outcome_submission(outcome_state(amount=typed))
    assert form is None
    assert list(errors) == ["amount"] and message in errors["amount"]


def test_the_thousands_reading_is_offered_when_ambiguous() -> None:
    _, errors = parse_outcome_submission(outcome_state(amount="1,200"))
    assert "1200" in errors["amount"]


def test_missing_outcome_is_reported_together_with_other_errors() -> None:
    assert parse_outcome_submission(outcome_state(kind=None)) == (
        None,
        {"outcome": "Choose an outcome"},
    )
    _, errors = parse_outcome_submission(outcome_state(kind=None, amount="x"))
    assert set(errors) == {"outcome", "amount"}
    _, errors = parse_outcome_submission(outcome_state(kind="bribe"))
    assert errors == {"outcome": "Choose an outcome"}


def test_optional_fields_left_empty_in_every_way_slack_sends_them() -> None:
    expected = OutcomeForm(kind="refund", value=None, currency=None, stage=None, note=None)
    # Slack omits `value` of an untouched text input and sends `selected_option: None`.
    omitted = {
        "outcome": {"value": static_select("refund")},
        "amount": {"value": {"type": "plain_text_input"}},
        "currency": {"value": {"type": "static_select", "selected_option": None}},
        "stage": {"value": {"type": "static_select", "selected_option": None}},
        "note": {"value": {"type": "plain_text_input", "value": None}},
    }
    assert parse_outcome_submission(omitted) == (expected, {})
    assert parse_outcome_submission({"outcome": {"value": static_select("refund")}}) == (
        expected,
        {},
    )
    blanks = outcome_state(kind="refund", amount="   ", currency="EUR", note=" \n ")
    assert parse_outcome_submission(blanks) == (expected, {})


def test_an_amount_needs_a_currency_from_the_select_or_the_amount() -> None:
    form, errors = parse_outcome_submission(outcome_state(amount="50", currency=None))
    assert form is None and errors == {"currency": "Choose the currency of the amount"}
    form, errors = parse_outcome_submission(outcome_state(amount="50 GBP", currency=None))
    assert errors == {} and form is not None and form.currency == "GBP"


def test_stage_and_note() -> None:
    form, errors = parse_outcome_submission(
        outcome_state(kind="lead_created", stage="lead", note="  Wants 20 seats. <@U1>  ")
    )
    assert errors == {}
    assert form == OutcomeForm(
        kind="lead_created", value=None, currency=None, stage="lead", note="Wants 20 seats. <@U1>"
    )
    _, errors = parse_outcome_submission(outcome_state(stage="vip"))
    assert list(errors) == ["stage"]
    _, errors = parse_outcome_submission(outcome_state(note="n" * 3001))
    assert list(errors) == ["note"]


# ------------------------------------------------------------------ ephemeral answers
def test_already_claimed_offers_take_over() -> None:
    message = already_claimed(42, STAFF)
    check_message(message)
    assert section_texts(message) == ["Already claimed by <@U0STAFF1>."]
    assert message["text"] == "Already claimed by <@U0STAFF1>."
    take = by_action(message)["conversation.takeover"]
    assert take["value"] == "42" and take["text"]["text"] == "Take over"
    assert take["confirm"]["confirm"]["text"] == "Take over"


def test_only_the_assignee_can_send() -> None:
    message = only_assignee_can_send(OTHER, 42)
    check_message(message)
    assert section_texts(message) == [
        "Only <@W0STAFF2>, who claimed this conversation, can send. Take it over first."
    ]
    assert set(by_action(message)) == {"conversation.takeover"}
    assert by_action(message)["conversation.takeover"]["value"] == "42"


@pytest.mark.parametrize(
    ("action", "action_id", "label"),
    [
        ("draft", "conversation.draft_anyway", "Draft anyway"),
        ("send", "draft.send_anyway", "Send anyway"),
    ],
)
def test_drafting_collision(action: str, action_id: str, label: str) -> None:
    message = drafting_collision(9, STAFF, action)  # type: ignore[arg-type]
    check_message(message)
    assert section_texts(message) == ["✍️ <@U0STAFF1> is drafting a reply right now."]
    (button,) = action_elements(message)
    assert (button["action_id"], button["value"], button["text"]["text"]) == (action_id, "9", label)


def test_action_failed_gives_the_error_id() -> None:
    message = action_failed("a1b2c3")
    check_message(message)
    assert section_texts(message) == [
        "Something went wrong (error `a1b2c3`). Nothing was lost; try again, and if it keeps "
        "happening give this id to your admin."
    ]
    assert action_elements(message) == []


@pytest.mark.parametrize("payload", PAYLOADS)
def test_ephemerals_never_turn_a_forged_user_into_a_mention(payload: str) -> None:
    messages = [
        already_claimed(1, payload),
        only_assignee_can_send(payload * 100, 1),
        drafting_collision(1, payload, "draft"),
        action_failed(payload * 50),
    ]
    for message in messages:
        check_message(message, fallback=3000)
        assert foreign_markup(message) == []
        assert not any("<@" in s or "<!" in s for s in rendered_strings(message))


# ------------------------------------------------------------------ through real Slack calls
def test_fake_slack_accepts_cards_drafts_and_ephemerals_byte_exact() -> None:
    text = " ".join(UNICODE.values()) + " <!channel> & "
    card = conversation_card(
        card_data(assignee_slack_id="U1", drafting_by="U1", outcome="sale", outcome_by="U1")
    )
    drafts = [
        draft_message(
            draft_view(text=text * 40, status=s, sent_by="U1", sent_url="https://example.com/s")
        )
        for s in STATUSES
    ]
    ephemerals = [
        already_claimed(42, "U1"),
        only_assignee_can_send("U1", 42),
        drafting_collision(7, "U1", "send"),
        action_failed("e-1"),
    ]
    with FakeSlack() as slack:
        client = WebClient(base_url=slack.api_url, token="xoxb-test")
        posted = client.chat_postMessage(channel="C1", text=card["text"], blocks=card["blocks"])
        for draft in drafts:
            client.chat_postMessage(
                channel="C1", thread_ts=posted["ts"], text=draft["text"], blocks=draft["blocks"]
            )
        for message in ephemerals:
            client.chat_postEphemeral(channel="C1", user="U1", **message)
        stored = slack.messages("C1", include_replies=True)
        shown = slack.ephemerals
    assert [m["blocks"] for m in stored] == [card["blocks"], *(d["blocks"] for d in drafts)]
    for message, draft in zip(stored[1:], drafts, strict=True):
        assert "".join(section_texts(message)).startswith(escape(text * 40)[:2000])
        assert message["text"] == draft["text"]
    assert [e["blocks"] for e in shown] == [m["blocks"] for m in ephemerals]


def test_fake_slack_opens_both_modals() -> None:
    text = UNICODE["fa"] + " <!channel> & " + "x" * 4000
    edit = edit_draft_modal(7, 42, text, "Bluesky", 300)
    outcome = outcome_modal(42, UNICODE["hi"], "customer")
    with FakeSlack() as slack:
        client = WebClient(base_url=slack.api_url, token="xoxb-test")
        for view in (edit, outcome):
            opened = client.views_open(trigger_id=slack.issue_trigger_id("U1"), view=view)
            assert opened["ok"]
        stored = slack.views_opened
    assert [v["callback_id"] for v in stored] == ["draft.edit_submit", "outcome.submit"]
    assert [v["blocks"] for v in stored] == [edit["blocks"], outcome["blocks"]]
    assert json.loads(stored[0]["private_metadata"]) == {"draft_id": 7, "conversation_id": 42}
    initial = stored[0]["blocks"][-1]["element"]["initial_value"]
    assert initial.encode() == text[: len(initial)].encode() and len(initial) == 3000
