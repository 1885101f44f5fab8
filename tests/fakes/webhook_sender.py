"""Posts to /ingest/webhook the way an integrator would: its own HMAC code, not ours."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass
class WebhookResponse:
    status: int
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookSender:
    def __init__(self, url: str, secret: str) -> None:
        self.url = url
        self.secret = secret

    def post_raw(
        self,
        body: bytes,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> WebhookResponse:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        mac = hmac.new(self.secret.encode(), f"v1:{ts}:".encode() + body, hashlib.sha256)
        all_headers = {
            "Content-Type": "application/json",
            "X-Threadline-Timestamp": ts,
            "X-Threadline-Signature": signature or f"v1={mac.hexdigest()}",
            **(headers or {}),
        }
        request = urllib.request.Request(self.url, data=body, headers=all_headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=15) as resp:
                return WebhookResponse(resp.status, resp.read().decode())
        except urllib.error.HTTPError as err:
            return WebhookResponse(err.code, err.read().decode())

    def post(self, payload: dict[str, Any], **kwargs: Any) -> WebhookResponse:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return self.post_raw(body, **kwargs)


def message(
    message_id: str,
    text: str,
    *,
    author: str = "u-1",
    thread_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A webhook payload with sensible defaults."""
    payload: dict[str, Any] = {
        "message_id": message_id,
        "author": {"id": author, "handle": f"@{author}", "name": f"Customer {author}"},
        "text": text,
    }
    if thread_id:
        payload["thread_id"] = thread_id
    payload.update(extra)
    return payload
