"""The Discord source against FakeDiscord (REST + gateway on 127.0.0.1), driven through the
real discord.py client: what becomes a customer message, conversations, cursors, backfill
after downtime, and gateway disconnects."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from bot.config_schema import DiscordSource as DiscordConfig
from bot.sources.cursors import CursorStore
from bot.sources.discord import DiscordAdapter
from handlers.inbound import InboundMessage
from tests.fakes import discord_payloads as p
from tests.fakes.discord import BOT_TOKEN, FakeDiscord
from tests.polling import wait_for

HELP = p.HELP_CHANNEL_ID


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDiscord]:
    with FakeDiscord() as server:
        server.patch(monkeypatch)
        yield server


def make_adapter(engine: Engine, **config: Any) -> DiscordAdapter:
    settings = {"enabled": True, "staff_role_ids": [p.STAFF_ROLE_ID], **config}
    return DiscordAdapter(
        BOT_TOKEN,
        DiscordConfig.model_validate(settings),
        CursorStore(engine),
        send_timeout=5,
        ready_timeout=0.05,
    )


class Watcher:
    """Runs `watch()` in a thread like the SourceRunner, saving each checkpoint as intake
    would, and collects what it yields."""

    def __init__(self, adapter: DiscordAdapter) -> None:
        self.adapter = adapter
        self.got: list[InboundMessage] = []
        self.errors: list[Exception] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self.adapter._closed.is_set():
            try:
                for msg in self.adapter.watch():
                    checkpoint = self.adapter.checkpoint(msg)
                    assert checkpoint is not None
                    self.adapter.cursors.save(checkpoint)
                    self.got.append(msg)
            except Exception as exc:
                self.errors.append(exc)
                time.sleep(0.05)

    def texts(self) -> list[str]:
        return [m.text for m in self.got]

    def stop(self) -> None:
        self.adapter.close()
        self._thread.join(5)


@pytest.fixture
def watching(fake: FakeDiscord, sqlite_engine: Engine) -> Iterator[Watcher]:
    watcher = Watcher(make_adapter(sqlite_engine))
    fake.wait_connected()
    wait_for(lambda: watcher.adapter.cursors.load("discord", "since"))
    yield watcher
    watcher.stop()


def test_a_customer_message_is_yielded_with_its_thread_and_reply_facts(
    fake: FakeDiscord, watching: Watcher
) -> None:
    ana = fake.customer("ana")
    sent = fake.post(HELP, ana, "Hi, my invoice is wrong")
    [msg] = wait_for(lambda: watching.got)
    assert msg.external_id == sent["id"]
    assert msg.thread_id == sent["id"]  # conversation_per = "thread": a top-level message
    assert msg.author.external_id == ana["id"]
    assert msg.author.handle == "ana"
    assert msg.reply_meta == {
        "channel_id": str(HELP),
        "guild_id": str(p.GUILD_ID),
        "message_id": sent["id"],
    }
    assert watching.adapter.cursors.load("discord", str(HELP)) == sent["id"]


def test_staff_other_bots_webhooks_and_the_bot_itself_are_skipped_but_advance_the_cursor(
    fake: FakeDiscord, watching: Watcher
) -> None:
    staff = fake.customer("maria-support", roles=[p.STAFF_ROLE_ID])
    regular = fake.customer("jan", roles=[p.CUSTOMER_ROLE_ID])
    fake.post(HELP, staff, "We are looking into it")
    fake.post(HELP, fake.other_bot("MEE6"), "GG jan, you just advanced to level 2!")
    fake.post(HELP, p.user(p.snowflake(), "GitHub"), "New issue #12", webhook_id=p.snowflake())
    fake.post(HELP, fake.bot, "An earlier answer of ours")
    last = fake.post(HELP, regular, "Still broken for me")
    wait_for(lambda: watching.got)
    time.sleep(0.2)
    assert watching.texts() == ["Still broken for me"]
    assert watching.adapter.cursors.load("discord", str(HELP)) == last["id"]
    skipped = fake.post(HELP, staff, "Fixed now")
    wait_for(lambda: watching.adapter.cursors.load("discord", str(HELP)) == skipped["id"])
    assert watching.texts() == ["Still broken for me"]


def test_a_reply_points_at_the_message_it_answers(fake: FakeDiscord, watching: Watcher) -> None:
    ana = fake.customer("ana")
    first = fake.post(HELP, ana, "The export button does nothing")
    fake.post(HELP, ana, "Here is more detail: Chrome 131", reference=first)
    wait_for(lambda: len(watching.got) == 2)
    top, reply = watching.got
    assert top.parent_id is None and top.thread_id == first["id"]
    assert reply.parent_id == first["id"]


def test_threads_and_forum_posts_are_one_conversation_each(
    fake: FakeDiscord, watching: Watcher
) -> None:
    ana, jan = fake.customer("ana"), fake.customer("jan")
    thread = fake.add_thread(HELP, "Login loop", ana)
    fake.post(int(thread["id"]), ana, "I keep getting logged out")
    fake.post(int(thread["id"]), jan, "Same here since Tuesday")
    post = fake.forum_post(p.FORUM_CHANNEL_ID, jan, "Dark mode?", "Is a dark mode planned?")
    wait_for(lambda: len(watching.got) == 3)
    in_thread = [m.thread_id for m in watching.got[:2]]
    assert in_thread == [thread["id"], thread["id"]]
    forum = watching.got[2]
    assert forum.thread_id == post["id"] == post["channel_id"]  # the starter has the thread's id
    assert forum.reply_meta["channel_id"] == post["channel_id"]


def test_direct_messages_are_private_conversations(fake: FakeDiscord, watching: Watcher) -> None:
    ana = fake.customer("ana")
    dm = fake.open_dm(ana)
    sent = fake.post(dm, ana, "Can you check my account privately?")
    [msg] = wait_for(lambda: watching.got)
    assert msg.is_direct and msg.thread_id == str(dm)
    assert msg.reply_meta["guild_id"] is None
    assert watching.adapter.cursors.load("discord", f"dm:{dm}") == sent["id"]


def test_attachments_are_kept_and_name_an_empty_text(fake: FakeDiscord, watching: Watcher) -> None:
    ana = fake.customer("ana")
    shot = p.attachment("crash.png", "image/png")
    fake.post(HELP, ana, "", attachments=[shot])
    [msg] = wait_for(lambda: watching.got)
    assert msg.text == "[attachment: crash.png]"
    assert [(a.name, a.mime, str(a.url)) for a in msg.attachments] == [
        ("crash.png", "image/png", shot["url"])
    ]


def test_a_message_without_text_is_skipped_and_the_cursor_still_advances(
    fake: FakeDiscord, watching: Watcher
) -> None:
    ana = fake.customer("ana")
    empty = fake.post(HELP, ana, "")  # what guild text looks like without the intent
    wait_for(lambda: watching.adapter.cursors.load("discord", str(HELP)) == empty["id"])
    fake.post(HELP, ana, "hello?")
    wait_for(lambda: watching.got)
    assert watching.texts() == ["hello?"]


@pytest.mark.parametrize(
    "config, expected",
    [
        ({"conversation_per": "channel"}, ["help", "help", "help"]),
        ({"conversation_per": "thread"}, ["m0", "m1", "m2"]),
        ({"conversation_per": "author", "author_window_minutes": 30}, ["m0", "m0", "m2"]),
    ],
)
def test_conversation_per_groups_plain_channel_messages(
    fake: FakeDiscord, sqlite_engine: Engine, config: dict[str, Any], expected: list[str]
) -> None:
    watcher = Watcher(make_adapter(sqlite_engine, **config))
    try:
        fake.wait_connected()
        wait_for(lambda: watcher.adapter.cursors.load("discord", "since"))
        ana, jan = fake.customer("ana"), fake.customer("jan")
        posts = [
            fake.post(HELP, ana, "one"),
            fake.post(HELP, ana, "two"),
            fake.post(HELP, jan, "x"),
        ]
        wait_for(lambda: len(watcher.got) == 3)
        names = {str(HELP): "help", **{m["id"]: f"m{i}" for i, m in enumerate(posts)}}
        assert [names[m.thread_id] for m in watcher.got] == expected
    finally:
        watcher.stop()


def test_only_configured_channels_and_dms_when_enabled_are_watched(
    fake: FakeDiscord, sqlite_engine: Engine
) -> None:
    watcher = Watcher(make_adapter(sqlite_engine, channel_ids=[HELP], watch_dms=False))
    try:
        fake.wait_connected()
        wait_for(lambda: watcher.adapter.cursors.load("discord", "since"))
        ana = fake.customer("ana")
        fake.post(p.OFFTOPIC_CHANNEL_ID, ana, "cats!")
        fake.post(fake.open_dm(ana), ana, "psst")
        thread = fake.add_thread(HELP, "Billing", ana)
        fake.post(int(thread["id"]), ana, "in a thread of #help")
        fake.post(HELP, ana, "in #help")
        wait_for(lambda: len(watcher.got) == 2)
        time.sleep(0.2)
        # (the first backfill may still be reading: channels are each read oldest first)
        assert sorted(watcher.texts()) == ["in #help", "in a thread of #help"]
        assert watcher.adapter.cursors.load("discord", str(p.OFFTOPIC_CHANNEL_ID)) is None
    finally:
        watcher.stop()


def test_the_first_start_reads_nothing_older_than_now(
    fake: FakeDiscord, sqlite_engine: Engine
) -> None:
    ana = fake.customer("ana")
    fake.post(HELP, ana, "an old message from before the install")
    watcher = Watcher(make_adapter(sqlite_engine))
    try:
        fake.wait_connected()
        wait_for(lambda: watcher.adapter.cursors.load("discord", "since"))
        fake.post(HELP, ana, "new")
        wait_for(lambda: watcher.got)
        time.sleep(0.2)
        assert watcher.texts() == ["new"]
    finally:
        watcher.stop()


def test_a_restart_backfills_channels_threads_and_dms_exactly_once(
    fake: FakeDiscord, sqlite_engine: Engine
) -> None:
    ana, staff = fake.customer("ana"), fake.customer("maria", roles=[p.STAFF_ROLE_ID])
    dm = fake.open_dm(ana)
    first = Watcher(make_adapter(sqlite_engine))
    fake.wait_connected()
    fake.post(HELP, ana, "before 1")
    fake.post(dm, ana, "dm before")
    wait_for(lambda: len(first.got) == 2)
    first.stop()

    # Down time: a channel message, a staff answer, a DM, and a thread opened meanwhile.
    fake.post(HELP, ana, "while down 1")
    fake.post(HELP, staff, "staff while down")
    fake.post(dm, ana, "dm while down")
    thread = fake.add_thread(p.OFFTOPIC_CHANNEL_ID, "New thread", ana)
    fake.post(int(thread["id"]), ana, "thread while down")

    second = Watcher(make_adapter(sqlite_engine))
    try:
        wait_for(lambda: len(second.got) == 3)
        fake.post(HELP, ana, "after restart")
        wait_for(lambda: len(second.got) == 4)
        time.sleep(0.3)
        assert sorted(second.texts()) == sorted(
            ["while down 1", "dm while down", "thread while down", "after restart"]
        )
        assert second.texts()[-1] == "after restart"  # live messages wait for the backfill
    finally:
        second.stop()


def test_a_gateway_disconnect_mid_stream_loses_nothing(
    fake: FakeDiscord, watching: Watcher
) -> None:
    ana = fake.customer("ana")
    for i in range(3):
        fake.post(HELP, ana, f"before {i}")
    with fake.gateway_down():
        for i in range(3):
            fake.post(HELP, ana, f"during {i}")
    for i in range(3):
        fake.post(HELP, ana, f"after {i}")
    wait_for(lambda: len(watching.got) >= 9, seconds=15)
    time.sleep(0.2)
    assert watching.texts() == [
        f"{when} {i}" for when in ("before", "during", "after") for i in range(3)
    ]
    assert fake.hub.identifies == 1 and fake.hub.resumes >= 1  # resumed and replayed


def test_an_invalidated_session_is_backfilled_from_history(
    fake: FakeDiscord, watching: Watcher
) -> None:
    ana = fake.customer("ana")
    fake.post(HELP, ana, "before")
    wait_for(lambda: watching.got)
    with fake.gateway_down():
        fake.invalidate_sessions()
        fake.post(HELP, ana, "lost by the gateway 1")
        fake.post(HELP, ana, "lost by the gateway 2")
    wait_for(lambda: len(watching.got) == 3, seconds=15)
    assert fake.hub.identifies == 2  # a fresh READY, not a RESUMED
    fake.post(HELP, ana, "after")
    wait_for(lambda: len(watching.got) == 4)
    time.sleep(0.2)
    assert watching.texts() == ["before", "lost by the gateway 1", "lost by the gateway 2", "after"]


def test_an_odd_attachment_loses_its_type_or_itself_never_the_message(
    fake: FakeDiscord, watching: Watcher
) -> None:
    ana = fake.customer("ana")
    odd = p.attachment("notes.txt", "text/plain; charset=utf-8")
    weird = p.attachment("blob", "not a mime type")
    broken = {**p.attachment("x.png", "image/png"), "url": "not a url"}
    fake.post(HELP, ana, "see attached", attachments=[odd, weird, broken])
    [msg] = wait_for(lambda: watching.got)
    assert msg.text == "see attached"
    assert [(a.name, a.mime) for a in msg.attachments] == [
        ("notes.txt", "text/plain"),
        ("blob", None),
    ]


def test_a_bad_conversation_setting_is_refused_naming_the_key() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="conversation_per"):
        DiscordConfig.model_validate({"conversation_per": "day"})
    with pytest.raises(ValidationError, match="author_window_minutes"):
        DiscordConfig.model_validate({"author_window_minutes": 0})


def test_forum_posts_and_threads_archived_while_down_are_read_after_a_restart(
    fake: FakeDiscord, sqlite_engine: Engine
) -> None:
    ana = fake.customer("ana")
    first = Watcher(make_adapter(sqlite_engine))
    fake.wait_connected()
    wait_for(lambda: first.adapter.cursors.load("discord", "since"))
    thread = fake.add_thread(HELP, "Refund", ana)
    fake.post(int(thread["id"]), ana, "refund please")
    wait_for(lambda: first.got)
    first.stop()

    fake.post(int(thread["id"]), ana, "hello? (then the thread went quiet and was archived)")
    fake.archive_thread(int(thread["id"]))
    post = fake.forum_post(p.FORUM_CHANNEL_ID, ana, "Bug: sync", "Sync fails since 2.3")

    second = Watcher(make_adapter(sqlite_engine))
    try:
        wait_for(lambda: len(second.got) == 2)
        time.sleep(0.2)
        got = {m.text: m.thread_id for m in second.got}
        assert got == {
            "hello? (then the thread went quiet and was archived)": thread["id"],
            "Sync fails since 2.3": post["id"],
        }
    finally:
        second.stop()


def test_when_roles_cannot_be_looked_up_a_backfilled_message_is_kept_not_lost(
    fake: FakeDiscord, sqlite_engine: Engine
) -> None:
    first = Watcher(make_adapter(sqlite_engine))
    fake.wait_connected()
    wait_for(lambda: first.adapter.cursors.load("discord", "since"))
    first.stop()
    ana = fake.customer("ana")
    fake.post(HELP, ana, "written while Threadline was down")
    fake.fail(403, method="GET", path="/members/", times=5)  # history pages carry no roles
    second = Watcher(make_adapter(sqlite_engine))
    try:
        [msg] = wait_for(lambda: second.got)
        assert msg.text == "written while Threadline was down"
        assert any("/members/" in r.path for r in fake.requests)
    finally:
        second.stop()
