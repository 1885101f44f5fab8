"""Replies to conversations that came in through the signed webhook.

A webhook message may carry ``reply_url``; an approved reply is POSTed there as JSON, signed
exactly like inbound requests (same secret, same scheme):

    X-Threadline-Timestamp: <unix seconds>
    X-Threadline-Signature: v1=<hex HMAC-SHA256(secret, "v1:{timestamp}:{raw body}")>
    Idempotency-Key: <the same value on every retry of the same reply>
    Content-Type: application/json; charset=utf-8
    User-Agent: Threadline/0.1

The body (UTF-8, these names are the public contract)::

    {"type": "reply",                 // always "reply"
     "conversation_id": 42,           // Threadline's conversation id
     "thread_id": "t-1",              // the thread_id (or message_id) the sender gave us
     "in_reply_to": "m-7",            // the customer's latest message_id, or null
     "text": "…",                     // exactly what the person approved, byte-exact
     "lang": "cs",                    // language code, or null
     "direct": false,                 // true: a private message, never answer it in public
     "sent_by": "U123ABC",            // Slack user id of the person who clicked Send
     "idempotency_key": "…",          // same as the Idempotency-Key header
     "sent_at": "2026-11-23T09:00:00Z"}  // when this attempt was made, UTC

Answers: any 2xx means delivered; the receiver MAY answer ``{"id": "...", "url": "https://..."}``
to tell us its id and a permalink for the reply. 408, 425, 429 and 5xx (honouring
``Retry-After``), timeouts and connection failures are retried later with the same
``Idempotency-Key``, so a receiver should treat a key it has already handled as done and answer
2xx again. Any other answer (other 4xx, 3xx: redirects are not followed) is final and shown to
the person who clicked Send.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import ssl
import time
import unicodedata
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from http.client import HTTPException, InvalidURL
from typing import Any
from urllib.parse import urlsplit

from bot.sources.base import DeliveryResult, OutboundReply, retry_after_seconds
from bot.sources.webhook import sign  # one signing scheme, inbound and outbound
from handlers.inbound import InboundMessage

log = logging.getLogger(__name__)

USER_AGENT = "Threadline/0.1"
RETRYABLE_STATUSES = frozenset({408, 425, 429})  # and every 5xx
MAX_ANSWER_BYTES = 64 * 1024  # of the receiver's answer; the rest is not read
ERROR_SNIPPET_CHARS = 200
NO_REPLY_URL = (
    "this conversation has no reply_url: the sender gave none, so there is no way to answer it"
)

_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,200}")  # visible ASCII: safe in a header
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would turn our POST into a GET (or send a signed reply somewhere else)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


class WebhookReplySender:
    """Sends approved replies to the ``reply_url`` a webhook message carried.

    ``timeout`` bounds connecting and each read (DNS resolution is not covered by it).
    """

    name = "webhook"

    def __init__(self, secret: str, timeout: float = 10.0) -> None:
        if not secret:
            raise ValueError("the webhook secret is empty: replies could not be signed")
        if not timeout > 0:
            raise ValueError("timeout must be a positive number of seconds")
        self._secret = secret
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirects())

    def __repr__(self) -> str:
        return f"WebhookReplySender(timeout={self.timeout!r})"  # never the secret

    def watch(self) -> Iterator[InboundMessage]:
        """Nothing: webhook messages are pushed to POST /ingest/webhook."""
        return iter(())

    def send_reply(self, reply: OutboundReply) -> DeliveryResult:
        url = reply.reply_meta.get("reply_url")
        if not url:
            return DeliveryResult(ok=False, error=NO_REPLY_URL)
        problem = _check_url(url)
        if problem:
            log.warning(
                "webhook reply for conversation %s refused: %s", reply.conversation_id, problem
            )
            return DeliveryResult(ok=False, error=problem)
        if not _IDEMPOTENCY_KEY.fullmatch(reply.idempotency_key):
            return DeliveryResult(
                ok=False, error="internal error: the idempotency key is not visible ASCII"
            )
        host = _host(url)
        now = time.time()
        body = encode_body(reply, now)
        timestamp = str(int(now))
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
                "X-Threadline-Timestamp": timestamp,
                "X-Threadline-Signature": sign(self._secret, timestamp, body),
                "Idempotency-Key": reply.idempotency_key,
            },
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status = response.status
                answer = self._read(response)
        except urllib.error.HTTPError as err:
            with err:
                return self._refused(
                    reply, host, err.code, err.reason, err.headers, self._read(err)
                )
        except urllib.error.URLError as err:
            return self._unreachable(reply, host, err.reason)
        except (InvalidURL, ValueError):  # urllib/http.client refused the URL itself
            return DeliveryResult(ok=False, error="this conversation's reply_url is not usable")
        except (OSError, HTTPException) as err:
            return self._unreachable(reply, host, err)
        external_id, permalink = _parse_answer(answer)
        log.info(
            "webhook reply for conversation %s delivered: host=%s status=%s",
            reply.conversation_id,
            host,
            status,
        )
        return DeliveryResult(ok=True, external_id=external_id, url=permalink)

    # -- internals -------------------------------------------------------------------------

    def _read(self, response: Any) -> bytes:
        """At most MAX_ANSWER_BYTES, within about one timeout; the status is already known."""
        deadline = time.monotonic() + self.timeout
        chunks: list[bytes] = []
        size = 0
        try:
            while size < MAX_ANSWER_BYTES and time.monotonic() < deadline:
                chunk = response.read(min(8192, MAX_ANSWER_BYTES - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except (OSError, HTTPException):
            pass  # a cut-off answer body changes nothing about the status
        return b"".join(chunks)

    def _refused(
        self,
        reply: OutboundReply,
        host: str,
        status: int,
        reason: Any,
        headers: Any,
        answer: bytes,
    ) -> DeliveryResult:
        retryable = status in RETRYABLE_STATUSES or 500 <= status <= 599
        retry_after = retry_after_seconds(headers.get("Retry-After") if headers else None)
        log.warning(
            "webhook reply for conversation %s not delivered: host=%s status=%s",
            reply.conversation_id,
            host,
            status,
        )
        what = f"{host} answered {status}"
        if isinstance(reason, str) and reason.strip():
            what += f" {_one_line(reason, 60)}"
        if retryable:
            return DeliveryResult(ok=False, error=what, retryable=True, retry_after=retry_after)
        if 300 <= status <= 399:
            what += " (a redirect: replies are not re-sent elsewhere; set reply_url to the final"
            what += " address)"
        elif status == 401:
            what += " (check that both sides use the same THREADLINE_WEBHOOK_SECRET)"
        snippet = _one_line(answer.decode("utf-8", errors="replace"), ERROR_SNIPPET_CHARS)
        if snippet:
            what += f": {snippet}"
        return DeliveryResult(ok=False, error=what)

    def _unreachable(self, reply: OutboundReply, host: str, cause: object) -> DeliveryResult:
        if isinstance(cause, ssl.SSLCertVerificationError):
            log.warning(
                "webhook reply for conversation %s not delivered: host=%s bad certificate",
                reply.conversation_id,
                host,
            )
            return DeliveryResult(ok=False, error=f"{host} has a TLS certificate we cannot verify")
        if isinstance(cause, TimeoutError):
            what = f"{host} did not answer within {self.timeout:g} s"
        elif isinstance(cause, ConnectionRefusedError):
            what = f"could not connect to {host}: connection refused"
        elif isinstance(cause, ConnectionResetError | HTTPException):
            what = f"{host} closed the connection without an answer"
        elif isinstance(cause, socket.gaierror):
            what = f"could not resolve {host}"
        else:
            what = f"could not reach {host}: {type(cause).__name__}"
        log.warning(
            "webhook reply for conversation %s not delivered: host=%s %s",
            reply.conversation_id,
            host,
            type(cause).__name__,
        )
        return DeliveryResult(ok=False, error=what, retryable=True)


def encode_body(reply: OutboundReply, now: float) -> bytes:
    """The JSON body of one attempt (see the module docstring for the contract)."""
    sent_at = datetime.fromtimestamp(int(now), UTC).isoformat().replace("+00:00", "Z")
    payload = {
        "type": "reply",
        "conversation_id": reply.conversation_id,
        "thread_id": reply.thread_id,
        "in_reply_to": reply.in_reply_to,
        "text": reply.text,
        "lang": reply.language,
        "direct": reply.is_direct,
        "sent_by": reply.sent_by,
        "idempotency_key": reply.idempotency_key,
        "sent_at": sent_at,
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _check_url(url: object) -> str | None:
    """Why this reply_url cannot be used, or None. Only plain http(s) URLs are."""
    if not isinstance(url, str):
        return "this conversation's reply_url is not a URL"
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in url):
        return "this conversation's reply_url contains spaces or control characters"
    if not url.isascii():
        return "this conversation's reply_url has non-ASCII characters; percent-encode them"
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a bad port
    except ValueError:
        return "this conversation's reply_url is not a valid URL"
    if parts.scheme not in {"http", "https"}:
        scheme = _one_line(parts.scheme, 20) or "(none)"
        return f"this conversation's reply_url has scheme {scheme}; replies go only to http(s)"
    if not parts.hostname:
        return "this conversation's reply_url has no host"
    if parts.username is not None or parts.password is not None:
        return "this conversation's reply_url carries a user name or password; those are not sent"
    return None


def _host(url: str) -> str:
    """host[:port] only: paths and queries of webhook URLs often carry tokens."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port}" if parts.port else host


def _parse_answer(answer: bytes) -> tuple[str | None, str | None]:
    """(id, url) from a 2xx answer such as {"id": "r-1", "url": "https://..."}; odd → None."""
    try:
        data = json.loads(answer.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    raw_id = data.get("id")
    external_id: str | None = None
    if isinstance(raw_id, str) or (isinstance(raw_id, int) and not isinstance(raw_id, bool)):
        external_id = _one_line(str(raw_id), ERROR_SNIPPET_CHARS) or None
    raw_url = data.get("url")
    permalink = raw_url if isinstance(raw_url, str) and _is_web_url(raw_url) else None
    return external_id, permalink


def _is_web_url(url: str) -> bool:
    if len(url) > 2048 or any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.hostname)


def _one_line(text: str, limit: int) -> str:
    """Control characters (and bidi overrides) removed, whitespace collapsed, cut at limit."""
    kept = (
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or (unicodedata.category(ch) != "Cc" and ch not in _BIDI_CONTROLS)
    )
    return " ".join("".join(kept).split())[:limit]
