"""An OpenAI-compatible HTTP server for tests.

openai 3.x talks through ``httpx2``, which respx-style transport mocks cannot intercept, so
tests point ``openai.OpenAI(base_url=fake.base_url)`` here: retries, timeouts, headers and JSON
decoding all run over a real socket, as in production.

* Scripted replies are consumed in order by ``/chat/completions`` and ``/responses``; when the
  queue is empty ``default_reply`` answers.
* Faults (``fail``, ``hang``, ``malformed``, ``malformed_json_content``) form one FIFO queue
  and never consume a scripted reply, so "429 then ``script('ok')``" means the retry gets "ok".
* Every request is recorded (even rejected ones) with the Authorization value redacted.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Self

from tests.fakes.local_server import (
    FakeHandler,
    Fault,
    FaultQueue,
    LocalHTTPServer,
    retry_after_header,
)

Reply = str | dict[str, Any] | Callable[[dict[str, Any]], str | dict[str, Any]]

DEFAULT_MODEL = "gpt-fake"
_PROMPT_KEYS = ("instructions", "messages", "input")
_TEXT_KEYS = ("content", "text", "output")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names; authorization value is redacted
    body: Any  # parsed JSON, or None when the body was empty or not JSON
    raw_body: bytes
    received_at: float  # time.monotonic(), lets tests measure retry back-off

    @property
    def prompt_text(self) -> str:
        """All strings under messages/input/instructions, newline-joined.

        Handy for "the prompt must not contain PII" assertions without caring whether the
        caller used chat messages, Responses ``input`` items or content-part lists.
        """
        if not isinstance(self.body, dict):
            return ""
        return "\n".join(s for key in _PROMPT_KEYS for s in _strings(self.body.get(key)))


@dataclass
class _Fault(Fault):
    content: str = ""  # malformed_content: the completion's (broken) content


class FakeOpenAI(LocalHTTPServer[RecordedRequest]):
    """Scriptable OpenAI-compatible server on 127.0.0.1 (random free port)."""

    def __init__(self, api_key: str = "sk-test", *, default_reply: Reply = "OK") -> None:
        super().__init__()
        self.api_key = api_key
        self.default_reply: Reply = default_reply
        self._replies: deque[Reply] = deque()
        self._faults: FaultQueue[_Fault] = FaultQueue()
        self._latency = 0.0
        self._ids = itertools.count(1)

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    # -- scripting -------------------------------------------------------------------------

    def script(self, *replies: Reply) -> Self:
        """Queue replies: str content, dict (JSON-encoded as content) or ``fn(body) -> str``."""
        with self._lock:
            self._replies.extend(replies)
        return self

    def latency(self, seconds: float) -> Self:
        """Delay every answer (errors included) by ``seconds``."""
        with self._lock:
            self._latency = seconds
        return self

    def fail(self, status: int = 429, *, times: int = 1, retry_after: float | None = None) -> Self:
        """Answer the next ``times`` model calls with an OpenAI error of HTTP ``status``."""
        generic = ("server_error" if status >= 500 else "invalid_request_error", None)
        type_, code = _STATUS_ERRORS.get(status, generic)
        reason = FakeHandler.responses.get(status, ("Error",))[0]
        error = _error(f"FakeOpenAI injected {status} {reason}", type_, code)
        body = json.dumps(error, ensure_ascii=False).encode("utf-8")
        # openai parses retry-after as a float of seconds, so fractions keep tests fast.
        headers = retry_after_header(retry_after)
        return self._add(_Fault("fail", times, status=status, body=body, headers=headers))

    def hang(self, seconds: float, *, times: int = 1) -> Self:
        """Hold the next ``times`` model calls for ``seconds``, then drop the connection.

        Dropping (rather than answering late) means a client that timed out and retried
        cannot race the late answer for a scripted reply; slow-but-successful answers are
        what ``latency()`` is for.
        """
        return self._add(_Fault("hang", times, seconds=seconds))

    def malformed(
        self,
        *,
        times: int = 1,
        body: bytes = b'{"id": "broken", "choices": [',
        content_type: str = "application/json",
    ) -> Self:
        """HTTP 200 whose body is not a completion (default: truncated JSON).

        ``body=b"<html>...", content_type="text/html"`` mimics a proxy's error page.
        """
        fault = _Fault("malformed", times, status=200, body=body, content_type=content_type)
        return self._add(fault)

    def malformed_json_content(self, *, times: int = 1, content: str = '{"truncated": ') -> Self:
        """A well-formed completion whose content is ``content`` (default: broken JSON).

        Pass e.g. ``content='{"unexpected": 1}'`` for valid JSON that misses the schema.
        """
        return self._add(_Fault("malformed_content", times, content=content))

    def clear_faults(self) -> Self:
        self._faults.clear()
        return self

    def reset(self) -> Self:
        """Forget replies, faults, latency and recorded requests (keeps the server up)."""
        self._faults.clear()
        self._forget_requests()
        with self._lock:
            self._replies.clear()
            self._latency = 0.0
        return self

    # -- internals used by the handler -----------------------------------------------------

    def _add(self, fault: _Fault) -> Self:
        self._faults.add(fault)
        return self

    def _current_latency(self) -> float:
        with self._lock:
            return self._latency

    def _next_content(self, body: dict[str, Any]) -> str:
        with self._lock:
            reply = self._replies.popleft() if self._replies else self.default_reply
        # Callables run outside the lock so they may inspect fake.requests themselves.
        if callable(reply):
            reply = reply(body)
        if isinstance(reply, str):
            return reply
        return json.dumps(reply, ensure_ascii=False)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):06d}"


def _error(
    message: str, type_: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


# (type, code) as the real API sends them; other 4xx/5xx fall back to the generic pair.
_STATUS_ERRORS: dict[int, tuple[str, str | None]] = {
    401: ("invalid_request_error", "invalid_api_key"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    503: ("server_error", "service_unavailable"),
}


class _Handler(FakeHandler[FakeOpenAI]):
    def serve(self) -> None:
        fake = self.fake
        raw = self.read_body()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = self.lower_headers()
        if "authorization" in headers:
            headers["authorization"] = "<redacted>"
        path = self.route
        fake._record(RecordedRequest(self.command, path, headers, body, raw, time.monotonic()))
        latency = fake._current_latency()
        if latency and fake.hold(latency):
            return

        route = (self.command, path)
        if self.headers.get("authorization") != f"Bearer {fake.api_key}":
            msg = "Incorrect API key provided. You can find your API key in your dashboard."
            self.send_json(401, _error(msg, "invalid_request_error", "invalid_api_key"))
        elif route == ("GET", "/v1/models"):
            self.send_json(200, {"object": "list", "data": [_model(DEFAULT_MODEL)]})
        elif self.command == "GET" and path.startswith("/v1/models/"):
            self.send_json(200, _model(path.removeprefix("/v1/models/")))  # models.retrieve()
        elif route not in {("POST", "/v1/chat/completions"), ("POST", "/v1/responses")}:
            msg = f"Invalid URL ({self.command} {path})"
            self.send_json(404, _error(msg, "invalid_request_error"))
        elif not isinstance(body, dict):
            msg = "We could not parse the JSON body of your request."
            self.send_json(400, _error(msg, "invalid_request_error"))
        else:
            self._model_call(path, body)

    def _model_call(self, path: str, body: dict[str, Any]) -> None:
        fake = self.fake
        fault = fake._faults.take()
        if fault is not None and fault.kind != "malformed_content":
            self.answer_fault(fault)
            return
        content = fault.content if fault is not None else fake._next_content(body)
        if path == "/v1/responses" and body.get("stream"):
            msg = "FakeOpenAI does not implement streaming for /v1/responses."
            self.send_json(400, _error(msg, "invalid_request_error", param="stream"))
        elif path == "/v1/responses":
            self.send_json(200, _response(fake, body, content))
        elif body.get("stream"):
            self._stream_chat(body, content)
        else:
            self.send_json(200, _chat_completion(fake, body, content))

    def _stream_chat(self, body: dict[str, Any], content: str) -> None:
        fake = self.fake
        base = {
            "id": fake._new_id("chatcmpl"),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", DEFAULT_MODEL),
            "system_fingerprint": "fp_fake",
        }
        step = max(1, len(content) // 3)  # a few chunks, enough to exercise re-assembly
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        deltas += [{"content": content[i : i + step]} for i in range(0, len(content), step)]
        events = [
            {**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas
        ]
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append({**base, "choices": [], "usage": _chat_usage(body, content)})
        payload = "".join(f"data: {json.dumps(e, ensure_ascii=False)}\n\n" for e in events)
        self.send_bytes(200, (payload + "data: [DONE]\n\n").encode(), "text/event-stream")

    def extra_headers(self) -> dict[str, str]:
        return {"x-request-id": self.fake._new_id("req")}  # as the real API's answers carry


FakeOpenAI.handler_class = _Handler


def _strings(value: Any) -> Iterator[str]:
    """Text a model would read: bare strings plus content/text/output fields, not roles."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key in _TEXT_KEYS:
            yield from _strings(value.get(key))


