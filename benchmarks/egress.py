"""Slack egress: a backlog of cards drained by the real outbox against Slack's rate limit.

    python -m benchmarks.egress [--cards N] [--channels C]

N cards (default 2,000) wait in the outbox, spread evenly over C channels (default 5):
each comes from a real ingest (`Intake.accept_many`, routed by a keyword rule to its
channel). FakeSlack — the local Slack Web API behind the real `WebClient` — enforces one
`chat.postMessage` per second per channel (token bucket refilled at 1/s, holding
`--slack-burst` posts, default 3) and answers anything faster with HTTP 429 and an honest
Retry-After. One real `OutboxDrainer`, built by
`bot.wiring.make_drainer` with the production defaults (posts_per_second = 1, post_burst =
3, lease and settle from [outbox]), drains it in its own thread, as in `threadline worker`.

Measured: achieved posts/s from the drainer's start to the last post, against the allowed
rate (C channels × 1/s, so the best possible time is about N/C seconds); 429s received;
lost cards (not posted once the drainer went idle) and duplicates (one outbox item posted
twice, found by the item id in the post's metadata).
The full run takes about N/C seconds (≈ 400 s) by nature.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlmodel import col, func, select

from benchmarks.common import report
from bot.config import Settings
from bot.config_schema import TeamConfig
from bot.intake import Intake
from bot.outbox_claim import SLACK_KINDS
from bot.wiring import make_drainer
from handlers.classify_offline import OfflineClassifier
from handlers.inbound import InboundMessage
from storage import migrate
from storage.db import make_engine, session_scope
from storage.models import OutboxItem, OutboxStatus
from tests.fakes.slack import FakeSlack

CARDS = 2_000
CHANNELS = 5
PER_CHANNEL_PER_S = 1.0
# Slack: "about one message per second per channel, short bursts allowed". The fake's
# bucket holds FAKE_BURST posts (the production pacer's own post_burst is 3).
FAKE_BURST = 3
TARGET_SHARE = 0.95
TOKEN = "xoxb-bench"


def team(channels: int) -> TeamConfig:
    keys = [f"c{k}" for k in range(channels)]
    return TeamConfig.model_validate(
        {
            "channels": {key: f"#team-{key}" for key in keys},
            "routing": {
                "default_channel": keys[0],
                "rules": [
                    {"name": key, "channel": key, "match": {"keywords": [f"[{key}]"]}}
                    for key in keys
                ],
            },
        }
    )


def fill_backlog(intake: Intake, cards: int, channels: int) -> None:
    """`cards` first messages (one card each), round-robin over the channels."""
    batch: list[InboundMessage] = []
    for i in range(cards):
        batch.append(
            InboundMessage.model_validate(
                {
                    "source": "webhook",
                    "external_id": f"m-{i}",
                    "thread_id": f"t-{i}",
                    "author": {"external_id": f"u-{i}", "display_name": f"Customer {i}"},
                    "text": f"[c{i % channels}] Where is my order {10_000 + i}?",
                }
            )
        )
        if len(batch) == 500 or i == cards - 1:
            intake.accept_many(batch)
            batch = []


def pending(engine: Any) -> int:
    with session_scope(engine) as session:
        query = select(func.count()).where(
            OutboxItem.status == OutboxStatus.PENDING, col(OutboxItem.kind).in_(SLACK_KINDS)
        )
        return session.exec(query.select_from(OutboxItem)).one()


def drain(engine: Any, fake: FakeSlack, config: TeamConfig, budget_s: float) -> dict[str, Any]:
    settings = Settings(slack_bot_token=TOKEN, slack_api_url=fake.api_url)
    drainer = make_drainer(engine, settings, config)
    stop = threading.Event()
    thread = threading.Thread(target=drainer.run, args=(stop,), name="drainer", daemon=True)
    started = time.monotonic()
    thread.start()
    deadline = started + budget_s
    while pending(engine) and time.monotonic() < deadline:
        time.sleep(0.5)
    stop.set()
    drainer.wake.set()
    thread.join(timeout=30)
    return {"elapsed": time.monotonic() - started, "stats": drainer.stats}


def measure(cards: int, channels: int, burst: int = FAKE_BURST) -> list[dict[str, Any]]:
    config = team(channels)
    with tempfile.TemporaryDirectory() as tmp, FakeSlack(bot_token=TOKEN) as fake:
        for k in range(channels):
            fake.add_channel(f"team-c{k}")
        engine = make_engine(f"sqlite:///{Path(tmp) / 'egress.db'}")
        migrate.upgrade(engine)
        fill_backlog(Intake(engine, config, OfflineClassifier()), cards, channels)
        fake.rate_limit("chat.postMessage", per_channel_per_second=PER_CHANNEL_PER_S, burst=burst)
        best_s = cards / channels
        run = drain(engine, fake, config, budget_s=2 * best_s + 60)
        posts = [p for p in fake.all_posts() if not p.get("thread_ts")]
        attempts = fake.count_calls("chat.postMessage")
        left = pending(engine)
        engine.dispose()
    ids = Counter(
        ((p.get("metadata") or {}).get("event_payload") or {}).get("outbox_id") for p in posts
    )
    seconds = _span(posts, run["elapsed"])
    achieved = len(posts) / seconds if seconds else 0.0
    allowed = channels * PER_CHANNEL_PER_S
    lost = cards - len(ids)
    duplicates = sum(n - 1 for n in ids.values())
    return [
        {
            "cards": cards,
            "channels": channels,
            "slack_burst": burst,
            "posted": len(posts),
            "seconds": seconds,
            "best_possible_s": best_s,
            "achieved_per_s": achieved,
            "allowed_per_s": allowed,
            "share_of_allowed": achieved / allowed,
            "rate_limited_429": attempts - len(posts),
            "lost": lost,
            "duplicates": duplicates,
            "still_pending": left,
            "verdict": "met"
            if achieved / allowed >= TARGET_SHARE and lost == 0 and duplicates == 0
            else "GAP",
        }
    ]


def _span(posts: list[dict[str, Any]], fallback: float) -> float:
    """Seconds the posts took by FakeSlack's clock (message ts): first to last, plus the one
    interval the first post used, so N posts at exactly 1/s on one channel take N seconds."""
    if len(posts) < 2:
        return fallback
    stamps = sorted(float(p["ts"]) for p in posts)
    return stamps[-1] - stamps[0] + 1 / PER_CHANNEL_PER_S


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cards", type=int, default=CARDS)
    parser.add_argument("--channels", type=int, default=CHANNELS)
    parser.add_argument("--slack-burst", type=int, default=FAKE_BURST, help="FakeSlack bucket")
    args = parser.parse_args([] if argv is None else argv)
    logging.basicConfig(level=logging.ERROR)
    name = "egress" if args.slack_burst == FAKE_BURST else f"egress_burst{args.slack_burst}"
    report(name, measure(args.cards, args.channels, args.slack_burst))


if __name__ == "__main__":
    main(sys.argv[1:])
