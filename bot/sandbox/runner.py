"""`threadline sandbox`: the whole bot, wired as `threadline run` wires it, against a local
Slack emulator instead of slack.com, with a browser UI at /sandbox on the same server."""

from __future__ import annotations

import logging
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

from bot.config import ConfigError, LoadedConfig, Settings
from bot.config_schema import TeamConfig
from bot.runtime import build_scheduler, prepare_database
from bot.sandbox.routes import SandboxSession, sandbox_blueprint
from bot.sandbox.workspace import SANDBOX_USER, SandboxSlack
from bot.slack_app import build_slack_app, make_web_client
from bot.web import RunningServer, create_web_app, start_http_server
from bot.wiring import (
    BackgroundDrainer,
    listener_context,
    make_drainer,
    make_intake,
    make_reply_drainer,
    register_jobs,
    start_drainer,
    webhook_routes,
)

log = logging.getLogger(__name__)

SANDBOX_DB = "threadline-sandbox.db"
HTTP_THREADS = 16  # a click's request waits on /slack/events served by the same server

# The team the sandbox runs when there is no threadline.toml: as in tests/pipeline.py, with
# the person at the keyboard as its manager and admin.
SANDBOX_TEAM: dict[str, Any] = {
    "channels": {"support": "#support", "product": "#product", "sales": "#sales"},
    "slack": {"posts_per_second": 20, "post_burst": 20},
    "tags": {"allowed": ["bug", "billing", "refund", "vip", "lead", "login"]},
    "managers": [{"slack_id": SANDBOX_USER}],
    "staff": {"admins": [SANDBOX_USER]},
    "outbox": {"settle_seconds": 1.0},
    "routing": {
        "default_channel": "support",
        "influencer_followers": 10_000,
        "rules": [
            {
                "name": "product complaints",
                "channel": "support",
                "notify": ["product"],
                "tags": ["bug"],
                "match": {"intents": ["complaint"]},
            },
            {"name": "buying", "channel": "sales", "match": {"intents": ["purchase_intent"]}},
        ],
    },
}


def sandbox_team(loaded: LoadedConfig) -> TeamConfig:
    """The operator's threadline.toml when there is one, else the built-in sandbox team."""
    if loaded.path is not None:
        return loaded.team
    return TeamConfig.model_validate(SANDBOX_TEAM)


def database_url(settings: Settings) -> str:
    """DATABASE_URL when it is set; else the sandbox's own SQLite file in this directory."""
    if "database_url" in settings.model_fields_set:
        return settings.database_url
    return f"sqlite:///{SANDBOX_DB}"


def reset_database(url: str) -> list[Path]:
    """Delete the sandbox's SQLite file (and its WAL files). Only SQLite: a server
    database named by DATABASE_URL is never dropped by a convenience flag."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError("DATABASE_URL is not a database URL") from None
    if parsed.get_backend_name() != "sqlite":
        raise ConfigError(
            f"--reset only deletes a SQLite file, and DATABASE_URL is a "
            f"{parsed.get_backend_name()} database: unset DATABASE_URL to use "
            f"./{SANDBOX_DB}, or empty that database yourself"
        )
    if not parsed.database or parsed.database == ":memory:":
        return []
    base = Path(parsed.database)
    removed = []
    for path in (base, *(Path(f"{base}{suffix}") for suffix in ("-wal", "-shm", "-journal"))):
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed


def _channel_names(team: TeamConfig) -> list[str]:
    return [target.removeprefix("#") for target in team.channels.values()]


@dataclass
class RunningSandbox:
    url: str  # the page
    server: RunningServer
    slack: SandboxSlack
    session: SandboxSession
    engine: Engine
    config: Settings  # what the bot runs with: emulator URL, generated secrets
    stoppers: list[Any] = field(default_factory=list)

    def stop(self) -> None:
        _stop_all(self.stoppers)


def sandbox_settings(settings: Settings, slack: SandboxSlack) -> Settings:
    """The operator's settings with Slack pointed at the emulator and fresh secrets."""
    return settings.model_copy(
        update={
            "slack_bot_token": SecretStr(slack.bot_token),
            "slack_app_token": None,
            "slack_signing_secret": SecretStr(secrets.token_hex(16)),
            "slack_api_url": slack.api_url,
            "threadline_webhook_secret": SecretStr(secrets.token_hex(16)),
            "database_url": database_url(settings),
        }
    )


def check_port_free(host: str, port: int) -> None:
    """Fail before starting anything: waitress starts its worker threads before it binds,
    and leaves them running when the bind fails."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as waitress does
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
                "pass --port N or set PORT to another port"
            ) from None


def start_sandbox(
    settings: Settings, loaded: LoadedConfig, *, host: str, port: int
) -> RunningSandbox:
    check_port_free(host, port)
    team = sandbox_team(loaded)
    slack = SandboxSlack(f"xoxb-sandbox-{secrets.token_hex(8)}", _channel_names(team)).start()
    stoppers: list[Any] = [slack.stop]
    try:
        config = sandbox_settings(settings, slack)
        engine = prepare_database(config)
        stoppers.append(engine.dispose)
        running = _start_bot(config, LoadedConfig(team, loaded.path), slack, engine, stoppers)
        server = start_http_server(running["web"], host, port, threads=HTTP_THREADS)
    except OSError as exc:
        _stop_all(stoppers)
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
            "pass --port N or set PORT to another port"
        ) from None
    except BaseException:
        _stop_all(stoppers)
        raise
    stoppers.append(server.stop)
    session: SandboxSession = running["session"]
    session.attach(server.url)
    return RunningSandbox(f"{server.url}/sandbox", server, slack, session, engine, config, stoppers)


def _stop_all(stoppers: list[Any]) -> None:
    """Last started, first stopped; each piece stops even if another one fails to."""
    while stoppers:
        stop = stoppers.pop()
        try:
            stop()
        except Exception:
            log.exception("while stopping the sandbox")


def _start_bot(
    config: Settings,
    loaded: LoadedConfig,
    slack: SandboxSlack,
    engine: Engine,
    stoppers: list[Any],
) -> dict[str, Any]:
    """What `threadline run` starts: outbox and reply drainers, scheduler, bolt app."""
    team = loaded.team
    drainer: BackgroundDrainer = start_drainer(make_drainer(engine, config, team))
    stoppers.append(drainer.stop)
    replies: BackgroundDrainer = start_drainer(make_reply_drainer(engine, config, team))
    stoppers.append(replies.stop)
    scheduler = build_scheduler(loaded)
    register_jobs(scheduler, engine, config, team)
    scheduler.start()
    stoppers.append(lambda: scheduler.shutdown(wait=False))
    slack_app = build_slack_app(
        config,
        team,
        client=make_web_client(config),
        listeners=listener_context(engine, team, replies.drainer, config),  # type: ignore[arg-type]
    )
    intake = make_intake(engine, team, drainer.drainer, config)  # type: ignore[arg-type]
    assert config.slack_signing_secret and config.threadline_webhook_secret
    session = SandboxSession(
        slack,
        config.slack_signing_secret.get_secret_value(),
        config.threadline_webhook_secret.get_secret_value(),
        command=team.slack.command,
    )
    web = create_web_app(
        engine,
        slack_app,
        blueprints=(webhook_routes(config, team, intake), sandbox_blueprint(session)),
    )
    return {"web": web, "session": session}