def _tokens(text: str) -> int:
    return len(text.split())  # crude but deterministic; tests only need plausible numbers


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 1_700_000_000, "owned_by": "threadline"}


def _chat_usage(body: dict[str, Any], content: str) -> dict[str, Any]:
    prompt = sum(_tokens(s) for s in _strings(body.get("messages")))
    completion = _tokens(content)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _chat_completion(fake: FakeOpenAI, body: dict[str, Any], content: str) -> dict[str, Any]:
    message = {"role": "assistant", "content": content, "refusal": None, "annotations": []}
    return {
        "id": fake._new_id("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", DEFAULT_MODEL),
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
        "usage": _chat_usage(body, content),
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    }


def _response(fake: FakeOpenAI, body: dict[str, Any], content: str) -> dict[str, Any]:
    prompt = sum(_tokens(s) for key in ("input", "instructions") for s in _strings(body.get(key)))
    completion = _tokens(content)
    text_part = {"type": "output_text", "text": content, "annotations": [], "logprobs": []}
    msg_id = fake._new_id("msg")
    message = {"type": "message", "id": msg_id, "status": "completed", "role": "assistant"}
    # Only fields the SDK requires (strict validation) or callers plausibly read; the rest of
    # the real payload (temperature, truncation, ...) defaults to None on the SDK model anyway.
    return {
        "id": fake._new_id("resp"),
        "object": "response",
        "created_at": time.time(),
        "status": "completed",
        "model": body.get("model", DEFAULT_MODEL),
        "output": [message | {"content": [text_part]}],
        "instructions": body.get("instructions"),
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": [],
        "text": body.get("text") or {"format": {"type": "text"}},
        "usage": {
            "input_tokens": prompt,
            "output_tokens": completion,
            "total_tokens": prompt + completion,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }
