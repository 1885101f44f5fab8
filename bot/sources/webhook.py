"""The signed webhook: any platform (Zapier, n8n, a help widget, a script) feeds Threadline.

POST /ingest/webhook with X-Threadline-Timestamp and
X-Threadline-Signature: v1=<hex HMAC-SHA256(secret, "v1:{timestamp}:{raw body}")>.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.exc import OperationalError

from bot.intake import Intake
from handlers.inbound import (
    MAX_TEXT_CHARS,
    Attachment,
    Author,
    DisplayName,
    Email,
    ExternalId,
    Followers,
    Handle,
    InboundMessage,
    Url,
)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 512 * 1024
TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), b"v1:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return "v1=" + digest.hexdigest()


def verify(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float | None = None
) -> str | None:
    """None when the request is authentic; otherwise why not (for the 401 body)."""
    if not timestamp or not signature:
        return "missing X-Threadline-Timestamp or X-Threadline-Signature header"
    if not timestamp.isdigit():
        return "X-Threadline-Timestamp must be unix seconds"
    if abs((now or time.time()) - int(timestamp)) > TOLERANCE_SECONDS:
        return "stale timestamp: more than 5 minutes from our clock"
    if not hmac.compare_digest(sign(secret, timestamp, body), signature.strip()):
        return "bad signature"
    return None


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # The sender sent it, so say so (a 400 naming the field) rather than store text that
        # differs from what was sent: the network sources strip it instead.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("contains a NUL character (U+0000)")
        return value


class WebhookAuthor(_Contract):
    id: ExternalId
    handle: Handle | None = None
    name: DisplayName | None = None
    url: Url | None = None
    followers: Followers | None = None
    email: Email | None = None


class WebhookPayload(_Contract):
    """The JSON body; these names are the public contract (DESIGN.md)."""

    source: str = Field(default="webhook", pattern=r"^[a-z0-9_-]{1,40}$")
    message_id: ExternalId
    thread_id: ExternalId | None = None
    parent_id: ExternalId | None = None
    author: WebhookAuthor
    text: str = Field(max_length=MAX_TEXT_CHARS)
    lang: str | None = None
    url: Url | None = None
    created_at: datetime | None = None
    direct: bool = False
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)
    reply_url: Url | None = None

    def to_inbound(self) -> InboundMessage:
        extra: dict[str, Any] = {"created_at": self.created_at} if self.created_at else {}
        return InboundMessage(
            source=self.source,
            external_id=self.message_id,
            thread_id=self.thread_id or self.message_id,
            parent_id=self.parent_id,
            author=Author(
                external_id=self.author.id,
                handle=self.author.handle,
                display_name=self.author.name,
                profile_url=self.author.url,
                followers=self.author.followers,
                email=self.author.email,
            ),
            text=self.text,
            language=self.lang,
            url=self.url,
            attachments=self.attachments,
            is_direct=self.direct,
            reply_meta={"via": "webhook", "reply_url": str(self.reply_url)}
            if self.reply_url
            else {"via": "webhook"},
            **extra,
        )


def _error(status: int, message: str, field: str | None = None) -> tuple[Response, int]:
    body: dict[str, Any] = {"error": message}
    if field:
        body["field"] = field
    return jsonify(body), status


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


_CONTRACT_NAMES = {
    "external_id": "message_id",
    "thread_id": "thread_id",
    "language": "lang",
    "is_direct": "direct",
    "author.external_id": "author.id",
    "author.display_name": "author.name",
    "author.profile_url": "author.url",
}


def parse_payload(body: bytes) -> InboundMessage:
    """Raises ValueError(message, field) for anything that is not a valid message."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"body is not valid UTF-8 (byte {exc.start})", "body") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"body is not JSON: {exc.msg} at line {exc.lineno}", "body") from None
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object", "body")
    try:
        return WebhookPayload.model_validate(data).to_inbound()
    except ValidationError as exc:
        err = exc.errors()[0]
        where = _field(err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        raise ValueError(
            f"{_CONTRACT_NAMES.get(where, where)}: {message}", _CONTRACT_NAMES.get(where, where)
        ) from None


def webhook_blueprint(secret: str, intake: Intake) -> Blueprint:
    bp = Blueprint("webhook", __name__)

    @bp.post("/ingest/webhook")
    def ingest_webhook() -> tuple[Response, int]:
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        body = request.get_data(cache=False)
        if len(body) > MAX_BODY_BYTES:
            return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        problem = verify(
            secret,
            request.headers.get("X-Threadline-Timestamp"),
            request.headers.get("X-Threadline-Signature"),
            body,
        )
        if problem:
            return _error(401, problem)
        try:
            msg = parse_payload(body)
        except ValueError as exc:
            message, field = exc.args
            return _error(400, message, field)
        try:
            result = intake.accept(msg)
        except OperationalError:
            log.exception("database unavailable while ingesting a webhook message")
            return _error(503, "database unavailable, retry later")
        status = 200 if result.duplicate else 202
        return jsonify(conversation_id=result.conversation_id, duplicate=result.duplicate), status

    return bp
