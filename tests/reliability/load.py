"""A seeded, mixed customer load and the staff who answer it, for the fault and crash tests.

The load: new conversations in six languages and four intents, follow-ups in the same
thread, and re-deliveries of messages already sent (the same message_id again). The staff:
click Draft on a card, then Send on the draft, through signed Slack payloads.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from storage.db import session_scope
from storage.models import Conversation, Direction, Draft, Message, OutboxItem, OutboxStatus
from tests.fakes.slack_driver import SlackDriver
from tests.fakes.webhook_sender import WebhookSender, message

# (language, text): complaints, questions, buying questions and praise, several scripts.
TEXTS: list[tuple[str, str]] = [
    ("en", "The app crashes every time I open my invoices. This is broken, please fix it!"),
    ("en", "How do I export my data to CSV?"),
    ("en", "What does the Pro plan cost for a team of 12? We want to buy it."),
    ("es", "¡La aplicación no funciona desde la actualización y perdí mis datos!"),
    ("es", "¿Cómo puedo cambiar mi contraseña?"),
    ("cs", "Dobrý den, po aktualizaci se aplikace nespustí. Pomozte prosím."),
    ("cs", "Děkuji, skvělá podpora! 🙏"),
    ("fa", "سلام، سفارش من کجاست؟ ممنون از پاسخ شما"),
    ("zh", "您好，我的订单什么时候发货？谢谢！"),
    ("hi", "नमस्ते, मेरा ऑर्डर कहाँ है? धन्यवाद।"),
    ("en", "Love the new release 😍 great job <!channel> & team"),
    (
        "en",
        "Refund please: charged twice for order #4411 &amp; no answer <https://evil.example|bank>",
    ),
]


@dataclass(frozen=True)
class Delivery:
    """One webhook POST of the load (a re-delivery repeats an earlier payload)."""

    payload: dict[str, Any]
    redelivery: bool = False


@dataclass
class MixedLoad:
    seed: int
    threads: int
    reply_url: str
    deliveries: list[Delivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        firsts: list[dict[str, Any]] = []
        followups: list[dict[str, Any]] = []
        for t in range(self.threads):
            lang, text = TEXTS[t % len(TEXTS)]
            common = {"author": f"cust-{t}", "thread_id": f"thr-{t}", "lang": lang}
            firsts.append(message(f"msg-{t}-0", text, reply_url=self.reply_url, **common))
            for n in range(1, rng.randint(0, 2) + 1):
                followups.append(message(f"msg-{t}-{n}", f"{text} (#{n})", **common))
        # Every first message goes before its thread's follow-ups; the rest is shuffled.
        order: list[dict[str, Any]] = list(firsts)
        for follow in followups:
            order.insert(rng.randint(_position(order, follow) + 1, len(order)), follow)
        for payload in order:
            self.deliveries.append(Delivery(payload))
            if rng.random() < 0.25:  # a sender that retries after a lost 2xx
                self.deliveries.append(Delivery(payload, redelivery=True))

    @property
    def message_ids(self) -> list[str]:
        return sorted({d.payload["message_id"] for d in self.deliveries})

    def text_of(self, message_id: str) -> str:
        return next(
            str(d.payload["text"]) for d in self.deliveries if d.payload["message_id"] == message_id
        )

    def send_all(self, sender: WebhookSender) -> list[tuple[Delivery, int, dict[str, Any]]]:
        answers = []
        for delivery in self.deliveries:
            resp = sender.post(delivery.payload)
            answers.append((delivery, resp.status, resp.json() if resp.body else {}))
        return answers


def _position(order: list[dict[str, Any]], follow: dict[str, Any]) -> int:
    return max(i for i, p in enumerate(order) if p["thread_id"] == follow["thread_id"])


# ------------------------------------------------------------------ database views
def stored_inbound(engine: Engine) -> Counter[str]:
    """How many times each inbound external message id is stored."""
    with session_scope(engine) as session:
        ids = session.exec(
            select(Message.external_id).where(Message.direction == Direction.IN)
        ).all()
    return Counter(str(i) for i in ids)


def inbound_texts(engine: Engine) -> dict[str, str]:
    with session_scope(engine) as session:
        rows = session.exec(
            select(Message.external_id, Message.text).where(Message.direction == Direction.IN)
        ).all()
    return {str(mid): text for mid, text in rows}


def unfinished_outbox(engine: Engine) -> list[tuple[str, str, str | None]]:
    """(kind, status, last_error) of every row not done yet, parked ones included."""
    with session_scope(engine) as session:
        rows = session.exec(
            select(OutboxItem.kind, OutboxItem.status, OutboxItem.last_error).where(
                OutboxItem.status != OutboxStatus.DONE
            )
        ).all()
    return [(str(k), str(s), e) for k, s, e in rows]


def card_location(engine: Engine, conversation_id: int) -> tuple[str, str] | None:
    with session_scope(engine) as session:
        conv = session.get(Conversation, conversation_id)
        if conv is None or not (conv.slack_channel and conv.slack_ts):
            return None
        return conv.slack_channel, conv.slack_ts


def posted_draft(engine: Engine, conversation_id: int) -> tuple[int, str] | None:
    """(draft id, draft message ts) once the draft is in the card's thread."""
    with session_scope(engine) as session:
        draft = session.exec(
            select(Draft)
            .where(Draft.conversation_id == conversation_id, col(Draft.slack_ts).is_not(None))
            .order_by(col(Draft.id).desc())
        ).first()
        return (draft.id or 0, str(draft.slack_ts)) if draft else None


def draft_of(engine: Engine, draft_id: int) -> Draft:
    with session_scope(engine) as session:
        draft = session.get(Draft, draft_id)
        assert draft is not None
        return draft


# ------------------------------------------------------------------ staff
def click_draft(slack: SlackDriver, engine: Engine, cid: int, user: str) -> int:
    """Draft on the card; returns the draft id once it is posted in the thread."""
    from tests.reliability.harness import wait_until

    channel, ts = wait_until(lambda: card_location(engine, cid), 30, f"the card of {cid}")
    resp = slack.block_action(
        "conversation.draft", str(cid), user_id=user, channel_id=channel, message_ts=ts
    )
    assert resp.status == 200, resp.body
    draft_id, _ = wait_until(lambda: posted_draft(engine, cid), 30, f"a draft for {cid}")
    return draft_id


def click_send(slack: SlackDriver, engine: Engine, cid: int, draft_id: int, user: str) -> None:
    location = card_location(engine, cid)
    assert location is not None
    draft = draft_of(engine, draft_id)
    resp = slack.block_action(
        "draft.send",
        str(draft_id),
        user_id=user,
        channel_id=location[0],
        message_ts=draft.slack_ts,
    )
    assert resp.status == 200, resp.body
