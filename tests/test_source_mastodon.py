"""The Mastodon source against a local fake instance, through the real Mastodon.py client."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from bot.config import ConfigError, Settings, parse_team_config
from bot.config_schema import TeamConfig
from bot.sources.base import (
    Checkpoint,
    OutboundReply,
    SourceAuthError,
    SourceError,
    SourceRateLimitedError,
    SourceUnavailableError,
    WatchedSource,
)
from bot.sources.cursors import CursorStore
from bot.sources.mastodon import MastodonSource, from_config
from bot.sources.registry import SourceContext
from handlers.inbound import InboundMessage
from storage.db import make_engine
from tests.conftest import free_port
from tests.fakes.mastodon import TOKEN, FakeMastodon


@pytest.fixture
def fake() -> Iterator[FakeMastodon]:
    with FakeMastodon() as server:
        yield server


def make_source(fake: FakeMastodon, engine: Engine, **options: Any) -> MastodonSource:
    settings: dict[str, Any] = {
        "api_base_url": fake.url,
        "access_token": TOKEN,
        "cursors": CursorStore(engine),
        "poll_seconds": 0.05,
        "request_timeout": 1.0,
        **options,
    }
    return MastodonSource(**settings)


def read(source: MastodonSource, count: int, seconds: float = 5.0) -> list[InboundMessage]:
    """Drive watch() as the runner does: each message's checkpoint is saved once taken."""
    timer = threading.Timer(seconds, source.close)
    timer.start()
    got: list[InboundMessage] = []
    try:
        for msg in source.watch():
            checkpoint = source.checkpoint(msg)
            assert checkpoint is not None
            source.cursors.save(checkpoint)
            got.append(msg)
            if len(got) >= count:
                break
    finally:
        timer.cancel()
    return got


def start(fake: FakeMastodon, engine: Engine, **options: Any) -> MastodonSource:
    """A source that has made its first start (cursor saved at 'now')."""
    source = make_source(fake, engine, **options)
    assert read(source, 0, seconds=0.3) == []
    return make_source(fake, engine, **options)


def cursor(fake: FakeMastodon, engine: Engine) -> str | None:
    return CursorStore(engine).load("mastodon", f"127.0.0.1:{fake.brand['id']}")


def reply_to(
    msg: InboundMessage, text: str, key: str = "reply-1-1-k", **changes: Any
) -> OutboundReply:
    reply = OutboundReply(
        conversation_id=1,
        draft_id=1,
        source="mastodon",
        thread_id=msg.thread_id,
        in_reply_to=msg.external_id,
        text=text,
        language="en",
        reply_meta=dict(msg.reply_meta),
        idempotency_key=key,
        sent_by="U1",
        is_direct=msg.is_direct,
    )
    return replace(reply, **changes)


# -- reading --------------------------------------------------------------------------------


def test_it_is_a_watched_source(fake: FakeMastodon, sqlite_engine: Engine) -> None:
    assert isinstance(make_source(fake, sqlite_engine), WatchedSource)


