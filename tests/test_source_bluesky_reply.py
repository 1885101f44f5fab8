"""Replies on Bluesky through FakeBluesky and the real atproto client: threading (root and
parent strong refs), the customer's language, link facets, 300-grapheme chains, and resends
that never post twice (deterministic record keys)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from atproto import Client
from atproto_client.exceptions import RequestException
from sqlalchemy.engine import Engine

from bot.sources.base import OutboundReply
from bot.sources.bluesky_posts import part_rkey
from bot.sources.split import length_in_graphemes, split_reply
from handlers.inbound import InboundMessage
from tests.fakes.bluesky import BRAND_HANDLE, BRAND_PASSWORD, FakeBluesky
from tests.test_source_bluesky import TID, started, watcher

CREATE = "com.atproto.repo.createRecord"


@pytest.fixture
def fake() -> Iterator[FakeBluesky]:
    with FakeBluesky() as server:
        server.add_user("ana.test", name="Ana")
        server.add_user("bob.test", name="Bob")
        yield server


def refs(record: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """A reply record's strong refs as (uri, cid), whatever else the client adds ($type)."""
    return {k: (record["reply"][k]["uri"], record["reply"][k]["cid"]) for k in ("root", "parent")}


def make_reply(msg: InboundMessage, text: str, **changes: Any) -> OutboundReply:
    reply = OutboundReply(
        conversation_id=7,
        draft_id=3,
        source="bluesky",
        thread_id=msg.thread_id,
        in_reply_to=msg.external_id,
        text=text,
        language=msg.language,
        reply_meta=dict(msg.reply_meta),
        idempotency_key="reply-7-3-5f2a",
        sent_by="U1",
    )
    return replace(reply, **changes)


def customer_message(fake: FakeBluesky, engine: Engine, **post: Any) -> InboundMessage:
    reader = started(fake, engine)
    try:
        fake.post("ana.test", post.pop("text", "@brand.test where is my order?"), **post)
        [msg] = reader.take(1)
    finally:
        reader.stop()
    return msg


def test_reply_answers_the_post_under_its_root_in_the_customers_language(
    fake: FakeBluesky, sqlite_engine: Engine
) -> None:
    root, root_cid = fake.post("bob.test", "thread about shipping")
    msg = customer_message(
        fake, sqlite_engine, text="@brand.test 我的包裹呢", reply_to=root, langs=["zh"]
    )
    source = watcher(fake, sqlite_engine)
    result = source.send_reply(make_reply(msg, "您好，包裹明天到。"))
    assert result.ok and result.external_id
    [post] = fake.brand_posts()
    assert result.external_id == post["uri"]
    assert result.url == f"https://bsky.app/profile/{fake.brand_did}/post/{post['uri'][-13:]}"
    value = post["value"]
    assert value["text"] == "您好，包裹明天到。" and value["langs"] == ["zh"]
    assert refs(value) == {
        "root": (root, root_cid),
        "parent": (msg.external_id, msg.reply_meta["cid"]),
    }
    assert TID.match(post["uri"].rsplit("/", 1)[1])


def test_long_reply_is_an_ordered_chain_and_a_retry_sends_only_the_missing_parts(
    fake: FakeBluesky, sqlite_engine: Engine
) -> None:
    msg = customer_message(fake, sqlite_engine)
    source = watcher(fake, sqlite_engine)
    text = " ".join(
        f"Step {i}: we checked the depot and your parcel is on its way." for i in range(15)
    )
    parts = split_reply(text, 300, length_in_graphemes)
    assert len(parts) >= 3
    fake.fail(503, nsid=CREATE, skip=2)  # parts 0 and 1 go out, part 2 fails
    first = source.send_reply(make_reply(msg, text))
    assert not first.ok and first.retryable and first.error
    assert f"2 of {len(parts)} parts posted" in first.error
    assert len(fake.brand_posts()) == 2
    done = source.send_reply(make_reply(msg, text))  # the outbox's retry: same key
    assert done.ok
    posts = fake.brand_posts()
    assert [p["value"]["text"] for p in posts] == parts
    root = (msg.external_id, msg.reply_meta["cid"])
    parents = [root] + [(p["uri"], p["cid"]) for p in posts[:-1]]
    for post, parent in zip(posts, parents, strict=True):
        assert refs(post["value"]) == {"root": root, "parent": parent}
    assert done.external_id == posts[0]["uri"]


