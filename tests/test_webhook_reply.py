"""Replies to webhook conversations, over real HTTP to an integrator's endpoint (FakeCallback)."""

from __future__ import annotations

import hmac
import logging
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import FrozenInstanceError, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from bot.sources.base import DeliveryResult, OutboundReply, SourceAdapter
from bot.sources.webhook_reply import NO_REPLY_URL, WebhookReplySender
from tests.fakes.callback import FakeCallback

SECRET = "whsec-test-Zq93-not-in-logs"
BODY_KEYS = {
    "type",
    "conversation_id",
    "thread_id",
    "in_reply_to",
    "text",
    "lang",
    "direct",
    "sent_by",
    "idempotency_key",
    "sent_at",
}


@pytest.fixture
def callback() -> Iterator[FakeCallback]:
    with FakeCallback(SECRET) as fake:
        yield fake


@pytest.fixture
def sender() -> WebhookReplySender:
    return WebhookReplySender(SECRET, timeout=5)


def make_reply(reply_url: str | None = None, **changes: Any) -> OutboundReply:
    meta: dict[str, Any] = {"via": "webhook"}
    if reply_url is not None:
        meta["reply_url"] = reply_url
    reply = OutboundReply(
        conversation_id=42,
        draft_id=7,
        source="webhook",
        thread_id="t-1",
        in_reply_to="m-3",
        text="Thanks, Ana — we're on it.",
        language="en",
        reply_meta=meta,
        idempotency_key="reply-42-7-a1b2c3",
        sent_by="U123ABC",
    )
    return replace(reply, **changes)


@pytest.fixture
def no_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a URL fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a request was made")

    monkeypatch.setattr(urllib.request.OpenerDirector, "open", refuse)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- delivered ------------------------------------------------------------------------------


def test_a_delivered_reply_is_signed_and_carries_the_contract_body(
    callback: FakeCallback, sender: WebhookReplySender
) -> None:
    before = int(time.time())
    result = sender.send_reply(make_reply(callback.url, is_direct=True))

    assert result == DeliveryResult(ok=True, external_id="r-1", url="https://example.com/r/1")
    [req] = callback.requests
    assert req.signature_valid, req.signature_problem
    assert req.method == "POST" and req.path == "/replies"
    assert req.headers["idempotency-key"] == "reply-42-7-a1b2c3"
    assert req.headers["user-agent"] == "Threadline/0.1"
    assert req.headers["content-type"].startswith("application/json")
    assert set(req.body) == BODY_KEYS
    assert req.body == {
        "type": "reply",
        "conversation_id": 42,
        "thread_id": "t-1",
        "in_reply_to": "m-3",
        "text": "Thanks, Ana — we're on it.",
        "lang": "en",
        "direct": True,
        "sent_by": "U123ABC",
        "idempotency_key": "reply-42-7-a1b2c3",
        "sent_at": req.body["sent_at"],
    }
    ts = int(req.headers["x-threadline-timestamp"])
    assert before <= ts <= int(time.time())
    sent_at = datetime.fromisoformat(req.body["sent_at"].replace("Z", "+00:00"))
    assert req.body["sent_at"].endswith("Z")
    assert sent_at == datetime.fromtimestamp(ts, UTC)


def test_nulls_are_sent_as_null(callback: FakeCallback, sender: WebhookReplySender) -> None:
    assert sender.send_reply(make_reply(callback.url, in_reply_to=None, language=None)).ok
    body = callback.last_request.body
    assert body["in_reply_to"] is None and body["lang"] is None and body["direct"] is False


@pytest.mark.parametrize(
    "text",
    [
        "سلام، سفارش من کجاست؟ ممنون از پاسخ شما",
        "您好，我的订单什么时候发货？谢谢！",
        "नमस्ते, मेरा ऑर्डर कहाँ है? धन्यवाद।",
        "Dobrý den, objednávka č. 1234 dorazí zítra. Omlouváme se za zpoždění!",
        "Family: 👨‍👩‍👧‍👦 flag: 🏳️‍🌈 skin: 👋🏽 — keycap 1️⃣",
        'line one\nline two\ttab "quoted" back\\slash </script> \u2028 sep',
    ],
    ids=["persian", "chinese", "hindi", "czech", "emoji-zwj", "escapes"],
)
def test_text_arrives_byte_exact(
    callback: FakeCallback, sender: WebhookReplySender, text: str
) -> None:
    assert sender.send_reply(make_reply(callback.url, text=text)).ok
    req = callback.last_request
    assert req.signature_valid
    assert req.body["text"] == text
    assert req.body["text"].encode("utf-8") == text.encode("utf-8")
    if "\n" not in text and '"' not in text:
        assert text.encode("utf-8") in req.raw_body  # UTF-8 on the wire, not \u escapes