def test_a_mention_becomes_one_normalized_message(
    fake: FakeMastodon, sqlite_engine: Engine
) -> None:
    source = start(fake, sqlite_engine)
    ana = fake.add_account("ana", domain="social.example", followers=12_000, name="Ana Nováková")
    friend = fake.add_account("bo")  # a local account: its acct has no domain
    status = fake.mention(
        ana,
        "Hi <team> & co,\nmy order 1234 never arrived.\n\nHelp?",
        language="cs",
        also_mention=(friend,),
    )

    [msg] = read(source, 1)

    assert msg.source == "mastodon"
    assert msg.external_id == msg.thread_id == status["id"] and msg.parent_id is None
    # The leading @brand is dropped; the other mention stays.
    assert msg.text == "@bo Hi <team> & co,\nmy order 1234 never arrived.\n\nHelp?"
    assert msg.language == "cs" and msg.is_direct is False
    assert str(msg.url) == status["url"]
    assert msg.author.external_id == "ana@social.example"
    assert msg.author.handle == "@ana@social.example"
    assert msg.author.display_name == "Ana Nováková"
    assert str(msg.author.profile_url) == "https://social.example/@ana"
    assert msg.author.followers == 12_000
    assert msg.reply_meta == {
        "instance": "127.0.0.1",
        "status_id": status["id"],
        "visibility": "public",
        "mentions": ["ana@social.example", "bo@brand.example"],
    }
    assert cursor(fake, sqlite_engine) == str(fake.state.notes[-1]["id"])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            '<p><span class="h-card"><a href="https://brand.example/@brand" class="u-url mention">'
            "@<span>brand</span></a></span> hello</p>",
            "hello",
        ),
        ("<p>a<br />b<br>c</p><p>next</p>", "a\nb\nc\n\nnext"),
        (
            "<p>5 &lt; 6 &amp;&amp; &quot;x&quot; &#39;y&#39; &amp;amp;</p>",
            "5 < 6 && \"x\" 'y' &amp;",
        ),
        (
            '<p>see <a href="https://x.example/very/long" rel="nofollow">'
            '<span class="invisible">https://</span>x.example/very/long</a></p>',
            "see https://x.example/very/long",
        ),
        (
            '<p>thanks <span class="h-card"><a href="https://brand.example/@brand" '
            'class="u-url mention">@<span>brand</span></a></span>!</p>',
            "thanks @brand!",
        ),
        ("<p>سلام، سفارش من کجاست؟ 👨‍👩‍👧‍👦</p>", "سلام، سفارش من کجاست؟ 👨‍👩‍👧‍👦"),
    ],
    ids=["leading-brand", "breaks", "entities-once", "links", "brand-inside", "rtl-emoji"],
)
def test_html_becomes_plain_text(content: str, expected: str) -> None:
    from bot.sources.mastodon_text import html_to_text

    assert html_to_text(content, {"https://brand.example/@brand"}) == expected


def test_first_start_skips_history_and_a_restart_backfills_once(
    fake: FakeMastodon, sqlite_engine: Engine
) -> None:
    ana = fake.add_account("ana", domain="social.example")
    fake.mention(ana, "old news, before Threadline")
    first = make_source(fake, sqlite_engine)
    assert read(first, 1, seconds=0.5) == []  # history is not imported
    assert cursor(fake, sqlite_engine) == fake.state.notes[-1]["id"]
    new = fake.mention(ana, "one")
    [msg] = read(make_source(fake, sqlite_engine), 1)
    assert msg.external_id == new["id"]

    # Down for a while; three mentions arrive; a new process resumes after "one".
    missed = [fake.mention(ana, f"missed {i}")["id"] for i in range(3)]
    again = make_source(fake, sqlite_engine)
    assert [m.external_id for m in read(again, 3)] == missed
    assert read(make_source(fake, sqlite_engine), 1, seconds=0.5) == []


def test_no_notification_at_all_still_counts_later_ones_as_new(
    fake: FakeMastodon, sqlite_engine: Engine
) -> None:
    assert read(make_source(fake, sqlite_engine), 1, seconds=0.3) == []
    assert cursor(fake, sqlite_engine) == "0"
    status = fake.mention(fake.add_account("ana"), "first ever")
    [msg] = read(make_source(fake, sqlite_engine), 1)
    assert msg.external_id == status["id"]


def test_paging_reads_everything_oldest_first(fake: FakeMastodon, sqlite_engine: Engine) -> None:
    source = start(fake, sqlite_engine, page_size=3)
    ana = fake.add_account("ana")
    posted = [fake.mention(ana, f"message {i}")["id"] for i in range(8)]
    got = read(source, 8)
    assert [m.external_id for m in got] == posted
    pages = [r.query for r in fake.calls("GET", "/api/v1/notifications") if "min_id" in r.query]
    assert all(q["types[]"] == ["mention"] and q["limit"] == ["3"] for q in pages)


