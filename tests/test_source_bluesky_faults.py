"""The Bluesky source when things go wrong: a refused login, 5xx, malformed JSON, dropped
and hung connections, 429 with `ratelimit-reset`, and sessions the server expires."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from bot.sources.base import SourceAuthError, SourceRateLimitedError, SourceUnavailableError
from tests.fakes.bluesky import BRAND_HANDLE, BRAND_PASSWORD, FakeBluesky
from tests.test_source_bluesky import LIST, started, watcher


@pytest.fixture
def fake() -> Iterator[FakeBluesky]:
    with FakeBluesky() as server:
        server.add_user("ana.test", name="Ana")
        yield server


# -- failures while reading --------------------------------------------------------------------


def test_bad_app_password_is_an_auth_error_with_the_fix_and_no_secret(
    fake: FakeBluesky, sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wxyz-wrong-pass-0000"
    source = watcher(fake, sqlite_engine, password=wrong)
    with caplog.at_level(logging.DEBUG), pytest.raises(SourceAuthError) as info:
        next(source.watch())
    assert "BLUESKY_APP_PASSWORD" in info.value.fix and "App passwords" in info.value.fix
    assert wrong not in str(info.value) and wrong not in caplog.text
    assert wrong not in repr(source)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (lambda f: f.fail(502, error="UpstreamFailure", nsid=LIST), "502"),
        (lambda f: f.fail(503, nsid=LIST), "503"),
        (lambda f: f.malformed(nsid=LIST), "cannot read"),
        (lambda f: f.drop(nsid=LIST), "cannot reach"),
        (lambda f: f.hang(6, nsid=LIST), "cannot reach"),
    ],
    ids=["502", "503", "malformed-json", "dropped", "hang"],
)
def test_network_trouble_is_unavailable(
    fake: FakeBluesky, sqlite_engine: Engine, fault: Any, expected: str
) -> None:
    source = watcher(fake, sqlite_engine, timeout=2)
    source.session.ensure_login()
    fault(fake)
    with pytest.raises(SourceUnavailableError) as info:
        next(source.watch())
    assert expected in str(info.value) and info.value.fix


def test_rate_limit_carries_the_reset(fake: FakeBluesky, sqlite_engine: Engine) -> None:
    source = watcher(fake, sqlite_engine)
    fake.rate_limit(reset_in=40, nsid=LIST)
    with pytest.raises(SourceRateLimitedError) as info:
        next(source.watch())
    assert info.value.retry_after is not None and 35 <= info.value.retry_after <= 41


def test_expired_session_logs_in_again_and_goes_on(
    fake: FakeBluesky, sqlite_engine: Engine
) -> None:
    reader = started(fake, sqlite_engine)
    try:
        fake.expire_tokens()
        fake.post("ana.test", "@brand.test still there?")
        assert len(reader.take(1)) == 1
    finally:
        reader.stop()
    assert len(fake.calls("com.atproto.server.createSession")) == 2


def test_the_fake_checks_tokens_like_the_pds(fake: FakeBluesky) -> None:
    url = f"{fake.url}/xrpc/{LIST}"
    answer = httpx.get(url)
    assert answer.status_code == 401 and answer.json()["error"] == "AuthenticationRequired"
    answer = httpx.get(url, headers={"Authorization": "Bearer not.a.jwt"})
    assert answer.status_code == 400 and answer.json()["error"] == "InvalidToken"
    login = {"identifier": BRAND_HANDLE, "password": BRAND_PASSWORD}
    session = httpx.post(f"{fake.url}/xrpc/com.atproto.server.createSession", json=login).json()
    auth = {"Authorization": f"Bearer {session['accessJwt']}"}
    assert httpx.get(url, headers=auth).status_code == 200
    fake.expire_tokens()
    answer = httpx.get(url, headers=auth)
    assert answer.status_code == 400 and answer.json()["error"] == "ExpiredToken"


def test_short_lived_tokens_are_refreshed_by_the_client(sqlite_engine: Engine) -> None:
    with FakeBluesky(access_ttl=60) as fake:  # atproto refreshes 15 minutes before exp
        fake.add_user("ana.test")
        reader = started(fake, sqlite_engine)
        try:
            fake.post("ana.test", "@brand.test hi")
            assert len(reader.take(1)) == 1
        finally:
            reader.stop()
        assert fake.calls("com.atproto.server.refreshSession")
        assert len(fake.calls("com.atproto.server.createSession")) == 1