def test_a_post_whose_answer_was_lost_is_found_not_posted_twice(
    fake: FakeBluesky, sqlite_engine: Engine
) -> None:
    msg = customer_message(fake, sqlite_engine)
    source = watcher(fake, sqlite_engine, timeout=1.5)
    fake.hang(5, handle_first=True, nsid=CREATE)  # stored, but the answer never comes
    result = source.send_reply(make_reply(msg, "On its way!"))
    assert result.ok
    [post] = fake.brand_posts()
    assert result.external_id == post["uri"]
    assert fake.calls("com.atproto.repo.getRecord")  # it checked instead of re-posting
    again = source.send_reply(make_reply(msg, "On its way!"))  # a worker that died after
    assert again.ok and again.external_id == post["uri"] and len(fake.brand_posts()) == 1


def test_the_fake_refuses_a_duplicate_record_key_like_the_pds(fake: FakeBluesky) -> None:
    client = Client(base_url=fake.url)
    client.login(BRAND_HANDLE, BRAND_PASSWORD)
    record = {"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2026-01-01T00:00:00Z"}
    data = {"repo": fake.brand_did, "collection": "app.bsky.feed.post", "rkey": part_rkey("k", 0)}
    client.com.atproto.repo.create_record({**data, "record": record})
    with pytest.raises(RequestException) as info:
        client.com.atproto.repo.create_record({**data, "record": record})
    assert info.value.response is not None and info.value.response.status_code == 500
    assert info.value.response.content.error == "InternalServerError"  # type: ignore[union-attr]


def test_record_keys_are_stable_valid_tids() -> None:
    keys = {part_rkey(f"reply-{n}", i) for n in range(50) for i in range(4)}
    assert len(keys) == 200 and all(TID.match(k) for k in keys)
    assert part_rkey("reply-1", 0) == part_rkey("reply-1", 0) != part_rkey("reply-1", 1)


@pytest.mark.parametrize(
    ("fault", "retryable", "wait"),
    [
        (lambda f: f.rate_limit(reset_in=90, nsid=CREATE), True, 90),
        (lambda f: f.fail(502, error="UpstreamFailure", nsid=CREATE), True, None),
        (lambda f: f.drop(nsid=CREATE), True, None),
        (
            lambda f: f.fail(400, error="InvalidRequest", message="Invalid langs", nsid=CREATE),
            False,
            None,
        ),
    ],
    ids=["429", "502", "dropped", "400"],
)
def test_send_failures_are_results_not_exceptions(
    fake: FakeBluesky, sqlite_engine: Engine, fault: Any, retryable: bool, wait: float | None
) -> None:
    msg = customer_message(fake, sqlite_engine)
    source = watcher(fake, sqlite_engine, timeout=3)
    source.session.ensure_login()
    fault(fake)
    result = source.send_reply(make_reply(msg, "Thanks!"))
    assert not result.ok and result.error and result.retryable is retryable
    if wait is None:
        assert result.retry_after is None
    else:
        assert result.retry_after is not None and wait - 5 <= result.retry_after <= wait + 1
    assert fake.brand_posts() == []


def test_send_with_a_bad_password_or_no_post_is_a_clear_final_error(
    fake: FakeBluesky, sqlite_engine: Engine
) -> None:
    msg = customer_message(fake, sqlite_engine)
    locked_out = watcher(fake, sqlite_engine, password="nope-nope-nope-nope")
    result = locked_out.send_reply(make_reply(msg, "Thanks!"))
    assert not result.ok and not result.retryable and "BLUESKY_APP_PASSWORD" in (result.error or "")
    working = watcher(fake, sqlite_engine)
    no_post = working.send_reply(make_reply(msg, "Thanks!", reply_meta={}))
    assert not no_post.ok and not no_post.retryable and "no Bluesky post" in (no_post.error or "")
    bad_meta = {**msg.reply_meta, "cid": None}
    broken = working.send_reply(make_reply(msg, "Thanks!", reply_meta=bad_meta))
    assert not broken.ok and not broken.retryable and "no Bluesky post" in (broken.error or "")
    empty = working.send_reply(make_reply(msg, " \n "))
    assert not empty.ok and not empty.retryable and "empty" in (empty.error or "")
    assert fake.brand_posts() == []


def test_links_in_a_reply_are_clickable(fake: FakeBluesky, sqlite_engine: Engine) -> None:
    msg = customer_message(fake, sqlite_engine)
    text = "Známý problém — podrobnosti: https://status.example.com/i/42 🙏"
    assert watcher(fake, sqlite_engine).send_reply(make_reply(msg, text)).ok
    [post] = fake.brand_posts()
    [facet] = post["value"]["facets"]
    start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
    assert text.encode()[start:end].decode() == "https://status.example.com/i/42"
    assert facet["features"][0]["uri"] == "https://status.example.com/i/42"
