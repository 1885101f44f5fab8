"""Capture → route → Slack, through real HTTP: the signed webhook, the drainer, FakeSlack."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from bot.blocks.mrkdwn import escape
from storage.db import session_scope
from storage.models import Conversation, ConversationStatus, Message, Priority
from tests.fakes.webhook_sender import message
from tests.pipeline import Pipeline

COMPLAINT = "The app is broken again after the update, it crashes every time. Terrible."
PURCHASE = "Hi! How much does the Pro plan cost for a team of 12? We want to buy this month."


def _strings(value: object) -> list[str]:
    return (
        [value]
        if isinstance(value, str)
        else (
            [s for v in value.values() for s in _strings(v)]
            if isinstance(value, dict)
            else [s for v in value for s in _strings(v)]
            if isinstance(value, list)
            else []
        )
    )


def test_a_message_becomes_exactly_one_card_even_when_delivered_three_times(
    pipeline: Pipeline,
) -> None:
    payload = message("m-1", COMPLAINT, author="ana", thread_id="t-1")
    answers = [pipeline.webhook.post(payload) for _ in range(3)]
    assert [a.status for a in answers] == [202, 200, 200]
    assert [a.json()["duplicate"] for a in answers] == [False, True, True]
    assert len({a.json()["conversation_id"] for a in answers}) == 1
    pipeline.drain()
    pipeline.webhook.post(payload)  # a late re-delivery after the card exists
    pipeline.drain()
    cards = pipeline.cards("support")
    assert len(cards) == 1
    assert escape(COMPLAINT) in json.dumps(cards[0]["blocks"], ensure_ascii=False)
    metadata = cards[0]["metadata"]
    assert metadata["event_payload"]["conversation_id"] == answers[0].json()["conversation_id"]
    with session_scope(pipeline.engine) as session:
        conv = session.exec(select(Conversation)).one()
        assert (conv.slack_channel, conv.slack_ts) == (
            pipeline.channel_ids["support"],
            cards[0]["ts"],
        )
        assert len(session.exec(select(Message)).all()) == 1


def test_follow_ups_in_the_same_thread_are_replies_in_order(pipeline: Pipeline) -> None:
    pipeline.webhook.post(message("m-0", COMPLAINT, thread_id="t-9"))
    pipeline.drain()
    for i in range(1, 6):
        answer = pipeline.webhook.post(
            message(
                f"m-{i}",
                f"Follow-up number {i}: still not working",
                thread_id="t-9",
                parent_id=f"m-{i - 1}",
            )
        )
        assert answer.status == 202
    pipeline.drain()
    card = pipeline.cards("support")[0]
    thread = pipeline.fake.thread(pipeline.channel_ids["support"], card["ts"])
    replies = thread[1:]
    assert len(replies) == 5
    for i, reply in enumerate(replies, start=1):
        assert f"Follow-up number {i}:" in json.dumps(reply["blocks"], ensure_ascii=False)
        assert reply["thread_ts"] == card["ts"]
    assert len(pipeline.cards("support")) == 1


MULTILINGUAL = {
    "fa": "سلام، سفارش من هنوز نرسیده است و پشتیبانی هم جواب نمی‌دهد. لطفاً کمک کنید.",
    "zh": "你好，我上周买的耳机到现在还没有发货，订单号是 88231，请帮忙查一下。",
    "hi": "नमस्ते, मेरा ऑर्डर अभी तक नहीं आया है और ट्रैकिंग लिंक काम नहीं कर रहा।",
    "cs": "Dobrý den, po poslední aktualizaci se aplikace nespustí. Můžete mi prosím poradit?",
}


@pytest.mark.parametrize("lang", sorted(MULTILINGUAL))
def test_every_script_arrives_byte_for_byte(pipeline: Pipeline, lang: str) -> None:
    text = MULTILINGUAL[lang]
    name = {"fa": "مریم رضایی", "zh": "王小明", "hi": "प्रिया शर्मा", "cs": "Jiří Dvořák"}[lang]
    payload = message(f"{lang}-1", text, author=f"a-{lang}")
    payload["author"]["name"] = name
    assert pipeline.webhook.post(payload).status == 202
    pipeline.drain()
    posts = [p for p in pipeline.fake.all_posts() if p.get("thread_ts") in (None, p["ts"])]
    strings = _strings(posts[0]["blocks"])
    assert any(text.encode() in s.encode() for s in strings)
    assert any(name in s for s in strings)
    with session_scope(pipeline.engine) as session:
        assert session.exec(select(Message.text)).one().encode() == text.encode()


def test_complaint_goes_to_support_with_a_notice_in_product(pipeline: Pipeline) -> None:
    pipeline.webhook.post(message("c-1", COMPLAINT, author="bob"))
    pipeline.drain()
    assert len(pipeline.cards("support")) == 1
    notices = pipeline.cards("product")
    assert len(notices) == 1
    notice = json.dumps(notices[0], ensure_ascii=False)
    assert "fake.slack.com/archives/" in notice  # links to the card's thread
    assert pipeline.cards("sales") == []


def test_purchase_question_goes_to_sales(pipeline: Pipeline) -> None:
    pipeline.webhook.post(message("p-1", PURCHASE, author="carla"))
    pipeline.drain()
    assert len(pipeline.cards("sales")) == 1
    assert pipeline.cards("support") == [] and pipeline.cards("product") == []


def test_an_influencer_rises_in_priority(pipeline: Pipeline) -> None:
    question = "How do I export my invoices as CSV?"
    normal = message("q-1", question, author="small")
    famous = message("q-2", question, author="famous")
    famous["author"]["followers"] = 100_000
    ids = [pipeline.webhook.post(p).json()["conversation_id"] for p in (normal, famous)]
    with session_scope(pipeline.engine) as session:
        low, high = (session.get(Conversation, i) for i in ids)
        assert low is not None and high is not None
        assert high.priority > low.priority
        assert high.priority >= Priority.HIGH


def test_spam_is_stored_and_counted_but_not_posted(pipeline: Pipeline) -> None:
    spam = (
        "🚀 FREE followers!!! Earn $5000/day with crypto forex signals, click here "
        "http://spam.example/x and DM me for the secret"
    )
    answer = pipeline.webhook.post(message("s-1", spam, author="bot123"))
    assert answer.status == 202
    pipeline.drain()
    assert pipeline.fake.all_posts() == []
    with session_scope(pipeline.engine) as session:
        conv = session.get(Conversation, answer.json()["conversation_id"])
        assert conv is not None and conv.status == ConversationStatus.SUPPRESSED
        assert conv.intent == "spam"


def test_mrkdwn_injection_in_customer_text_pings_nobody(pipeline: Pipeline) -> None:
    evil = "<!channel> <!here> <@U0BOT> <!subteam^S123> <https://evil.example|click here> & more"
    payload = message("x-1", evil, author="mallory")
    payload["author"]["name"] = "<!everyone> Mallory"
    payload["author"]["handle"] = "<@U1>"
    pipeline.webhook.post(payload)
    pipeline.drain()
    post = pipeline.fake.all_posts()[0]
    for text in [*_strings(post["blocks"]), post["text"]]:
        for bad in (
            "<!channel>",
            "<!here>",
            "<!everyone>",
            "<@U0BOT>",
            "<@U1>",
            "<!subteam",
            "<https://evil",
        ):
            assert bad not in text


def test_a_burst_from_one_author_joins_one_conversation(pipeline: Pipeline) -> None:
    ids = {
        pipeline.webhook.post(
            message(
                f"b-{i}",
                f"part {i} of my problem: the export is broken",
                author="dana",
                thread_id=f"top-{i}",
            )
        ).json()["conversation_id"]
        for i in range(3)
    }
    assert len(ids) == 1
    pipeline.drain()
    assert len(pipeline.cards("support")) == 1
    card = pipeline.cards("support")[0]
    assert len(pipeline.fake.thread(pipeline.channel_ids["support"], card["ts"])) == 3


def test_a_long_message_is_cut_on_the_card_and_follows_whole_in_the_thread(
    pipeline: Pipeline,
) -> None:
    text = "Dobrý den, aplikace po aktualizaci padá & ztrácí data. 👩‍👩‍👧 " * 100  # ~6,000 chars
    pipeline.webhook.post(message("long-1", text, author="dana"))
    pipeline.drain()
    card = pipeline.cards("support")[0]
    assert "continues in the thread" in json.dumps(card["blocks"], ensure_ascii=False)
    replies = pipeline.fake.thread(pipeline.channel_ids["support"], card["ts"])[1:]
    assert len(replies) == 1
    sections = [b["text"]["text"] for b in replies[0]["blocks"] if b["type"] == "section"]
    assert "".join(sections) == escape(text)
    pipeline.webhook.post(message("long-1", text, author="dana"))  # a re-delivery adds nothing
    pipeline.drain()
    assert len(pipeline.fake.thread(pipeline.channel_ids["support"], card["ts"])) == 2
