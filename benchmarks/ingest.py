"""Inbound messages per second through the whole ingest, against the raw sqlite3 floor.

    python -m benchmarks.ingest [--messages N] [--batch B] [--single N] [--no-postgres]
    python -m benchmarks.ingest --scaling        # 10k, 100k and 1M messages on SQLite

Each message starts as the JSON-shaped dict a source or the webhook hands over and goes
through everything a real one does: `InboundMessage` validation, dedupe, identity and
customer, conversation, offline classification, routing, message row, tags, audit event
and outbox row — `Intake.accept_many` (B messages per transaction) and, for comparison,
`Intake.accept` (one transaction per message, as the webhook does today).

The load (100,000 by default): 12 languages, 30% follow-ups (two thirds in the thread, one
third answering a parent message), 5% re-deliveries of an earlier message, 1% influencers
(≥ 20k followers), 1% authors giving an email, one message every 0.5 s of simulated time.

The raw floor writes exactly the rows the ingest wrote (read back from its database) into a
fresh database at the same schema — indexes, FTS triggers, WAL, synchronous=NORMAL (foreign
keys not checked) — with plain sqlite3 `executemany`, one transaction per table slice of B
messages.
PostgreSQL runs too when TEST_DATABASE_URL is set or a server answers on 127.0.0.1:5432
(a throwaway database, dropped afterwards).
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import sqlite3
import sys
import tempfile
import time
import uuid
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from benchmarks.common import report
from bot.config_schema import TeamConfig
from bot.intake import Intake
from handlers.classify_offline import OfflineClassifier
from handlers.inbound import InboundMessage
from storage import migrate
from storage.db import make_engine

N = 100_000
BATCH = 500
SINGLE = 5_000
SCALES = (10_000, 100_000, 1_000_000)
EMAIL_SHARE = 0.01
TARGET_PER_S = 3_000.0
TARGET_RATIO = 0.25
T0 = datetime(2026, 11, 1, tzinfo=UTC)
TABLES = (  # foreign-key order
    "customer",
    "customer_email",
    "identity",
    "conversation",
    "tag",
    "conversation_tag",
    "message",
    "audit_event",
    "outbox_item",
)
TEXTS = (
    "Hi, I still have not received my refund for order #{n}",
    "The app is broken again after the update, it crashes every time (build {n})",
    "How much does the Pro plan cost for a team of {n}? We want to buy",
    "Love the new release, thanks for the dark mode!",
    "Hola, ¿cuándo llega mi pedido {n}? Es urgente",
    "Ich möchte eine Rückerstattung für Bestellung {n}, die App stürzt ab",
    "Dobrý den, po aktualizaci se aplikace nespustí, objednávka {n}",
    "Bonjour, ma commande {n} n'est toujours pas arrivée",
    "Olá, o aplicativo não abre desde ontem, pedido {n}",
    "Здравствуйте, мой заказ {n} до сих пор не пришёл",
    "سلام، سفارش {n} من هنوز نرسیده است",
    "مرحبا، لم يصل طلبي رقم {n} بعد",
    "你好，我的订单{n}还没有发货，请帮忙查一下。",
    "注文{n}の配送状況を教えてください",
    "नमस्ते, मेरा ऑर्डर {n} अभी तक नहीं आया है।",
    "FREE followers!!! crypto forex signals, earn $500/day, click here http://x.example/{n}",
)
TEAM = TeamConfig.model_validate(
    {
        "channels": {f"c{i}": f"#team-{i}" for i in range(5)} | {"support": "#support"},
        "routing": {
            "default_channel": "support",
            "influencer_followers": 10_000,
            "rules": [
                {
                    "name": "complaints",
                    "channel": "c0",
                    "notify": ["c1"],
                    "tags": ["bug"],
                    "match": {"intents": ["complaint"]},
                },
                {"name": "buying", "channel": "c2", "match": {"intents": ["purchase_intent"]}},
                {"name": "refunds", "channel": "c3", "match": {"keywords": ["refund", "Rück"]}},
                {"name": "persian", "channel": "c4", "match": {"languages": ["fa", "ar"]}},
            ],
        },
    }
)


class Load:
    """Deterministic synthetic payloads: message i is a pure function of (seed, i), so a
    re-delivery repeats an earlier payload exactly, without keeping 1M dicts in memory."""

    def __init__(self, n: int, seed: int = 7) -> None:
        self.n = n
        self.seed = seed
        self.authors = max(10, n // 4)
        self.root = array("l", range(n))  # the message whose thread message i continues
        self.duplicates = 0

    def payload(self, i: int) -> dict[str, Any]:
        rng = random.Random(self.seed * 1_000_003 + i)
        kind = rng.random()
        thread, parent = f"t-{self.root[i]}", None
        if i > 10 and kind < 0.30:
            earlier = rng.randrange(i)
            if kind < 0.20:
                self.root[i] = self.root[earlier]
                thread = f"t-{self.root[i]}"
            else:
                parent = f"m-{earlier}"
        who = rng.randrange(self.authors)
        influencer = who % 100 == 0  # 1% of authors, so about 1% of messages
        author: dict[str, Any] = {  # a profile stays the same from one message to the next
            "external_id": f"u-{who}",
            "handle": f"@user{who}",
            "followers": 20_000 + who * 7_919 % 480_000 if influencer else who * 31 % 2_000,
        }
        if rng.random() < EMAIL_SHARE:
            author["email"] = f"customer{rng.randrange(self.authors)}@example.com"
        return {
            "source": "webhook",
            "external_id": f"m-{i}",
            "thread_id": thread,
            "parent_id": parent,
            "author": author,
            "text": rng.choice(TEXTS).format(n=rng.randrange(10_000, 99_999)),
            "created_at": T0 + timedelta(seconds=i * 0.5),
            "reply_meta": {"reply_url": f"https://hooks.example/{i % 97}"},
        }

    def batches(self, size: int) -> Iterator[list[dict[str, Any]]]:
        """`n` payloads in order; 5% of them re-deliver an earlier message."""
        rng = random.Random(self.seed)
        batch: list[dict[str, Any]] = []
        made = 0
        for sent in range(self.n):
            if made > 100 and rng.random() < 0.05:
                batch.append(self.payload(rng.randrange(made)))
                self.duplicates += 1
            else:
                batch.append(self.payload(made))
                made += 1
            if len(batch) == size or sent == self.n - 1:
                yield batch
                batch = []


@contextmanager
def throwaway_postgres() -> Iterator[str | None]:
    """A fresh PostgreSQL database (TEST_DATABASE_URL's server, else 127.0.0.1:5432),
    dropped afterwards; None when no server answers."""
    admin = os.environ.get("TEST_DATABASE_URL")
    if not admin:
        try:
            socket.create_connection(("127.0.0.1", 5432), timeout=0.5).close()
        except OSError:
            yield None
            return
        admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    import psycopg

    admin_url = make_url(admin).set(drivername="postgresql")
    dsn = admin_url.render_as_string(hide_password=False)
    name = f"threadline_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = admin_url.set(drivername="postgresql+psycopg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Timing:
    """Wall-clock and this process's CPU seconds (the machine is shared: CPU time is what
    the work itself cost; on PostgreSQL it leaves out the server's share)."""

    wall: float = 0.0
    cpu: float = 0.0

    @contextmanager
    def measure(self) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu


def run_ingest(url: str, n: int, batch: int) -> tuple[Timing, int, int]:
    """(timing, messages stored, duplicates reported) for `n` payloads through accept_many
    (batch > 1) or accept (batch == 1). Timed: validation and the ingest, not the making
    of the synthetic payloads."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    intake = Intake(engine, TEAM, OfflineClassifier())
    load = Load(n)
    stored = duplicates = 0
    timing = Timing()
    for payloads in load.batches(batch):
        with timing.measure():
            msgs = [InboundMessage.model_validate(p) for p in payloads]
            results = intake.accept_many(msgs) if batch > 1 else [intake.accept(msgs[0])]
        for result in results:
            duplicates += result.duplicate
            stored += not result.duplicate
    engine.dispose()
    if duplicates != load.duplicates:
        raise SystemExit(f"dedupe is wrong: {duplicates} duplicates, {load.duplicates} sent")
    return timing, stored, duplicates


def raw_floor(source_db: Path, target_db: Path, batches: int) -> tuple[Timing, int]:
    """(seconds, rows) to insert every row of `source_db` into a fresh migrated database
    with plain sqlite3 executemany, one transaction per slice of each table."""
    engine = make_engine(f"sqlite:///{target_db}")
    migrate.upgrade(engine)
    engine.dispose()
    src = sqlite3.connect(source_db)
    tables = {t: src.execute(f"SELECT * FROM {t}").fetchall() for t in TABLES}
    columns = {t: [c[1] for c in src.execute(f"PRAGMA table_info({t})")] for t in TABLES}
    src.close()
    conn = sqlite3.connect(target_db, isolation_level=None)
    # Foreign keys off: a merged customer points at a later row. Checking them would only
    # slow the floor down, which would flatter the ratio.
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=OFF"):
        conn.execute(f"PRAGMA {pragma}")
    timing = Timing()
    for table, rows in tables.items():
        sql = (
            f"INSERT INTO {table} ({', '.join(columns[table])}) "
            f"VALUES ({', '.join('?' * len(columns[table]))})"
        )
        step = max(1, -(-len(rows) // batches))
        for start in range(0, len(rows), step):
            with timing.measure():
                conn.execute("BEGIN")
                conn.executemany(sql, rows[start : start + step])
                conn.execute("COMMIT")
    conn.close()
    return timing, sum(len(r) for r in tables.values())


def row(case: str, backend: str, n: int, timing: Timing, target: float | None = None) -> dict:
    """Rates by wall clock and by CPU time; `target` (messages/s) judges both."""
    wall, cpu = n / timing.wall, n / timing.cpu
    return {
        "case": case,
        "backend": backend,
        "messages": n,
        "wall_s": timing.wall,
        "msgs_per_s": wall,
        "cpu_s": timing.cpu,
        "msgs_per_cpu_s": cpu,
        "target": f">= {target:,.0f}/s" if target else "",
        "verdict": _verdict(wall, cpu, target),
    }


def _verdict(wall: float, cpu: float, target: float | None) -> str:
    if target is None:
        return "—"
    return f"wall {'met' if wall >= target else 'GAP'}, cpu {'met' if cpu >= target else 'GAP'}"


def sqlite_rows(n: int, batch: int, single: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "ingest.db"
        timing, stored, dups = run_ingest(f"sqlite:///{db}", n, batch)
        floor, floor_rows = raw_floor(db, Path(tmp) / "floor.db", max(1, n // batch))
        one_by_one = run_ingest(f"sqlite:///{Path(tmp) / 'single.db'}", single, 1)[0]
    ingest_row = row(f"accept_many({batch}): {stored:,} new, {dups:,} dup", "sqlite", n, timing)
    ingest_row.update(target=f">= {TARGET_PER_S:,.0f}/s")
    ingest_row["verdict"] = _verdict(
        ingest_row["msgs_per_s"], ingest_row["msgs_per_cpu_s"], TARGET_PER_S
    )
    floor_row = row(f"raw floor: same {floor_rows:,} rows, executemany", "sqlite", n, floor)
    ratio = {
        **row("ratio ingest / raw floor", "sqlite", n, timing),
        "msgs_per_s": ingest_row["msgs_per_s"] / floor_row["msgs_per_s"],
        "msgs_per_cpu_s": ingest_row["msgs_per_cpu_s"] / floor_row["msgs_per_cpu_s"],
        "target": f">= {TARGET_RATIO}",
    }
    ratio["verdict"] = _verdict(ratio["msgs_per_s"], ratio["msgs_per_cpu_s"], TARGET_RATIO)
    return [
        ingest_row,
        floor_row,
        ratio,
        row("accept(), one per transaction", "sqlite", single, one_by_one),
    ]


def postgres_rows(n: int, batch: int, single: int) -> list[dict[str, Any]]:
    rows = []
    for count, size, case in ((n, batch, f"accept_many({batch})"), (single, 1, "accept()")):
        with throwaway_postgres() as url:
            if url is None:
                return []
            timing, stored, dups = run_ingest(url, count, size)
        rows.append(row(f"{case}: {stored:,} new, {dups:,} dup", "postgresql", count, timing))
    return rows


def scaling(batch: int) -> None:
    rows = []
    for n in SCALES:
        with tempfile.TemporaryDirectory() as tmp:
            timing, stored, _ = run_ingest(f"sqlite:///{Path(tmp) / 'scale.db'}", n, batch)
        rows.append(
            {
                "messages": n,
                "stored": stored,
                "wall_s": timing.wall,
                "msgs_per_s": n / timing.wall,
                "cpu_s": timing.cpu,
                "cpu_us_per_msg": timing.cpu / n * 1e6,
            }
        )
        print(f"  {n:,} messages: {n / timing.wall:,.0f}/s", flush=True)
    base = rows[0]["cpu_us_per_msg"]
    for r in rows:
        r["cpu_cost_vs_10k"] = r["cpu_us_per_msg"] / base
    report("ingest_scaling", rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=N)
    parser.add_argument("--batch", type=int, default=BATCH, help="messages per transaction")
    parser.add_argument("--single", type=int, default=SINGLE, help="messages through accept()")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--scaling", action="store_true", help="10k, 100k, 1M on SQLite")
    args = parser.parse_args([] if argv is None else argv)
    if args.scaling:
        scaling(args.batch)
        return
    rows = sqlite_rows(args.messages, args.batch, min(args.single, args.messages))
    if not args.no_postgres:
        rows += postgres_rows(args.messages, args.batch, min(args.single, args.messages))
    report("ingest", rows)


if __name__ == "__main__":
    main(sys.argv[1:])
