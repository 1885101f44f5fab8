"""FakeSlack (the Slack emulator): a real HTTP server speaking the Slack Web API wire format.

Point the *real* `slack_sdk.WebClient(base_url=fake.api_url, token=...)` at it, so the bot's
serialisation, error handling and retry handlers run exactly as in production:

    with FakeSlack() as slack:
        client = WebClient(base_url=slack.api_url, token="xoxb-test")
        client.chat_postMessage(channel="#general", text="hi")
        assert slack.messages("general")[0]["text"] == "hi"

State/inspection lives in `slack_workspace`, methods in `slack_methods`, payload rules in
`slack_validation`, fault injection in `slack_faults`.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bot.slack_emulator.faults import STATUS_ERRORS, Fault, FaultBook
from bot.slack_emulator.methods import WebApiMethods
from bot.slack_emulator.validation import ApiError, decode_json_fields

__all__ = ["ApiError", "FakeSlack"]

log = logging.getLogger(__name__)

# (HTTP status, JSON body, extra headers)
Reply = tuple[int, dict[str, Any], dict[str, str]]


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hung handler must never keep the test process alive
    fake: FakeSlack

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        # Clients that timed out (hang faults) close their socket before we answer; that is the
        # scenario under test, not a failure worth a traceback. Anything else is a fake bug.
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        self.fake.internal_errors.append(repr(exc))
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers on stop()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # Slack accepts GET with query params for read methods
        self.do_POST()

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        fake = self.server.fake
        if url.path.startswith("/api/"):
            reply = fake._handle_api(url.path[len("/api/") :], url.query, raw, self.headers)
        elif url.path.startswith("/response/"):
            reply = fake._handle_response_url(url.path[len("/response/") :], raw)
        else:
            reply = (404, {"ok": False, "error": "not_found"}, {})
        self._send(*reply)

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        # ensure_ascii=False: what goes out is the stored text, byte for byte, as UTF-8.
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Slack-Req-Id", secrets.token_hex(8))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout) - exactly like a real network


class FakeSlack(WebApiMethods):
    """In-process Slack Web API. Thread-safe; use as a context manager or start()/stop()."""

    def __init__(
        self,
        bot_token: str = "xoxb-test",
        team_id: str = "T0001",
        bot_user_id: str = "U0BOT",
        **options: Any,
    ) -> None:
        super().__init__(bot_token, team_id, bot_user_id, **options)
        self._faults = FaultBook()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        # Crashes inside the fake itself; a healthy test run leaves this empty.
        self.internal_errors: list[str] = []

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> FakeSlack:
        if self._server is None:
            self._stopping.clear()
            self._server = _Server(("127.0.0.1", 0), _Handler)
            self._server.fake = self
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.01},
                name="FakeSlack",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes any handler sleeping in a hang fault
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeSlack is not running; call start() or use `with`")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def api_url(self) -> str:
        """Base URL for WebClient(base_url=...); trailing slash like https://slack.com/api/."""
        return f"{self.url}api/"

    # ----------------------------------------------------------------- faults
    def fail(
        self,
        method: str,
        status: int | None = None,
        retry_after: int | None = 1,
        times: int | None = 1,
        channel: str | None = None,
        *,
        error: str | None = None,
    ) -> None:
        """Make the next `times` calls (None = until clear_faults) of `method` ("*" = any)
        fail without side effects. `error` alone -> HTTP 200 {"ok": false, "error": error};
        otherwise HTTP `status` (default 429, with Retry-After) and Slack's error body."""
        if status is None:
            status = 200 if error else 429
        if status == 200 and not error:
            raise ValueError("status=200 needs an error string")
        self._faults.add(
            Fault(
                method=method,
                channel=_norm(channel),
                remaining=times,
                status=status,
                error=error or STATUS_ERRORS.get(status, f"http_{status}"),
                retry_after=retry_after if status == 429 else None,
            )
        )

    def hang(
        self,
        method: str,
        seconds: float,
        times: int | None = 1,
        channel: str | None = None,
        *,
        process: bool = True,
    ) -> None:
        """Stall before answering so the client's timeout fires. With `process=True` the call
        still takes effect afterwards - as on real Slack, where a timed-out post may land,
        which is what idempotency tests need. `process=False` drops it (HTTP 504)."""
        if seconds <= 0:
            raise ValueError("seconds must be positive")
        self._faults.add(
            Fault(
                method=method,
                channel=_norm(channel),
                remaining=times,
                hang_seconds=seconds,
                process_after_hang=process,
            )
        )

    def rate_limit(
        self,
        method: str = "chat.postMessage",
        per_channel_per_second: float = 1.0,
        burst: int = 1,
    ) -> None:
        """Token bucket per (method, channel): beyond it, 429 with an honest Retry-After."""
        self._faults.add_rate_limit(method, per_channel_per_second, burst)

    def clear_faults(self) -> None:
        self._faults.clear()

    def reset(self, full: bool = False) -> None:
        super().reset(full)
        self._faults.clear()

    def issue_response_url(
        self, channel: str, user: str = "U1", message_ts: str | None = None
    ) -> str:
        """A response_url like the ones in command/action payloads, served by this fake."""
        with self._lock:
            try:
                cid = self._channel_id(channel)
            except ApiError:
                cid = channel  # a payload may name a channel the test never seeded; fail on use
            hook_id = secrets.token_hex(8)
            self._response_urls[hook_id] = {"channel": cid, "user": user, "message_ts": message_ts}
        return f"{self.url}response/{hook_id}"

    # ----------------------------------------------------------------- request handling
    def _channel_keys(self, params: dict[str, Any]) -> tuple[list[str], str | None]:
        """Every spelling of the target channel (for fault matching) and its id if known."""
        raw = params.get("channel")
        if not isinstance(raw, str) or not raw:
            return [], None
        keys, cid = [raw, raw.removeprefix("#")], None
        with self._lock:
            for ch_id, ch in self._channels.items():
                if ch_id == raw or (ch.get("name") == raw.removeprefix("#") and not ch["is_im"]):
                    cid = ch_id
                    keys += [ch_id, ch.get("name") or ch_id]
                    break
        return keys, cid

    def _pre_checks(self, method: str, params: dict[str, Any]) -> Reply | None:
        """Injected misbehaviour, evaluated before the call may touch any state."""
        keys, cid = self._channel_keys(params)
        hang = self._faults.take_hang(method, keys)
        if hang is not None:
            self._stopping.wait(hang.hang_seconds)
            if not hang.process_after_hang:
                return 504, {"ok": False, "error": STATUS_ERRORS[504]}, {}
        fault = self._faults.take_failure(method, keys)
        if fault is not None:
            headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
            return fault.status, {"ok": False, "error": fault.error}, headers
        retry_after = self._faults.throttle(method, cid or params.get("channel"))
        if retry_after is not None:
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}
        return None

    def _handle_api(self, method: str, query: str, raw: bytes, headers: Any) -> Reply:
        params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        decode_error: ApiError | None = None
        try:
            params.update(_parse_body(raw, headers.get("Content-Type", "")))
            decode_json_fields(params)
        except ApiError as exc:
            decode_error = exc
        auth = headers.get("Authorization") or ""
        token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else None
        token = token or params.pop("token", None)
        params.pop("token", None)
        with self._lock:
            self._calls.append((method, json.loads(json.dumps(params))))
        handler = _handler_for(self, method)
        if handler is None:
            return 404, {"ok": False, "error": "unknown_method"}, {}
        early = self._pre_checks(method, params)
        if early is not None:
            return early
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if token != self.bot_token:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        if decode_error is not None:
            return 200, {"ok": False, "error": decode_error.error, **decode_error.extra}, {}
        try:
            with self._lock:
                result = handler(params)
        except ApiError as exc:
            return 200, {"ok": False, "error": exc.error, **exc.extra}, {}
        except Exception as exc:  # a fake bug must be loud, not a silent hang
            log.exception("FakeSlack %s crashed", method)
            self.internal_errors.append(f"{method}: {exc!r}")
            return 500, {"ok": False, "error": "fatal_error", "detail": repr(exc)}, {}
        return 200, {"ok": True, **result}, {}

    def _handle_response_url(self, hook_id: str, raw: bytes) -> Reply:
        with self._lock:
            self._calls.append(("response_url", {"hook": hook_id}))
            hook = self._response_urls.get(hook_id)
        if hook is None:
            return 404, {"ok": False, "error": "expired_url"}, {}
        try:
            body = _parse_body(raw, "application/json")
            decode_json_fields(body)
        except ApiError as exc:
            return 400, {"ok": False, "error": exc.error}, {}
        early = self._pre_checks("response_url", {"channel": hook["channel"]})
        if early is not None:
            return early
        try:
            with self._lock:
                self._apply_response_url(hook, body)
        except ApiError as exc:
            return 400, {"ok": False, "error": exc.error}, {}
        return 200, {"ok": True}, {}


# Slack method names are dotted camelCase; anything else (e.g. chat.post_message) is unknown.
_METHOD_NAME = re.compile(r"^[a-z]+(?:\.[a-z][A-Za-z]*)+$")


def _handler_for(fake: FakeSlack, method: str) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    if not _METHOD_NAME.match(method):
        return None
    snake = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", method.replace(".", "_")).lower()
    handler = getattr(fake, "api_" + snake, None)
    return handler if callable(handler) else None


def _norm(channel: str | None) -> str | None:
    return channel.removeprefix("#") if channel else None


def _parse_body(raw: bytes, content_type: str) -> dict[str, Any]:
    """Slack takes JSON or form bodies. WebClient labels *every* request as JSON (even
    body-less GET-style calls), so an empty body is fine whatever the header says."""
    if not raw.strip():
        return {}
    if content_type.split(";")[0].strip().lower() == "application/json":
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ApiError("invalid_json") from exc
        if not isinstance(body, dict):
            raise ApiError("invalid_json")
        return body
    return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
