"""`/crm` lookups, message search, the open queue, stats and the daily digest on a big
SQLite database (default 1,000,000 conversations; `make bench` runs 100,000), and with
`--scaling` the lookups at 10k, 100k and 1M conversations side by side.

    python -m benchmarks.lookup_digest [--conversations N] [--scaling] [--rebuild]

The database comes from benchmarks/dataset.py (built once per size, then cached under
benchmarks/results/). Every query runs in a fresh session, as one Slack command would; one
warm-up run is not counted. The digest is the last full UTC day before "now" (the newest
conversation); its target is 500 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from benchmarks.common import RESULTS, report
from benchmarks.dataset import Dataset, Shape, cached_dataset
from benchmarks.dataset_rows import WINDOW_DAYS
from bot.config_schema import TeamConfig
from handlers.digest import build_digest
from handlers.lookups import lookup, open_queue
from handlers.search import find_messages, period_stats
from storage.db import make_engine, redact_url, session_scope

DEFAULT_CONVERSATIONS = 1_000_000
SCALING_SIZES = (10_000, 100_000, 1_000_000)
RUNS = 50
QUERY_BUDGET_S = 60.0  # per query: fewer runs (at least MIN_RUNS) when one run is slow
MIN_RUNS = 3
ABORT_S = 60.0  # one run longer than this is interrupted and reported as "> ABORT_S"
DIGEST_TARGET_MS = 500.0
LOOKUP_TARGET_MS = 25.0  # the whole Slack round trip; see benchmarks/latency.py
NO_TARGET = float("nan")
Query = tuple[str, Callable[[Any], object], float]


class AbortedError(Exception):
    """One run went past ABORT_S: SQLite was interrupted."""


@dataclass(frozen=True)
class Timing:
    median_ms: float  # wall clock
    p90_ms: float
    cpu_ms: float  # median CPU time of this process: what the query costs on an idle machine
    runs: int


def _timed(engine: Any, call: Callable[[Any], object]) -> tuple[float, float]:
    """Wall-clock and CPU milliseconds of one call in a fresh session (CPU time covers the
    SQLite engine, which runs in this process, but not a PostgreSQL server's work)."""
    with session_scope(engine) as session:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            raw = session.connection().connection.driver_connection
            deadline = time.perf_counter() + ABORT_S
            raw.set_progress_handler(lambda: int(time.perf_counter() > deadline), 100_000)
        else:
            session.execute(text(f"SET LOCAL statement_timeout = {int(ABORT_S * 1000)}"))
        started, cpu = time.perf_counter(), time.process_time()
        try:
            call(session)
        except OperationalError as exc:
            if "interrupted" in str(exc) or "statement timeout" in str(exc):
                raise AbortedError from None
            raise
        finally:
            if sqlite:
                raw.set_progress_handler(None, 0)
        return (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000


def measure(engine: Any, call: Callable[[Any], object], runs: int = RUNS) -> Timing:
    """Median and p90 over `runs` runs (fewer, at least MIN_RUNS, when slow; only the
    warm-up when it alone took QUERY_BUDGET_S). Raises AbortedError past ABORT_S."""
    started = time.perf_counter()
    warm_up = _timed(engine, call)  # caches, statement compilation
    if time.perf_counter() - started > QUERY_BUDGET_S:
        return Timing(warm_up[0], warm_up[0], warm_up[1], 1)
    times: list[tuple[float, float]] = []
    started = time.perf_counter()
    while len(times) < runs:
        times.append(_timed(engine, call))
        if len(times) >= MIN_RUNS and time.perf_counter() - started > QUERY_BUDGET_S:
            break
    walls = [wall for wall, _ in times]
    deciles = statistics.quantiles(walls, n=10, method="inclusive")
    cpu = statistics.median(c for _, c in times)
    return Timing(statistics.median(walls), deciles[8], cpu, len(times))


def _pick(shape: Shape, rng: random.Random, wanted: Callable[[int], bool]) -> int:
    while True:
        cid = rng.randrange(1, shape.customers + 1)
        if wanted(cid):
            return cid


def lookup_queries(shape: Shape) -> list[Query]:
    """One /crm lookup of each kind, for customers that exist in this dataset."""
    rng = random.Random(3)
    handle_cid = _pick(shape, rng, lambda c: True)
    email_cid = _pick(shape, rng, shape.has_email)
    url_cid = _pick(shape, rng, lambda c: shape.first_source(c) == "mastodon")
    target = LOOKUP_TARGET_MS
    return [
        ("lookup @handle", lambda s: lookup(s, f"@user{handle_cid}"), target),
        ("lookup email", lambda s: lookup(s, f"user{email_cid}@example.com"), target),
        ("lookup name substring 'Rezae'", lambda s: lookup(s, "Rezae"), target),
        (
            "lookup profile URL",
            lambda s: lookup(s, f"https://mastodon.social/@user{url_cid}"),
            target,
        ),
    ]


def queries(shape: Shape, now: datetime) -> list[Query]:
    day_end = now.replace(hour=0, minute=0, second=0, microsecond=0)
    day_start = day_end - timedelta(days=1)
    team = TeamConfig()
    return [
        *lookup_queries(shape),
        ("find 'refund' (Latin)", lambda s: find_messages(s, "refund"), NO_TARGET),
        ("find 'سفارش' (Persian)", lambda s: find_messages(s, "سفارش"), NO_TARGET),
        ("find '什么时候' (Chinese)", lambda s: find_messages(s, "什么时候"), NO_TARGET),
        ("find '订单' (2 chars: recent scan)", lambda s: find_messages(s, "订单"), NO_TARGET),
        ("open_queue", open_queue, NO_TARGET),
        (
            f"build_digest {day_start.date()}",
            lambda s: build_digest(s, start=day_start, end=day_end, team=team),
            DIGEST_TARGET_MS,
        ),
        ("period_stats 7 days", lambda s: period_stats(s, 7, now), NO_TARGET),
    ]


def _verdict(value: float, target: float) -> str:
    if target != target:  # NaN: no target
        return "-"
    return "yes" if value <= target else "no"


def run_queries(dataset: Dataset, chosen: list[Query]) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per query; the verdict is on the wall-clock p90 (what a user would see on
    this machine as it is), the CPU column shows the cost without other people's load."""
    engine = make_engine(dataset.url)
    rows, runs = [], []
    try:
        for name, call, target in chosen:
            has_target = target == target  # NaN: none
            try:
                timing = measure(engine, call)
            except AbortedError:
                rows.append(
                    {
                        "query": name,
                        "median_ms": f"> {ABORT_S * 1000:,.0f}",
                        "p90_ms": "-",
                        "cpu_ms": "-",
                        "target_ms": target if has_target else "-",
                        "ok": "no",
                    }
                )
                runs.append(f"{name}: aborted after {ABORT_S:.0f} s")
                continue
            rows.append(
                {
                    "query": name,
                    "median_ms": round(timing.median_ms, 2),
                    "p90_ms": round(timing.p90_ms, 2),
                    "cpu_ms": round(timing.cpu_ms, 2),
                    "target_ms": target if has_target else "-",
                    "ok": _verdict(timing.p90_ms, target),
                }
            )
            runs.append(f"{name}: {timing.runs}")
    finally:
        engine.dispose()
    return rows, runs


def main(
    conversations: int = DEFAULT_CONVERSATIONS,
    *,
    days: int = WINDOW_DAYS,
    rebuild: bool = False,
    cache_dir: Path = RESULTS,
    report_as: str = "lookup_digest_queries",
    database_url: str | None = None,
) -> list[dict[str, Any]]:
    dataset = cached_dataset(conversations, days=days, rebuild=rebuild, cache_dir=cache_dir)
    if database_url:
        from benchmarks.dataset_pg import copy_to_postgres  # psycopg only when asked for

        dataset = copy_to_postgres(dataset, database_url)
    per_day = conversations / days
    note = " (cached: built earlier; --rebuild to build again)" if dataset.cached else ""
    where = redact_url(dataset.url) if dataset.database_url else str(dataset.path)
    print(f"dataset: {where}{note}; {per_day:,.0f} conversations a day")
    report(report_as.replace("queries", "build"), dataset.build_rows)
    rows, runs = run_queries(dataset, queries(dataset.shape, dataset.now))
    print(f"\nruns per query: {'; '.join(runs)}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    report(report_as, rows)
    return rows


def scaling(
    sizes: Iterable[int] = SCALING_SIZES,
    *,
    rebuild: bool = False,
    cache_dir: Path = RESULTS,
    report_as: str = "lookup_scaling",
) -> list[dict[str, Any]]:
    """The lookups at each size (median ms): with indexes the cost should stay about flat."""
    table: dict[str, dict[str, Any]] = {}
    for size in sizes:
        dataset = cached_dataset(size, rebuild=rebuild, cache_dir=cache_dir)
        rows, _ = run_queries(dataset, lookup_queries(dataset.shape))
        for row in rows:
            line = table.setdefault(row["query"], {"query": row["query"]})
            line[f"{size:,}_ms"] = row["median_ms"]
            line[f"{size:,}_cpu_ms"] = row["cpu_ms"]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    report(report_as, list(table.values()))
    return list(table.values())


def _parse(argv: Iterable[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--conversations", type=int, default=DEFAULT_CONVERSATIONS)
    parser.add_argument(
        "--days", type=int, default=WINDOW_DAYS, help="spread them over this many days"
    )
    parser.add_argument("--scaling", action="store_true", help="lookups at 10k, 100k and 1M")
    parser.add_argument(
        "--database-url", help="also copy the dataset into this empty PostgreSQL database"
    )
    parser.add_argument("--rebuild", action="store_true", help="ignore the cached database")
    args = parser.parse_args(None if argv is None else list(argv))
    if args.conversations < 1 or args.days < 1:
        parser.error("--conversations and --days must be at least 1")
    return args


if __name__ == "__main__":
    arguments = _parse()
    if arguments.scaling:
        scaling(rebuild=arguments.rebuild)
    else:
        suffix = "" if arguments.days == WINDOW_DAYS else f"_{arguments.days}d"
        suffix += "_postgres" if arguments.database_url else ""
        main(
            arguments.conversations,
            days=arguments.days,
            rebuild=arguments.rebuild,
            report_as=f"lookup_digest_queries{suffix}",
            database_url=arguments.database_url,
        )
