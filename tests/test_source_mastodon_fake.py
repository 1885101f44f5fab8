"""The fake Mastodon instance speaks what Mastodon.py expects (so the source tests mean
something): paging and Link headers, the auth error body, idempotent posting, rate headers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from mastodon import Mastodon
from mastodon.errors import MastodonUnauthorizedError

from tests.fakes.mastodon import TOKEN, FakeMastodon


@pytest.fixture
def fake() -> Iterator[FakeMastodon]:
    with FakeMastodon() as server:
        yield server


@pytest.fixture
def api(fake: FakeMastodon) -> Mastodon:
    return Mastodon(
        api_base_url=fake.url, access_token=TOKEN, ratelimit_method="throw", request_timeout=2
    )


def test_notifications_page_like_mastodon(fake: FakeMastodon, api: Mastodon) -> None:
    ana = fake.add_account("ana")
    for i in range(90):
        fake.mention(ana, f"n{i}")
    ids = [int(n["id"]) for n in fake.state.notes]

    newest = api.notifications(types=["mention"])
    assert [int(n.id) for n in newest] == ids[::-1][:40]  # newest first, 40 by default
    older = api.fetch_next(newest)  # follows the Link rel="next" (max_id)
    assert [int(n.id) for n in older] == ids[::-1][40:80]
    assert len(api.notifications(types=["mention"], limit=500)) == 80  # the cap
    above = api.notifications(types=["mention"], min_id=ids[10], limit=5)
    assert [int(n.id) for n in above] == ids[11:16][::-1]  # the page just above min_id
    since = api.notifications(types=["mention"], since_id=ids[10], limit=5)
    assert [int(n.id) for n in since] == ids[-5:][::-1]  # the newest above since_id
    assert api.notifications(types=["follow"]) == []
    assert all(isinstance(n.id, str) for n in newest)


def test_a_bad_token_gets_mastodons_401(fake: FakeMastodon) -> None:
    request = urllib.request.Request(
        f"{fake.url}/api/v1/notifications", headers={"Authorization": "Bearer wrong"}
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=2)
    assert caught.value.code == 401
    assert json.loads(caught.value.read()) == {"error": "The access token is invalid"}
    bad = Mastodon(api_base_url=fake.url, access_token="wrong", ratelimit_method="throw")
    with pytest.raises(MastodonUnauthorizedError):
        bad.account_verify_credentials()


def test_posting_is_idempotent_per_key_and_checks_the_limit(
    fake: FakeMastodon, api: Mastodon
) -> None:
    first = api.status_post("hello", idempotency_key="k-1", visibility="direct")
    again = api.status_post("hello", idempotency_key="k-1", visibility="direct")
    other = api.status_post("hello", idempotency_key="k-2")
    assert first.id == again.id != other.id and len(fake.posted()) == 2
    assert api.status(first.id).visibility == "direct"
    with pytest.raises(Exception, match="422"):
        api.status_post("x" * 501)
    assert len(fake.posted()) == 2


def test_answers_carry_rate_limit_headers(fake: FakeMastodon, api: Mastodon) -> None:
    api.account_verify_credentials()
    assert api.ratelimit_limit == 300 and api.ratelimit_remaining < 300
    with urllib.request.urlopen(f"{fake.url}/api/v2/instance", timeout=2) as answer:
        body = json.loads(answer.read())
        assert answer.headers["X-RateLimit-Limit"] == "300"
    assert body["domain"] == "brand.example" and body["version"].startswith("4.")
