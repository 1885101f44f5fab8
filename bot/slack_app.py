"""The bolt app: thin listeners that ack, parse, call a handler and render."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.middleware.request_verification import RequestVerification
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler

from bot.commands_listener import register_command_listener
from bot.config import Settings
from bot.config_schema import TeamConfig
from bot.listeners import ListenerContext, register_conversation_listeners
from bot.listeners_events import register_event_listeners

log = logging.getLogger(__name__)


def make_web_client(settings: Settings, *, timeout: int = 10) -> WebClient:
    """A WebClient for SLACK_API_URL. 429s are left to the caller (the outbox schedules
    them) rather than slept on inside a request thread."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=timeout,
        retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1)],
    )


def build_slack_app(
    settings: Settings,
    team: TeamConfig,
    *,
    client: WebClient | None = None,
    process_before_response: bool = False,
    listeners: ListenerContext | None = None,
) -> App:
    signing = settings.slack_signing_secret
    app = TolerantApp(
        client=client or make_web_client(settings),
        signing_secret=signing.get_secret_value() if signing else None,
        # Socket Mode needs no signature; HTTP mode always verifies one.
        request_verification_enabled=signing is not None,
        # We check auth.test ourselves at start-up, with an operator-friendly message.
        token_verification_enabled=False,
        process_before_response=process_before_response,
        logger=logging.getLogger("threadline.slack"),
    )
    if signing is not None:
        _use_strict_verification(app, signing.get_secret_value())
    app.use(reject_malformed_payloads)
    register_listeners(app, team, listeners)
    if listeners is not None:
        register_conversation_listeners(app, listeners)
        register_event_listeners(app, listeners)
    return app


def register_listeners(
    app: App, team: TeamConfig, listeners: ListenerContext | None = None
) -> None:
    register_command_listener(app, team, listeners)


def payload_problem(body: Any) -> str | None:
    """What is wrong with the shape of a (signed) payload that bolt's matchers would trip
    over with a 500, or None. Real Slack payloads always pass."""
    if not isinstance(body, dict):
        return "not a JSON object"
    for key in ("user", "team", "channel", "container", "message", "event"):
        if body.get(key) is not None and not isinstance(body[key], dict):
            return f"{key} is not an object"
    actions = body.get("actions")
    if actions is not None and not (
        isinstance(actions, list)
        and all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions)
    ):
        return "actions is not a list of actions"
    if body.get("type") == "block_actions" and not actions:
        return "block_actions without actions"
    view = body.get("view")
    if "view" in body and not (isinstance(view, dict) and isinstance(view.get("type"), str)):
        return "view is not a view"
    if body.get("type") in ("view_submission", "view_closed") and view is None:
        return f"{body['type']} without a view"
    return None


def reject_malformed_payloads(
    body: dict[str, Any], next: Callable[[], BoltResponse]
) -> BoltResponse:
    problem = payload_problem(body)
    if problem is None:
        return next()
    log.warning("malformed Slack payload refused: %s", problem)
    return BoltResponse(status=400, body=json.dumps({"error": f"malformed payload: {problem}"}))


class TolerantApp(App):
    """bolt's App, answering 400 instead of crashing (a 500) when a payload it accepted
    lacks what bolt's own matchers assume, e.g. a `view` without `type`."""

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        try:
            return super().dispatch(req)
        except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
            log.warning(
                "Slack payload bolt cannot read (%s); answered 400",
                type(exc).__name__,
                exc_info=True,
            )
            return BoltResponse(status=400, body='{"error": "malformed Slack payload"}')


class StrictRequestVerification(RequestVerification):
    """Bolt's signature check, with two fixes: a missing or non-numeric timestamp header is
    refused with 401 (bolt's own check raises on `int("")` and answers 500), and a refused
    request's body, which holds customer text, is not written to the log."""

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        if not self._can_skip(req.mode, req.body):
            timestamp = (req.headers.get("x-slack-request-timestamp") or [""])[0]
            if not timestamp.strip().isdigit():
                self.logger.info("Slack request refused: missing or malformed timestamp")
                return self._build_error_response()
        return super().process(req=req, resp=resp, next=next)

    def _debug_log_error(self, signature: Any, timestamp: Any, body: Any) -> None:
        self.logger.info("Slack request refused: invalid signature (timestamp %s)", timestamp)


def _use_strict_verification(app: App, signing_secret: str) -> None:
    # bolt builds its verification middleware itself; replace that one instance in place,
    # so verification still runs first, before authorization and every listener.
    middleware = app._middleware_list
    for i, item in enumerate(middleware):
        if type(item) is RequestVerification:
            middleware[i] = StrictRequestVerification(signing_secret, base_logger=item.logger)
