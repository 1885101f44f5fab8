"""The bolt app: thin listeners that ack, parse, call a handler and render."""

from __future__ import annotations

import logging

from slack_bolt import App
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
    app = App(
        client=client or make_web_client(settings),
        signing_secret=signing.get_secret_value() if signing else None,
        # Socket Mode needs no signature; HTTP mode always verifies one.
        request_verification_enabled=signing is not None,
        # We check auth.test ourselves at start-up, with an operator-friendly message.
        token_verification_enabled=False,
        process_before_response=process_before_response,
        logger=logging.getLogger("threadline.slack"),
    )
    register_listeners(app, team, listeners)
    if listeners is not None:
        register_conversation_listeners(app, listeners)
        register_event_listeners(app, listeners)
    return app


def register_listeners(
    app: App, team: TeamConfig, listeners: ListenerContext | None = None
) -> None:
    register_command_listener(app, team, listeners)
