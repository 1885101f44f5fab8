"""Discord end to end: FakeDiscord → the real runner, intake and outbox → FakeSlack; a staff
reply drafted and sent from Slack → back on FakeDiscord as a Discord reply; restarts; doctor."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from bot.config import LoadedConfig, Settings
from bot.config_schema import TeamConfig
from bot.doctor import Status, check_sources
from storage.db import session_scope
from storage.models import Conversation
from tests.fakes import discord_payloads as p
from tests.fakes.discord import BOT_TOKEN, FakeDiscord
from tests.fakes.slack import FakeSlack
from tests.pipeline import Pipeline
from tests.polling import stored_in, wait_for
from tests.test_source_discord import make_adapter

HELP = p.HELP_CHANNEL_ID
COMPLAINT = "The app crashes after the update and I lost my data! Please help."


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDiscord]:
    with FakeDiscord() as server:
        server.patch(monkeypatch)
        yield server


def card_copies(pipe: Pipeline, text: str) -> int:
    """How many cards or card-thread replies show this text (#product only gets notices that
    quote a complaint, by the routing rules)."""
    homes = {pipe.channel_ids["support"], pipe.channel_ids["sales"]}
    return sum(
        text in json.dumps(post, ensure_ascii=False)
        for post in pipe.fake.all_posts()
        if post.get("channel") in homes
    )


def restart_twice(pipe: Pipeline, engine: Engine, expect_stored: int) -> None:
    """Two restarts, each a new adapter over the same database, as a new process builds."""
    for _ in range(2):
        pipe.sources = [make_adapter(engine)]
        runner = pipe.start_sources()
        wait_for(lambda: stored_in(engine, "discord") == expect_stored)
        time.sleep(0.5)  # a second read would happen within this time
        runner.stop()
        pipe.drain()


def test_message_card_follow_up_staff_reply_and_restart_backfill(
    engine: Engine, fake_slack: FakeSlack, fake: FakeDiscord
) -> None:
    pipe = Pipeline(engine, fake_slack, sources=[make_adapter(engine)])
    try:
        pipe.start_sources()
        fake.wait_connected()
        wait_for(lambda: pipe.sources[0].cursors.load("discord", "since"))
        ana = fake.customer("ana")
        staff = fake.customer("maria", roles=[p.STAFF_ROLE_ID])
        first = fake.post(HELP, ana, COMPLAINT)
        fake.post(HELP, staff, "Looking into it (typed in Discord, not a customer message)")
        wait_for(lambda: stored_in(engine, "discord") == 1)
        pipe.drain()
        [card] = [c for c in pipe.cards("support") if COMPLAINT in json.dumps(c)]
        channel, card_ts = pipe.channel_ids["support"], card["ts"]

        # A Discord reply to the first message lands in the card's Slack thread.
        follow = fake.post(HELP, ana, "Any news? Still broken.", reference=first)
        wait_for(lambda: stored_in(engine, "discord") == 2)
        pipe.drain()
        thread = pipe.fake.thread(channel, card_ts)
        assert any("Any news? Still broken." in json.dumps(m) for m in thread[1:])
        with session_scope(engine) as session:
            [conv] = session.exec(select(Conversation)).all()
            cid = conv.id or 0

        # Staff drafts and sends from Slack: a Discord reply to the latest message.
        pipe.send_draft(cid, channel, card_ts)
        [reply] = fake.sent_by_bot(HELP)
        assert reply["message_reference"]["message_id"] == follow["id"]
        assert reply["content"]

        # Down for a while: a reply to our answer and a new customer arrive meanwhile.
        assert pipe.runner is not None
        pipe.runner.stop()
        thanks = "Thanks, that fixed it."
        fake.post(HELP, ana, thanks, reference=reply)
        question = "Do you ship to Brno? I want to buy two."
        fake.post(HELP, fake.customer("bo"), question)
        restart_twice(pipe, engine, expect_stored=4)

        assert stored_in(engine, "discord") == 4
        with session_scope(engine) as session:
            assert session.exec(select(func.count()).select_from(Conversation)).one() == 2
        for text in (COMPLAINT, "Any news? Still broken.", thanks, question):
            assert card_copies(pipe, text) == 1, text
        assert any(thanks in json.dumps(m) for m in pipe.fake.thread(channel, card_ts))
    finally:
        pipe.stop()


def doctor_line(tmp_path: Path, token: str | None) -> tuple[Status, str, str | None]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path / 'doctor.db'}",
        discord_bot_token=SecretStr(token) if token else None,
    )
    team = TeamConfig.model_validate({"sources": {"discord": {"enabled": True}}})
    checks = check_sources(settings, LoadedConfig(team=team, path=None), timeout=8)
    [check] = [c for c in checks if c.name == "source discord"]
    return check.status, check.detail, check.fix


def test_doctor_shows_the_bot_or_each_failure_with_its_fix(
    tmp_path: Path, fake: FakeDiscord
) -> None:
    status, detail, _ = doctor_line(tmp_path, BOT_TOKEN)
    assert status is Status.OK and detail.startswith("logged in as Threadline; in 1 server(s)")

    status, detail, fix = doctor_line(tmp_path, "MTIz.revoked.token")
    assert status is Status.FAIL and "401" in detail and "DISCORD_BOT_TOKEN" in (fix or "")

    fake.message_content_enabled = False
    status, detail, fix = doctor_line(tmp_path, BOT_TOKEN)
    assert status is Status.FAIL and "Message Content intent is off" in detail
    assert "Privileged Gateway Intents" in (fix or "")
    fake.message_content_enabled = True

    fake.fail(429, path="/users/@me", retry_after=60)
    status, detail, fix = doctor_line(tmp_path, BOT_TOKEN)
    assert status is Status.FAIL and "rate limit" in detail and fix

    status, detail, fix = doctor_line(tmp_path, None)
    assert status is Status.FAIL and fix == "set DISCORD_BOT_TOKEN"

    fake.stop()
    status, detail, fix = doctor_line(tmp_path, BOT_TOKEN)
    assert status is Status.FAIL and "cannot reach Discord" in detail and "network" in (fix or "")