def test_answer_id_and_url_become_the_external_id_and_permalink(
    callback: FakeCallback, sender: WebhookReplySender
) -> None:
    callback.respond_with(200, {"id": "msg_9f8e", "url": "https://help.example/t/1#msg_9f8e"})
    result = sender.send_reply(make_reply(callback.url))
    assert result.ok
    assert result.external_id == "msg_9f8e"
    assert result.url == "https://help.example/t/1#msg_9f8e"
    callback.respond_with(201, {"id": 12345})
    assert sender.send_reply(make_reply(callback.url)) == DeliveryResult(
        ok=True, external_id="12345"
    )


@pytest.mark.parametrize(
    "status, answer",
    [
        (200, "ok"),
        (204, b""),
        (200, b"\xff\xfe not utf-8"),
        (202, ["r-1"]),
        (200, {"id": None, "url": None}),
        (200, {"id": True, "url": "javascript:alert(1)"}),
        (200, {"id": {"nested": 1}, "url": "file:///etc/passwd"}),
        (200, {"url": "//example.com/no-scheme"}),
        (200, {"url": "https://exa mple.com/space"}),
    ],
)
def test_odd_2xx_answers_still_mean_delivered_and_are_ignored(
    callback: FakeCallback, sender: WebhookReplySender, status: int, answer: Any
) -> None:
    callback.respond_with(status, answer)
    assert sender.send_reply(make_reply(callback.url)) == DeliveryResult(ok=True)


# -- not delivered, try again later ---------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 425, 429])
def test_server_trouble_is_retryable(
    callback: FakeCallback, sender: WebhookReplySender, status: int
) -> None:
    callback.fail(status)
    result = sender.send_reply(make_reply(callback.url))
    assert not result.ok
    assert result.retryable
    assert result.retry_after is None
    assert str(status) in (result.error or "")
    assert f"127.0.0.1:{callback.port}" in (result.error or "")


@pytest.mark.parametrize(
    "status, header, expected", [(429, 30, 30.0), (429, 0.25, 0.25), (503, 120, 120.0)]
)
def test_retry_after_seconds_are_honoured(
    callback: FakeCallback, sender: WebhookReplySender, status: int, header: float, expected: float
) -> None:
    callback.fail(status, retry_after=header)
    result = sender.send_reply(make_reply(callback.url))
    assert result.retryable and not result.ok
    assert result.retry_after == pytest.approx(expected)


def test_retry_after_as_an_http_date(callback: FakeCallback, sender: WebhookReplySender) -> None:
    when = datetime.now(UTC) + timedelta(seconds=90)
    callback.fail(503, retry_after=format_datetime(when, usegmt=True))
    result = sender.send_reply(make_reply(callback.url))
    assert result.retryable
    assert result.retry_after is not None and 80 <= result.retry_after <= 90


@pytest.mark.parametrize("header", ["soon", "-5", "nan", "inf"])
def test_a_meaningless_retry_after_is_ignored_or_clamped(
    callback: FakeCallback, sender: WebhookReplySender, header: str
) -> None:
    callback.fail(429, retry_after=header)
    result = sender.send_reply(make_reply(callback.url))
    assert result.retryable
    assert result.retry_after in (None, 0.0)


def test_a_hang_past_the_timeout_is_retryable(callback: FakeCallback) -> None:
    callback.hang(3)
    started = time.monotonic()
    result = WebhookReplySender(SECRET, timeout=0.5).send_reply(make_reply(callback.url))
    elapsed = time.monotonic() - started
    assert not result.ok and result.retryable
    assert "did not answer within 0.5 s" in (result.error or "")
    assert elapsed < 2.5


def test_connection_refused_is_retryable(sender: WebhookReplySender) -> None:
    result = sender.send_reply(make_reply(f"http://127.0.0.1:{closed_port()}/replies"))
    assert not result.ok and result.retryable
    assert "connection refused" in (result.error or "")


