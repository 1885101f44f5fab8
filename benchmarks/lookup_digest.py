"""`/crm` lookups, message search, the open queue, stats and the daily digest on a big
SQLite database (default 1,000,000 conversations; `make bench` runs 100,000).

    python -m benchmarks.lookup_digest [--conversations N]

The database is built at the current schema (all migrations, so the FTS triggers of 0005
fire on every message insert) with raw sqlite3 executemany in big transactions, in time
order, one slice of conversations at a time. If the build runs past BUILD_BUDGET_S it stops
at the slice it reached, says so, and the queries run on what was built (their "now" is the
newest conversation, so the last day is as dense as it would have been).

Every query runs in a fresh session, as one Slack command would; one warm-up run is not
counted. The digest is the last full UTC day before "now"; its target is 500 ms.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

from benchmarks.common import report
from bot.config_schema import TeamConfig
from handlers.digest import build_digest
from handlers.lookups import lookup, open_queue
from handlers.search import find_messages, period_stats
from storage import migrate
from storage.db import make_engine, session_scope

DEFAULT_CONVERSATIONS = 1_000_000
BUILD_BUDGET_S = 300.0
SLICE = 50_000  # conversations per transaction (with their messages and outcomes)
BATCH = 25_000  # rows per executemany
WINDOW_DAYS = 30
RUNS = 50
QUERY_BUDGET_S = 60.0  # per query: fewer runs (at least MIN_RUNS) when one run is slow
MIN_RUNS = 3
DIGEST_TARGET_MS = 500.0

SOURCES = ("webhook", "discord", "mastodon")
STAFF = tuple(f"U0STAFF{i:02d}" for i in range(8))
FIRST_NAMES = ("Anna", "Jan", "Maryam", "Reza", "Wei", "Li", "Carlos", "Sofia", "Yuki", "Omar")
LAST_NAMES = (
    "Novák",
    "Rezaei",
    "Wang",
    "García",
    "Müller",
    "Tanaka",
    "Hosseini",
    "Chen",
    "Smith",
    "Dvořák",
    "Kowalski",
    "Ahmadi",
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
    (
        "de",
        8,
        ("Ich möchte eine Rückerstattung für Bestellung {n}",),
        "Danke, wir prüfen Bestellung {n}.",
    ),
    (
        "cs",
        7,
        ("Dobrý den, kdy dorazí objednávka {n}?",),
        "Děkujeme, objednávku {n} prověřujeme.",
    ),
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
INTENTS = ("support", "question", "complaint", "praise", "sales_lead", "spam", None)
SENTIMENTS = ("negative", "neutral", "positive", None)
OUTCOMES = ("resolved", "lead_created", "sale", "refund", "escalated", "no_action")


def _ts(at: datetime) -> str:
    """How SQLAlchemy stores a UTC datetime on SQLite (naive, always with microseconds)."""
    return at.isoformat(sep=" ", timespec="microseconds")


class Builder:
    """Writes the synthetic CRM straight through sqlite3, timing each table."""

    def __init__(self, db: Path, conversations: int, end: datetime, seed: int = 11) -> None:
        self.conn = sqlite3.connect(db, isolation_level=None)
        self.conn.execute("PRAGMA synchronous=OFF")  # a throwaway database
        self.conn.execute("PRAGMA cache_size=-131072")  # 128 MiB
        self.conn.execute("PRAGMA foreign_keys=OFF")
        self.rng = random.Random(seed)
        self.n = conversations
        self.customers = max(1, int(conversations * 0.3))
        self.end = end.replace(tzinfo=None)
        self.start = self.end - timedelta(days=WINDOW_DAYS)
        self.step = WINDOW_DAYS * 86_400 / conversations
        self.seconds: dict[str, float] = {}
        self.rows: dict[str, int] = {}
        self.generate_s = 0.0
        self.next_message = 1
        self.next_outcome = 1
        self.built = 0
        weights = [w for _, w, _, _ in LANGUAGES]
        self.language_pick = [i for i, w in enumerate(weights) for _ in range(w)]

    # ------------------------------------------------------------ writing
    def _insert(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        )
        started = time.perf_counter()
        for at in range(0, len(rows), BATCH):
            self.conn.executemany(sql, rows[at : at + BATCH])
        self.seconds[table] = self.seconds.get(table, 0.0) + time.perf_counter() - started
        self.rows[table] = self.rows.get(table, 0) + len(rows)

    def _transaction(self, work: Callable[[], None]) -> None:
        self.conn.execute("BEGIN")
        work()
        self.conn.execute("COMMIT")

    # ------------------------------------------------------------ customers
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

    def build_customers(self) -> None:
        rng, c = self.rng, self.customers
        started = time.perf_counter()
        created = _ts(self.start - timedelta(days=60))
        customers, emails, identities = [], [], []
        for cid in range(1, c + 1):
            named = rng.random() < 0.7
            name = (
                f"{FIRST_NAMES[cid % len(FIRST_NAMES)]} {LAST_NAMES[(cid // 7) % len(LAST_NAMES)]}"
                if named
                else None
            )
            stage = rng.choice(("lead", "lead", "prospect", "customer", "churned"))
            customers.append((cid, name, stage, 0, created, created))
            if self.has_email(cid):
                emails.append((cid, cid, f"user{cid}@example.com", created))
            sources = [self.first_source(cid)]
            if self.has_second_identity(cid):
                sources.append(SOURCES[(cid + 1) % 3])
            for k, source in enumerate(sources):
                handle = f"@user{cid}" if k == 0 else f"@user{cid}_{source[:2]}"
                followers = int(rng.paretovariate(1.2) * 50)
                identities.append(
                    (
                        cid if k == 0 else c + cid,
                        cid,
                        source,
                        f"{source}-{cid}-{k}",
                        handle,
                        name,
                        self.profile_url(source, handle, cid),
                        followers,
                        created,
                        created,
                    )
                )
        self.generate_s += time.perf_counter() - started

        def work() -> None:
            self._insert(
                "customer",
                ("id", "name", "lifecycle_stage", "lifetime_value", "created_at", "updated_at"),
                customers,
            )
            self._insert("customer_email", ("id", "customer_id", "email", "created_at"), emails)
            self._insert(
                "identity",
                (
                    "id",
                    "customer_id",
                    "source",
                    "external_id",
                    "handle",
                    "display_name",
                    "profile_url",
                    "followers",
                    "created_at",
                    "updated_at",
                ),
                identities,
            )

        self._transaction(work)

    # ------------------------------------------------------------ conversations
    def build_slice(self, first: int, last: int) -> None:
        """Conversations first..last-1 (ids first+1..), with their messages and outcomes."""
        rng, start = self.rng, self.start
        started = time.perf_counter()
        convs, messages, outcomes = [], [], []
        for i in range(first, last):
            conv_id = i + 1
            cid = rng.randrange(1, self.customers + 1)
            source = self.first_source(cid)
            created = start + timedelta(seconds=i * self.step + rng.random() * self.step)
            lang, _, inbound, outbound = LANGUAGES[rng.choice(self.language_pick)]
            n = rng.randrange(10_000, 99_999)
            intent = rng.choice(INTENTS)
            roll = rng.random()
            replied = roll < 0.62
            if intent == "spam" and roll > 0.9:
                status = "suppressed"
                replied = False
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
            last_at = answered or created
            post_url = f"https://mastodon.social/@user{cid}/{conv_id}"
            post_url = post_url if source == "mastodon" else None
            text = rng.choice(inbound).format(n=n)
            messages.append(
                (
                    self.next_message,
                    conv_id,
                    source,
                    f"m{conv_id}-in",
                    f"t{conv_id}",
                    "in",
                    cid,
                    None,
                    text,
                    lang,
                    "[]",
                    _ts(created),
                    _ts(created),
                )
            )
            self.next_message += 1
            if answered is not None:
                messages.append(
                    (
                        self.next_message,
                        conv_id,
                        source,
                        f"m{conv_id}-out",
                        f"t{conv_id}",
                        "out",
                        None,
                        assignee,
                        outbound.format(n=n),
                        lang,
                        "[]",
                        _ts(answered),
                        _ts(answered),
                    )
                )
                self.next_message += 1
            convs.append(
                (
                    conv_id,
                    source,
                    f"t{conv_id}",
                    cid,
                    status,
                    assignee,
                    rng.choice((0, 1, 1, 1, 2, 3)),
                    intent,
                    rng.choice(SENTIMENTS),
                    lang,
                    0,
                    f"https://mastodon.social/@user{cid}/{conv_id}"
                    if source == "mastodon"
                    else None,
                    "{}",
                    _ts(created),
                    _ts(last_at),
                    _ts(last_at),
                    None if assignee is None else _ts(created),
                    None if answered is None else _ts(answered),
                    None if resolved is None else _ts(resolved),
                )
            )
            if resolved is not None and rng.random() < 0.18:  # ~10% of all conversations
                kind = rng.choice(OUTCOMES)
                sale = kind == "sale"
                outcomes.append(
                    (
                        self.next_outcome,
                        conv_id,
                        cid,
                        kind,
                        round(rng.uniform(10, 500), 2) if sale else None,
                        rng.choice(("USD", "EUR")) if sale else None,
                        assignee or rng.choice(STAFF),
                        _ts(resolved),
                    )
                )
                self.next_outcome += 1
        self.generate_s += time.perf_counter() - started

        def work() -> None:
            self._insert(
                "conversation",
                (
                    "id",
                    "source",
                    "external_thread_id",
                    "customer_id",
                    "status",
                    "assignee_slack_id",
                    "priority",
                    "intent",
                    "sentiment",
                    "language",
                    "is_direct",
                    "url",
                    "source_meta",
                    "created_at",
                    "updated_at",
                    "last_message_at",
                    "claimed_at",
                    "first_response_at",
                    "resolved_at",
                ),
                convs,
            )
            self._insert(
                "message",
                (
                    "id",
                    "conversation_id",
                    "source",
                    "external_id",
                    "external_thread_id",
                    "direction",
                    "author_identity_id",
                    "author_slack_id",
                    "text",
                    "language",
                    "attachments",
                    "created_at",
                    "received_at",
                ),
                messages,
            )
            self._insert(
                "outcome",
                (
                    "id",
                    "conversation_id",
                    "customer_id",
                    "kind",
                    "value",
                    "currency",
                    "staff_slack_id",
                    "created_at",
                ),
                outcomes,
            )

        self._transaction(work)
        self.built = last

    def build(self, budget_s: float) -> float:
        """Everything; stops early past `budget_s`. Returns the wall-clock seconds."""
        started = time.perf_counter()
        self.build_customers()
        for first in range(0, self.n, SLICE):
            self.build_slice(first, min(self.n, first + SLICE))
            if time.perf_counter() - started > budget_s and self.built < self.n:
                print(
                    f"build budget of {budget_s:.0f} s reached at {self.built:,} of "
                    f"{self.n:,} conversations; measuring on those"
                )
                break
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()
        return time.perf_counter() - started

    def newest(self) -> datetime:
        """The creation time of the newest conversation built (the queries' "now")."""
        return (self.start + timedelta(seconds=self.built * self.step)).replace(tzinfo=UTC)


# ------------------------------------------------------------------ measuring
class AbortedError(Exception):
    """One run went past ABORT_S: SQLite was interrupted."""


ABORT_S = 60.0  # one run longer than this is interrupted and reported as "> ABORT_S"


def _timed(engine: Any, call: Callable[[Any], object]) -> float:
    with session_scope(engine) as session:
        raw = session.connection().connection.driver_connection
        deadline = time.perf_counter() + ABORT_S
        raw.set_progress_handler(lambda: int(time.perf_counter() > deadline), 100_000)
        started = time.perf_counter()
        try:
            call(session)
        except OperationalError as exc:
            if "interrupted" in str(exc):
                raise AbortedError from None
            raise
        finally:
            raw.set_progress_handler(None, 0)
        return (time.perf_counter() - started) * 1000


def measure(engine: Any, call: Callable[[Any], object]) -> tuple[float, float, int]:
    """Median and p90 in ms over RUNS runs (fewer, at least MIN_RUNS, when slow; only the
    warm-up when it alone took QUERY_BUDGET_S). Raises AbortedError past ABORT_S."""
    started = time.perf_counter()
    warm_up = _timed(engine, call)  # caches, statement compilation
    if time.perf_counter() - started > QUERY_BUDGET_S:
        return warm_up, warm_up, 1
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < RUNS:
        times.append(_timed(engine, call))
        if len(times) >= MIN_RUNS and time.perf_counter() - started > QUERY_BUDGET_S:
            break
    deciles = statistics.quantiles(times, n=10, method="inclusive")
    return statistics.median(times), deciles[8], len(times)


def _pick(builder: Builder, rng: random.Random, wanted: Callable[[int], bool]) -> int:
    while True:
        cid = rng.randrange(1, builder.customers + 1)
        if wanted(cid):
            return cid


def queries(builder: Builder, now: datetime) -> list[tuple[str, Callable[[Any], object], float]]:
    rng = random.Random(3)
    handle_cid = _pick(builder, rng, lambda c: True)
    email_cid = _pick(builder, rng, builder.has_email)
    url_cid = _pick(builder, rng, lambda c: builder.first_source(c) == "mastodon")
    day_end = now.replace(hour=0, minute=0, second=0, microsecond=0)
    day_start = day_end - timedelta(days=1)
    team = TeamConfig()
    none = float("nan")
    return [
        ("lookup @handle", lambda s: lookup(s, f"@user{handle_cid}"), none),
        ("lookup email", lambda s: lookup(s, f"user{email_cid}@example.com"), none),
        ("lookup name substring 'Rezae'", lambda s: lookup(s, "Rezae"), none),
        (
            "lookup profile URL",
            lambda s: lookup(s, f"https://mastodon.social/@user{url_cid}"),
            none,
        ),
        ("find 'refund' (Latin)", lambda s: find_messages(s, "refund"), none),
        ("find 'سفارش' (Persian)", lambda s: find_messages(s, "سفارش"), none),
        ("find '什么时候' (Chinese)", lambda s: find_messages(s, "什么时候"), none),
        ("find '订单' (2 chars: recent scan)", lambda s: find_messages(s, "订单"), none),
        ("open_queue", open_queue, none),
        (
            f"build_digest {day_start.date()}",
            lambda s: build_digest(s, start=day_start, end=day_end, team=team),
            DIGEST_TARGET_MS,
        ),
        ("period_stats 7 days", lambda s: period_stats(s, 7, now), none),
    ]


def _row(
    name: str, median: float, p90: float, target: float, *, aborted: bool = False
) -> dict[str, Any]:
    has_target = target == target  # not NaN
    return {
        "query": name,
        "median_ms": f"> {median:,.0f}" if aborted else round(median, 2),
        "p90_ms": f"> {p90:,.0f}" if aborted else round(p90, 2),
        "target_ms": target if has_target else "-",
        "ok": ("yes" if p90 <= target else "no") if has_target else "-",
    }


def main(conversations: int = DEFAULT_CONVERSATIONS) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "lookup_digest.db"
        url = f"sqlite:///{db}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        builder = Builder(db, conversations, end=datetime.now(UTC))
        total_s = builder.build(BUILD_BUDGET_S)
        size_mb = db.stat().st_size / 1e6
        build_rows: list[dict[str, Any]] = [
            {
                "step": f"insert {table}",
                "rows": builder.rows[table],
                "seconds": round(builder.seconds[table], 2),
                "rows_per_s": round(builder.rows[table] / max(builder.seconds[table], 1e-9)),
            }
            for table in builder.seconds
        ]
        build_rows.append(
            {
                "step": "generate rows (Python)",
                "rows": sum(builder.rows.values()),
                "seconds": round(builder.generate_s, 2),
                "rows_per_s": round(sum(builder.rows.values()) / max(builder.generate_s, 1e-9)),
            }
        )
        build_rows.append(
            {
                "step": f"total ({builder.built:,} of {conversations:,} conversations, "
                f"{size_mb:,.0f} MB)",
                "rows": sum(builder.rows.values()),
                "seconds": round(total_s, 2),
                "rows_per_s": round(sum(builder.rows.values()) / total_s),
            }
        )
        report("lookup_digest_build", build_rows)

        now = builder.newest()
        engine = make_engine(url)
        rows, runs = [], []
        for name, call, target in queries(builder, now):
            try:
                median, p90, n = measure(engine, call)
            except AbortedError:
                rows.append(_row(name, ABORT_S * 1000, ABORT_S * 1000, target, aborted=True))
                runs.append(f"{name}: aborted after {ABORT_S:.0f} s")
                continue
            rows.append(_row(name, median, p90, target))
            runs.append(f"{name}: {n}")
        engine.dispose()
        print(f"\nruns per query: {'; '.join(runs)}")
        report("lookup_digest_queries", rows)


def _parse(argv: Iterable[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--conversations", type=int, default=DEFAULT_CONVERSATIONS)
    return parser.parse_args(None if argv is None else list(argv))


if __name__ == "__main__":
    main(conversations=_parse().conversations)
