"""Bluesky end to end: FakeBluesky → the real runner, intake and outbox → FakeSlack; a staff
reply drafted and sent from Slack → a post in the customer's thread; restarts; doctor; logs."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from bot.config import LoadedConfig, Settings
from bot.config_schema import TeamConfig
from bot.doctor import Status, check_sources
from bot.sources.bluesky import BlueskyWatcher, from_config
from bot.sources.cursors import CursorStore
from bot.sources.registry import SourceContext
from bot.sources.runner import SourceRunner
from bot.wiring import make_intake
from storage.db import session_scope
from storage.models import Conversation
from tests.conftest import free_port
from tests.fakes.bluesky import BRAND_HANDLE, BRAND_PASSWORD, FakeBluesky
from tests.fakes.slack import FakeSlack
from tests.pipeline import Pipeline, team_config
from tests.polling import stored_in, wait_for

COMPLAINT = "@brand.test Po aktualizaci se aplikace nespustí a ztratil jsem data. Pomozte!"
LIST = "app.bsky.notification.listNotifications"


@pytest.fixture
def fake() -> Iterator[FakeBluesky]:
    with FakeBluesky() as server:
        server.add_user("jiri.test", name="Jiří", followers=25_000)
        server.add_user("bo.test", name="Bo")
        yield server


def build(fake_url: str, engine: Engine, password: str | None = BRAND_PASSWORD) -> BlueskyWatcher:
    """The source exactly as `threadline worker` builds it from config + environment."""
    bluesky = {"enabled": True, "service_url": fake_url, "handle": BRAND_HANDLE}
    team = team_config(sources={"bluesky": {**bluesky, "poll_seconds": 0.05}})
    settings = Settings(_env_file=None, bluesky_app_password=password)  # type: ignore[call-arg]
    return from_config(SourceContext(settings, team, CursorStore(engine)))


def started(pipe: Pipeline, fake: FakeBluesky) -> None:
    calls = len(fake.calls(LIST))
    pipe.start_sources()
    wait_for(lambda: len(fake.calls(LIST)) > calls)  # first read done: later posts are new


def slack_copies(pipe: Pipeline, text: str) -> int:
    return sum(text in json.dumps(p, ensure_ascii=False) for p in pipe.fake.all_posts())


def test_mention_card_follow_up_reply_and_restart_backfill(
    engine: Engine, fake_slack: FakeSlack, fake: FakeBluesky
) -> None:
    fake.post("bo.test", "@brand.test an old mention from before Threadline")
    pipe = Pipeline(engine, fake_slack, sources=[build(fake.url, engine)])
    try:
        started(pipe, fake)
        first, first_cid = fake.post("jiri.test", COMPLAINT, langs=["cs"])
        wait_for(lambda: stored_in(engine, "bluesky") == 1)
        pipe.drain()
        [card] = [p for p in pipe.cards("support") if "ztratil jsem data" in json.dumps(p)]
        channel, card_ts = pipe.channel_ids["support"], card["ts"]
        assert "@jiri.test" in json.dumps(card, ensure_ascii=False)
        assert slack_copies(pipe, "an old mention") == 0  # history is not replayed

        # The customer adds to their own thread (mentioning us): same Slack thread.
        follow, follow_cid = fake.post(
            "jiri.test", "@brand.test Pořád to nejde.", reply_to=first, langs=["cs"]
        )
        wait_for(lambda: stored_in(engine, "bluesky") == 2)
        pipe.drain()
        thread = pipe.fake.thread(channel, card_ts)
        assert any("Pořád to nejde." in json.dumps(m, ensure_ascii=False) for m in thread[1:])
        with session_scope(engine) as session:
            [conv] = session.exec(select(Conversation)).all()
            cid = conv.id or 0

        # Staff drafts and sends from Slack: it answers the latest post, under the root.
        pipe.send_draft(cid, channel, card_ts)
        [reply] = fake.brand_posts()
        value = reply["value"]
        assert (value["reply"]["root"]["uri"], value["reply"]["root"]["cid"]) == (first, first_cid)
        assert (value["reply"]["parent"]["uri"], value["reply"]["parent"]["cid"]) == (
            follow,
            follow_cid,
        )
        assert value["langs"] == ["cs"]

        # Down for a while: a reply to our answer and a new customer arrive meanwhile.
        assert pipe.runner is not None
        pipe.runner.stop()
        before = {t: slack_copies(pipe, t) for t in ("ztratil jsem data", "Pořád to nejde.")}
        assert all(before.values())
        thanks = "Díky, už to funguje."
        fake.post("jiri.test", thanks, reply_to=reply["uri"], langs=["cs"])
        question = "@brand.test do you ship to Brno? I want to buy two."
        fake.post("bo.test", question)
        for _ in range(2):  # two restarts: each a new adapter over the same database
            pipe.sources = [build(fake.url, engine)]
            pipe.start_sources()
            wait_for(lambda: stored_in(engine, "bluesky") == 4)
            time.sleep(0.3)  # a second read would happen within this time
            pipe.runner.stop()
            pipe.drain()

        assert stored_in(engine, "bluesky") == 4
        with session_scope(engine) as session:
            assert session.exec(select(func.count()).select_from(Conversation)).one() == 2
        assert slack_copies(pipe, "an old mention") == 0  # not even after restarts
        # Nothing before the restarts was posted again (a complaint also notifies #product).
        assert {t: slack_copies(pipe, t) for t in before} == before
        for text in (thanks, "do you ship to Brno"):
            assert slack_copies(pipe, text) == 1, text
        thread = pipe.fake.thread(channel, card_ts)
        assert any(thanks in json.dumps(m, ensure_ascii=False) for m in thread)
    finally:
        pipe.stop()


# -- doctor and logs -------------------------------------------------------------------------


def doctor_line(
    tmp_path: Path, service_url: str, password: str | None, handle: str | None = BRAND_HANDLE
) -> tuple[Status, str, str | None]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path / 'doctor.db'}",
        bluesky_app_password=password,
    )
    bluesky: dict[str, Any] = {"enabled": True, "service_url": service_url}
    bluesky["timeout_seconds"] = 3.0
    if handle is not None:
        bluesky["handle"] = handle
    team = TeamConfig.model_validate({"sources": {"bluesky": bluesky}})
    checks = check_sources(settings, LoadedConfig(team=team, path=None), timeout=5)
    [check] = [c for c in checks if c.name == "source bluesky"]
    return check.status, check.detail, check.fix


def test_doctor_shows_each_failure_with_its_fix(tmp_path: Path, fake: FakeBluesky) -> None:
    status, detail, _ = doctor_line(tmp_path, fake.url, BRAND_PASSWORD)
    assert status is Status.OK and detail.startswith(f"signed in as @{BRAND_HANDLE}")

    status, detail, fix = doctor_line(tmp_path, fake.url, "zzzz-zzzz-zzzz-zzzz")
    assert status is Status.FAIL and "refused the login" in detail
    assert "BLUESKY_APP_PASSWORD" in (fix or "") and "zzzz" not in detail + (fix or "")

    status, detail, fix = doctor_line(tmp_path, f"http://127.0.0.1:{free_port()}", BRAND_PASSWORD)
    assert status is Status.FAIL and "cannot reach" in detail and "network" in (fix or "")

    fake.rate_limit(reset_in=90)
    status, detail, fix = doctor_line(tmp_path, fake.url, BRAND_PASSWORD)
    assert status is Status.FAIL and "rate limit" in detail and fix

    status, detail, fix = doctor_line(tmp_path, fake.url, None)
    assert status is Status.FAIL and "BLUESKY_APP_PASSWORD is not set" in (fix or "")
    status, detail, fix = doctor_line(tmp_path, fake.url, BRAND_PASSWORD, handle=None)
    assert status is Status.FAIL and "sources.bluesky.handle is not set" in (fix or "")


@pytest.mark.parametrize(
    ("trouble", "logged"),
    [
        ("password", "Bluesky refused the login"),
        ("down", "cannot reach http://127.0.0.1:"),
        ("429", "Bluesky rate limit reached"),
        ("500", "Bluesky answered 500"),
    ],
)
def test_the_runner_logs_the_failure_with_the_fix(
    sqlite_engine: Engine,
    fake: FakeBluesky,
    caplog: pytest.LogCaptureFixture,
    trouble: str,
    logged: str,
) -> None:
    url, password = fake.url, BRAND_PASSWORD
    if trouble == "password":
        password = "yyyy-yyyy-yyyy-yyyy"
    elif trouble == "down":
        url = f"http://127.0.0.1:{free_port()}"
    elif trouble == "429":
        fake.rate_limit(reset_in=60, nsid=LIST)
    else:
        fake.fail(500, nsid=LIST)
    source = build(url, sqlite_engine, password)
    runner = SourceRunner([source], make_intake(sqlite_engine, team_config()), backoff_base=5)
    with caplog.at_level(logging.INFO):
        runner.start()
        try:
            wait_for(lambda: runner.health()["bluesky"].state == "failing")
        finally:
            runner.stop()
    health = runner.health()["bluesky"]
    assert health.error and logged in health.error and health.fix
    line = next(
        r.getMessage() for r in caplog.records if r.getMessage().startswith("source bluesky")
    )
    assert logged in line and f"Fix: {health.fix}" in line
    assert "yyyy" not in caplog.text and BRAND_PASSWORD not in caplog.text


def test_reading_recovers_after_server_errors_without_losing_posts(
    sqlite_engine: Engine, fake_slack: FakeSlack, fake: FakeBluesky
) -> None:
    pipe = Pipeline(sqlite_engine, fake_slack, sources=[build(fake.url, sqlite_engine)])
    try:
        started(pipe, fake)
        fake.fail(503, times=2, nsid=LIST)
        fake.post("bo.test", "@brand.test hello after the outage")
        wait_for(lambda: stored_in(sqlite_engine, "bluesky") == 1)
        assert pipe.runner is not None and pipe.runner.health()["bluesky"].state == "ok"
    finally:
        pipe.stop()
