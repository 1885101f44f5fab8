"""The typed shape of `threadline.toml`: team channels, routing, tags, managers, SLA, sources.

Pure data: no I/O here, so handlers can take a `TeamConfig` without reading files.
Every model forbids unknown keys, so a typo is an error that names the key.
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PriorityName = Literal["low", "normal", "high", "urgent"]
Intent = Literal["complaint", "question", "purchase_intent", "praise", "spam", "other"]
Sentiment = Literal["negative", "neutral", "positive"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
SlackUserId = Annotated[str, Field(pattern=r"^[UW][A-Z0-9]{2,}$")]
TagName = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[^\s,][^,]*$")]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_timezone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        hint = "use an IANA name like Europe/Prague"
        raise ValueError(f"unknown time zone {value!r} ({hint})") from None
    return value


class SlackSection(Section):
    command: str = Field(default="/crm", pattern=r"^/[a-z0-9_-]{1,31}$")
    # A user group (S…) mentioned by SLA nudges; empty = mention nobody.
    oncall_group: str | None = Field(default=None, pattern=r"^S[A-Z0-9]{2,}$")
    # Slack allows about one message per second per channel, with short bursts.
    posts_per_second: float = Field(default=1.0, gt=0, le=50)
    post_burst: int = Field(default=3, ge=1, le=50)
    # ✅ on a card: false opens a prompt to log the outcome; true resolves it at once.
    check_reaction_resolves: bool = False


class TagsSection(Section):
    allowed: list[TagName] = Field(default_factory=list)
    allow_create: bool = False


class Manager(Section):
    slack_id: SlackUserId
    digest_time: time = time(9, 0)
    timezone: str | None = None  # None: the manager's Slack time zone

    _tz = field_validator("timezone")(_check_timezone)


class SLASection(Section):
    first_response_minutes: int = Field(default=30, gt=0)
    escalate_after_minutes: int = Field(default=120, gt=0)
    timezone: str = "UTC"
    business_hours_start: time = time(9, 0)
    business_hours_end: time = time(17, 0)
    business_days: list[Weekday] = Field(
        default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"]
    )
    holidays: list[date] = Field(default_factory=list)

    _tz = field_validator("timezone")(_check_timezone)

    @model_validator(mode="after")
    def _ordered(self) -> SLASection:
        if self.business_hours_end <= self.business_hours_start:
            raise ValueError("business_hours_end must be after business_hours_start")
        if self.escalate_after_minutes <= self.first_response_minutes:
            raise ValueError("escalate_after_minutes must be greater than first_response_minutes")
        return self


class RuleMatch(Section):
    """Every given condition must hold; a list matches when any of its items does."""

    sources: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)  # case-insensitive substrings
    regex: str | None = None
    intents: list[Intent] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)
    sentiments: list[Sentiment] = Field(default_factory=list)
    min_followers: int | None = Field(default=None, ge=0)

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class RoutingRule(Section):
    name: str = Field(min_length=1)
    match: RuleMatch = Field(default_factory=RuleMatch)
    channel: str | None = None  # a key of [channels]; None keeps the default
    notify: list[str] = Field(default_factory=list)  # more [channels] keys to tell
    tags: list[TagName] = Field(default_factory=list)
    priority: PriorityName | None = None
    post: bool = True  # false: store and count, but do not post to Slack
    stop: bool = True  # false: later rules may still add notify channels and tags


class RoutingSection(Section):
    default_channel: str = "support"
    influencer_followers: int = Field(default=10_000, ge=0)
    grouping_window_minutes: float = Field(default=2.0, ge=0)
    rules: list[RoutingRule] = Field(default_factory=list)


class WebhookSource(Section):
    enabled: bool = True
    reply_timeout_seconds: float = Field(default=10.0, gt=0)


class DiscordSource(Section):
    enabled: bool = False
    guild_ids: list[int] = Field(default_factory=list)
    channel_ids: list[int] = Field(default_factory=list)  # empty: every readable channel
    staff_role_ids: list[int] = Field(default_factory=list)
    conversation_per: Literal["channel", "thread", "author"] = "thread"
    author_window_minutes: float = Field(default=30.0, gt=0)
    watch_dms: bool = True
    # How long one reply (all its parts) may take before it is retried later.
    send_timeout_seconds: float = Field(default=20.0, gt=0)
    # After connecting, how long to wait for the servers' data before backfilling.
    ready_timeout_seconds: float = Field(default=2.0, gt=0)


class MastodonSource(Section):
    enabled: bool = False
    api_base_url: str | None = Field(default=None, pattern=r"^https?://[^/\s]+/?$")
    poll_seconds: float = Field(default=60.0, gt=0)
    request_timeout_seconds: float = Field(default=20.0, gt=0, le=300)
    max_characters: int = Field(default=500, ge=100, le=100_000)  # the instance's post limit
    streaming: bool = False  # also listen to the user stream, to poll as soon as a mention comes


class BlueskySource(Section):
    enabled: bool = False
    # The account's PDS (or bsky.social, which routes to it); self-hosted PDSs work too.
    service_url: str = Field(default="https://bsky.social", pattern=r"^https?://[^\s/]+")
    handle: str | None = Field(default=None, pattern=r"^@?[A-Za-z0-9.:_-]{3,253}$")
    poll_seconds: float = Field(default=60.0, gt=0)
    timeout_seconds: float = Field(default=15.0, gt=0, le=120)


class Feed(Section):
    url: str = Field(pattern=r"^https?://[^\s/?#]+")
    name: str | None = None
    # Empty: every entry. Case-insensitive; whole words (phrases allowed), substrings for
    # scripts written without spaces (Chinese, Japanese, Thai, ...).
    keywords: list[Annotated[str, Field(min_length=1, pattern=r"\S")]] = Field(
        default_factory=list
    )


class RssSource(Section):
    enabled: bool = False
    poll_minutes: float = Field(default=15.0, gt=0)
    backfill_hours: float = Field(default=24.0, ge=0)  # first start: entries this recent
    timeout_seconds: float = Field(default=20.0, gt=0)  # per feed request
    feeds: list[Feed] = Field(default_factory=list)

    @field_validator("feeds")
    @classmethod
    def _distinct_urls(cls, value: list[Feed]) -> list[Feed]:
        urls = [feed.url for feed in value]
        twice = sorted({url for url in urls if urls.count(url) > 1})
        if twice:
            raise ValueError(f"feed listed twice: {', '.join(twice)}")
        return value


class SourcesSection(Section):
    webhook: WebhookSource = Field(default_factory=WebhookSource)
    discord: DiscordSource = Field(default_factory=DiscordSource)
    mastodon: MastodonSource = Field(default_factory=MastodonSource)
    bluesky: BlueskySource = Field(default_factory=BlueskySource)
    rss: RssSource = Field(default_factory=RssSource)

    def enabled(self) -> list[str]:
        return [name for name, src in self if getattr(src, "enabled", False)]


class OutboxSection(Section):
    """Delivery to Slack. The defaults suit production; tests shorten them."""

    # How long a drainer owns a claimed row; a crashed drainer's rows return after this.
    lease_seconds: float = Field(default=60.0, gt=0)
    # After a timeout or 5xx, Slack may still post: wait before checking and retrying.
    settle_seconds: float = Field(default=10.0, ge=0)
    max_attempts: int = Field(default=10, ge=1)


class PrivacySection(Section):
    send_pii_to_llm: bool = False


class DraftsSection(Section):
    brand_file: str | None = None  # None: the bundled prompts/brand.md
    timeout_seconds: float = Field(default=20.0, gt=0)


class StaffSection(Section):
    admins: list[SlackUserId] = Field(default_factory=list)


def _default_channels() -> dict[str, str]:
    return {"support": "#support"}


class TeamConfig(Section):
    # Team channel key → Slack channel id (C…) or #name. Rules and defaults use the keys.
    channels: dict[str, str] = Field(default_factory=_default_channels, min_length=1)
    slack: SlackSection = Field(default_factory=SlackSection)
    tags: TagsSection = Field(default_factory=TagsSection)
    managers: list[Manager] = Field(default_factory=list)
    staff: StaffSection = Field(default_factory=StaffSection)
    sla: SLASection = Field(default_factory=SLASection)
    routing: RoutingSection = Field(default_factory=RoutingSection)
    sources: SourcesSection = Field(default_factory=SourcesSection)
    outbox: OutboxSection = Field(default_factory=OutboxSection)
    privacy: PrivacySection = Field(default_factory=PrivacySection)
    drafts: DraftsSection = Field(default_factory=DraftsSection)

    @field_validator("channels")
    @classmethod
    def _channel_refs(cls, value: dict[str, str]) -> dict[str, str]:
        for key, ref in value.items():
            if not re.fullmatch(r"#[a-z0-9][a-z0-9_-]{0,79}|[CGD][A-Z0-9]{2,}", ref):
                raise ValueError(f"channels.{key} = {ref!r} is neither #name nor a channel id")
        return value

    @model_validator(mode="after")
    def _known_channels(self) -> TeamConfig:
        known = set(self.channels)
        if self.routing.default_channel not in known:
            raise ValueError(
                f"routing.default_channel {self.routing.default_channel!r} is not a key of "
                f"[channels] (known: {', '.join(sorted(known))})"
            )
        for i, rule in enumerate(self.routing.rules):
            for ref in ([rule.channel] if rule.channel else []) + rule.notify:
                if ref not in known:
                    raise ValueError(
                        f"routing.rules[{i}] ({rule.name}) names channel {ref!r}, which is not "
                        f"a key of [channels] (known: {', '.join(sorted(known))})"
                    )
        return self

    def channel_ref(self, key: str) -> str:
        return self.channels[key]
