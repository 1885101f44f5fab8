"""POST /ingest/webhook: the contract's answers to good and bad input; bad input stores nothing."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from bot.config import Settings
from bot.sources.webhook import sign
from bot.web import create_web_app, start_http_server
from bot.wiring import make_intake, webhook_routes
from storage.db import session_scope
from storage.models import Conversation, Customer, Identity, Message, OutboxItem
from tests.fakes.webhook_sender import message
from tests.pipeline import Pipeline, team_config


def stored_rows(pipe: Pipeline) -> int:
    with session_scope(pipe.engine) as session:
        return sum(
            session.exec(select(func.count()).select_from(model)).one()
            for model in (Customer, Identity, Conversation, Message, OutboxItem)
        )


def test_our_signature_matches_the_documented_openssl_recipe() -> None:
    # Known answer from: printf 'v1:1700000000:{"a":1}' | openssl dgst -sha256 -hmac 'secret'
    openssl = "17bb75ebc8e3db9f892e182dac08b5bd115c2a12570908248a7ed41d89710ec8"
    assert sign("secret", "1700000000", b'{"a":1}') == f"v1={openssl}"


def test_accepted_message_answers_202_with_the_conversation(sqlite_pipeline: Pipeline) -> None:
    answer = sqlite_pipeline.webhook.post(message("m-1", "Hello, where is my order?"))
    assert answer.status == 202
    body = answer.json()
    assert body["duplicate"] is False
    assert isinstance(body["conversation_id"], int)


def test_all_contract_fields_are_kept(sqlite_pipeline: Pipeline) -> None:
    payload = message(
        "m-7",
        "Dobrý den, kde je moje objednávka?",
        author="u-77",
        thread_id="t-7",
        parent_id="m-6",
        lang="cs",
        url="https://forum.example/t/7#m-7",
        created_at="2026-11-23T09:00:00Z",
        direct=True,
        attachments=[
            {"name": "photo.png", "url": "https://cdn.example/p.png", "mime": "image/png"}
        ],
        reply_url="https://hooks.example/reply",
    )
    payload["source"] = "helpdesk"
    payload["author"].update(
        {"url": "https://forum.example/u/77", "followers": 1200, "email": "Ana@Example.com"}
    )
    assert sqlite_pipeline.webhook.post(payload).status == 202
    with session_scope(sqlite_pipeline.engine) as session:
        conv = session.exec(select(Conversation)).one()
        msg = session.exec(select(Message)).one()
        ident = session.exec(select(Identity)).one()
    assert (conv.source, conv.external_thread_id, conv.is_direct) == ("helpdesk", "t-7", True)
    assert conv.source_meta == {"via": "webhook", "reply_url": "https://hooks.example/reply"}
    assert (msg.external_id, msg.external_parent_id, msg.url) == (
        "m-7",
        "m-6",
        "https://forum.example/t/7#m-7",
    )
    assert msg.created_at.isoformat() == "2026-11-23T09:00:00+00:00"
    assert msg.attachments == [
        {"name": "photo.png", "url": "https://cdn.example/p.png", "mime": "image/png"}
    ]
    assert (ident.followers, ident.profile_url) == (1200, "https://forum.example/u/77")
    assert conv.language == "cs"


def _signed(pipe: Pipeline, body: bytes, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    answer = pipe.webhook.post_raw(body, **kwargs)
    return answer.status, answer.json()


GOOD = json.dumps(message("m-1", "hello")).encode()


@pytest.mark.parametrize(
    ("case", "kwargs", "status", "fragment"),
    [
        ("bad signature", {"signature": "v1=" + "0" * 64}, 401, "bad signature"),
        ("no v1 prefix", {"signature": "deadbeef"}, 401, "bad signature"),
        ("stale", {"timestamp": -301}, 401, "stale"),
        ("future", {"timestamp": +301}, 401, "stale"),
    ],
)
def test_authentication_failures_are_401(
    sqlite_pipeline: Pipeline, case: str, kwargs: dict[str, Any], status: int, fragment: str
) -> None:
    if "timestamp" in kwargs:  # an offset from now, taken when the test runs
        kwargs = {"timestamp": int(time.time()) + kwargs["timestamp"]}
    code, body = _signed(sqlite_pipeline, GOOD, **kwargs)
    assert (code, fragment in body["error"]) == (status, True), case
    assert stored_rows(sqlite_pipeline) == 0


def test_missing_headers_are_401(sqlite_pipeline: Pipeline) -> None:
    answer = sqlite_pipeline.webhook.post_raw(GOOD, headers={"X-Threadline-Signature": ""})
    assert answer.status == 401
    assert "missing" in answer.json()["error"]


def _payload(**changes: Any) -> bytes:
    base = message("m-1", "hello")
    for key, value in changes.items():
        if value is ...:
            base.pop(key)
        else:
            base[key] = value
    return json.dumps(base, ensure_ascii=False).encode()


BAD_BODIES = [
    ("missing message_id", _payload(message_id=...), "message_id"),
    ("missing author", _payload(author=...), "author"),
    ("missing author.id", _payload(author={"handle": "@x"}), "author.id"),
    ("missing text", _payload(text=...), "text"),
    ("empty text", _payload(text=""), "text"),
    ("blank text", _payload(text=" \n\t "), "text"),
    ("text not a string", _payload(text=42), "text"),
    ("followers negative", _payload(author={"id": "u", "followers": -1}), "author.followers"),
    (
        "followers not a number",
        _payload(author={"id": "u", "followers": "lots"}),
        "author.followers",
    ),
    ("bad source", _payload(source="Bad Source!"), "source"),
    ("bad url", _payload(url="javascript:alert(1)"), "url"),
    ("bad date", _payload(created_at="yesterday"), "created_at"),
    ("unknown field", _payload(sender="x"), "sender"),
    ("direct not bool", _payload(direct="maybe"), "direct"),
    ("too long", _payload(text="x" * 100_001), "text"),
    ("not an object", b'["a list"]', "body"),
    ("not json", b"{not json", "body"),
    ("invalid utf-8", b'{"message_id": "m", "text": "\xff\xfe"}', "body"),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_invalid_bodies_are_400_naming_the_field(
    sqlite_pipeline: Pipeline, case: str, body: bytes, field: str
) -> None:
    code, answer = _signed(sqlite_pipeline, body)
    assert code == 400, (case, answer)
    assert answer["field"] == field
    assert field in answer["error"] or field == "body"
    assert stored_rows(sqlite_pipeline) == 0


def test_one_megabyte_body_is_413_and_stores_nothing(sqlite_pipeline: Pipeline) -> None:
    code, answer = _signed(sqlite_pipeline, _payload(text="é" * 600_000))
    assert code == 413
    assert "larger than" in answer["error"]
    assert stored_rows(sqlite_pipeline) == 0


def test_a_very_large_body_gets_json_not_html(sqlite_pipeline: Pipeline) -> None:
    code, answer = _signed(sqlite_pipeline, b"{" + b" " * (3 * 1024 * 1024) + b"}")
    assert code == 413
    assert "error" in answer


@pytest.fixture
def closed_webhook_url(sqlite_engine: Engine) -> Iterator[str]:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    team = team_config()
    web = create_web_app(
        sqlite_engine,
        None,
        blueprints=(webhook_routes(settings, team, make_intake(sqlite_engine, team)),),
    )
    server = start_http_server(web, "127.0.0.1", 0)
    yield f"{server.url}/ingest/webhook"
    server.stop()


def test_the_webhook_is_closed_without_a_secret(closed_webhook_url: str) -> None:
    request = urllib.request.Request(closed_webhook_url, data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    assert info.value.code == 404
    assert "THREADLINE_WEBHOOK_SECRET" in json.loads(info.value.read())["error"]


def test_a_nul_character_is_refused_naming_the_field_but_a_network_message_drops_it() -> None:
    """PostgreSQL text cannot hold U+0000. The webhook's sender is told (400); a message read
    from a network has it dropped, so it is stored the same on every backend."""
    from pydantic import ValidationError

    from bot.sources.webhook import WebhookPayload
    from handlers.inbound import Author, InboundMessage

    with pytest.raises(ValidationError, match="NUL"):
        WebhookPayload.model_validate({"message_id": "m", "author": {"id": "a"}, "text": "a\x00b"})
    msg = InboundMessage(
        source="discord",
        external_id="1",
        thread_id="t",
        author=Author(external_id="u\x001", display_name="Ana\x00"),
        text="Hello\x00 there",
    )
    assert msg.text == "Hello there"
    assert (msg.author.external_id, msg.author.display_name) == ("u1", "Ana")
