"""Mastodon end to end: the fake instance → the real runner, intake and outbox → FakeSlack;
a staff reply drafted and sent from Slack → back on the fake instance; restarts; doctor."""

from __future__ import annotations

import json
import logging
import re
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
from bot.sources.runner import SourceRunner
from bot.wiring import make_intake
from storage.db import session_scope
from storage.models import Conversation
from tests.conftest import free_port
from tests.fakes.mastodon import TOKEN, FakeMastodon
from tests.fakes.slack import FakeSlack
from tests.pipeline import Pipeline, team_config
from tests.polling import stored_in, wait_for
from tests.test_source_mastodon import make_source, start

COMPLAINT = "The app crashes after the update and I lost my data! Please help."


@pytest.fixture
def fake() -> Iterator[FakeMastodon]:
    with FakeMastodon() as server:
        yield server


def slack_copies(pipe: Pipeline, text: str) -> int:
    """How many cards and thread replies show this customer text (the notice a routing rule
    sends to another channel quotes it too, and is not counted)."""
    return sum(
        text in json.dumps(p, ensure_ascii=False)
        for p in pipe.fake.all_posts()
        if p.get("metadata", {}).get("event_type") != "threadline_notice"
    )


def test_mention_card_follow_up_reply_and_restart_backfill(
    engine: Engine, fake_slack: FakeSlack, fake: FakeMastodon
) -> None:
    source = start(fake, engine)
    pipe = Pipeline(engine, fake_slack, sources=[source])
    try:
        pipe.start_sources()
        ana = fake.add_account("ana", domain="social.example", followers=20_000)
        first = fake.mention(ana, COMPLAINT, visibility="private")
        wait_for(lambda: stored_in(engine, "mastodon") == 1)
        pipe.drain()
        [card] = [p for p in pipe.cards("support") if COMPLAINT in json.dumps(p)]
        channel, card_ts = pipe.channel_ids["support"], card["ts"]
        assert "@ana@social.example" in json.dumps(card, ensure_ascii=False)

        # A follow-up in the same Mastodon thread lands in the card's Slack thread.
        follow = fake.mention(
            ana, "Any news? Still broken.", in_reply_to=first["id"], visibility="private"
        )
        wait_for(lambda: stored_in(engine, "mastodon") == 2)
        pipe.drain()
        thread = pipe.fake.thread(channel, card_ts)
        assert any("Any news? Still broken." in json.dumps(m) for m in thread[1:])
        with session_scope(engine) as session:
            [conv] = session.exec(select(Conversation)).all()
            cid = conv.id or 0

        # Staff drafts and sends from Slack: it answers the latest message, privately.
        pipe.send_draft(cid, channel, card_ts)
        [reply] = fake.posted()
        assert reply["in_reply_to_id"] == follow["id"]
        assert reply["visibility"] == "private"
        assert reply["text"].startswith("@ana@social.example ")

        # Down for a while: a reply to our answer and a new customer arrive meanwhile.
        assert pipe.runner is not None
        pipe.runner.stop()
        thanks = "Thanks, that fixed it."
        fake.mention(ana, thanks, in_reply_to=reply["id"])
        bo = fake.add_account("bo")
        question = "Do you ship to Brno? I want to buy two."
        fake.mention(bo, question)
        for _ in range(2):  # two restarts: each a new adapter over the same database
            pipe.sources = [make_source(fake, engine)]
            pipe.start_sources()
            wait_for(lambda: stored_in(engine, "mastodon") == 4)
            time.sleep(0.3)  # a second read would happen within this time
            pipe.runner.stop()
            pipe.drain()

        assert stored_in(engine, "mastodon") == 4
        with session_scope(engine) as session:
            assert session.exec(select(func.count()).select_from(Conversation)).one() == 2
        for text in (COMPLAINT, "Any news? Still broken.", thanks, question):
            assert slack_copies(pipe, text) == 1, text
        assert any(thanks in json.dumps(m) for m in pipe.fake.thread(channel, card_ts))
    finally:
        pipe.stop()


# -- doctor and logs -------------------------------------------------------------------------


def doctor_line(
    tmp_path: Path, base_url: str | None, token: str | None
) -> tuple[Status, str, str | None]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path / 'doctor.db'}",
        mastodon_access_token=token,
    )
    mastodon = {"enabled": True, "request_timeout_seconds": 1.0}
    if base_url is not None:
        mastodon["api_base_url"] = base_url
    team = TeamConfig.model_validate({"sources": {"mastodon": mastodon}})
    checks = check_sources(settings, LoadedConfig(team=team, path=None), timeout=5)
    [check] = [c for c in checks if c.name == "source mastodon"]
    return check.status, check.detail, check.fix


def test_doctor_shows_each_failure_with_its_fix(tmp_path: Path, fake: FakeMastodon) -> None:
    status, detail, _ = doctor_line(tmp_path, fake.url, TOKEN)
    assert status is Status.OK and detail.startswith("signed in as @brand@brand.example")

    status, detail, fix = doctor_line(tmp_path, fake.url, "revoked-token-123")
    assert status is Status.FAIL and "401" in detail and "MASTODON_ACCESS_TOKEN" in (fix or "")

    status, detail, fix = doctor_line(tmp_path, f"http://127.0.0.1:{free_port()}", TOKEN)
    assert status is Status.FAIL and "cannot reach" in detail and "network" in (fix or "")

    fake.fail(429, reset_in=90)
    status, detail, fix = doctor_line(tmp_path, fake.url, TOKEN)
    assert status is Status.FAIL and "rate limit" in detail and fix

    status, detail, fix = doctor_line(tmp_path, fake.url, None)
    assert status is Status.FAIL and "MASTODON_ACCESS_TOKEN is not set" in (fix or "")
    status, detail, fix = doctor_line(tmp_path, None, TOKEN)
    assert status is Status.FAIL and "api_base_url is not set" in (fix or "")


@pytest.mark.parametrize(
    ("trouble", "logged"),
    [
        ("token", "Mastodon rejected the access token (HTTP 401). Fix: in Mastodon open"),
        ("down", "cannot reach http://127.0.0.1:"),
        ("429", "Mastodon rate limit reached"),
    ],
)
def test_the_runner_logs_the_failure_with_the_fix(
    sqlite_engine: Engine,
    fake: FakeMastodon,
    caplog: pytest.LogCaptureFixture,
    trouble: str,
    logged: str,
) -> None:
    options: dict[str, Any] = {}
    if trouble == "token":
        options["access_token"] = "revoked-token-123"
    elif trouble == "down":
        options["api_base_url"] = f"http://127.0.0.1:{free_port()}"
    else:
        fake.fail(429, reset_in=120, times=5)
    source = make_source(fake, sqlite_engine, **options)
    caplog.set_level(logging.INFO)
    runner = SourceRunner([source], make_intake(sqlite_engine, team_config()), backoff_base=0.05)
    runner.start()
    try:
        wait_for(lambda: "source mastodon: " in caplog.text)
    finally:
        runner.stop()
    assert logged in caplog.text and "Fix: " in caplog.text
    health = runner.health()["mastodon"]
    assert health.error and health.fix and health.failures >= 1
    assert "revoked-token-123" not in caplog.text
    if trouble == "429":  # the wait is the instance's reset (~120 s), not a guess
        assert re.search(r"retrying in 1[12]\d s", caplog.text), caplog.text
