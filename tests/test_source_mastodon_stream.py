"""Optional streaming: a streamed mention is read at once (long before the next poll), and a
dropped stream reconnects and the gap is polled. Polling remains the only reader."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from bot.sources.mastodon import MastodonSource
from handlers.inbound import InboundMessage
from tests.fakes.mastodon import FakeMastodon
from tests.test_source_mastodon import make_source, start

SLOW_POLL = 30.0  # anything read within a few seconds came through the stream's wake-up


@pytest.fixture
def fake() -> Iterator[FakeMastodon]:
    with FakeMastodon() as server:
        yield server


class Reader:
    """watch() in a thread, as the runner runs it; checkpoints saved as intake would."""

    def __init__(self, source: MastodonSource) -> None:
        self.source = source
        self.got: list[InboundMessage] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for msg in self.source.watch():
                checkpoint = self.source.checkpoint(msg)
                assert checkpoint is not None
                self.source.cursors.save(checkpoint)
                self.got.append(msg)
        except BaseException as exc:
            self.error = exc

    def wait_for(self, count: int, seconds: float = 5.0) -> list[str]:
        deadline = time.monotonic() + seconds
        while len(self.got) < count and time.monotonic() < deadline and self.error is None:
            time.sleep(0.02)
        assert self.error is None, self.error
        return [m.external_id for m in self.got]

    def stop(self) -> float:
        began = time.monotonic()
        self.source.close()
        self.thread.join(5)
        return time.monotonic() - began


def streaming_source(fake: FakeMastodon, engine: Engine, **options: Any) -> MastodonSource:
    start(fake, engine)  # the first start, without a stream: the cursor is saved
    return make_source(fake, engine, **{"streaming": True, "poll_seconds": SLOW_POLL, **options})


def wait_until(check: object, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.02)
    raise AssertionError("condition never held")


def test_a_streamed_mention_is_read_at_once(fake: FakeMastodon, sqlite_engine: Engine) -> None:
    reader = Reader(streaming_source(fake, sqlite_engine))
    try:
        wait_until(lambda: fake.streams_opened == 1)
        time.sleep(0.2)  # the poll woken by the connect has run
        status = fake.mention(fake.add_account("ana"), "hello, anyone?")
        assert reader.wait_for(1, seconds=3) == [status["id"]]
    finally:
        assert reader.stop() < 2  # close() ends the stream and the wait at once
    stream = fake.calls("GET", "/api/v1/streaming/user")
    assert stream and stream[0].headers["authorization"].startswith("Bearer ")


def test_without_streaming_the_same_mention_waits_for_the_poll(
    fake: FakeMastodon, sqlite_engine: Engine
) -> None:
    reader = Reader(start(fake, sqlite_engine, poll_seconds=SLOW_POLL))
    try:
        time.sleep(0.3)
        fake.mention(fake.add_account("ana"), "hello, anyone?")
        assert reader.wait_for(1, seconds=1.5) == []
        assert fake.streams_opened == 0
    finally:
        reader.stop()


def test_a_dropped_stream_reconnects_and_the_gap_is_polled(
    fake: FakeMastodon, sqlite_engine: Engine
) -> None:
    reader = Reader(streaming_source(fake, sqlite_engine, stream_reconnect_seconds=0.5))
    try:
        wait_until(lambda: fake.streams_opened == 1)
        fake.drop(path="/api/v1/streaming")  # the first reconnect attempt fails too
        fake.cut_streams()
        ana = fake.add_account("ana")
        in_the_gap = fake.mention(ana, "sent while the stream was down")
        assert reader.wait_for(1) == [in_the_gap["id"]]
        wait_until(lambda: fake.streams_opened == 2)
        time.sleep(0.2)
        streamed = fake.mention(ana, "and after it came back")
        assert reader.wait_for(2, seconds=3) == [in_the_gap["id"], streamed["id"]]
    finally:
        reader.stop()


def test_a_stream_that_cannot_connect_leaves_polling_working(
    fake: FakeMastodon, sqlite_engine: Engine
) -> None:
    fake.fail(502, path="/api/v1/streaming", times=1000)
    reader = Reader(streaming_source(fake, sqlite_engine, poll_seconds=0.2))
    try:
        status = fake.mention(fake.add_account("ana"), "polling still reads me")
        assert reader.wait_for(1) == [status["id"]]
    finally:
        reader.stop()
    assert fake.streams_opened == 0
