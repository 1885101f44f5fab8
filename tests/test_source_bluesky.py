"""The Bluesky source against FakeBluesky, through the real atproto client: reading
notifications, the conversation keys, replies (threading, language, chains, idempotency)
and every failure the network can throw."""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from bot.config import ConfigError, Settings
from bot.config_schema import TeamConfig
from bot.sources.base import (
    Checkpoint,
)
from bot.sources.bluesky import BlueskyWatcher, from_config
from bot.sources.bluesky_session import BlueskySession
from bot.sources.cursors import CursorStore
from bot.sources.registry import SourceContext
from handlers.inbound import InboundMessage
from tests.fakes.bluesky import BRAND_HANDLE, BRAND_PASSWORD, FakeBluesky

LIST = "app.bsky.notification.listNotifications"
CREATE = "com.atproto.repo.createRecord"
TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


@pytest.fixture
def fake() -> Iterator[FakeBluesky]:
    with FakeBluesky() as server:
        server.add_user("ana.test", name="Ana Nováková", followers=80_000)
        server.add_user("bob.test", name="Bob")
        yield server


def watcher(
    fake: FakeBluesky, engine: Engine, *, password: str = BRAND_PASSWORD, timeout: float = 5
) -> BlueskyWatcher:
    session = BlueskySession(fake.url, BRAND_HANDLE, password, timeout)
    return BlueskyWatcher(session, CursorStore(engine), poll_seconds=0.05)


class Reader:
    """Runs `watch()` in a thread the way SourceRunner does: each message's checkpoint is
    saved once it is 'ingested'."""

    def __init__(self, source: BlueskyWatcher) -> None:
        self.source = source
        self.items: queue.Queue[InboundMessage | BaseException] = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for msg in self.source.watch():
                checkpoint = self.source.checkpoint(msg)
                assert checkpoint is not None
                self.source.cursors.save(checkpoint)
                self.items.put(msg)
        except BaseException as exc:
            self.items.put(exc)

    def take(self, count: int, timeout: float = 10) -> list[InboundMessage]:
        got: list[InboundMessage] = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            item = self.items.get(timeout=max(0.01, deadline - time.monotonic()))
            if isinstance(item, BaseException):
                raise item
            got.append(item)
        return got

    def nothing_more(self, seconds: float = 0.4) -> bool:
        time.sleep(seconds)
        return self.items.empty()

    def error(self, timeout: float = 10) -> BaseException:
        item = self.items.get(timeout=timeout)
        assert isinstance(item, BaseException), f"expected an error, got {item!r}"
        return item

    def stop(self) -> None:
        self.source.close()
        self.thread.join(timeout=5)
        assert not self.thread.is_alive()


def started(fake: FakeBluesky, engine: Engine, **options: Any) -> Reader:
    """A reader past its first start (its cursor is saved), so later posts are 'new'."""
    source = watcher(fake, engine, **options)
    reader = Reader(source)
    deadline = time.monotonic() + 10
    while fake.calls(LIST) == [] or source.cursors.load("bluesky", fake.brand_did) is None:
        assert time.monotonic() < deadline, "the source never started"
        time.sleep(0.02)
    return reader


# -- reading ---------------------------------------------------------------------------------


def test_first_start_skips_history_then_reads_new_mentions_oldest_first(
    fake: FakeBluesky, sqlite_engine: Engine
) -> None:
    fake.post("ana.test", "@brand.test old complaint from last year")
    reader = started(fake, sqlite_engine)
    try:
        first, _ = fake.post("ana.test", "@brand.test mi pedido no llegó", langs=["es"])
        second, _ = fake.post("bob.test", "hey @brand.test, is there a student discount?")
        got = reader.take(2)
        assert [m.external_id for m in got] == [first, second]
        assert reader.nothing_more()
    finally:
        reader.stop()
    msg = got[0]
    did = first.split("/")[2]
    assert msg.source == "bluesky" and msg.thread_id == first and msg.parent_id is None
    assert msg.text == "@brand.test mi pedido no llegó" and msg.language == "es"
    assert str(msg.url) == f"https://bsky.app/profile/{did}/post/{first.rsplit('/', 1)[1]}"
    assert msg.author.external_id == did and msg.author.handle == "@ana.test"
    assert msg.author.display_name == "Ana Nováková"
    assert str(msg.author.profile_url) == "https://bsky.app/profile/ana.test"
    assert msg.author.followers == 80_000
    assert msg.reply_meta["uri"] == first and msg.reply_meta["root_uri"] == first
    assert msg.reply_meta["lang"] == "es" and msg.reply_meta["cid"].startswith("bafyrei")


def test_reply_deep_in_a_thread_keys_on_root_and_parent(
    fake: FakeBluesky, sqlite_engine: Engine
) -> None:
    root, _ = fake.post("bob.test", "anyone else's app crashing today?")
    reader = started(fake, sqlite_engine)
    try:
        middle, _ = fake.post("bob.test", "it's the new update I think", reply_to=root)
        deep, _ = fake.post("ana.test", "same here @brand.test", reply_to=middle, langs=["de"])
        [msg] = reader.take(1)
    finally:
        reader.stop()
    assert msg.external_id == deep and msg.thread_id == root and msg.parent_id == middle
    assert msg.reply_meta["root_uri"] == root and msg.reply_meta["uri"] == deep


