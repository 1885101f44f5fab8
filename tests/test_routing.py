"""Routing rules: channel, notices, tags and priority from threadline.toml."""

from __future__ import annotations

from typing import Any

from bot.config_schema import TeamConfig
from handlers.classify import Classification
from handlers.routing import RoutingInput, route
from storage.models import Priority

TEAM = TeamConfig.model_validate(
    {
        "channels": {
            "support": "#support",
            "product": "#product",
            "sales": "#sales",
            "vip": "#vip",
            "cz": "#podpora",
        },
        "routing": {
            "default_channel": "support",
            "influencer_followers": 10_000,
            "rules": [
                {
                    "name": "czech",
                    "channel": "cz",
                    "stop": False,
                    "tags": ["cs"],
                    "match": {"languages": ["cs"]},
                },
                {
                    "name": "outage",
                    "channel": "support",
                    "priority": "urgent",
                    "notify": ["product"],
                    "match": {"regex": r"(?i)\b(down|outage)\b"},
                },
                {
                    "name": "complaints",
                    "channel": "support",
                    "notify": ["product"],
                    "tags": ["bug"],
                    "match": {"intents": ["complaint"], "keywords": ["crash", "BROKEN"]},
                },
                {"name": "sales", "channel": "sales", "match": {"intents": ["purchase_intent"]}},
                {
                    "name": "big voices",
                    "channel": "vip",
                    "match": {"min_followers": 50_000, "sources": ["mastodon"]},
                },
                {
                    "name": "mute praise",
                    "post": False,
                    "match": {"intents": ["praise"], "sentiments": ["positive"]},
                },
            ],
        },
    }
)


def item(
    text: str = "hi",
    *,
    intent: str = "other",
    sentiment: str = "neutral",
    language: str | None = "en",
    followers: int = 0,
    source: str = "webhook",
    urgency: int = 0,
) -> RoutingInput:
    c: Any = Classification(
        intent=intent,
        sentiment=sentiment,
        language=language,  # type: ignore[arg-type]
        urgency=urgency,
    )
    return RoutingInput(source=source, text=text, followers=followers, classification=c)


def test_unmatched_goes_to_the_default_channel() -> None:
    decision = route(item(), TEAM)
    assert (decision.channel_key, decision.rule, decision.notify, decision.post) == (
        "support",
        None,
        [],
        True,
    )


def test_complaint_with_a_keyword_goes_to_support_and_notifies_product() -> None:
    decision = route(item("The app is Broken", intent="complaint", sentiment="negative"), TEAM)
    assert decision.channel_key == "support"
    assert decision.notify == ["product"]
    assert decision.tags == ["bug"]
    assert decision.priority == Priority.HIGH


def test_keywords_are_required_when_given() -> None:
    decision = route(item("slow replies", intent="complaint"), TEAM)
    assert decision.rule is None


def test_purchase_intent_goes_to_sales() -> None:
    assert route(item(intent="purchase_intent"), TEAM).channel_key == "sales"


def test_regex_rule_sets_priority_and_stops() -> None:
    decision = route(item("Is the API down?", intent="complaint", sentiment="negative"), TEAM)
    assert decision.rule == "outage"
    assert decision.priority == Priority.URGENT
    assert decision.tags == []  # the complaints rule never ran


def test_non_stopping_rule_adds_tags_and_lets_the_next_rule_choose_notices() -> None:
    decision = route(item("aplikace je broken", intent="complaint", language="cs"), TEAM)
    assert decision.rule == "czech"
    assert decision.channel_key == "cz"  # the first matching rule chooses the home channel
    assert decision.tags == ["cs", "bug"]
    assert decision.notify == ["product"]


def test_min_followers_and_source_both_must_hold() -> None:
    assert route(item(followers=60_000, source="mastodon"), TEAM).channel_key == "vip"
    assert route(item(followers=60_000, source="discord"), TEAM).channel_key == "support"
    assert route(item(followers=10, source="mastodon"), TEAM).channel_key == "support"


def test_reach_and_urgency_lift_priority_but_never_lift_spam() -> None:
    assert route(item(intent="question"), TEAM).priority == Priority.NORMAL
    assert route(item(intent="question", followers=20_000), TEAM).priority == Priority.HIGH
    assert (
        route(item(intent="question", followers=20_000, urgency=2), TEAM).priority
        == Priority.URGENT
    )
    spam = route(item(intent="spam", followers=1_000_000, urgency=2), TEAM)
    assert (spam.priority, spam.post) == (Priority.LOW, False)


def test_post_false_rule_mutes() -> None:
    decision = route(item(intent="praise", sentiment="positive"), TEAM)
    assert decision.post is False
    assert decision.priority == Priority.LOW


def test_home_channel_is_not_also_notified() -> None:
    team = TeamConfig.model_validate(
        {
            "channels": {"support": "#support"},
            "routing": {"rules": [{"name": "x", "notify": ["support"], "match": {}}]},
        }
    )
    assert route(item(), team).notify == []
