"""Replies from Threadline to Mastodon: threading, visibility, mentions, 500-char parts, and
retries that never post a part twice (Idempotency-Key per part)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy.engine import Engine

from bot.sources.mastodon import MastodonSource
from bot.sources.mastodon_text import reply_parts
from handlers.inbound import InboundMessage
from tests.fakes.mastodon import FakeMastodon
from tests.test_source_mastodon import make_source, read, reply_to, start

LONG = " ".join(f"Sentence number {i} explains one more step of the fix." for i in range(25))


@pytest.fixture
def fake() -> Iterator[FakeMastodon]:
    with FakeMastodon() as server:
        yield server


@pytest.fixture
def source(fake: FakeMastodon, sqlite_engine: Engine) -> MastodonSource:
    return start(fake, sqlite_engine)


def customer_message(
    fake: FakeMastodon, source: MastodonSource, visibility: str = "public"
) -> InboundMessage:
    ana = fake.add_account("ana", domain="social.example")
    friend = fake.add_account("bo")
    fake.mention(ana, "my order is late", visibility=visibility, also_mention=(friend,))
    [msg] = read(source, 1)
    return msg


@pytest.mark.parametrize("visibility", ["public", "unlisted", "private", "direct"])
def test_reply_threads_under_the_customer_with_the_same_visibility(
    fake: FakeMastodon, source: MastodonSource, visibility: str
) -> None:
    msg = customer_message(fake, source, visibility)
    result = source.send_reply(reply_to(msg, "Sorry! It ships today. 📦"))

    [posted] = fake.posted()
    assert result.ok and result.external_id == posted["id"] and result.url == posted["url"]
    assert posted["in_reply_to_id"] == msg.external_id
    assert posted["visibility"] == visibility
    assert posted["text"] == "@ana@social.example @bo@brand.example Sorry! It ships today. 📦"
    assert posted["language"] == "en"
    [call] = fake.calls("POST", "/api/v1/statuses")
    assert call.idempotency_key == "reply-1-1-k:1"


def test_a_mention_the_agent_already_typed_is_not_repeated(
    fake: FakeMastodon, source: MastodonSource
) -> None:
    msg = customer_message(fake, source)
    assert source.send_reply(reply_to(msg, "@Ana@social.example thanks!")).ok
    assert fake.posted()[0]["text"] == "@bo@brand.example @Ana@social.example thanks!"


def test_a_long_reply_is_an_ordered_chain_of_parts(
    fake: FakeMastodon, source: MastodonSource
) -> None:
    msg = customer_message(fake, source, "direct")
    result = source.send_reply(reply_to(msg, LONG))

    parts = fake.posted()
    assert result.ok and len(parts) >= 3 and result.external_id == parts[-1]["id"]
    prefix = "@ana@social.example @bo@brand.example "
    assert all(len(p["text"]) <= 500 and p["text"].startswith(prefix) for p in parts)
    assert all(p["visibility"] == "direct" for p in parts)
    # Each part answers the one before; joined, they are the approved text.
    assert [p["in_reply_to_id"] for p in parts] == [msg.external_id] + [p["id"] for p in parts[:-1]]
    assert " ".join(p["text"].removeprefix(prefix) for p in parts) == LONG
    keys = [c.idempotency_key for c in fake.calls("POST", "/api/v1/statuses")]
    assert keys == [f"reply-1-1-k:{n}" for n in range(1, len(parts) + 1)]


def test_a_retry_after_a_partial_failure_posts_no_part_twice(
    fake: FakeMastodon, source: MastodonSource
) -> None:
    msg = customer_message(fake, source)
    fake.fail(503, path="/api/v1/statuses", after=1)  # part 1 goes out, part 2 fails
    first = source.send_reply(reply_to(msg, LONG))
    assert not first.ok and first.retryable and "part 2 of" in (first.error or "")
    assert len(fake.posted()) == 1

    # The retry re-finds part 1; part 2 is stored but its answer is lost (client timeout).
    fake.hang(2, path="/api/v1/statuses", handle=True, after=1)
    second = source.send_reply(reply_to(msg, LONG))
    assert not second.ok and second.retryable and "part 2 of" in (second.error or "")
    assert len(fake.posted()) == 2

    third = source.send_reply(reply_to(msg, LONG))
    parts = fake.posted()
    assert third.ok and len(parts) == len(reply_parts(LONG, msg.reply_meta["mentions"], 500))
    assert [p["in_reply_to_id"] for p in parts] == [msg.external_id] + [p["id"] for p in parts[:-1]]
    assert len({p["text"] for p in parts}) == len(parts) >= 3


def test_the_same_reply_sent_twice_is_posted_once(
    fake: FakeMastodon, source: MastodonSource
) -> None:
    msg = customer_message(fake, source)
    first = source.send_reply(reply_to(msg, "Fixed."))
    again = source.send_reply(reply_to(msg, "Fixed."))
    assert first == again and len(fake.posted()) == 1
    other = source.send_reply(reply_to(msg, "Fixed.", key="reply-1-2-k"))
    assert other.ok and len(fake.posted()) == 2


@pytest.mark.parametrize(
    ("fault", "retryable", "words"),
    [
        ("429", True, "rate limit"),
        ("500", True, "HTTP 500"),
        ("hang", True, "did not answer in time"),
        ("drop", True, "connection"),
        ("malformed", True, "not valid JSON"),
        ("401", False, "MASTODON_ACCESS_TOKEN"),
        ("422", False, "Validation failed"),
    ],
)
def test_delivery_trouble_is_a_result_not_an_exception(
    fake: FakeMastodon, source: MastodonSource, fault: str, retryable: bool, words: str
) -> None:
    msg = customer_message(fake, source)
    path = "/api/v1/statuses"
    {
        "429": lambda: fake.fail(429, path=path, reset_in=30),
        "500": lambda: fake.fail(500, path=path),
        "hang": lambda: fake.hang(2, path=path),
        "drop": lambda: fake.drop(path=path),
        "malformed": lambda: fake.malformed(path=path),
        "401": lambda: fake.fail(401, path=path, error="The access token is invalid"),
        "422": lambda: fake.fail(422, path=path, error="Validation failed: Language is invalid"),
    }[fault]()
    result = source.send_reply(reply_to(msg, "Hello"))
    assert not result.ok and result.retryable is retryable
    assert words in (result.error or "")
    if fault == "429":
        assert result.retry_after is not None and 20 < result.retry_after <= 31


def test_a_deleted_post_is_not_retried(fake: FakeMastodon, source: MastodonSource) -> None:
    msg = customer_message(fake, source)
    del fake.state.statuses[msg.external_id]
    result = source.send_reply(reply_to(msg, "Hello"))
    assert not result.ok and not result.retryable and "no longer exists" in (result.error or "")


def test_replies_refuse_what_cannot_be_sent(
    fake: FakeMastodon, source: MastodonSource, sqlite_engine: Engine
) -> None:
    msg = customer_message(fake, source)
    empty = source.send_reply(reply_to(msg, "   "))
    assert not empty.ok and not empty.retryable and empty.error == "the reply is empty"
    moved = replace(reply_to(msg, "hi"), reply_meta={**msg.reply_meta, "instance": "other.social"})
    assert "other.social" in (source.send_reply(moved).error or "")
    orphan = replace(reply_to(msg, "hi"), in_reply_to=None, reply_meta={})
    assert "no Mastodon post" in (source.send_reply(orphan).error or "")
    assert fake.posted() == []
    # A wrong access token is reported, not raised.
    bad = make_source(fake, sqlite_engine, access_token="bad")
    assert "MASTODON_ACCESS_TOKEN" in (bad.send_reply(reply_to(msg, "hi")).error or "")


def test_reply_parts_budget() -> None:
    assert reply_parts("hi", ["a@x.example"], 500) == ["@a@x.example hi"]
    assert reply_parts("  ", ["a@x.example"], 500) == []
    crowd = [f"person{i}@some-long-instance.example" for i in range(20)]
    [only_customer] = reply_parts("thanks", crowd, 500)
    assert only_customer == "@person0@some-long-instance.example thanks"
    parts = reply_parts("x" * 1200, ["a@x.example"], 500)
    assert [len(p) for p in parts] == [500, 500, 200 + 3 * len("@a@x.example ")]
    with pytest.raises(ValueError, match="leaves"):
        reply_parts("hi", ["a" * 450 + "@x.example"], 500)
