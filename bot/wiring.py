"""Builds the long-lived pieces each process mode needs from settings and config."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from flask import Blueprint, Response, jsonify
from handlers.classify_offline import OfflineClassifier
from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from bot.config import Settings
from bot.config_schema import TeamConfig
from bot.intake import Intake
from bot.outbox import OutboxDrainer
from bot.sources.webhook import webhook_blueprint

log = logging.getLogger(__name__)


@dataclass
class BackgroundDrainer:
    drainer: OutboxDrainer
    thread: threading.Thread
    stop_event: threading.Event = field(default_factory=threading.Event)

    def stop(self) -> None:
        self.stop_event.set()
        self.drainer.wake.set()
        self.thread.join(timeout=15)


def make_intake(engine: Engine, team: TeamConfig, drainer: OutboxDrainer | None = None) -> Intake:
    wake = (lambda _result: drainer.wake.set()) if drainer else None
    return Intake(engine, team, OfflineClassifier(), on_ingested=wake)


def make_drainer(engine: Engine, settings: Settings, team: TeamConfig) -> OutboxDrainer:
    # No automatic retries inside the client: a retried chat.postMessage can post twice.
    # The drainer retries itself, after checking Slack for the first attempt's message.
    client = WebClient(
        token=settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None,
        base_url=settings.slack_api_url,
        timeout=15,
        retry_handlers=[],
    )
    return OutboxDrainer(
        engine,
        client,
        team,
        lease_seconds=team.outbox.lease_seconds,
        settle_seconds=team.outbox.settle_seconds,
    )


def start_drainer(drainer: OutboxDrainer) -> BackgroundDrainer:
    stop = threading.Event()
    thread = threading.Thread(target=drainer.run, args=(stop,), name="outbox", daemon=True)
    background = BackgroundDrainer(drainer, thread, stop)
    thread.start()
    return background


def webhook_routes(settings: Settings, team: TeamConfig, intake: Intake) -> Blueprint:
    secret = settings.threadline_webhook_secret
    if secret and team.sources.webhook.enabled:
        return webhook_blueprint(secret.get_secret_value(), intake)
    closed = Blueprint("webhook", __name__)

    @closed.post("/ingest/webhook")
    def webhook_disabled() -> tuple[Response, int]:
        reason = (
            "set THREADLINE_WEBHOOK_SECRET to enable it"
            if team.sources.webhook.enabled
            else "disabled in threadline.toml ([sources.webhook] enabled = false)"
        )
        return jsonify(error=f"the webhook is closed: {reason}"), 404

    return closed