def test_own_posts_other_types_and_unreadable_mentions_are_skipped(
    fake: FakeMastodon, sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    source = start(fake, sqlite_engine)
    ana = fake.add_account("ana")
    fake.mention(fake.brand, "we mention ourselves")
    fake.mention(ana, "SECRET-CUSTOMER-TEXT")
    fake.state.notes[-1]["status"]["content"] = ""  # no text at all: nothing to show
    fake.state.add_notification("mention", ana, None)  # status deleted
    good = fake.mention(ana, "the real one")
    caplog.set_level(logging.WARNING)

    [msg] = read(source, 1)

    assert msg.external_id == good["id"]
    assert cursor(fake, sqlite_engine) == fake.state.notes[-1]["id"]
    assert "skipped: invalid text" in caplog.text
    assert "SECRET-CUSTOMER-TEXT" not in caplog.text


def test_direct_and_private_mentions_keep_their_visibility(
    fake: FakeMastodon, sqlite_engine: Engine
) -> None:
    source = start(fake, sqlite_engine)
    ana = fake.add_account("ana", domain="social.example")
    fake.mention(ana, "psst", visibility="direct", language="zh-TW")
    fake.mention(ana, "followers only", visibility="private", language="not a language!")
    direct, private = read(source, 2)
    assert (direct.language, private.language) == ("zh-tw", None)  # odd codes: dropped only
    assert direct.is_direct and direct.reply_meta["visibility"] == "direct"
    assert not private.is_direct and private.reply_meta["visibility"] == "private"


def test_thread_root_and_parent(fake: FakeMastodon, sqlite_engine: Engine) -> None:
    source = start(fake, sqlite_engine)
    ana = fake.add_account("ana", domain="social.example")
    other = fake.add_account("zed", domain="elsewhere.example")
    broadcast = fake.state.new_status(fake.brand, "<p>We launched!</p>", None)
    on_ours = fake.mention(ana, "love it", in_reply_to=broadcast["id"])
    their_root = fake.mention(other, "anyone else?", notify=False)
    in_theirs = fake.mention(ana, "me too", in_reply_to=their_root["id"])

    first, second = read(source, 2)

    # A reply to our own broadcast is its own conversation, not everyone's.
    assert (first.thread_id, first.parent_id) == (on_ours["id"], broadcast["id"])
    # A mention inside someone else's thread belongs to that thread's root.
    assert second.external_id == in_theirs["id"]
    assert (second.thread_id, second.parent_id) == (their_root["id"], their_root["id"])


def test_a_reply_to_our_reply_continues_the_thread_after_a_restart(
    fake: FakeMastodon, sqlite_engine: Engine
) -> None:
    source = start(fake, sqlite_engine)
    ana = fake.add_account("ana", domain="social.example")
    fake.mention(ana, "help")
    [msg] = read(source, 1)
    sent = source.send_reply(reply_to(msg, "On it!"))
    assert sent.ok and sent.external_id
    fake.mention(ana, "thanks", in_reply_to=sent.external_id)

    [follow] = read(make_source(fake, sqlite_engine), 1)  # a new process: no memory

    assert follow.thread_id == msg.thread_id and follow.parent_id == sent.external_id


def test_close_stops_a_waiting_watch_promptly(fake: FakeMastodon, sqlite_engine: Engine) -> None:
    source = start(fake, sqlite_engine, poll_seconds=30)
    done = threading.Event()

    def run() -> None:
        for _ in source.watch():
            pass
        done.set()

    threading.Thread(target=run, daemon=True).start()
    time.sleep(0.3)
    began = time.monotonic()
    source.close()
    assert done.wait(3) and time.monotonic() - began < 2


# -- trouble while reading -----------------------------------------------------------------


def first_error(source: MastodonSource) -> SourceError:
    with pytest.raises(SourceError) as caught:
        read(source, 1, seconds=3)
    return caught.value


def test_bad_token_is_an_auth_error_with_the_fix(fake: FakeMastodon, sqlite_engine: Engine) -> None:
    error = first_error(make_source(fake, sqlite_engine, access_token="wrong-token-XYZ"))
    assert isinstance(error, SourceAuthError)
    assert "401" in str(error) and "MASTODON_ACCESS_TOKEN" in error.fix
    assert "wrong-token-XYZ" not in f"{error} {error.fix}"


def test_rate_limit_carries_the_reset(fake: FakeMastodon, sqlite_engine: Engine) -> None:
    source = start(fake, sqlite_engine)
    fake.fail(429, reset_in=42, path="/api/v1/notifications")
    error = first_error(source)
    assert isinstance(error, SourceRateLimitedError)
    assert error.retry_after is not None and 35 <= error.retry_after <= 43


@pytest.mark.parametrize("fault", ["503", "hang", "drop", "malformed"])
def test_network_trouble_is_unavailable(
    fake: FakeMastodon, sqlite_engine: Engine, fault: str
) -> None:
    source = start(fake, sqlite_engine)
    path = "/api/v1/notifications"
    {
        "503": lambda: fake.fail(503, path=path),
        "hang": lambda: fake.hang(3, path=path),
        "drop": lambda: fake.drop(path=path),
        "malformed": lambda: fake.malformed(path=path),
    }[fault]()
    error = first_error(source)
    assert isinstance(error, SourceUnavailableError)
    assert "Threadline keeps retrying" in error.fix
    # The next watch() picks up where it was.
    status = fake.mention(fake.add_account("ana"), "after the outage")
    assert [m.external_id for m in read(source, 1)] == [status["id"]]


def test_odd_notification_answers(fake: FakeMastodon, sqlite_engine: Engine) -> None:
    source = start(fake, sqlite_engine)
    original = fake.state.notifications

    def with_junk(query: dict[str, list[str]], base: str) -> tuple[Any, str | None]:
        page, link = original(query, base)
        return [{"type": "mention", "status": None}, *page], link  # an item without an id

    def not_a_list(query: dict[str, list[str]], base: str) -> tuple[Any, str | None]:
        return {"error": "oops"}, None  # Mastodon.py turns this into ["error"]

    fake.state.notifications = not_a_list  # type: ignore[method-assign]
    before = cursor(fake, sqlite_engine)
    assert read(make_source(fake, sqlite_engine), 1, seconds=0.5) == []
    assert cursor(fake, sqlite_engine) == before
    status = fake.mention(fake.add_account("ana"), "still read")
    fake.state.notifications = with_junk  # type: ignore[method-assign]
    assert [m.external_id for m in read(source, 1)] == [status["id"]]


def test_unreachable_or_wrong_address(fake: FakeMastodon, sqlite_engine: Engine) -> None:
    down = make_source(fake, sqlite_engine, api_base_url=f"http://127.0.0.1:{free_port()}")
    assert isinstance(first_error(down), SourceUnavailableError)
    fake.fail(404, path="/api/v1/accounts")
    wrong = first_error(make_source(fake, sqlite_engine))
    assert "not a Mastodon API address" in str(wrong) and "api_base_url" in wrong.fix


def test_probe_says_what_it_sees(fake: FakeMastodon, sqlite_engine: Engine) -> None:
    source = make_source(fake, sqlite_engine)
    assert source.probe() == "signed in as @brand@brand.example via 127.0.0.1; no mentions yet"
    fake.mention(fake.add_account("ana"), "hi")
    assert f"newest mention notification {fake.state.notes[-1]['id']}" in source.probe()
    with pytest.raises(SourceAuthError):
        make_source(fake, sqlite_engine, access_token="nope").probe()


def test_checkpoint_is_per_instance_and_account(fake: FakeMastodon, sqlite_engine: Engine) -> None:
    source = start(fake, sqlite_engine)
    fake.mention(fake.add_account("ana"), "hi")
    timer = threading.Timer(3, source.close)
    timer.start()
    msg = next(iter(source.watch()))
    timer.cancel()
    account = f"127.0.0.1:{fake.brand['id']}"
    assert source.checkpoint(msg) == Checkpoint("mastodon", account, fake.state.notes[-1]["id"])


def test_an_api_base_url_with_a_path_or_no_scheme_is_refused_naming_the_key(
    tmp_path: Path,
) -> None:
    for bad in ("mastodon.social", "https://mastodon.social/api/v1"):
        path = tmp_path / "threadline.toml"
        path.write_text(f'[sources.mastodon]\nenabled = true\napi_base_url = "{bad}"\n')
        with pytest.raises(ConfigError, match=r"sources\.mastodon\.api_base_url"):
            parse_team_config(path.read_bytes(), path)


def test_from_config_needs_the_address_and_the_token(tmp_path: Path) -> None:
    engine_url = f"sqlite:///{tmp_path / 'c.db'}"
    cursors = CursorStore(make_engine(engine_url))
    on = {"enabled": True, "api_base_url": "https://mastodon.social"}

    def build(token: str | None, mastodon: dict[str, Any]) -> MastodonSource:
        settings = Settings(_env_file=None, mastodon_access_token=token)  # type: ignore[call-arg]
        team = TeamConfig.model_validate({"sources": {"mastodon": mastodon}})
        return from_config(SourceContext(settings, team, cursors))

    with pytest.raises(ConfigError, match="MASTODON_ACCESS_TOKEN is not set"):
        build(None, on)
    with pytest.raises(ConfigError, match="MASTODON_ACCESS_TOKEN is not set"):
        build("   ", on)
    with pytest.raises(ConfigError, match=r"sources\.mastodon\.api_base_url is not set"):
        build("tok", {"enabled": True})
    built = build("tok", {**on, "poll_seconds": 5, "max_characters": 5000})
    assert (built.host, built.poll_seconds, built.max_characters) == ("mastodon.social", 5, 5000)