def test_a_connection_dropped_without_an_answer_is_retryable(
    callback: FakeCallback, sender: WebhookReplySender
) -> None:
    callback.hang(0)
    result = sender.send_reply(make_reply(callback.url))
    assert not result.ok and result.retryable
    assert "closed the connection" in (result.error or "")


def test_a_retried_reply_is_recognisable_downstream(callback: FakeCallback) -> None:
    """The receiver stored the first attempt but answered too late; the retry is a repeat."""
    callback.dedupe = True
    callback.hang(3)
    sender = WebhookReplySender(SECRET, timeout=0.5)
    reply = make_reply(callback.url)

    first = sender.send_reply(reply)
    assert first.retryable
    second = sender.send_reply(reply)
    assert second == DeliveryResult(ok=True, external_id="r-1", url="https://example.com/r/1")

    attempts = callback.requests
    assert [r.duplicate for r in attempts] == [False, True]
    assert {r.idempotency_key for r in attempts} == {"reply-42-7-a1b2c3"}
    assert {r.body["idempotency_key"] for r in attempts} == {"reply-42-7-a1b2c3"}
    assert all(r.signature_valid for r in attempts)
    # A different reply is not mistaken for a repeat.
    other = sender.send_reply(replace(reply, idempotency_key="reply-42-8-d4e5f6"))
    assert other.external_id == "r-2"


# -- not delivered, final -------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 404, 410, 409, 413, 422])
def test_client_errors_are_final_and_name_the_status(
    callback: FakeCallback, sender: WebhookReplySender, status: int
) -> None:
    callback.fail(status, body={"error": "thread t-1 is closed"})
    result = sender.send_reply(make_reply(callback.url))
    assert not result.ok and not result.retryable and result.retry_after is None
    error = result.error or ""
    assert f"answered {status}" in error
    assert "thread t-1 is closed" in error


def test_a_wrong_path_404_is_final(callback: FakeCallback, sender: WebhookReplySender) -> None:
    result = sender.send_reply(make_reply(callback.url.replace("/replies", "/nope")))
    assert not result.ok and not result.retryable
    assert "answered 404" in (result.error or "")


def test_the_error_body_is_cut_to_one_short_line(
    callback: FakeCallback, sender: WebhookReplySender
) -> None:
    nasty = "bad\r\nrequest\x00\x1b[31m\u202e" + "x" * 1000
    callback.fail(400, body=nasty)
    error = sender.send_reply(make_reply(callback.url)).error or ""
    assert "\n" not in error and "\r" not in error and "\x00" not in error
    assert "\x1b" not in error and "\u202e" not in error
    assert "bad request[31m" in error
    snippet = error.split(": ", 1)[1]
    assert len(snippet) == 200


def test_a_wrong_secret_is_refused_by_the_receiver_and_is_final(callback: FakeCallback) -> None:
    result = WebhookReplySender("some-other-secret").send_reply(make_reply(callback.url))
    assert not callback.last_request.signature_valid
    assert not result.ok and not result.retryable
    assert "answered 401" in (result.error or "")
    assert "THREADLINE_WEBHOOK_SECRET" in (result.error or "")


def test_redirects_are_not_followed(callback: FakeCallback, sender: WebhookReplySender) -> None:
    callback.respond_with(302, b"", headers={"Location": callback.url + "/moved"})
    result = sender.send_reply(make_reply(callback.url))
    assert not result.ok and not result.retryable
    assert "answered 302" in (result.error or "")
    assert [r.path for r in callback.requests] == ["/replies"]  # no GET to the new place


# -- refused without a request --------------------------------------------------------------


@pytest.mark.usefixtures("no_requests")
def test_no_reply_url_is_refused_without_a_request(sender: WebhookReplySender) -> None:
    result = sender.send_reply(make_reply(None))
    assert result == DeliveryResult(ok=False, error=NO_REPLY_URL, retryable=False)
    assert result.error == (
        "this conversation has no reply_url: the sender gave none, so there is no way to answer it"
    )