def test_replies_to_our_own_post_are_one_conversation_per_customer(
    fake: FakeBluesky, sqlite_engine: Engine
) -> None:
    ours, _ = fake.post(BRAND_HANDLE, "We are launching dark mode today!")
    reader = started(fake, sqlite_engine)
    try:
        ana_first, _ = fake.post("ana.test", "finally! does it work on iPad?", reply_to=ours)
        fake.post("bob.test", "my app still shows light mode", reply_to=ours)
        fake.post("ana.test", "@brand.test and on the Mac?", reply_to=ana_first)
        ana1, bob, ana2 = reader.take(3)
    finally:
        reader.stop()
    assert ana1.thread_id == ana2.thread_id != bob.thread_id
    assert ana1.thread_id.startswith(ours) and bob.thread_id.startswith(ours)
    assert ana2.parent_id == ana_first and ana1.parent_id == ours
    assert {m.reply_meta["root_uri"] for m in (ana1, bob, ana2)} == {ours}


def test_quotes_and_posts_without_text_are_read(fake: FakeBluesky, sqlite_engine: Engine) -> None:
    ours, _ = fake.post(BRAND_HANDLE, "Version 5 is out!")  # no notification: our own post
    reader = started(fake, sqlite_engine)
    try:
        quote, _ = fake.post("ana.test", "and it deleted my notes", quote=ours)
        ana = quote.split("/")[2]
        image = {"$type": "blob", "ref": {"$link": "bafkreihdwdcefgh4dqkjv67uzcmw7oje"}}
        embed = {
            "$type": "app.bsky.embed.images",
            "images": [{"alt": "error 0x80 dialog", "image": {**image, "mimeType": "image/png"}}],
        }
        photo = f"at://{ana}/app.bsky.feed.post/3kphoto2222222"
        fake.notify_raw(
            {
                "uri": photo,
                "cid": "bafyreiphoto",
                "author": {"did": ana, "handle": "ana.test"},
                "reason": "mention",
                "record": {"$type": "app.bsky.feed.post", "text": "", "embed": embed},
                "isRead": False,
                "indexedAt": "2099-01-01T00:00:00.000Z",
            }
        )
        got = reader.take(2)
    finally:
        reader.stop()
    assert got[0].external_id == quote and got[0].thread_id == quote
    assert got[0].reply_meta["reason"] == "quote"
    assert got[1].external_id == photo and got[1].text == "[image] error 0x80 dialog"
    [attachment] = got[1].attachments
    assert str(attachment.url).startswith(f"https://cdn.bsky.app/img/feed_fullsize/plain/{ana}/")
    assert attachment.mime == "image/png"


