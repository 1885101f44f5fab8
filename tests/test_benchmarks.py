"""The benchmark scripts work end to end at toy sizes: the dataset builder and its cache,
the latency run through the real HTTP stack, the scaling table and `make bench`'s runner
(the timings themselves are not asserted: this machine is shared)."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import sys
import types
from datetime import timedelta
from pathlib import Path

import pytest

import benchmarks.__main__ as bench_runner
from benchmarks import latency, lookup_digest
from benchmarks.common import RESULTS
from benchmarks.dataset import cache_paths, cached_dataset
from benchmarks.dataset_pg import NotEmptyError, copy_to_postgres
from bot.config_schema import TeamConfig
from handlers.digest import DigestData, build_digest
from handlers.lookups import CustomerCard, lookup
from storage import migrate
from storage.db import make_engine, session_scope


def _count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(sql).fetchone()[0])


def test_the_dataset_is_built_at_head_then_reused(tmp_path: Path) -> None:
    first = cached_dataset(1000, cache_dir=tmp_path)
    assert (first.built, first.shape.customers, first.cached) == (1000, 300, False)
    assert _count(first.path, "SELECT count(*) FROM conversation") == 1000
    assert _count(first.path, "SELECT count(*) FROM customer") == 300
    assert _count(first.path, "SELECT count(*) FROM identity") == 450  # half have two
    messages = _count(first.path, "SELECT count(*) FROM message")
    assert 1000 < messages < 2000  # every conversation opens, most are answered
    # The FTS triggers of 0005 fired for every message row.
    assert _count(first.path, "SELECT count(*) FROM message_fts") == messages
    # Handles, emails and profile URLs are where the benchmarks expect them.
    assert _count(first.path, "SELECT count(*) FROM identity WHERE handle = '@user42'") == 1
    assert _count(first.path, "SELECT count(*) FROM customer_email WHERE customer_id = 5") == 1
    engine = make_engine(first.url)
    assert not migrate.pending(engine)
    engine.dispose()
    again = cached_dataset(1000, cache_dir=tmp_path)
    assert again.cached and again.path == first.path and again.now == first.now
    rebuilt = cached_dataset(1000, cache_dir=tmp_path, rebuild=True)
    assert not rebuilt.cached and rebuilt.path == first.path


def test_an_empty_dataset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1 conversation over at least 1 day"):
        cached_dataset(0, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_cache_without_its_description_is_rebuilt(tmp_path: Path) -> None:
    db, meta = cache_paths(500, tmp_path)
    cached_dataset(500, cache_dir=tmp_path)
    meta.unlink()
    rebuilt = cached_dataset(500, cache_dir=tmp_path)
    assert not rebuilt.cached and meta.exists() and db.exists()


def test_latency_run_claims_and_looks_up_through_the_http_server(tmp_path: Path) -> None:
    table = latency.main(1000, 6, cache_dir=tmp_path, report_as="test_latency")
    rows = {row["request"]: row for row in table}
    assert set(rows) >= {
        "claim",
        "claim: card updated",
        "bare: block_actions",
        "bare: slash command",
        "lookup @handle",
        "lookup email",
        "lookup profile URL",
        "lookup (all kinds)",
        "lookup name 'Rezae'",
    }
    assert rows["claim"]["n"] == 6 and rows["lookup (all kinds)"]["n"] == 6
    assert all(row["p99_ms"] >= row["p50_ms"] > 0 for row in table)
    assert rows["claim"]["ok"] in ("yes", "no") and rows["bare: slash command"]["ok"] == "-"
    saved = RESULTS / "test_latency.json"
    assert json.loads(saved.read_text())["rows"] == table
    saved.unlink()
    # The claims wrote to a copy: the cached database is untouched.
    db, _ = cache_paths(1000, tmp_path)
    assert _count(db, "SELECT count(*) FROM audit_event") == 0


def test_the_scaling_table_has_a_column_per_size(tmp_path: Path) -> None:
    table = lookup_digest.scaling((300, 600), cache_dir=tmp_path, report_as="test_scaling")
    assert [row["query"] for row in table] == [
        "lookup @handle",
        "lookup email",
        "lookup name substring 'Rezae'",
        "lookup profile URL",
    ]
    for row in table:
        assert isinstance(row["300_ms"], float) and isinstance(row["600_ms"], float)
        assert isinstance(row["600_cpu_ms"], float)
    saved = RESULTS / "test_scaling.json"
    assert json.loads(saved.read_text())["rows"] == table
    saved.unlink()


@pytest.mark.parametrize(
    ("parse", "argv", "fragment"),
    [
        (lookup_digest._parse, ["--conversations", "0"], "must be at least 1"),
        (latency._parse, ["--requests", "1"], "--requests at least 2"),
        (latency._parse, ["--conversations", "many"], "invalid int value"),
    ],
)
def test_bad_sizes_are_refused_with_a_clear_message(
    parse: object, argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse(argv)  # type: ignore[operator]
    assert exit_.value.code == 2
    assert fragment in capsys.readouterr().err


def test_make_bench_reports_missing_and_failing_benchmarks_and_runs_the_rest(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[int] = []

    def boom() -> None:
        raise ValueError("disk full")

    failing = types.ModuleType("benchmarks.zz_failing")
    failing.main = boom  # type: ignore[attr-defined]
    working = types.ModuleType("benchmarks.zz_working")
    working.main = lambda size: ran.append(size)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "benchmarks.zz_failing", failing)
    monkeypatch.setitem(sys.modules, "benchmarks.zz_working", working)
    plan = (("zz_missing", ()), ("zz_failing", ()), ("zz_working", (7,)))
    assert bench_runner.main(plan) == 1
    out = capsys.readouterr().out
    assert ran == [7]
    assert "benchmarks/zz_missing.py is missing" in out
    assert "benchmarks/zz_failing.py failed: ValueError: disk full" in out
    assert "python -m benchmarks.latency" in out  # how to run the full-size versions
    assert bench_runner.main((("zz_working", (8,)),)) == 0 and ran == [7, 8]


def _empty_postgres(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


def test_the_dataset_copies_to_postgres_and_both_give_the_same_answers(
    tmp_path: Path, postgres_server: str
) -> None:
    _empty_postgres(postgres_server)
    dataset = cached_dataset(400, cache_dir=tmp_path)
    on_postgres = copy_to_postgres(dataset, postgres_server)
    assert copy_to_postgres(dataset, postgres_server).url == on_postgres.url  # reused
    day_end = dataset.now.replace(hour=0, minute=0, second=0, microsecond=0)
    answers = []
    for url in (dataset.url, on_postgres.url):
        engine = make_engine(url)
        with session_scope(engine) as session:
            card = lookup(session, "@user7")
            digest = build_digest(
                session, start=day_end - timedelta(days=1), end=day_end, team=TeamConfig()
            )
            answers.append((card, digest))
        engine.dispose()
    (sqlite_card, sqlite_digest), (pg_card, pg_digest) = answers
    assert isinstance(sqlite_card, CustomerCard) and sqlite_card == pg_card
    assert sum(day.count for day in sqlite_digest.series) > 0
    # SQLite's julianday() carries a millisecond less than PostgreSQL's epoch: response
    # times may differ by 1 ms after rounding; everything else is identical.
    for got, want in zip(_durations(pg_digest), _durations(sqlite_digest), strict=True):
        assert got == pytest.approx(want, abs=0.0011)
    no_times = {"median": None, "p90": None}
    assert dataclasses.replace(
        pg_digest, response=dataclasses.replace(pg_digest.response, **no_times)
    ) == dataclasses.replace(
        sqlite_digest, response=dataclasses.replace(sqlite_digest.response, **no_times)
    )


def _durations(digest: DigestData) -> list[float]:
    times = (digest.response.median, digest.response.p90)
    return [value or 0.0 for t in times for value in (t.seconds, t.average)]


def test_a_postgres_database_holding_anything_else_is_refused(
    tmp_path: Path, postgres_server: str
) -> None:
    _empty_postgres(postgres_server)
    engine = make_engine(postgres_server)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE precious (id integer)")
    engine.dispose()
    with pytest.raises(NotEmptyError, match="holds other tables"):
        copy_to_postgres(cached_dataset(300, cache_dir=tmp_path), postgres_server)
    _empty_postgres(postgres_server)
