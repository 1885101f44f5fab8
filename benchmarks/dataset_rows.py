"""The rows of the synthetic CRM (benchmarks/dataset.py writes them): deterministic for a
seed, shaped like a busy team's month (62% of conversations answered, ~10% with an
outcome, a few influencers, seven languages)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

WINDOW_DAYS = 30
SOURCES = ("webhook", "discord", "mastodon")
CHANNELS = ("C0SUPPORT", "C0SALES", "C0PRODUCT")
STAFF = tuple(f"U0STAFF{i:02d}" for i in range(8))
FIRST_NAMES = ("Anna", "Jan", "Maryam", "Reza", "Wei", "Li", "Carlos", "Sofia", "Yuki", "Omar")
LAST_NAMES = (
    *("Novák", "Rezaei", "Wang", "García", "Müller", "Tanaka"),
    *("Hosseini", "Chen", "Smith", "Dvořák", "Kowalski", "Ahmadi"),
)
# (language, weight, inbound templates, outbound reply template)
LANGUAGES: tuple[tuple[str, int, tuple[str, ...], str], ...] = (
    (
        "en",
        45,
        (
            "Hi, I still have not received my refund for order #{n}",
            "Where is my package? Order {n} was due yesterday",
            "Love the new release, thanks for the dark mode!",
            "Can I change the delivery address for order {n}?",
            "The app crashes when I open settings (build {n})",
        ),
        "Thanks for reaching out! We are looking into order {n} right now.",
    ),
    ("es", 10, ("Hola, ¿cuándo llega mi pedido {n}?",), "¡Gracias! Revisamos el pedido {n}."),
    ("de", 8, ("Ich möchte eine Rückerstattung für Bestellung {n}",), "Danke, wir prüfen {n}."),
    ("cs", 7, ("Dobrý den, kdy dorazí objednávka {n}?",), "Děkujeme, objednávku {n} prověřujeme."),
    (
        "fa",
        15,
        ("سلام، سفارش {n} من هنوز نرسیده است", "لطفا مبلغ سفارش {n} را بازپرداخت کنید"),
        "ممنون از پیام شما، سفارش {n} را بررسی می‌کنیم",
    ),
    (
        "zh",
        10,
        ("你好，我的订单{n}什么时候发货？", "我想申请退款，订单号{n}，谢谢"),
        "感谢您的耐心，我们正在查询订单{n}",
    ),
    (
        "ja",
        5,
        ("注文{n}の配送状況を教えてください",),
        "ご連絡ありがとうございます。注文{n}を確認します。",
    ),
)
LANGUAGE_PICK = tuple(i for i, (_, weight, _, _) in enumerate(LANGUAGES) for _ in range(weight))
INTENTS = ("support", "question", "complaint", "praise", "sales_lead", "spam", None)
SENTIMENTS = ("negative", "neutral", "positive", None)
OUTCOMES = ("resolved", "lead_created", "sale", "refund", "escalated", "no_action")

CUSTOMER_COLUMNS = ("id", "name", "lifecycle_stage", "lifetime_value", "created_at", "updated_at")
EMAIL_COLUMNS = ("id", "customer_id", "email", "created_at")
IDENTITY_COLUMNS = (
    *("id", "customer_id", "source", "external_id", "handle", "display_name"),
    *("profile_url", "followers", "created_at", "updated_at"),
)
CONVERSATION_COLUMNS = (
    *("id", "source", "external_thread_id", "customer_id", "status", "assignee_slack_id"),
    *("priority", "intent", "sentiment", "language", "is_direct", "url", "source_meta"),
    *("slack_channel", "slack_ts", "created_at", "updated_at", "last_message_at"),
    *("claimed_at", "first_response_at", "resolved_at"),
)
MESSAGE_COLUMNS = (
    *("id", "conversation_id", "source", "external_id", "external_thread_id", "direction"),
    *("author_identity_id", "author_slack_id", "text", "language", "attachments"),
    *("created_at", "received_at"),
)
OUTCOME_COLUMNS = (
    *("id", "conversation_id", "customer_id", "kind", "value", "currency"),
    *("staff_slack_id", "created_at"),
)
Row = tuple[Any, ...]


def ts(at: datetime) -> str:
    """How SQLAlchemy stores a UTC datetime on SQLite (naive, always with microseconds)."""
    return at.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


@dataclass(frozen=True)
class Shape:
    """How big the dataset is and when it happens; every helper is a pure function of the
    ids, so benchmarks can pick customers with a known handle, email or profile URL."""

    conversations: int
    end: datetime  # aware UTC
    days: int = WINDOW_DAYS  # the conversations are spread evenly over this many days

    @property
    def customers(self) -> int:
        return max(1, int(self.conversations * 0.3))

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=self.days)

    @property
    def step(self) -> float:
        return self.days * 86_400 / self.conversations

    def at(self, conversation_index: int) -> datetime:
        return (self.start + timedelta(seconds=conversation_index * self.step)).astimezone(UTC)

    @staticmethod
    def first_source(cid: int) -> str:
        return SOURCES[cid % 3]

    @staticmethod
    def has_email(cid: int) -> bool:
        return cid % 5 in (0, 1)

    @staticmethod
    def has_second_identity(cid: int) -> bool:
        return cid % 2 == 0

    @staticmethod
    def profile_url(source: str, handle: str, cid: int) -> str | None:
        if source == "mastodon":
            return f"https://mastodon.social/{handle}"
        return f"https://shop.example.com/u/{cid}" if source == "webhook" else None


def customer_rows(shape: Shape, rng: random.Random) -> tuple[list[Row], list[Row], list[Row]]:
    """Customers, their emails and their identities (ids of second identities follow the
    first ones)."""
    c = shape.customers
    created = ts(shape.start - timedelta(days=60))
    customers, emails, identities = [], [], []
    for cid in range(1, c + 1):
        named = rng.random() < 0.7
        first, last = FIRST_NAMES[cid % len(FIRST_NAMES)], LAST_NAMES[(cid // 7) % len(LAST_NAMES)]
        name = f"{first} {last}" if named else None
        stage = rng.choice(("lead", "lead", "prospect", "customer", "churned"))
        customers.append((cid, name, stage, 0, created, created))
        if shape.has_email(cid):
            emails.append((cid, cid, f"user{cid}@example.com", created))
        sources = [shape.first_source(cid)]
        if shape.has_second_identity(cid):
            sources.append(SOURCES[(cid + 1) % 3])
        for k, source in enumerate(sources):
            handle = f"@user{cid}" if k == 0 else f"@user{cid}_{source[:2]}"
            followers = int(rng.paretovariate(1.2) * 50)
            url = shape.profile_url(source, handle, cid)
            identity_id = cid if k == 0 else c + cid
            external_id = f"{source}-{cid}-{k}"
            row = (identity_id, cid, source, external_id, handle, name, url, followers)
            identities.append((*row, created, created))
    return customers, emails, identities


@dataclass
class SliceRows:
    """The rows of one slice, and the id counters carried from slice to slice."""

    next_message: int = 1
    next_outcome: int = 1
    conversations: list[Row] = field(default_factory=list)
    messages: list[Row] = field(default_factory=list)
    outcomes: list[Row] = field(default_factory=list)


@dataclass(frozen=True)
class _Story:
    """What happens to one conversation."""

    status: str
    assignee: str | None
    answered: datetime | None
    resolved: datetime | None


def _story(rng: random.Random, intent: str | None, created: datetime) -> _Story:
    roll = rng.random()
    replied = roll < 0.62
    if intent == "spam" and roll > 0.9:
        status, replied = "suppressed", False
    elif replied:
        status = "resolved" if rng.random() < 0.7 else "replied"
    else:
        status = "open" if rng.random() < 0.5 else "resolved"
    assignee = rng.choice(STAFF) if replied or rng.random() < 0.3 else None
    answered = created + timedelta(minutes=rng.expovariate(1 / 40)) if replied else None
    resolved = (
        (answered or created) + timedelta(hours=rng.expovariate(1 / 6))
        if status == "resolved"
        else None
    )
    return _Story(status, assignee, answered, resolved)


def _conversation(shape: Shape, rng: random.Random, i: int, out: SliceRows) -> None:
    conv_id = i + 1
    cid = rng.randrange(1, shape.customers + 1)
    source = shape.first_source(cid)
    created = shape.start + timedelta(seconds=i * shape.step + rng.random() * shape.step)
    lang, _, inbound, outbound = LANGUAGES[rng.choice(LANGUAGE_PICK)]
    n = rng.randrange(10_000, 99_999)
    intent = rng.choice(INTENTS)
    story = _story(rng, intent, created)
    thread = f"t{conv_id}"
    text = rng.choice(inbound).format(n=n)
    message = (conv_id, source, f"m{conv_id}-in", thread, "in", cid, None, text, lang, "[]")
    out.messages.append((out.next_message, *message, ts(created), ts(created)))
    out.next_message += 1
    if story.answered is not None:
        reply = outbound.format(n=n)
        message = (conv_id, source, f"m{conv_id}-out", thread, "out", None, story.assignee, reply)
        stamp = ts(story.answered)
        out.messages.append((out.next_message, *message, lang, "[]", stamp, stamp))
        out.next_message += 1
    posted = story.status != "suppressed"
    last_at = story.answered or created
    url = f"https://mastodon.social/@user{cid}/{conv_id}" if source == "mastodon" else None
    slack_ts = f"{created.timestamp():.0f}.{conv_id % 1_000_000:06d}"
    stamps = [None if at is None else ts(at) for at in (story.answered, story.resolved)]
    out.conversations.append(
        (
            *(conv_id, source, thread, cid, story.status, story.assignee),
            *(rng.choice((0, 1, 1, 1, 2, 3)), intent, rng.choice(SENTIMENTS), lang, 0, url, "{}"),
            *((CHANNELS[conv_id % 3], slack_ts) if posted else (None, None)),
            *(ts(created), ts(last_at), ts(last_at)),
            None if story.assignee is None else ts(created),
            *stamps,
        )
    )
    if story.resolved is not None and rng.random() < 0.18:  # ~10% of all conversations
        kind = rng.choice(OUTCOMES)
        sale = kind == "sale"
        value = round(rng.uniform(10, 500), 2) if sale else None
        currency = rng.choice(("USD", "EUR")) if sale else None
        staff = story.assignee or rng.choice(STAFF)
        out.outcomes.append(
            (out.next_outcome, conv_id, cid, kind, value, currency, staff, ts(story.resolved))
        )
        out.next_outcome += 1


def slice_rows(
    shape: Shape, rng: random.Random, first: int, last: int, state: SliceRows
) -> SliceRows:
    """Conversations first..last-1 (ids first+1..) with their messages and outcomes; the
    id counters carry over in `state`, whose row lists are emptied first."""
    state.conversations, state.messages, state.outcomes = [], [], []
    for i in range(first, last):
        _conversation(shape, rng, i, state)
    return state