@pytest.mark.usefixtures("no_requests")
@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/replies",
        "javascript:alert(1)",
        "gopher://127.0.0.1:70/_x",
        "example.com/replies",
        "http:///no-host",
        "https://user:pass@example.com/replies",
        "https://example.com/a b",
        "https://example.com/\r\nX-Injected: 1",
        "http://example.com:99999/",
        "https://bücher.example/replies",
        12345,
    ],
)
def test_non_http_reply_urls_are_refused_without_a_request(
    sender: WebhookReplySender, url: Any
) -> None:
    result = sender.send_reply(make_reply(url))
    assert not result.ok and not result.retryable
    assert "reply_url" in (result.error or "")


@pytest.mark.usefixtures("no_requests")
@pytest.mark.parametrize("key", ["", "reply-out:1\n", "reply out:1", "reply-out:1\r\nX-Evil: 1"])
def test_an_unsendable_idempotency_key_is_refused_without_a_request(
    sender: WebhookReplySender, key: str
) -> None:
    result = sender.send_reply(make_reply("https://example.com/r", idempotency_key=key))
    assert not result.ok and not result.retryable
    assert "idempotency key" in (result.error or "")


# -- secrets and logs -----------------------------------------------------------------------


def test_the_secret_and_the_body_never_reach_the_logs(
    callback: FakeCallback, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sender = WebhookReplySender(SECRET, timeout=0.5)
    text = "Private: your refund code is ZX-PRIVATE-991"
    url = callback.url + "?token=hook-token-in-the-query"
    sender.send_reply(make_reply(url, text=text))
    callback.fail(500)
    sender.send_reply(make_reply(url, text=text))
    callback.fail(400, body={"echo": SECRET})
    result = sender.send_reply(make_reply(url, text=text))
    sender.send_reply(make_reply(f"http://127.0.0.1:{closed_port()}/x", text=text))
    sender.send_reply(make_reply("file:///x", text=text))

    logged = caplog.text
    assert caplog.records, "expected the sender to log what it did"
    for private in (SECRET, text, "ZX-PRIVATE-991", "hook-token-in-the-query", "/replies"):
        assert private not in logged
    assert f"127.0.0.1:{callback.port}" in logged
    assert "status=202" in logged and "status=500" in logged and "status=400" in logged
    assert SECRET not in repr(sender)
    assert "hook-token" not in (result.error or "")


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        WebhookReplySender("")


# -- the documented recipe ------------------------------------------------------------------


def test_the_reply_signature_matches_the_documented_recipe(
    callback: FakeCallback, sender: WebhookReplySender
) -> None:
    sender.send_reply(make_reply(callback.url, text="Dobrý den, 您好 👋🏽"))
    req = callback.last_request
    ts = req.headers["x-threadline-timestamp"]
    # printf 'v1:%s:%s' "$TS" "$BODY" | openssl dgst -sha256 -hmac "$SECRET"
    expected = hmac.new(SECRET.encode(), b"v1:" + ts.encode() + b":" + req.raw_body, "sha256")
    assert req.headers["x-threadline-signature"] == f"v1={expected.hexdigest()}"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_the_reply_signature_matches_the_openssl_command_line(
    callback: FakeCallback, sender: WebhookReplySender
) -> None:
    sender.send_reply(make_reply(callback.url, text="Dobrý den, 您好 👋🏽 100% done"))
    req = callback.last_request
    recipe = """printf 'v1:%s:%s' "$TS" "$BODY" | openssl dgst -sha256 -hmac "$SECRET" \
        | sed 's/^.*= //'"""
    env = {
        "TS": req.headers["x-threadline-timestamp"],
        "BODY": req.raw_body.decode("utf-8"),
        "SECRET": SECRET,
        "PATH": "/usr/bin:/bin",
        "LC_ALL": "C.UTF-8",
    }
    out = subprocess.run(
        ["bash", "-c", recipe], env=env, capture_output=True, check=True, text=True
    ).stdout.strip()
    assert req.headers["x-threadline-signature"] == f"v1={out}"


# -- the adapter interface ------------------------------------------------------------------


def test_the_sender_is_a_source_adapter_that_watches_nothing() -> None:
    sender = WebhookReplySender(SECRET)
    assert isinstance(sender, SourceAdapter)
    assert sender.name == "webhook"
    assert list(sender.watch()) == []
    assert sender.timeout == 10.0


def test_outbound_types_are_frozen() -> None:
    reply = make_reply("https://example.com/r")
    with pytest.raises(FrozenInstanceError):
        reply.text = "changed"  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        DeliveryResult(ok=True).ok = False  # type: ignore[misc]
