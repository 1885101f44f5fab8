"""Routing: which channel a conversation lives in, who else hears of it, tags and priority."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from bot.config_schema import RoutingRule, TeamConfig
from handlers.classify import Classification
from storage.models import Priority

_PRIORITY_NAMES = {
    "low": Priority.LOW,
    "normal": Priority.NORMAL,
    "high": Priority.HIGH,
    "urgent": Priority.URGENT,
}


@dataclass(frozen=True)
class RoutingInput:
    source: str
    text: str
    followers: int
    classification: Classification


@dataclass
class RoutingDecision:
    channel_key: str
    notify: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    priority: Priority = Priority.NORMAL
    post: bool = True
    rule: str | None = None  # the first rule that matched
    influencer: bool = False


def intent_priority(c: Classification) -> Priority:
    """What the message is about sets the starting level."""
    if c.intent == "spam":
        return Priority.LOW
    if c.intent == "complaint":
        return Priority.HIGH if c.sentiment == "negative" else Priority.NORMAL
    if c.intent in ("question", "purchase_intent") or c.sentiment == "negative":
        return Priority.NORMAL
    return Priority.LOW  # praise, chatter


def lift(level: Priority, item: RoutingInput, influencer: bool) -> Priority:
    """Urgency and reach raise any level: a complaint from someone with 80k followers
    beats a "thanks!"; spam never rises."""
    if item.classification.intent == "spam":
        return level
    raised = int(level) + min(item.classification.urgency, 2) + int(influencer)
    return Priority(min(raised, int(Priority.URGENT)))


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def rule_matches(rule: RoutingRule, item: RoutingInput) -> bool:
    m = rule.match
    c = item.classification
    folded = item.text.casefold()
    checks = (
        not m.sources or item.source in m.sources,
        not m.keywords or any(k.casefold() in folded for k in m.keywords),
        m.regex is None or _compiled(m.regex).search(item.text) is not None,
        not m.intents or c.intent in m.intents,
        not m.languages or (c.language or "") in m.languages,
        not m.sentiments or c.sentiment in m.sentiments,
        m.min_followers is None or item.followers >= m.min_followers,
    )
    return all(checks)


def route(item: RoutingInput, team: TeamConfig) -> RoutingDecision:
    threshold = team.routing.influencer_followers
    influencer = threshold > 0 and item.followers >= threshold
    decision = RoutingDecision(
        channel_key=team.routing.default_channel,
        priority=intent_priority(item.classification),
        influencer=influencer,
        post=item.classification.intent != "spam",
    )
    for rule in team.routing.rules:
        if not rule_matches(rule, item):
            continue
        if decision.rule is None:
            decision.rule = rule.name
            decision.channel_key = rule.channel or decision.channel_key
            decision.post = decision.post and rule.post
            if rule.priority:
                decision.priority = _PRIORITY_NAMES[rule.priority]
        decision.notify += [k for k in rule.notify if k not in decision.notify]
        decision.tags += [t for t in rule.tags if t not in decision.tags]
        if rule.stop:
            break
    decision.priority = lift(decision.priority, item, influencer)
    decision.notify = [k for k in decision.notify if k != decision.channel_key]
    return decision
