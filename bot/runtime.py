"""Start-up and long-running modes shared by `run`, `serve` and `worker`."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine

from bot.config import ConfigError, LoadedConfig, Settings
from storage import migrate
from storage.db import check_connection, make_engine, redact_url

log = logging.getLogger(__name__)


def prepare_database(settings: Settings) -> Engine:
    """Connect, and bring the schema to the code's version before anything reads it."""
    engine = make_engine(settings.database_url)
    check_connection(engine)
    if migrate.pending(engine):
        log.info("applying database migrations to %s", redact_url(engine.url))
        migrate.upgrade(engine)
    return engine


def verify_slack_token(client: WebClient) -> dict[str, str]:
    try:
        auth = client.auth_test()
    except SlackApiError as exc:
        raise ConfigError(
            f"Slack refused SLACK_BOT_TOKEN ({exc.response.get('error')}); copy the Bot User "
            "OAuth Token again from your app's OAuth & Permissions page"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot reach Slack at {client.base_url}: {exc}") from None
    return {"user": str(auth.get("user")), "team": str(auth.get("team"))}


def build_scheduler(loaded: LoadedConfig) -> BackgroundScheduler:
    """The worker's scheduler. APScheduler's 1 s misfire grace would skip a 09:00 job after
    a restart at 09:00:02, so late runs are coalesced and still run within the hour."""
    return BackgroundScheduler(
        timezone=loaded.team.sla.timezone,
        job_defaults={"coalesce": True, "misfire_grace_time": 3600, "max_instances": 1},
    )


def wait_for_shutdown() -> None:
    """Block until SIGTERM or SIGINT (Procfile platforms stop processes with SIGTERM)."""
    stop = threading.Event()

    def _handle(signum: int, _frame: FrameType | None) -> None:
        log.info("received signal %s, shutting down", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _handle)
    signal.signal(signal.SIGINT, _handle)
    while not stop.wait(1.0):
        pass