def test_likes_own_posts_and_malformed_notifications_are_skipped_and_passed(
    fake: FakeBluesky, sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    reader = started(fake, sqlite_engine)
    good, _ = fake.post("ana.test", "@brand.test first")
    reader.take(1)
    brand = {"did": fake.brand_did, "handle": BRAND_HANDLE}
    when = "2099-01-01T00:00:0{}.000Z"
    base = {"cid": "bafyreiaaaa", "isRead": False, "labels": []}
    record = {"$type": "app.bsky.feed.post", "text": "x", "createdAt": when.format(1)}
    ana = {"did": good.split("/")[2], "handle": "ana.test"}
    with caplog.at_level(logging.WARNING, logger="bot.sources.bluesky"):
        fake.notify_raw(
            {
                **base,
                "uri": f"at://{ana['did']}/app.bsky.feed.like/3kaaaaaaaaaa2",
                "author": ana,
                "reason": "like",
                "record": {},
                "indexedAt": when.format(1),
            }
        )
        fake.notify_raw(
            {
                **base,
                "uri": f"at://{fake.brand_did}/app.bsky.feed.post/3kaaaaaaaaaa3",
                "author": brand,
                "reason": "mention",
                "record": record,
                "indexedAt": when.format(2),
            }
        )
        fake.notify_raw(
            {
                **base,
                "uri": f"at://{ana['did']}/app.bsky.feed.post/3kaaaaaaaaaa4",
                "author": ana,
                "reason": "mention",
                "record": {"text": 5},
                "indexedAt": when.format(3),
            }
        )
        assert reader.nothing_more(0.6)
    reader.stop()
    cursor = CursorStore(sqlite_engine).load("bluesky", fake.brand_did)
    assert cursor is not None and "/3kaaaaaaaaaa4|" in cursor
    assert cursor.startswith("2099-01-01T00:00:03")
    assert "skipped notification" in caplog.text and "3kaaaaaaaaaa4" in caplog.text


def test_restart_resumes_from_the_saved_cursor_across_pages(
    fake: FakeBluesky, sqlite_engine: Engine
) -> None:
    reader = started(fake, sqlite_engine)
    before, _ = fake.post("ana.test", "@brand.test before the restart")
    reader.take(1)
    reader.stop()
    posted = [fake.post("bob.test", f"@brand.test number {i}")[0] for i in range(130)]
    again = Reader(watcher(fake, sqlite_engine))  # a new process: same database
    try:
        got = again.take(131)
        assert again.nothing_more()
    finally:
        again.stop()
    # The look-back re-reads the last 15 minutes once; intake drops that repeat (the flow
    # test shows the cards posted once).
    assert [m.external_id for m in got] == [before, *posted]
    assert any("cursor" in c.params for c in fake.calls(LIST))  # the catch-up paged


def test_a_post_from_a_clock_that_runs_behind_is_not_missed(
    fake: FakeBluesky, sqlite_engine: Engine
) -> None:
    reader = started(fake, sqlite_engine)
    try:
        fake.post("ana.test", "@brand.test on time")
        reader.take(1)
        behind = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
        late, _ = fake.post("bob.test", "@brand.test my phone's clock is slow", created_at=behind)
        [msg] = reader.take(1)
        assert reader.nothing_more()
    finally:
        reader.stop()
    assert msg.external_id == late
    cursor = CursorStore(sqlite_engine).load("bluesky", fake.brand_did)
    assert cursor is not None and late not in cursor  # the cursor did not move back


def test_an_unreadable_saved_cursor_restarts_from_now_with_a_warning(
    fake: FakeBluesky, sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    cursors = CursorStore(sqlite_engine)
    cursors.save(Checkpoint("bluesky", fake.brand_did, "garbage-without-separator"))
    old, _ = fake.post("ana.test", "@brand.test from before")
    with caplog.at_level(logging.WARNING, logger="bot.sources.bluesky"):
        reader = started(fake, sqlite_engine)
        try:
            wait_for_cursor = time.monotonic() + 5
            while cursors.load("bluesky", fake.brand_did) == "garbage-without-separator":
                assert time.monotonic() < wait_for_cursor
                time.sleep(0.02)
            new, _ = fake.post("ana.test", "@brand.test after")
            [msg] = reader.take(1)
        finally:
            reader.stop()
    assert msg.external_id == new != old
    assert "saved cursor is unreadable" in caplog.text


def test_follower_counts_are_batched_and_cached(fake: FakeBluesky, sqlite_engine: Engine) -> None:
    handles = [f"user{i}.test" for i in range(30)]
    for i, handle in enumerate(handles):
        fake.add_user(handle, followers=i)
    reader = started(fake, sqlite_engine)
    try:
        for handle in handles:
            fake.post(handle, "@brand.test hello")
        got = reader.take(30)
        calls = fake.calls("app.bsky.actor.getProfiles")
        for handle in handles[:3]:
            fake.post(handle, "@brand.test again")
        reader.take(3)
    finally:
        reader.stop()
    assert sorted(m.followers for m in got) == list(range(30))
    assert 2 <= len(calls) <= 3 and all(len(c.params["actors"]) <= 25 for c in calls)
    assert fake.calls("app.bsky.actor.getProfiles") == calls  # the repeats came from the cache


def test_close_ends_watch_promptly(fake: FakeBluesky, sqlite_engine: Engine) -> None:
    source = watcher(fake, sqlite_engine)
    source.poll_seconds = 60
    reader = Reader(source)
    time.sleep(0.3)
    started_at = time.monotonic()
    reader.stop()
    assert time.monotonic() - started_at < 2


# -- configuration ---------------------------------------------------------------------------


def context(engine: Engine, password: str | None, **bluesky: Any) -> SourceContext:
    team = TeamConfig.model_validate({"sources": {"bluesky": {"enabled": True, **bluesky}}})
    settings = Settings(_env_file=None, bluesky_app_password=password)  # type: ignore[call-arg]
    return SourceContext(settings, team, CursorStore(engine))


def test_from_config_names_what_is_missing_and_never_touches_the_network(
    sqlite_engine: Engine,
) -> None:
    with pytest.raises(ConfigError, match=r"sources\.bluesky\.handle"):
        from_config(context(sqlite_engine, "pw-pw-pw-pw"))
    with pytest.raises(ConfigError, match="BLUESKY_APP_PASSWORD"):
        from_config(context(sqlite_engine, None, handle="brand.bsky.social"))
    with pytest.raises(ConfigError, match="BLUESKY_APP_PASSWORD"):
        from_config(context(sqlite_engine, "  ", handle="brand.bsky.social"))
    # An address nothing listens on: building must not connect.
    built = from_config(
        context(
            sqlite_engine,
            "pw-pw-pw-pw",
            handle="@brand.bsky.social",
            service_url="http://127.0.0.1:9",
        )
    )
    assert built.name == "bluesky" and built.session.handle == "brand.bsky.social"
    assert built.session.service_url == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    "bad", [{"service_url": "bsky.social"}, {"handle": "brand bsky"}, {"poll_seconds": 0}]
)
def test_bad_bluesky_settings_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as info:
        TeamConfig.model_validate({"sources": {"bluesky": bad}})
    assert next(iter(bad)) in str(info.value)
