"""All four watched sources built from one `threadline.toml` by the real registry, run by one
SourceRunner: three of them broken in different ways (bad Discord token, Mastodon 401, a
Bluesky server that is not there) and RSS healthy. The broken ones show in health, the log
and doctor with their fixes; RSS keeps ingesting; nobody stops anybody."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from bot.config import LoadedConfig, Settings
from bot.config_schema import TeamConfig
from bot.doctor import Status, check_sources
from bot.sources.cursors import CursorStore
from bot.sources.registry import SourceContext, build_watched_sources
from bot.sources.runner import SourceRunner
from bot.wiring import make_intake
from tests.conftest import free_port
from tests.fakes.discord import FakeDiscord
from tests.fakes.feeds import FakeFeeds
from tests.fakes.mastodon import FakeMastodon
from tests.polling import stored_in, wait_for

WRONG = "definitely-not-the-token-7f3a"


@pytest.fixture
def discord_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDiscord]:
    with FakeDiscord() as fake:
        fake.patch(monkeypatch)
        yield fake


def setup(
    engine: Engine, discord: FakeDiscord, mastodon: FakeMastodon, feeds: FakeFeeds
) -> tuple[Settings, TeamConfig]:
    url = feeds.add_feed("/reviews.atom", title="Shop reviews")
    team = TeamConfig.model_validate(
        {
            "channels": {"support": "#support"},
            "routing": {"default_channel": "support"},
            "sources": {
                "discord": {"enabled": True, "ready_timeout_seconds": 1},
                "mastodon": {"enabled": True, "api_base_url": mastodon.url, "poll_seconds": 0.1},
                "bluesky": {
                    "enabled": True,
                    "service_url": f"http://127.0.0.1:{free_port()}",
                    "handle": "brand.test",
                    "poll_seconds": 0.1,
                    "timeout_seconds": 1,
                },
                "rss": {
                    "enabled": True,
                    "poll_minutes": 0.002,
                    "timeout_seconds": 2,
                    "feeds": [{"url": url, "name": "Reviews"}],
                },
            },
        }
    )
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=str(engine.url.render_as_string(hide_password=False)),
        discord_bot_token=WRONG,
        mastodon_access_token=WRONG,
        bluesky_app_password=WRONG,
    )
    return settings, team


def test_three_broken_sources_never_stop_the_healthy_one(
    sqlite_engine: Engine,
    discord_fake: FakeDiscord,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    with FakeMastodon() as mastodon, FakeFeeds() as feeds:
        settings, team = setup(sqlite_engine, discord_fake, mastodon, feeds)
        sources = build_watched_sources(SourceContext(settings, team, CursorStore(sqlite_engine)))
        assert sorted(s.name for s in sources) == ["bluesky", "discord", "mastodon", "rss"]
        runner = SourceRunner(sources, make_intake(sqlite_engine, team), backoff_base=0.1)
        runner.start()
        try:
            now = datetime.now(UTC)
            for i in range(3):
                feeds.add_entry(
                    "/reviews.atom", f"tag:shop,2026:r{i}", f"Review {i}: checkout fails",
                    summary="The card is declined every time.",
                    published=now - timedelta(minutes=i),
                    link=f"https://shop.example/reviews/{i}", author=f"Reviewer {i}",
                )
            wait_for(lambda: stored_in(sqlite_engine, "rss") == 3, seconds=20)
            health = wait_for(
                lambda: (h := runner.health())
                and all(h[n].state == "failing" for n in ("discord", "mastodon", "bluesky"))
                and h
            , seconds=20)
            assert health["rss"].state == "ok"
            for name, needle in (
                ("discord", "DISCORD_BOT_TOKEN"),
                ("mastodon", "MASTODON_ACCESS_TOKEN"),
                ("bluesky", "service_url"),
            ):
                assert needle in (health[name].fix or ""), (name, health[name])
            # one more entry while the others keep failing: still read, exactly once
            feeds.add_entry(
                "/reviews.atom", "tag:shop,2026:late", "Still broken", summary="Any news?",
                published=datetime.now(UTC), link="https://shop.example/reviews/late",
            )
            wait_for(lambda: stored_in(sqlite_engine, "rss") == 4, seconds=20)
        finally:
            started = time.monotonic()
            runner.stop(timeout=10)
            assert time.monotonic() - started < 12
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for name in ("discord", "mastodon", "bluesky"):
        assert f"source {name}:" in logged and "Fix:" in logged
    assert WRONG not in logged
    assert all(not t.is_alive() for t in runner._threads)


def test_doctor_reports_every_source_on_its_own_line(
    sqlite_engine: Engine, discord_fake: FakeDiscord
) -> None:
    with FakeMastodon() as mastodon, FakeFeeds() as feeds:
        settings, team = setup(sqlite_engine, discord_fake, mastodon, feeds)
        checks = {
            c.name: c for c in check_sources(settings, LoadedConfig(team, None), timeout=8)
        }
    assert checks["source rss"].status == Status.OK
    for name in ("discord", "mastodon", "bluesky"):
        check = checks[f"source {name}"]
        assert check.status == Status.FAIL, check
        assert check.fix, check
        assert WRONG not in f"{check.detail} {check.fix}"
    assert checks["source webhook"].status == Status.OFF


def test_a_recovered_source_shows_ok_again_without_any_new_message(sqlite_engine: Engine) -> None:
    """After an outage, health must not keep saying "failing" just because nobody wrote."""
    from tests.fakes.mastodon import TOKEN

    with FakeMastodon() as mastodon:
        team = TeamConfig.model_validate(
            {
                "channels": {"support": "#support"},
                "routing": {"default_channel": "support"},
                "sources": {
                    "mastodon": {
                        "enabled": True,
                        "api_base_url": mastodon.url,
                        "poll_seconds": 0.05,
                        "request_timeout_seconds": 1,
                    }
                },
            }
        )
        settings = Settings(_env_file=None, mastodon_access_token=TOKEN)  # type: ignore[call-arg]
        mastodon.fail(503, times=2)
        sources = build_watched_sources(SourceContext(settings, team, CursorStore(sqlite_engine)))
        runner = SourceRunner(sources, make_intake(sqlite_engine, team), backoff_base=0.1)
        runner.start()
        try:
            wait_for(lambda: runner.health()["mastodon"].state == "failing", seconds=20)
            health = wait_for(
                lambda: (h := runner.health()["mastodon"]).state == "ok" and h, seconds=20
            )
            assert health.error is None and health.ingested == 0
        finally:
            runner.stop()
