"""Inbound messages per second through the whole ingest on SQLite: validation, dedupe,
identity, conversation, classification, routing and the outbox row, one transaction each.

A first look; the full benchmark (100k multilingual messages, PostgreSQL, the raw floor)
comes with the benchmarks issue.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from benchmarks.common import report
from bot.config_schema import TeamConfig
from bot.intake import Intake
from handlers.classify_offline import OfflineClassifier
from handlers.inbound import Author, InboundMessage
from storage import migrate
from storage.db import make_engine

N = 5_000
TEXTS = [
    "The app is broken again after the update, it crashes every time.",
    "How much does the Pro plan cost for a team of 12?",
    "Dobrý den, po aktualizaci se aplikace nespustí.",
    "سلام، سفارش من هنوز نرسیده است.",
    "你好，我的订单还没有发货，请帮忙查一下。",
    "नमस्ते, मेरा ऑर्डर अभी तक नहीं आया है।",
    "¡Gracias! El soporte fue rapidísimo.",
]


def messages(n: int) -> list[InboundMessage]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        follow_up = i > 10 and rng.random() < 0.3  # 30% continue an earlier thread
        thread = f"t-{rng.randrange(i)}" if follow_up else f"t-{i}"
        out.append(
            InboundMessage(
                source="webhook",
                external_id=f"m-{i}",
                thread_id=thread,
                author=Author(external_id=f"u-{i % 3000}", followers=rng.choice([0, 50, 200_000])),
                text=rng.choice(TEXTS),
            )
        )
    return out


def main() -> None:
    batch = messages(N)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        migrate.upgrade(engine)
        intake = Intake(engine, TeamConfig(), OfflineClassifier())
        started = time.perf_counter()
        for msg in batch:
            intake.accept(msg)
        elapsed = time.perf_counter() - started
        duplicates_started = time.perf_counter()
        for msg in batch[:1000]:
            intake.accept(msg)
        dup_elapsed = time.perf_counter() - duplicates_started
        engine.dispose()
    report(
        "ingest",
        [
            {
                "case": "new messages (SQLite, one transaction each)",
                "messages": N,
                "per_s": N / elapsed,
                "ms_each": elapsed / N * 1000,
            },
            {
                "case": "re-deliveries (dedupe only)",
                "messages": 1000,
                "per_s": 1000 / dup_elapsed,
                "ms_each": dup_elapsed,
            },
        ],
    )


if __name__ == "__main__":
    main()
