"""Several workers on one PostgreSQL database: one reads the networks, the others stand by
and take over when it stops. On SQLite (one machine) every runner reads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from bot.intake import Intake
from bot.sources.cursors import CursorStore
from bot.sources.leader import SourceLeadership
from bot.sources.registry import SourceContext, build_watched_sources
from bot.sources.runner import SourceRunner
from handlers.classify_offline import OfflineClassifier
from storage.models import Message
from tests.fakes.feeds import FakeFeeds
from tests.polling import count_rows, wait_for
from tests.test_source_runner import settings_for, team_with_feeds


@pytest.fixture
def site() -> Iterator[FakeFeeds]:
    with FakeFeeds() as fake:
        yield fake


def worker(engine: Engine, url: str) -> SourceRunner:
    """What `threadline worker` starts: the enabled sources, behind the leadership lock."""
    team = team_with_feeds([url])
    sources = build_watched_sources(
        SourceContext(settings_for(engine), team, CursorStore(engine))
    )
    intake = Intake(engine, team, OfflineClassifier())
    leadership = SourceLeadership(engine, retry_seconds=0.1)
    return SourceRunner(sources, intake, backoff_base=0.05, leadership=leadership).start()


def test_one_worker_reads_the_other_takes_over_when_it_stops(
    engine: Engine, site: FakeFeeds
) -> None:
    url = site.add_feed("/a.atom")
    first = worker(engine, url)
    wait_for(lambda: first.health()["rss"].state == "ok")
    second = worker(engine, url)
    try:
        site.add_entry("/a.atom", "tag:a,1", "hello", published=datetime.now(UTC))
        wait_for(lambda: count_rows(engine, Message) == 1)
        if engine.dialect.name == "postgresql":
            assert second.health()["rss"].state == "standby"
            first.stop()
            wait_for(lambda: second.health()["rss"].state == "ok")
            site.add_entry(
                "/a.atom", "tag:a,2", "after the handover",
                published=datetime.now(UTC) + timedelta(seconds=1),
            )  # fmt: skip
            wait_for(lambda: count_rows(engine, Message) == 2)
        else:  # SQLite: no lock, both read; dedupe keeps each entry once
            wait_for(lambda: second.health()["rss"].state == "ok")
            assert count_rows(engine, Message) == 1
    finally:
        first.stop()
        second.stop()


def test_a_standby_worker_stops_promptly(engine: Engine) -> None:
    leader = SourceLeadership(engine)
    other = SourceLeadership(engine, retry_seconds=30)
    stop = threading.Event()
    try:
        assert leader.wait_until_leader(stop)
        if not other.exclusive:
            assert other.wait_until_leader(stop)  # SQLite: everyone leads
            return
        waiting = threading.Thread(target=other.wait_until_leader, args=(stop,))
        waiting.start()
        stop.set()
        waiting.join(timeout=5)
        assert not waiting.is_alive()
    finally:
        leader.release()
        other.release()
