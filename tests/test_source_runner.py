"""`SourceRunner`, `build_watched_sources` and `doctor.check_sources` with the real RSS source
against a real feed site (tests/fakes/feeds.py): failures show with their fix, the runner
backs off as told and keeps going, recovery ingests exactly once, and stopping is prompt."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from bot.config import LoadedConfig, Settings
from bot.config_schema import TeamConfig
from bot.doctor import Status, check_sources
from bot.intake import Intake
from bot.sources.cursors import CursorStore
from bot.sources.registry import SourceContext, build_watched_sources
from bot.sources.rss import FeedReader
from bot.sources.runner import SourceHealth, SourceRunner
from handlers.classify_offline import OfflineClassifier
from storage.models import Message
from tests.fakes.feeds import FakeFeeds
from tests.pipeline import team_config
from tests.polling import count_rows, wait_for

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def site() -> Iterator[FakeFeeds]:
    with FakeFeeds() as fake:
        yield fake


def team_with_feeds(urls: list[str], **rss: Any) -> TeamConfig:
    feeds = [{"url": url, "name": f"feed{i}"} for i, url in enumerate(urls)]
    settings = {"enabled": True, "poll_minutes": 0.002, "timeout_seconds": 1.0, **rss}
    return team_config(sources={"rss": {**settings, "feeds": feeds}})


def settings_for(engine: Engine) -> Settings:
    return Settings(_env_file=None, database_url=str(engine.url))  # type: ignore[call-arg]


def start_runner(engine: Engine, team: TeamConfig) -> SourceRunner:
    ctx = SourceContext(settings_for(engine), team, CursorStore(engine))
    sources = build_watched_sources(ctx)
    assert [s.name for s in sources] == ["rss"]
    intake = Intake(engine, team, OfflineClassifier())
    return SourceRunner(sources, intake, backoff_base=0.05, max_backoff=5).start()


def health(runner: SourceRunner) -> SourceHealth:
    return runner.health()["rss"]


OUTAGES: dict[str, tuple[Callable[[FakeFeeds], Any], str]] = {
    "down": (lambda s: s.drop(times=6), "network or proxy"),
    "429": (lambda s: s.fail(429, times=6), "poll_minutes"),
    "503": (lambda s: s.fail(503, times=6), "Threadline retries"),
    "garbage": (lambda s: s.garbage(times=6), "the feed's own URL"),
}


@pytest.mark.parametrize("outage", sorted(OUTAGES))
def test_every_feed_failing_shows_failing_with_the_fix_then_recovers_once(
    sqlite_engine: Engine, site: FakeFeeds, caplog: pytest.LogCaptureFixture, outage: str
) -> None:
    make_fault, fix_words = OUTAGES[outage]
    urls = [site.add_feed("/a.atom"), site.add_feed("/b.rss", "rss")]
    site.add_entry("/a.atom", "tag:a,1", "from a", published=NOW - timedelta(hours=1))
    site.add_entry("/b.rss", "tag:b,1", "from b", published=NOW - timedelta(hours=1))
    make_fault(site)  # 6 failed requests: three polls of both feeds
    with caplog.at_level(logging.INFO, logger="bot.sources"):
        runner = start_runner(sqlite_engine, team_with_feeds(urls))
        try:
            failing = wait_for(lambda: health(runner).state == "failing" and health(runner))
            assert "every feed failed" in (failing.error or "")
            assert fix_words in (failing.fix or "")
            # It keeps trying; once the site answers again, both entries arrive once.
            wait_for(lambda: count_rows(sqlite_engine, Message) == 2)
            # (health counts a message just after intake stored it)
            recovered = wait_for(lambda: health(runner).ingested == 2 and health(runner))
            assert recovered.state == "ok" and recovered.error is None
            time.sleep(0.3)  # more polls (304s): nothing twice
            assert count_rows(sqlite_engine, Message) == 2
        finally:
            runner.stop()
    logged = [r.getMessage() for r in caplog.records if r.name == "bot.sources.runner"]
    failures = [line for line in logged if line.startswith("source rss: every feed failed")]
    assert len(failures) >= 3  # backed off and retried, did not give up
    assert all(f"Fix: {failing.fix}" in line for line in failures)
    assert "source rss recovered" in logged


def test_recovery_without_new_entries_shows_ok_through_the_reachable_hook(
    sqlite_engine: Engine, site: FakeFeeds
) -> None:
    """Health turns "ok" on a yielded message; a recovered feed with nothing new yields none,
    so the runner wires the source's `on_reachable` hook to `mark_connected`."""
    url = site.add_feed("/a.atom")
    site.fail(503, times=2)
    runner = start_runner(sqlite_engine, team_with_feeds([url]))
    try:
        (source,) = runner.sources
        assert isinstance(source, FeedReader)
        wait_for(lambda: health(runner).state == "failing")
        assert source.on_reachable is not None  # wired by the runner
        wait_for(lambda: health(runner).state == "ok")  # recovered, nothing new
        assert health(runner).ingested == 0
    finally:
        runner.stop()


def test_the_runner_waits_out_retry_after(sqlite_engine: Engine, site: FakeFeeds) -> None:
    urls = [site.add_feed("/a.atom"), site.add_feed("/b.atom")]
    site.add_entry("/a.atom", "tag:a,1", "hello", published=NOW - timedelta(hours=1))
    site.fail(429, times=2, retry_after=1.5)
    runner = start_runner(sqlite_engine, team_with_feeds(urls))
    try:
        failing = wait_for(lambda: health(runner).state == "failing" and health(runner))
        assert failing.error and "HTTP 429" in failing.error
        wait_for(lambda: count_rows(sqlite_engine, Message) == 1)
    finally:
        runner.stop()
    first_try, second_try = site.requests_to("/a.atom")[:2]
    assert first_try.status == 429 and second_try.status == 200
    # Without Retry-After the runner would retry after backoff_base (0.05 s).
    assert second_try.at - first_try.at >= 1.4


@pytest.mark.parametrize("while_", ["asleep between polls", "hung on a fetch"])
def test_stop_returns_promptly(sqlite_engine: Engine, site: FakeFeeds, while_: str) -> None:
    url = site.add_feed("/a.atom")
    if while_ == "hung on a fetch":
        site.hang(20)
    team = team_with_feeds([url], poll_minutes=60, timeout_seconds=20)
    runner = start_runner(sqlite_engine, team)
    wait_for(lambda: site.requests_to("/a.atom"))
    time.sleep(0.2)
    started = time.monotonic()
    runner.stop(timeout=5)
    assert time.monotonic() - started < 1.5
    assert health(runner).state == "stopped"


def test_a_source_that_cannot_be_built_is_skipped_with_the_reason(
    sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    team = team_config(sources={"rss": {"enabled": True, "feeds": []}})
    ctx = SourceContext(settings_for(sqlite_engine), team, CursorStore(sqlite_engine))
    with caplog.at_level(logging.ERROR, logger="bot.sources.registry"):
        assert build_watched_sources(ctx) == []
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("source rss is enabled but not started: ")
    assert "[[sources.rss.feeds]]" in line


def test_doctor_names_the_broken_feed_and_the_fix(sqlite_engine: Engine, site: FakeFeeds) -> None:
    good = site.add_feed("/good.atom", title="Good")
    site.add_entry("/good.atom", "tag:g,1", "x", published=NOW)
    team = team_with_feeds([good, site.url("/missing.rss")])
    checks = {
        c.name: c for c in check_sources(settings_for(sqlite_engine), LoadedConfig(team, None))
    }
    rss = checks["source rss"]
    assert rss.status == Status.FAIL
    assert "feed0 OK (1 entries)" in rss.detail and "feed1 FAIL" in rss.detail
    assert "HTTP 404" in rss.detail and "[[sources.rss.feeds]]" in rss.fix

    healthy = check_sources(
        settings_for(sqlite_engine), LoadedConfig(team_with_feeds([good]), None)
    )
    (ok,) = [c for c in healthy if c.name == "source rss"]
    assert (ok.status, ok.detail) == (Status.OK, "1 feed(s): feed0 OK (1 entries)")


def test_doctor_reports_rss_enabled_without_feeds(sqlite_engine: Engine) -> None:
    team = team_config(sources={"rss": {"enabled": True}})
    checks = check_sources(settings_for(sqlite_engine), LoadedConfig(team, None))
    (rss,) = [c for c in checks if c.name == "source rss"]
    assert rss.status == Status.FAIL and "[[sources.rss.feeds]]" in rss.fix


def test_doctor_probe_of_a_hung_feed_is_bounded(sqlite_engine: Engine, site: FakeFeeds) -> None:
    url = site.add_feed("/slow.atom")
    site.hang(10)
    team = team_with_feeds([url], timeout_seconds=10)
    started = time.monotonic()
    checks = check_sources(settings_for(sqlite_engine), LoadedConfig(team, None), timeout=0.5)
    (rss,) = [c for c in checks if c.name == "source rss"]
    assert time.monotonic() - started < 2.5
    assert rss.status == Status.FAIL and "no answer within" in rss.detail
