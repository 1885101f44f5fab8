"""Replies on Discord (message references, 2,000-character parts, nonces), errors mapped to
DeliveryResult / SourceError with fixes, `probe()` for doctor, and `from_config`."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from bot.config import ConfigError, Settings
from bot.doctor import Status, probe_source
from bot.sources.base import OutboundReply, SourceAuthError, SourceError
from bot.sources.cursors import CursorStore
from bot.sources.discord import DiscordAdapter, from_config
from bot.sources.registry import SourceContext
from bot.sources.runner import SourceRunner
from tests.fakes import discord_payloads as p
from tests.fakes.discord import BOT_TOKEN, FakeDiscord
from tests.pipeline import team_config
from tests.polling import wait_for
from tests.test_source_discord import make_adapter

HELP = p.HELP_CHANNEL_ID
LONG_REPLY = (
    "Thanks for the report, Ana. "
    + "We traced the export failure to a timeout. " * 40
    + "\n\n"
    + "The fix ships tonight; your data is safe. " * 40
    + "\n\n"
    + "If anything else looks wrong, reply here and we will pick it up. " * 18
)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDiscord]:
    with FakeDiscord() as server:
        server.patch(monkeypatch)
        yield server


@pytest.fixture
def adapter(fake: FakeDiscord, sqlite_engine: Engine) -> Iterator[DiscordAdapter]:
    source = make_adapter(sqlite_engine)
    yield source
    source.close()


def reply_to(message: dict[str, Any], text: str = "Thanks, we're on it.", **kw: Any) -> Any:
    return OutboundReply(
        conversation_id=7,
        draft_id=3,
        source="discord",
        thread_id=message["id"],
        in_reply_to=message["id"],
        text=text,
        language="en",
        reply_meta={
            "channel_id": message["channel_id"],
            "guild_id": message.get("guild_id"),
            "message_id": message["id"],
        },
        idempotency_key=kw.pop("key", "reply-out:3"),
        sent_by="U123ABC",
        **kw,
    )


def test_a_reply_is_a_discord_reply_to_the_customer_message(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    asked = fake.post(HELP, fake.customer("ana"), "Where is my refund?")
    result = adapter.send_reply(reply_to(asked, "It went out today — 3 to 5 days. 🙏"))
    [sent] = fake.sent_by_bot(HELP)
    assert result.ok and result.external_id == sent["id"]
    assert result.url == f"https://discord.com/channels/{p.GUILD_ID}/{HELP}/{sent['id']}"
    assert sent["content"] == "It went out today — 3 to 5 days. 🙏"
    assert sent["message_reference"]["message_id"] == asked["id"]
    [post] = [r for r in fake.requests if r.method == "POST"]
    assert post.body["enforce_nonce"] is True and len(post.body["nonce"]) == 25
    assert post.body["allowed_mentions"]["parse"] == ["users"]  # never @everyone or roles


def test_a_4500_character_reply_arrives_as_ordered_parts(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    assert len(LONG_REPLY) >= 4500
    asked = fake.post(HELP, fake.customer("ana"), "Export fails")
    assert adapter.send_reply(reply_to(asked, LONG_REPLY)).ok
    parts = fake.sent_by_bot(HELP)
    assert len(parts) == 3
    assert all(len(part["content"]) <= 2000 for part in parts)
    assert " ".join(part["content"] for part in parts).split() == LONG_REPLY.split()
    answered = [part["message_reference"]["message_id"] for part in parts]
    assert answered == [asked["id"], parts[0]["id"], parts[1]["id"]]  # each after the last
    assert [int(part["id"]) for part in parts] == sorted(int(part["id"]) for part in parts)


def test_a_resend_after_a_failed_middle_part_does_not_duplicate(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    asked = fake.post(HELP, fake.customer("ana"), "Export fails")
    reply = reply_to(asked, LONG_REPLY)
    # Part 1 goes through; part 2 meets a 503 (discord.py does not retry 503).
    fake.allow(method="POST", path="/messages").fail(503, method="POST", path="/messages")
    failed = adapter.send_reply(reply)
    assert not failed.ok and failed.retryable
    assert "503" in (failed.error or "")
    assert len(fake.sent_by_bot(HELP)) == 1
    retried = adapter.send_reply(reply)
    parts = fake.sent_by_bot(HELP)
    assert retried.ok and len(parts) == 3
    assert retried.external_id == parts[0]["id"]  # part 1 came back from its nonce
    assert " ".join(p_["content"] for p_ in parts).split() == LONG_REPLY.split()


def test_a_reply_to_a_direct_message_goes_to_the_dm(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    ana = fake.customer("ana")
    dm = fake.open_dm(ana)
    asked = fake.post(dm, ana, "Private question about my card")
    result = adapter.send_reply(reply_to(asked, "Answered privately.", is_direct=True))
    [sent] = fake.sent_by_bot(dm)
    assert result.ok and result.url == f"https://discord.com/channels/@me/{dm}/{sent['id']}"
    assert sent["message_reference"]["message_id"] == asked["id"]


@pytest.mark.parametrize(
    "status, retryable, words",
    [
        (403, False, ["Send Messages", "permission"]),
        (404, False, ["404"]),
        (400, False, ["400"]),
        (503, True, ["503", "server error"]),
    ],
)
def test_http_errors_become_clear_delivery_results(
    fake: FakeDiscord, adapter: DiscordAdapter, status: int, retryable: bool, words: list[str]
) -> None:
    asked = fake.post(HELP, fake.customer("ana"), "Hello?")
    fake.fail(status, method="POST", path="/messages")
    result = adapter.send_reply(reply_to(asked))
    assert not result.ok and result.retryable is retryable
    for word in words:
        assert word in (result.error or "")
    assert "fix:" in (result.error or "")
    assert fake.sent_by_bot(HELP) == []


def test_a_channel_the_bot_may_not_write_in_names_the_permission(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    asked = fake.post(HELP, fake.customer("ana"), "Hello?")
    fake.forbidden_channels.add(HELP)
    result = adapter.send_reply(reply_to(asked))
    assert not result.ok and not result.retryable
    assert "Missing Permissions" in (result.error or "") and "Send Messages" in (result.error or "")


def test_a_long_rate_limit_is_retryable_with_its_wait(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    asked = fake.post(HELP, fake.customer("ana"), "Hello?")
    fake.fail(429, method="POST", path="/messages", retry_after=120)
    result = adapter.send_reply(reply_to(asked))
    assert not result.ok and result.retryable and result.retry_after == 120
    assert fake.sent_by_bot(HELP) == []


def test_a_short_rate_limit_is_waited_out_by_discord_py(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    asked = fake.post(HELP, fake.customer("ana"), "Hello?")
    fake.fail(429, method="POST", path="/messages", retry_after=0.2)
    assert adapter.send_reply(reply_to(asked)).ok
    assert len(fake.sent_by_bot(HELP)) == 1
    assert [r.method for r in fake.requests if r.path.endswith("/messages")] == ["POST", "POST"]


def test_a_hung_discord_times_out_as_retryable_and_a_resend_is_not_a_duplicate(
    fake: FakeDiscord, sqlite_engine: Engine
) -> None:
    adapter = DiscordAdapter(
        BOT_TOKEN, make_adapter(sqlite_engine).config, CursorStore(sqlite_engine), send_timeout=1
    )
    try:
        asked = fake.post(HELP, fake.customer("ana"), "Hello?")
        fake.hang(3, method="POST", path="/messages")
        started = time.monotonic()
        result = adapter.send_reply(reply_to(asked))
        assert time.monotonic() - started < 2.5
        assert not result.ok and result.retryable and "1 s" in (result.error or "")
        assert adapter.send_reply(reply_to(asked)).ok
        assert len(fake.sent_by_bot(HELP)) == 1
    finally:
        adapter.close()


@pytest.mark.parametrize("fault", ["drop", "malformed"])
def test_dropped_connections_and_malformed_answers_are_retryable(
    fake: FakeDiscord, adapter: DiscordAdapter, fault: str
) -> None:
    asked = fake.post(HELP, fake.customer("ana"), "Hello?")
    getattr(fake, fault)(method="POST", path="/messages", times=5)
    result = adapter.send_reply(reply_to(asked))
    assert not result.ok and result.retryable, result
    assert "fix:" in (result.error or "")


def test_a_bad_token_is_an_auth_failure_that_says_which_variable(
    fake: FakeDiscord, sqlite_engine: Engine
) -> None:
    fake.token = "wrong"
    adapter = make_adapter(sqlite_engine)
    try:
        asked = fake.post(HELP, fake.customer("ana"), "Hello?")
        result = adapter.send_reply(reply_to(asked))
        assert not result.ok and not result.retryable
        assert "401" in (result.error or "") and "DISCORD_BOT_TOKEN" in (result.error or "")
        assert BOT_TOKEN not in (result.error or "")
    finally:
        adapter.close()


def test_a_customer_answering_part_three_continues_the_conversation(
    fake: FakeDiscord, sqlite_engine: Engine
) -> None:
    from tests.test_source_discord import Watcher

    watcher = Watcher(make_adapter(sqlite_engine))
    try:
        fake.wait_connected()
        wait_for(lambda: watcher.adapter.cursors.load("discord", "since"))
        ana = fake.customer("ana")
        asked = fake.post(HELP, ana, "Export fails")
        wait_for(lambda: watcher.got)
        assert watcher.adapter.send_reply(reply_to(asked, LONG_REPLY)).ok
        part3 = fake.sent_by_bot(HELP)[2]
        fake.post(HELP, ana, "Thanks, but one more thing", reference=part3)
        wait_for(lambda: len(watcher.got) == 2)
        assert watcher.got[1].parent_id == asked["id"]
    finally:
        watcher.stop()


# -- doctor, config, logs -------------------------------------------------------------------


def test_probe_names_the_bot_and_its_servers(fake: FakeDiscord, adapter: DiscordAdapter) -> None:
    line = adapter.probe()
    assert line == "logged in as Threadline; in 1 server(s), watching 1; Message Content intent on"


def test_probe_says_when_the_message_content_intent_is_off(
    fake: FakeDiscord, adapter: DiscordAdapter
) -> None:
    fake.message_content_enabled = False
    with pytest.raises(SourceAuthError) as caught:
        adapter.probe()
    assert "Message Content intent is off" in str(caught.value)
    assert "Privileged Gateway Intents" in caught.value.fix


@pytest.mark.parametrize(
    "trouble, words",
    [
        ("token", ["401"]),
        ("down", ["cannot reach Discord"]),
        ("429", ["rate limit"]),
        ("500", ["server error"]),
    ],
)
def test_doctor_shows_each_failure_with_its_fix(
    fake: FakeDiscord, adapter: DiscordAdapter, trouble: str, words: list[str]
) -> None:
    if trouble == "token":
        fake.token = "rotated"
    elif trouble == "down":
        fake.stop()
    elif trouble == "429":
        fake.fail(429, path="/users/@me", retry_after=90)
    else:
        fake.fail(503, path="/users/@me")
    check = probe_source("source discord", adapter, timeout=8)
    assert check.status is Status.FAIL
    for word in words:
        assert word in check.detail
    assert check.fix


def test_from_config_needs_the_token_and_never_connects(sqlite_engine: Engine) -> None:
    team = team_config(sources={"discord": {"enabled": True, "guild_ids": [p.GUILD_ID]}})
    bare = Settings(_env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="DISCORD_BOT_TOKEN"):
        from_config(SourceContext(bare, team, CursorStore(sqlite_engine)))
    settings = Settings(_env_file=None, discord_bot_token=SecretStr(BOT_TOKEN))  # type: ignore[call-arg]
    source = from_config(SourceContext(settings, team, CursorStore(sqlite_engine)))
    assert source.name == "discord" and source.config.guild_ids == [p.GUILD_ID]
    assert source.gateway.client is None  # nothing touched the network


@pytest.mark.parametrize(
    "trouble, expected",
    [
        ("token", "DISCORD_BOT_TOKEN"),
        ("intent", "Message Content Intent"),
        ("down", "discordstatus.com"),
        ("429", "Threadline waits as Discord asks"),
    ],
)
def test_the_runner_logs_watch_failures_with_the_fix_and_no_secret(
    fake: FakeDiscord,
    sqlite_engine: Engine,
    caplog: pytest.LogCaptureFixture,
    trouble: str,
    expected: str,
) -> None:
    from bot.intake import Intake
    from handlers.classify_offline import OfflineClassifier

    if trouble == "token":
        fake.token = "rotated"
    elif trouble == "intent":
        fake.message_content_enabled = False
    elif trouble == "down":
        fake.stop()
    else:
        fake.fail(429, path="/users/@me", retry_after=45, times=50)
    adapter = make_adapter(sqlite_engine)
    runner = SourceRunner([adapter], Intake(sqlite_engine, team_config(), OfflineClassifier()))
    caplog.set_level(logging.INFO)
    runner.start()
    try:
        health = wait_for(lambda: runner.health()["discord"].error and runner.health()["discord"])
    finally:
        runner.stop()
    assert health.state == "failing" and expected in (health.fix or "")
    logged = [r.getMessage() for r in caplog.records if r.name == "bot.sources.runner"]
    assert any("source discord:" in line and expected in line for line in logged)
    assert BOT_TOKEN not in caplog.text


def test_watch_raises_a_source_error_when_discord_is_unreachable(
    fake: FakeDiscord, sqlite_engine: Engine
) -> None:
    fake.stop()
    adapter = make_adapter(sqlite_engine)
    try:
        with pytest.raises(SourceError) as caught:
            next(iter(adapter.watch()))
        assert "cannot reach Discord" in str(caught.value) and caught.value.retryable
    finally:
        adapter.close()
