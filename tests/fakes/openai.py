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
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self

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
class _Fault:
    kind: Literal["fail", "hang", "malformed", "malformed_content"]
    remaining: int
    status: int = 500
    retry_after: float | None = None
    seconds: float = 0.0
    content: str = ""
    body: bytes = b""
    content_type: str = ""


@dataclass
class _State:
    replies: deque[Reply] = field(default_factory=deque)
    faults: deque[_Fault] = field(default_factory=deque)
    requests: list[RecordedRequest] = field(default_factory=list)
    latency: float = 0.0


class FakeOpenAI:
    """Scriptable OpenAI-compatible server on 127.0.0.1 (random free port)."""

    def __init__(self, api_key: str = "sk-test", *, default_reply: Reply = "OK") -> None:
        self.api_key = api_key
        self.default_reply: Reply = default_reply
        self._state = _State()
        self._lock = threading.Lock()
        self._stopping = threading.Event()  # wakes hang()/latency() sleepers on stop()
        self._ids = itertools.count(1)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # quick shutdown() keeps the suite fast
            name=f"FakeOpenAI:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting -------------------------------------------------------------------------

    def script(self, *replies: Reply) -> Self:
        """Queue replies: str content, dict (JSON-encoded as content) or ``fn(body) -> str``."""
        with self._lock:
            self._state.replies.extend(replies)
        return self

    def latency(self, seconds: float) -> Self:
        """Delay every answer (errors included) by ``seconds``."""
        with self._lock:
            self._state.latency = seconds
        return self

    def fail(self, status: int = 429, *, times: int = 1, retry_after: float | None = None) -> Self:
        """Answer the next ``times`` model calls with an OpenAI error of HTTP ``status``."""
        return self._add(_Fault("fail", times, status=status, retry_after=retry_after))

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
        return self._add(_Fault("malformed", times, body=body, content_type=content_type))

    def malformed_json_content(self, *, times: int = 1, content: str = '{"truncated": ') -> Self:
        """A well-formed completion whose content is ``content`` (default: broken JSON).

        Pass e.g. ``content='{"unexpected": 1}'`` for valid JSON that misses the schema.
        """
        return self._add(_Fault("malformed_content", times, content=content))

    def clear_faults(self) -> Self:
        with self._lock:
            self._state.faults.clear()
        return self

    def reset(self) -> Self:
        """Forget replies, faults, latency and recorded requests (keeps the server up)."""
        with self._lock:
            self._state = _State()
        return self

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._state.requests)

    @property
    def last_request(self) -> RecordedRequest:
        with self._lock:
            if not self._state.requests:
                raise AssertionError("FakeOpenAI has received no requests")
            return self._state.requests[-1]

    # -- internals used by the handler -----------------------------------------------------

    def _add(self, fault: _Fault) -> Self:
        if fault.remaining < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._state.faults.append(fault)
        return self

    def _record(self, request: RecordedRequest) -> float:
        with self._lock:
            self._state.requests.append(request)
            return self._state.latency

    def _next_fault(self) -> _Fault | None:
        with self._lock:
            faults = self._state.faults
            if not faults:
                return None
            fault = faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                faults.popleft()
            return fault

    def _next_content(self, body: dict[str, Any]) -> str:
        with self._lock:
            reply = self._state.replies.popleft() if self._state.replies else self.default_reply
        # Callables run outside the lock so they may inspect fake.requests themselves.
        if callable(reply):
            reply = reply(body)
        if isinstance(reply, str):
            return reply
        return json.dumps(reply, ensure_ascii=False)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):06d}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hung handler must never block interpreter exit
    fake: FakeOpenAI

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out close their socket mid-answer; that is expected, not noise.
        pass


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


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # HTTP/1.0: one request per connection, so no handler thread lingers on keep-alive
    # sockets after stop().
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        fake = self.server.fake
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        if "authorization" in headers:
            headers["authorization"] = "<redacted>"
        path = self.path.split("?", 1)[0]
        latency = fake._record(
            RecordedRequest(self.command, path, headers, body, raw, time.monotonic())
        )
        if latency and fake._stopping.wait(latency):
            return

        route = (self.command, path)
        if self.headers.get("authorization") != f"Bearer {fake.api_key}":
            msg = "Incorrect API key provided. You can find your API key in your dashboard."
            self._json(401, _error(msg, "invalid_request_error", "invalid_api_key"))
        elif route == ("GET", "/v1/models"):
            self._json(200, {"object": "list", "data": [_model(DEFAULT_MODEL)]})
        elif self.command == "GET" and path.startswith("/v1/models/"):
            self._json(200, _model(path.removeprefix("/v1/models/")))  # models.retrieve()
        elif route not in {("POST", "/v1/chat/completions"), ("POST", "/v1/responses")}:
            self._json(404, _error(f"Invalid URL ({self.command} {path})", "invalid_request_error"))
        elif not isinstance(body, dict):
            msg = "We could not parse the JSON body of your request."
            self._json(400, _error(msg, "invalid_request_error"))
        else:
            self._model_call(path, body)

    def _model_call(self, path: str, body: dict[str, Any]) -> None:
        fake = self.server.fake
        fault = fake._next_fault()
        if fault is not None and fault.kind == "hang":
            fake._stopping.wait(fault.seconds)
            self.close_connection = True  # no status line at all: a dropped connection
        elif fault is not None and fault.kind == "fail":
            self._fail(fault)
        elif fault is not None and fault.kind == "malformed":
            self._send(200, fault.body, fault.content_type)
        else:
            content = fault.content if fault is not None else fake._next_content(body)
            if path == "/v1/responses" and body.get("stream"):
                msg = "FakeOpenAI does not implement streaming for /v1/responses."
                self._json(400, _error(msg, "invalid_request_error", param="stream"))
            elif path == "/v1/responses":
                self._json(200, _response(fake, body, content))
            elif body.get("stream"):
                self._stream_chat(body, content)
            else:
                self._json(200, _chat_completion(fake, body, content))

    def _fail(self, fault: _Fault) -> None:
        status = fault.status
        generic = ("server_error" if status >= 500 else "invalid_request_error", None)
        type_, code = _STATUS_ERRORS.get(status, generic)
        reason = self.responses.get(status, ("Error",))[0]
        headers = {}
        if fault.retry_after is not None:
            # openai parses retry-after as a float of seconds, so fractions keep tests fast.
            headers["retry-after"] = format(fault.retry_after, "g")
        self._json(status, _error(f"FakeOpenAI injected {status} {reason}", type_, code), headers)

    def _stream_chat(self, body: dict[str, Any], content: str) -> None:
        fake = self.server.fake
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
        self._send(200, (payload + "data: [DONE]\n\n").encode(), "text/event-stream")

    def _json(self, status: int, obj: object, headers: dict[str, str] | None = None) -> None:
        # ensure_ascii=False: non-ASCII goes over the wire as real UTF-8, like the real API.
        data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self._send(status, data, "application/json; charset=utf-8", headers)

    def _send(
        self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(data)))
            self.send_header("x-request-id", self.server.fake._new_id("req"))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout); nothing left to tell it


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
