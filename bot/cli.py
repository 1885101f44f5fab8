"""The `threadline` command line (Typer). Each command is a thin shell over bot/ and storage/."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from slack_bolt import App
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine

from bot import cli_digest
from bot import doctor as doctor_checks
from bot.config import (
    SLACK_SETUP_HINT,
    ConfigError,
    LoadedConfig,
    Settings,
    load_settings,
    load_team_config,
)
from bot.config_schema import TeamConfig
from bot.listeners import ListenerContext
from bot.logs import configure_logging
from bot.runtime import build_scheduler, prepare_database, verify_slack_token, wait_for_shutdown
from bot.slack_app import build_slack_app, make_web_client
from bot.web import create_web_app, start_http_server
from bot.wiring import (
    listener_context,
    make_drainer,
    make_intake,
    make_reply_drainer,
    register_jobs,
    start_drainer,
    start_sources,
    watched_sources,
    webhook_routes,
)
from storage import migrate as migrations
from storage.db import DatabaseError, redact_url, session_scope
from storage.outbox_queries import retry_parked

app = typer.Typer(
    help="Threadline: a social CRM that lives in Slack.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = logging.getLogger("threadline")


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"threadline: {message}", err=True)
    return typer.Exit(code)


def _boot() -> tuple[Settings, LoadedConfig]:
    try:
        settings = load_settings()
        loaded = load_team_config(settings)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    configure_logging(settings.log_level, settings.secret_values())
    return settings, loaded


def _require_slack(settings: Settings, *, need_signing_secret: bool = False) -> None:
    missing = settings.missing_for_slack()
    if need_signing_secret and not settings.slack_signing_secret:
        missing = [m for m in missing if "SLACK_APP_TOKEN" not in m] + ["SLACK_SIGNING_SECRET"]
    if missing:
        lines = "\n".join(f"  - {name}" for name in missing)
        raise _fail(
            f"Slack is not configured. Missing environment variables:\n{lines}\n"
            f"How to get them: {SLACK_SETUP_HINT}.\n"
            "Put them in the environment or in a .env file here "
            "(README.md, 'Slack app set-up', walks through it).",
            code=1,
        )


def _listeners(
    engine: Engine, team: TeamConfig, settings: Settings, replies: object = None
) -> ListenerContext:
    try:
        return listener_context(engine, team, replies, settings)  # type: ignore[arg-type]
    except ConfigError as exc:
        raise _fail(str(exc)) from None


def _slack_error(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error"))
    return type(exc).__name__


def _database(settings: Settings) -> Engine:
    try:
        return prepare_database(settings)
    except DatabaseError as exc:
        raise _fail(str(exc)) from None


def _no_slack_credentials(settings: Settings) -> bool:
    return not (
        settings.slack_bot_token or settings.slack_app_token or settings.slack_signing_secret
    )


def _sandbox_instead(settings: Settings, loaded: LoadedConfig) -> None:
    typer.echo(
        "No Slack credentials are set (SLACK_BOT_TOKEN, SLACK_APP_TOKEN, "
        "SLACK_SIGNING_SECRET): starting the local sandbox instead.\n"
        f"To connect a real workspace: {SLACK_SETUP_HINT}."
    )
    _run_sandbox(settings, loaded, reset=False, port=None)


@app.command()
def run(
    no_sandbox: Annotated[
        bool,
        typer.Option(
            "--no-sandbox", help="Without Slack credentials, fail instead of starting the sandbox."
        ),
    ] = False,
) -> None:
    """Everything in one process: Slack (Socket Mode or HTTP), sources, scheduler, outbox.
    With no Slack credentials at all, it starts the local sandbox instead."""
    settings, loaded = _boot()
    if _no_slack_credentials(settings) and not no_sandbox:
        _sandbox_instead(settings, loaded)
        return
    _require_slack(settings)
    engine = _database(settings)
    client = make_web_client(settings)
    try:
        who = verify_slack_token(client)
    except ConfigError as exc:
        raise _fail(str(exc), code=1) from None
    drainer = start_drainer(make_drainer(engine, settings, loaded.team))
    sources = watched_sources(engine, settings, loaded.team)
    replies = start_drainer(make_reply_drainer(engine, settings, loaded.team, sources))
    slack_app = build_slack_app(
        settings,
        loaded.team,
        client=client,
        listeners=_listeners(engine, loaded.team, settings, replies.drainer),
    )
    intake = make_intake(engine, loaded.team, drainer.drainer, settings)  # type: ignore[arg-type]
    runner = start_sources(sources, intake, engine)
    scheduler = build_scheduler(loaded)
    register_jobs(scheduler, engine, settings, loaded.team)
    scheduler.start()
    web = create_web_app(
        engine, slack_app, blueprints=(webhook_routes(settings, loaded.team, intake),)
    )
    server = start_http_server(web, settings.host, settings.port)
    log.info("connected to Slack as @%s in %s; HTTP on %s", who["user"], who["team"], server.url)
    try:
        if settings.slack_app_token:
            _connect_socket_mode(slack_app, settings)
        wait_for_shutdown()
    finally:
        server.stop()
        runner.stop()
        drainer.stop()
        replies.stop()
        scheduler.shutdown(wait=False)


def _connect_socket_mode(slack_app: App, settings: Settings) -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    assert settings.slack_app_token is not None
    socket = SocketModeHandler(slack_app, settings.slack_app_token.get_secret_value())
    try:
        socket.connect()
    except (SlackApiError, OSError) as exc:
        raise _fail(
            f"Socket Mode connection failed ({_slack_error(exc)}); check "
            "SLACK_APP_TOKEN (xapp-…, scope connections:write)",
            code=1,
        ) from None
    log.info("Slack Socket Mode connected")


@app.command()
def sandbox(
    reset: Annotated[
        bool, typer.Option("--reset", help="Delete the sandbox's SQLite file and start fresh.")
    ] = False,
    port: Annotated[
        int | None, typer.Option(help="Port to serve on (default: PORT, else 3000).", min=0)
    ] = None,
) -> None:
    """The bot against a local Slack emulator, with a browser UI: no accounts needed."""
    settings, loaded = _boot()
    _run_sandbox(settings, loaded, reset=reset, port=port)


def _run_sandbox(
    settings: Settings, loaded: LoadedConfig, *, reset: bool, port: int | None
) -> None:
    from bot.sandbox import runner

    try:
        if reset:
            removed = runner.reset_database(runner.database_url(settings))
            names = ", ".join(str(p) for p in removed) or "nothing to delete"
            typer.echo(f"--reset: starting fresh ({names}).")
        started = runner.start_sandbox(
            settings, loaded, host=settings.host, port=settings.port if port is None else port
        )
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    except DatabaseError as exc:
        raise _fail(str(exc)) from None
    # The generated signing and webhook secrets are secrets too: keep them out of the log.
    configure_logging(settings.log_level, started.config.secret_values())
    drafts = "OpenAI" if settings.openai_api_key else "the offline template drafter"
    typer.echo(
        f"Threadline sandbox is running: open {started.url}\n"
        f"  database: {redact_url(started.engine.url)}  drafts: {drafts}  (Ctrl-C to stop)"
    )
    try:
        wait_for_shutdown()
    finally:
        started.stop()


@app.command()
def serve() -> None:
    """HTTP only: /slack/events, /ingest/webhook, /healthz, /metrics (the Procfile's web)."""
    settings, loaded = _boot()
    _require_slack(settings, need_signing_secret=True)
    engine = _database(settings)
    intake = make_intake(engine, loaded.team, settings=settings)  # a worker drains the outbox
    web = create_web_app(
        engine,
        build_slack_app(settings, loaded.team, listeners=_listeners(engine, loaded.team, settings)),
        blueprints=(webhook_routes(settings, loaded.team, intake),),
    )
    server = start_http_server(web, settings.host, settings.port)
    log.info("serving HTTP on %s", server.url)
    try:
        wait_for_shutdown()
    finally:
        server.stop()


@app.command()
def worker() -> None:
    """Sources, scheduled jobs and the outbox (the Procfile's worker)."""
    settings, loaded = _boot()
    _require_slack(settings)
    engine = _database(settings)
    drainer = start_drainer(make_drainer(engine, settings, loaded.team))
    sources = watched_sources(engine, settings, loaded.team)
    replies = start_drainer(make_reply_drainer(engine, settings, loaded.team, sources))
    intake = make_intake(engine, loaded.team, drainer.drainer, settings)  # type: ignore[arg-type]
    runner = start_sources(sources, intake, engine)
    scheduler = build_scheduler(loaded)
    register_jobs(scheduler, engine, settings, loaded.team)
    scheduler.start()
    log.info("worker started; sources enabled: %s", ", ".join(loaded.team.sources.enabled()))
    try:
        wait_for_shutdown()
    finally:
        runner.stop()
        drainer.stop()
        replies.stop()
        scheduler.shutdown(wait=False)


@app.command()
def migrate() -> None:
    """Apply pending database migrations."""
    settings, _ = _boot()
    engine = _database(settings)
    revision = migrations.current_revision(engine)
    typer.echo(f"database {redact_url(engine.url)} is at revision {revision} (head)")


@app.command("outbox-retry")
def outbox_retry() -> None:
    """Put parked Slack posts back in the queue (after fixing what `doctor` reported)."""
    settings, _ = _boot()
    engine = _database(settings)
    with session_scope(engine, write=True) as session:
        count = retry_parked(session)
    typer.echo(f"{count} parked post(s) returned to the queue; a running worker sends them.")


@app.command()
def doctor(
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each service.")] = 5.0,
) -> None:
    """Check config, database, Slack, OpenAI and each enabled source; print OK/FAIL with fixes."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    configure_logging("WARNING", settings.secret_values())
    checks = doctor_checks.run_checks(settings, timeout=timeout)
    typer.echo(doctor_checks.render_table(checks))
    failed = sum(c.status is doctor_checks.Status.FAIL for c in checks)
    typer.echo(f"\n{failed} problem(s) found." if failed else "\nAll good.")
    raise typer.Exit(1 if failed else 0)


cli_digest.register(app, _boot, _database)
