"""Builds the long-lived pieces each process mode needs from settings and config."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from apscheduler.schedulers.base import BaseScheduler
from flask import Blueprint, Response, jsonify
from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from bot.config import ConfigError, Settings
from bot.config_schema import TeamConfig
from bot.delivery import ReplyDrainer
from bot.digest_job import register_digest_job
from bot.intake import Intake
from bot.listeners import ListenerContext
from bot.llm import OpenAIClassifier, OpenAIDrafter, make_client
from bot.outbox import OutboxDrainer
from bot.sla_job import register_sla_job
from bot.sources.base import SourceAdapter, WatchedSource
from bot.sources.cursors import CursorStore
from bot.sources.leader import SourceLeadership
from bot.sources.registry import SourceContext, build_watched_sources
from bot.sources.runner import SourceRunner
from bot.sources.webhook import webhook_blueprint
from bot.sources.webhook_reply import WebhookReplySender
from handlers.classify import Classifier
from handlers.classify_offline import OfflineClassifier
from handlers.drafting import Drafter, TemplateDrafter
from prompts import read_prompt

log = logging.getLogger(__name__)


class Drainer(Protocol):
    wake: threading.Event

    def run(self, stop: threading.Event, idle_seconds: float = 0.5) -> None: ...


@dataclass
class BackgroundDrainer:
    drainer: Drainer
    thread: threading.Thread
    stop_event: threading.Event = field(default_factory=threading.Event)

    def stop(self) -> None:
        self.stop_event.set()
        self.drainer.wake.set()
        self.thread.join(timeout=15)


def make_intake(
    engine: Engine,
    team: TeamConfig,
    drainer: OutboxDrainer | None = None,
    settings: Settings | None = None,
) -> Intake:
    wake = (lambda _result: drainer.wake.set()) if drainer else None
    return Intake(engine, team, make_classifier(settings, team), on_ingested=wake)


def make_classifier(settings: Settings | None, team: TeamConfig) -> Classifier:
    offline = OfflineClassifier()
    if settings is None or settings.openai_api_key is None:
        return offline
    # Triage runs while a webhook sender waits: a short timeout, one retry, then offline.
    client = make_client(
        settings.openai_api_key.get_secret_value(),
        settings.openai_base_url,
        timeout=8.0,
        max_retries=1,
    )
    return OpenAIClassifier(
        client, settings.openai_model, offline, send_pii=team.privacy.send_pii_to_llm
    )


def brand_text(team: TeamConfig) -> str:
    if team.drafts.brand_file is None:
        return read_prompt("brand.md")
    path = Path(team.drafts.brand_file)
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"drafts.brand_file {path}: cannot read it ({exc})") from None


def make_drafter(settings: Settings | None, team: TeamConfig) -> Drafter:
    offline = TemplateDrafter()
    if settings is None or settings.openai_api_key is None:
        return offline
    client = make_client(
        settings.openai_api_key.get_secret_value(),
        settings.openai_base_url,
        timeout=team.drafts.timeout_seconds,
        max_retries=2,
    )
    return OpenAIDrafter(
        client,
        settings.openai_model,
        brand_text(team),
        offline,
        send_pii=team.privacy.send_pii_to_llm,
    )


def drainer_client(settings: Settings) -> WebClient:
    # No automatic retries inside the client: a retried chat.postMessage can post twice.
    # The drainer retries itself, after checking Slack for the first attempt's message.
    return WebClient(
        token=settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None,
        base_url=settings.slack_api_url,
        timeout=15,
        retry_handlers=[],
    )


def make_drainer(engine: Engine, settings: Settings, team: TeamConfig) -> OutboxDrainer:
    client = drainer_client(settings)
    return OutboxDrainer(
        engine,
        client,
        team,
        lease_seconds=team.outbox.lease_seconds,
        settle_seconds=team.outbox.settle_seconds,
    )


def reply_adapters(
    settings: Settings, team: TeamConfig, watched: Sequence[WatchedSource] = ()
) -> dict[str, SourceAdapter]:
    """Who answers on which network: the webhook's reply_url, and each watched source."""
    adapters: dict[str, SourceAdapter] = {source.name: source for source in watched}
    if settings.threadline_webhook_secret:
        adapters["webhook"] = WebhookReplySender(
            settings.threadline_webhook_secret.get_secret_value(),
            timeout=team.sources.webhook.reply_timeout_seconds,
        )
    return adapters


def make_reply_drainer(
    engine: Engine,
    settings: Settings,
    team: TeamConfig,
    watched: Sequence[WatchedSource] = (),
) -> ReplyDrainer:
    return ReplyDrainer(
        engine,
        drainer_client(settings),
        team,
        reply_adapters(settings, team, watched),
        lease_seconds=team.outbox.lease_seconds,
    )


def watched_sources(engine: Engine, settings: Settings, team: TeamConfig) -> list[WatchedSource]:
    return build_watched_sources(SourceContext(settings, team, CursorStore(engine)))


def start_sources(
    sources: Sequence[WatchedSource], intake: Intake, engine: Engine
) -> SourceRunner:
    """Read the networks; with several workers on PostgreSQL, only one of them does."""
    return SourceRunner(list(sources), intake, leadership=SourceLeadership(engine)).start()


def listener_context(
    engine: Engine,
    team: TeamConfig,
    replies: ReplyDrainer | None = None,
    settings: Settings | None = None,
) -> ListenerContext:
    wake = replies.wake.set if replies else (lambda: None)
    return ListenerContext(
        engine=engine, team=team, drafter=make_drafter(settings, team), on_send=wake
    )


def register_jobs(
    scheduler: BaseScheduler, engine: Engine, settings: Settings, team: TeamConfig
) -> None:
    """The worker's periodic jobs; each is idempotent in the database, so several workers
    (or a restart) never send a digest or a nudge twice."""
    register_digest_job(scheduler, engine, drainer_client(settings), team)
    register_sla_job(scheduler, engine, team)


def start_drainer(drainer: Drainer) -> BackgroundDrainer:
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
