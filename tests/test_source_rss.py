"""The RSS/Atom source against a real HTTP site serving feeds (tests/fakes/feeds.py)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from bot.config import ConfigError, Settings
from bot.config_schema import RssSource, TeamConfig
from bot.intake import Intake
from bot.sources.base import (
    Checkpoint,
    OutboundReply,
    SourceError,
    SourceRateLimitedError,
    SourceUnavailableError,
    WatchedSource,
)
from bot.sources.cursors import CursorStore
from bot.sources.registry import SourceContext
from bot.sources.rss import READ_ONLY_ERROR, FeedReader, from_config
from bot.sources.rss_cursor import FeedCursor
from bot.sources.rss_entry import MAX_MESSAGE_CHARS
from bot.sources.rss_text import KeywordRules, bounded_id, plain_text
from handlers.classify_offline import OfflineClassifier
from handlers.inbound import InboundMessage
from tests.fakes.feeds import FakeFeeds
from tests.pipeline import team_config

NOW = datetime.now(UTC).replace(microsecond=0)


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


@pytest.fixture
def site() -> Iterator[FakeFeeds]:
    with FakeFeeds() as fake:
        yield fake


def make_reader(engine: Engine, feeds: list[dict[str, Any]], **config: Any) -> FeedReader:
    settings = {"enabled": True, "poll_minutes": 0.002, "timeout_seconds": 2.0, **config}
    return FeedReader(RssSource(feeds=feeds, **settings), CursorStore(engine))


def poll(reader: FeedReader) -> list[InboundMessage]:
    """One poll, each message stored by the real intake with its checkpoint (as the runner)."""
    intake = Intake(reader.cursors.engine, team_config(), OfflineClassifier())
    got = []
    for msg in reader.poll():
        checkpoint = reader.checkpoint(msg)
        assert checkpoint is not None and len(checkpoint.cursor) <= 255
        assert not intake.accept(msg, checkpoint).duplicate
        got.append(msg)
    return got


# -- text, keywords, ids ---------------------------------------------------------------------

KEYWORD_CASES = [
    (["threadline"], "We love THREADLINE!", True),
    (["threadline"], "threadlines are different", False),  # whole words in Latin script
    (["thread"], "Threadline is great", False),
    (["straße"], "Die STRASSE ist lang", True),  # Unicode casefold, not lower()
    (["customer service"], "bad Customer\n  Service today", True),  # a phrase over any spaces
    (["customer service"], "customer-service", False),
    (["café"], "Un CAFÉ, s'il vous plaît", True),
    (["café"], "cafés", False),
    (["线程"], "这个线程工具很好用", True),  # Chinese: no spaces, substring
    (["スレッド"], "新しいスレッドライン", True),  # Japanese
    (["บริการ"], "การบริการแย่มาก", True),  # Thai
    (["خدمة"], "خدمة العملاء سيئة", True),  # Arabic (RTL, spaced): whole word
    (["خدمة"], "الخدمةالعملاء", False),
    (["c++"], "I write C++ daily", True),
    ([], "anything at all", True),  # no keywords: every entry
    (["refund", "broken"], "It arrived BROKEN.", True),
]


@pytest.mark.parametrize(("keywords", "text", "expected"), KEYWORD_CASES)
def test_keyword_rules(keywords: list[str], text: str, expected: bool) -> None:
    assert KeywordRules(keywords).matches(text) is expected


def test_plain_text_drops_markup_and_scripts_and_unescapes_entities() -> None:
    html = "<p>Tom &amp; Jerry&nbsp;&lt;3</p><script>alert(1)</script><ul><li>a</li><li>b</li></ul>"
    assert plain_text(html) == "Tom & Jerry <3\n\na\n\nb"


def test_long_ids_are_hashed_to_fit_255_characters() -> None:
    long = "tag:example.com,2026:" + "x" * 400
    hashed = bounded_id(long)
    assert len(hashed) <= 255 and hashed.startswith("sha256:")
    assert hashed == bounded_id(long) != bounded_id(long + "y")
    assert bounded_id("tag:short") == "tag:short"


# -- reading feeds ---------------------------------------------------------------------------


def test_atom_and_rss_entries_become_messages(sqlite_engine: Engine, site: FakeFeeds) -> None:
    atom = site.add_feed("/reviews.atom", "atom", "Reviews", language="ar")
    rss = site.add_feed("/forum.rss", "rss", "Forum")
    site.add_entry(
        "/reviews.atom", "tag:reviews,2026:1", "مراجعة: <b>رائع</b> &amp; سريع",
        summary="<p>الخدمة &quot;ممتازة&quot;</p>", link="https://reviews.example/1",
        published=ago(hours=2), author="ليلى", author_uri="https://reviews.example/u/layla",
    )  # fmt: skip
    site.add_entry(
        "/forum.rss", "42", "新しいスレッド: 配送が遅い", summary="注文 #42 はまだ?",
        link="https://forum.example/t/42", published=ago(hours=1), author="Ken",
    )  # fmt: skip
    reader = make_reader(sqlite_engine, [{"url": atom}, {"url": rss, "name": "Forum"}])
    first, second = poll(reader)

    assert first.external_id == first.thread_id == "tag:reviews,2026:1"
    assert first.text == 'مراجعة: رائع & سريع\n\nالخدمة "ممتازة"'
    assert str(first.url) == "https://reviews.example/1"
    assert first.author.display_name == "ليلى"
    assert str(first.author.profile_url) == "https://reviews.example/u/layla"
    assert first.language == "ar"
    assert first.created_at == ago(hours=2)
    # A bare RSS guid is only unique in its feed: scoped, so two feeds' "42" never collide.
    assert second.external_id.startswith("feed-") and second.external_id.endswith(":42")
    assert second.text == "新しいスレッド: 配送が遅い\n\n注文 #42 はまだ?"
    assert second.author.external_id == "Ken @ 127.0.0.1"
    assert poll(reader) == []  # nothing new


def test_keywords_filter_entries_and_filtered_ones_still_advance(
    sqlite_engine: Engine, site: FakeFeeds
) -> None:
    url = site.add_feed("/blog.atom")
    site.add_entry("/blog.atom", "tag:b,1", "Unrelated post", published=ago(hours=3))
    site.add_entry(
        "/blog.atom", "tag:b,2", "Comment", summary="<p>Your <em>Threadline</em> app</p>",
        published=ago(hours=2),
    )  # fmt: skip
    reader = make_reader(sqlite_engine, [{"url": url, "keywords": ["threadline"]}])
    assert [m.external_id for m in poll(reader)] == ["tag:b,2"]
    cursor = json.loads(CursorStore(sqlite_engine).load("rss", url) or "{}")
    assert cursor["e"] and cursor["s"] == int(ago(hours=2).timestamp())
    # A new entry: the feed changes, the filtered one is read again and still left out.
    site.add_entry("/blog.atom", "tag:b,3", "THREADLINE rocks", published=ago(hours=1))
    assert [m.external_id for m in poll(reader)] == ["tag:b,3"]


def test_conditional_get_sends_validators_and_304_yields_nothing(
    sqlite_engine: Engine, site: FakeFeeds
) -> None:
    url = site.add_feed("/f.atom")
    site.add_entry("/f.atom", "tag:f,1", "one", published=ago(minutes=30))
    reader = make_reader(sqlite_engine, [{"url": url}])
    assert len(poll(reader)) == 1
    assert poll(reader) == []
    second = site.requests_to("/f.atom")[-1]
    assert second.status == 304 and second.headers["if-none-match"].startswith('"')
    assert "if-modified-since" in second.headers
    site.add_entry("/f.atom", "tag:f,2", "two", published=ago(minutes=1))
    assert [m.external_id for m in poll(reader)] == ["tag:f,2"]
    assert site.requests_to("/f.atom")[-1].status == 200


def test_first_start_backfills_only_recent_entries(sqlite_engine: Engine, site: FakeFeeds) -> None:
    url = site.add_feed("/f.rss", "rss")
    site.add_entry("/f.rss", "tag:old", "two days old", published=ago(hours=48))
    site.add_entry("/f.rss", "tag:undated-old", "no date, age unknown")
    site.add_entry("/f.rss", "tag:recent", "an hour old", published=ago(hours=1))
    reader = make_reader(sqlite_engine, [{"url": url}], backfill_hours=24)
    assert [m.external_id for m in poll(reader)] == ["tag:recent"]
    # After the first start, a new undated entry is new (deduped by id only).
    site.add_entry("/f.rss", "tag:undated-new", "no date either")
    assert [m.external_id for m in poll(reader)] == ["tag:undated-new"]
    assert poll(reader) == []


def test_a_new_process_resumes_from_the_saved_cursor(engine: Engine, site: FakeFeeds) -> None:
    url = site.add_feed("/f.atom")
    site.add_entry("/f.atom", "tag:1", "first", published=ago(hours=2))
    assert len(poll(make_reader(engine, [{"url": url}]))) == 1
    site.add_entry("/f.atom", "tag:2", "while we were down", published=ago(hours=1))
    site.add_entry("/f.atom", "tag:3", "also", published=ago(minutes=5))
    restarted = make_reader(engine, [{"url": url}])
    assert [m.external_id for m in poll(restarted)] == ["tag:2", "tag:3"]


def test_closing_mid_feed_leaves_the_rest_for_the_next_start(
    sqlite_engine: Engine, site: FakeFeeds
) -> None:
    url = site.add_feed("/f.atom")
    for n in (1, 2, 3):
        site.add_entry("/f.atom", f"tag:{n}", f"entry {n}", published=ago(hours=4 - n))
    reader = make_reader(sqlite_engine, [{"url": url}])
    intake = Intake(sqlite_engine, team_config(), OfflineClassifier())
    entries = reader.poll()
    first = next(entries)
    intake.accept(first, reader.checkpoint(first))
    reader.close()
    assert list(entries) == []
    restarted = make_reader(sqlite_engine, [{"url": url}])
    assert [m.external_id for m in poll(restarted)] == ["tag:2", "tag:3"]


def test_late_entries_are_read_but_nothing_before_the_first_start_window(
    sqlite_engine: Engine, site: FakeFeeds
) -> None:
    url = site.add_feed("/m.atom")
    site.add_entry("/m.atom", "tag:m,1", "newest so far", published=ago(hours=1))
    reader = make_reader(sqlite_engine, [{"url": url}], backfill_hours=24)
    assert len(poll(reader)) == 1
    # Approved by a moderator later, with their original times.
    site.add_entry("/m.atom", "tag:m,held", "held 5 hours", published=ago(hours=5))
    site.add_entry("/m.atom", "tag:m,ancient", "before the window", published=ago(hours=30))
    assert [m.external_id for m in poll(reader)] == ["tag:m,held"]


def test_a_feed_url_longer_than_the_cursor_key_still_keeps_its_place(
    engine: Engine, site: FakeFeeds
) -> None:
    site.add_feed("/long.atom")
    site.add_entry("/long.atom", "tag:long,1", "one", published=ago(hours=1))
    url = site.url("/long.atom?" + "&".join(f"p{i}=value{i}" for i in range(40)))
    assert len(url) > 255
    assert len(poll(make_reader(engine, [{"url": url}]))) == 1
    account = bounded_id(url)
    assert account.startswith("sha256:") and CursorStore(engine).load("rss", account)
    assert poll(make_reader(engine, [{"url": url}])) == []


def test_the_cursor_fits_its_column_even_with_a_huge_etag() -> None:
    cursor = FeedCursor.load(None, NOW, timedelta(hours=24))
    cursor.etag, cursor.modified = '"' + "e" * 400 + '"', "Mon, 23 Nov 2026 10:00:00 GMT"
    cursor.advance(ago(hours=1), NOW)
    text = cursor.dumps()
    assert len(text) <= 255
    again = FeedCursor.load(text, NOW, timedelta(hours=24))
    assert (again.etag, again.modified, again.since) == (None, cursor.modified, ago(hours=1))
    assert not again.fresh


def test_in_reply_to_threads_an_entry_under_the_one_it_answers(
    sqlite_engine: Engine, site: FakeFeeds
) -> None:
    url = site.add_feed("/c.atom")
    site.add_entry("/c.atom", "tag:c,1", "Post", published=ago(hours=2))
    site.add_entry("/c.atom", "tag:c,2", "Reply", published=ago(hours=1), in_reply_to="tag:c,1")
    root, reply = poll(make_reader(sqlite_engine, [{"url": url}]))
    assert (reply.thread_id, reply.parent_id) == ("tag:c,1", "tag:c,1")
    assert root.parent_id is None
    # No author in the feed: shown as the feed, but one stranger per entry, not one customer.
    assert root.author.display_name == reply.author.display_name == "Fake feed"
    assert root.author.external_id == "anonymous:tag:c,1" != reply.author.external_id
    assert root.author.profile_url is None


def test_entries_without_id_dedupe_on_link_and_title(
    sqlite_engine: Engine, site: FakeFeeds
) -> None:
    url = site.add_feed("/n.rss", "rss")
    site.add_entry("/n.rss", None, "No guid", link="https://n.example/1", published=ago(hours=1))
    (msg,) = poll(make_reader(sqlite_engine, [{"url": url}]))
    assert msg.external_id.startswith("entry-")
    site.add_entry("/n.rss", None, "Another", link="https://n.example/2", published=ago(hours=1))
    (other,) = poll(make_reader(sqlite_engine, [{"url": url}]))
    assert other.external_id != msg.external_id and other.text == "Another"


def test_long_ids_and_long_text_are_bounded(sqlite_engine: Engine, site: FakeFeeds) -> None:
    url = site.add_feed("/l.atom")
    long_id = "tag:l.example,2026:" + "z" * 600
    site.add_entry("/l.atom", long_id, "Long", summary="word " * 5000, published=ago(hours=1))
    site.add_entry("/l.atom", "tag:l,2", "Re", published=ago(minutes=5), in_reply_to=long_id)
    first, reply = poll(make_reader(sqlite_engine, [{"url": url}]))
    assert len(first.external_id) <= 255 and reply.parent_id == first.external_id
    assert len(first.text) <= MAX_MESSAGE_CHARS and first.text.endswith("…")


def test_a_future_dated_entry_does_not_hide_later_ones(
    sqlite_engine: Engine, site: FakeFeeds
) -> None:
    url = site.add_feed("/t.atom")
    site.add_entry("/t.atom", "tag:future", "clock skew", published=NOW + timedelta(days=400))
    reader = make_reader(sqlite_engine, [{"url": url}])
    assert len(poll(reader)) == 1
    site.add_entry("/t.atom", "tag:now", "written now", published=datetime.now(UTC))
    assert [m.external_id for m in poll(reader)] == ["tag:now"]


def test_bozo_feed_that_still_parses_gives_its_entries(
    sqlite_engine: Engine, site: FakeFeeds
) -> None:
    broken = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Sloppy</title>'
        b"<item><guid>tag:s,1</guid><title>Caf\xc3\xa9 &amp; bar</title><pubDate>"
        + datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT").encode()
        + b"</pubDate></item>"  # channel and rss never closed
    )
    site.set_raw("/sloppy.rss", broken)
    (msg,) = poll(make_reader(sqlite_engine, [{"url": site.url("/sloppy.rss")}]))
    assert msg.text == "Café & bar"


def test_declared_encodings_and_double_escaped_entities(
    sqlite_engine: Engine, site: FakeFeeds
) -> None:
    stamp = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    doc = (
        '<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel><title>T'
        "</title><item><guid>tag:enc</guid><title>Tom &amp;amp; Jerry&amp;#8217;s caf\xe9"
        "</title><description>R&amp;eacute;sum&amp;eacute; &amp;lt;3</description>"
        f"<pubDate>{stamp}</pubDate></item></channel></rss>"
    ).encode("latin-1")
    site.set_raw("/latin1.rss", doc, "application/rss+xml")
    (msg,) = poll(make_reader(sqlite_engine, [{"url": site.url("/latin1.rss")}]))
    assert msg.text == "Tom & Jerry’s café\n\nRésumé <3"


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"<html><body><h1>Welcome</h1></body></html>", "text/html", "an HTML page"),
        (b"\x00\xff\xfe\x00 binary", "application/rss+xml", "not RSS or Atom"),
        (b"<rss version='2.0'><channel><title>Half</titl", "application/rss+xml", "malformed"),
    ],
)
def test_bytes_that_are_not_a_feed_are_a_clear_error(
    sqlite_engine: Engine, site: FakeFeeds, body: bytes, content_type: str, reason: str
) -> None:
    site.set_raw("/bad", body, content_type)
    reader = make_reader(sqlite_engine, [{"url": site.url("/bad"), "name": "Bad"}])
    with pytest.raises(SourceError) as info:
        poll(reader)
    message = str(info.value)
    assert 'feed "Bad"' in message and reason in message and info.value.fix
    assert CursorStore(sqlite_engine).load("rss", site.url("/bad")) is None


def test_a_body_naming_a_local_file_is_never_opened(
    sqlite_engine: Engine, site: FakeFeeds, tmp_path: Path
) -> None:
    """feedparser opens a bare string as a path: a hostile site must not make us read one."""
    local = tmp_path / "local.rss"
    local.write_bytes(
        b'<rss version="2.0"><channel><title>L</title><item><guid>tag:local</guid>'
        b"<title>secret file</title></item></channel></rss>"
    )
    site.set_raw("/evil", str(local).encode(), "text/plain")
    with pytest.raises(SourceError, match="not RSS or Atom"):
        poll(make_reader(sqlite_engine, [{"url": site.url("/evil")}]))


# -- failures --------------------------------------------------------------------------------

FAULTS = {
    "404": lambda s: s.fail(404, path="/a.atom"),
    "429": lambda s: s.fail(429, retry_after=30, path="/a.atom"),
    "503": lambda s: s.fail(503, path="/a.atom"),
    "hang": lambda s: s.hang(5, path="/a.atom"),
    "drop": lambda s: s.drop(path="/a.atom"),
    "garbage": lambda s: s.garbage(path="/a.atom"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_one_failing_feed_never_stops_the_others(
    sqlite_engine: Engine, site: FakeFeeds, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    a = site.add_feed("/a.atom")
    b = site.add_feed("/b.rss", "rss")
    site.add_entry("/a.atom", "tag:a,1", "from a", published=ago(hours=1))
    site.add_entry("/b.rss", "tag:b,1", "from b", published=ago(hours=1))
    FAULTS[fault](site)
    reader = make_reader(sqlite_engine, [{"url": a, "name": "A"}, {"url": b}], timeout_seconds=0.5)
    with caplog.at_level(logging.WARNING, logger="bot.sources.rss"):
        assert [m.external_id for m in poll(reader)] == ["tag:b,1"]
    (line,) = [r.getMessage() for r in caplog.records]
    assert 'feed "A"' in line and "Fix: " in line
    # The failed feed is read on a later poll; its entry is not lost.
    if fault != "429":  # a Retry-After of 30 s keeps it out of the next poll
        assert [m.external_id for m in poll(reader)] == ["tag:a,1"]


def test_retry_after_longer_than_the_poll_skips_that_feed_until_then(
    sqlite_engine: Engine, site: FakeFeeds
) -> None:
    a = site.add_feed("/a.atom")
    b = site.add_feed("/b.atom")
    site.fail(429, retry_after=1, path="/a.atom")
    reader = make_reader(sqlite_engine, [{"url": a}, {"url": b}])
    poll(reader)
    poll(reader)
    assert len(site.requests_to("/a.atom")) == 1 and len(site.requests_to("/b.atom")) == 2
    time.sleep(1.1)
    poll(reader)
    assert len(site.requests_to("/a.atom")) == 2


@pytest.mark.parametrize(
    ("status", "retry_after", "error"),
    [
        (429, 7, SourceRateLimitedError),
        (503, None, SourceUnavailableError),
        (404, None, SourceError),
    ],
)
def test_every_feed_failing_raises_one_source_error(
    sqlite_engine: Engine, site: FakeFeeds, status: int, retry_after: int | None, error: type
) -> None:
    feeds = [{"url": site.add_feed(p), "name": p} for p in ("/a.atom", "/b.atom")]
    site.fail(status, times=2, retry_after=retry_after)
    with pytest.raises(error) as info:
        poll(make_reader(sqlite_engine, feeds))
    assert type(info.value) is error
    assert "every feed failed" in str(info.value) and f"HTTP {status}" in str(info.value)
    assert '"/a.atom"' in str(info.value) and '"/b.atom"' in str(info.value)
    assert info.value.retry_after == retry_after
    assert info.value.fix


def test_timeout_is_unavailable_with_the_fix(sqlite_engine: Engine, site: FakeFeeds) -> None:
    url = site.add_feed("/slow.atom")
    site.hang(3)
    reader = make_reader(sqlite_engine, [{"url": url}], timeout_seconds=0.3)
    started = time.monotonic()
    with pytest.raises(SourceUnavailableError) as info:
        poll(reader)
    assert time.monotonic() - started < 2.5
    assert "timeout" in str(info.value) and "timeout_seconds" in info.value.fix


def test_query_strings_stay_out_of_errors_and_logs(
    sqlite_engine: Engine, site: FakeFeeds, caplog: pytest.LogCaptureFixture
) -> None:
    site.add_feed("/private.atom")
    site.fail(500)
    url = site.url("/private.atom?token=s3cr3t-feed-key")
    with caplog.at_level(logging.DEBUG), pytest.raises(SourceError) as info:
        poll(make_reader(sqlite_engine, [{"url": url}]))
    assert "s3cr3t" not in str(info.value) and "/private.atom?…" in str(info.value)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "/private.atom?…" in logged and "s3cr3t" not in logged


def test_probe_reports_every_feed_in_one_line(sqlite_engine: Engine, site: FakeFeeds) -> None:
    ok = site.add_feed("/ok.atom", title="Good reviews")
    site.add_entry("/ok.atom", "tag:1", "x", published=ago(hours=1))
    reader = make_reader(sqlite_engine, [{"url": ok}, {"url": site.url("/gone"), "name": "Gone"}])
    with pytest.raises(SourceError) as info:
        reader.probe()
    line = str(info.value)
    assert "\n" not in line
    assert "Good reviews OK (1 entries)" in line and "Gone FAIL" in line and "HTTP 404" in line
    assert "[[sources.rss.feeds]]" in info.value.fix
    healthy = make_reader(sqlite_engine, [{"url": ok}])
    assert healthy.probe() == "1 feed(s): Good reviews OK (1 entries)"
    assert CursorStore(sqlite_engine).load("rss", ok) is None  # a probe reads nothing in


def test_close_returns_promptly_during_a_hung_fetch_and_between_polls(
    sqlite_engine: Engine, site: FakeFeeds
) -> None:
    url = site.add_feed("/f.atom")
    site.hang(10)
    for minutes in (0.002, 60.0):
        reader = make_reader(
            sqlite_engine, [{"url": url}], poll_minutes=minutes, timeout_seconds=10
        )
        done = threading.Event()

        def run(source: FeedReader = reader, done: threading.Event = done) -> None:
            list(source.watch())
            done.set()

        threading.Thread(target=run, daemon=True).start()
        time.sleep(0.4)  # hung on the fetch (first round), asleep between polls (second)
        started = time.monotonic()
        reader.close()
        assert done.wait(2), "watch() did not return after close()"
        assert time.monotonic() - started < 1.0


def test_an_unreadable_cursor_is_treated_as_a_first_start(
    sqlite_engine: Engine, site: FakeFeeds
) -> None:
    url = site.add_feed("/f.atom")
    site.add_entry("/f.atom", "tag:1", "recent", published=ago(hours=1))
    CursorStore(sqlite_engine).save(Checkpoint("rss", url, "{not json"))
    assert [m.external_id for m in poll(make_reader(sqlite_engine, [{"url": url}]))] == ["tag:1"]


# -- replies and configuration ---------------------------------------------------------------


def test_send_reply_says_read_only_and_is_not_retryable(sqlite_engine: Engine) -> None:
    reader = make_reader(sqlite_engine, [{"url": "https://example.com/f.atom"}])
    assert isinstance(reader, WatchedSource)
    reply = OutboundReply(
        conversation_id=1, draft_id=1, source="rss", thread_id="tag:1", in_reply_to="tag:1",
        text="hi", language="en", reply_meta={}, idempotency_key="k", sent_by="U1",
    )  # fmt: skip
    result = reader.send_reply(reply)
    assert (result.ok, result.retryable, result.error) == (False, False, READ_ONLY_ERROR)


def test_from_config_needs_feeds_and_touches_no_network(sqlite_engine: Engine) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    store = CursorStore(sqlite_engine)
    empty = TeamConfig.model_validate({"sources": {"rss": {"enabled": True}}})
    with pytest.raises(ConfigError, match=r"sources\.rss.*\[\[sources\.rss\.feeds\]\]"):
        from_config(SourceContext(settings, empty, store))
    team = TeamConfig.model_validate(
        {"sources": {"rss": {"enabled": True, "feeds": [{"url": "http://127.0.0.1:9/f"}]}}}
    )
    source = from_config(SourceContext(settings, team, store))
    assert source.name == "rss" and source.config.backfill_hours == 24
    source.close()


@pytest.mark.parametrize(
    ("rss", "problem"),
    [
        ({"feeds": [{"url": "ftp://x/f"}]}, "url"),
        ({"feeds": [{"url": "https://x/f"}, {"url": "https://x/f"}]}, "listed twice"),
        ({"feeds": [{"url": "https://x/f", "keywords": [" "]}]}, "keywords"),
        ({"backfill_hours": -1}, "backfill_hours"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
    ],
)
def test_bad_rss_config_names_the_key(rss: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        TeamConfig.model_validate({"sources": {"rss": rss}})
