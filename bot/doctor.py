"""`threadline doctor`: check config and every connection, and say how to fix each failure."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import openai
from slack_sdk.errors import SlackApiError

from bot.config import SLACK_SETUP_HINT, ConfigError, LoadedConfig, Settings, load_team_config
from bot.slack_app import make_web_client
from bot.sources.base import SourceError, WatchedSource
from bot.sources.cursors import CursorStore
from bot.sources.registry import WATCHED, SourceContext, build_source
from storage import migrate
from storage.db import DatabaseError, check_connection, make_engine, redact_url, session_scope
from storage.outbox_queries import parked_summary


class Status(StrEnum):
    OK = "OK"
    FAIL = "FAIL"
    OFF = "OFF"  # not configured, and that is allowed


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


def run_checks(settings: Settings, *, timeout: float = 5.0) -> list[Check]:
    checks = [check_database(settings)]
    try:
        loaded = load_team_config(settings)
    except ConfigError as exc:
        checks.insert(0, Check("config", Status.FAIL, str(exc), "fix the key named above"))
        loaded = None
    else:
        where = str(loaded.path) if loaded.path else "built-in defaults (no threadline.toml)"
        rules = len(loaded.team.routing.rules)
        detail = f"{where}: {len(loaded.team.channels)} channel(s), {rules} routing rule(s)"
        checks.insert(0, Check("config", Status.OK, detail))
    checks += [check_slack_auth(settings, timeout), check_slack_transport(settings)]
    checks.append(check_openai(settings, timeout))
    if loaded is not None:
        checks += check_sources(settings, loaded, timeout * 2)
    return checks


def check_database(settings: Settings) -> Check:
    try:
        engine = make_engine(settings.database_url)
        sqlite_file = engine.url.get_backend_name() == "sqlite" and engine.url.database
        if sqlite_file and not Path(sqlite_file).exists():
            return Check(
                "database",
                Status.FAIL,
                f"{sqlite_file} does not exist yet",
                "run: threadline migrate (run, serve and worker also create it on start)",
            )
        check_connection(engine)
        current, head = migrate.current_revision(engine), migrate.head_revision()
    except DatabaseError as exc:
        return Check(
            "database", Status.FAIL, str(exc), "check DATABASE_URL and that the server runs"
        )
    where = redact_url(engine.url)
    with session_scope(engine) as session:
        parked, reason = parked_summary(session) if current == head else (0, None)
    engine.dispose()
    if parked:
        return Check(
            "database",
            Status.FAIL,
            f"{where}: {parked} Slack post(s) parked; latest: {reason}",
            "fix the cause (e.g. /invite the bot to the channel), then: threadline outbox-retry",
        )
    if current != head:
        return Check(
            "database",
            Status.FAIL,
            f"{where}: schema at {current or 'empty'}, code wants {head}",
            "run: threadline migrate",
        )
    return Check("database", Status.OK, f"{where} (schema {head})")


def check_slack_auth(settings: Settings, timeout: float) -> Check:
    if not settings.slack_bot_token:
        return Check("slack auth", Status.FAIL, "SLACK_BOT_TOKEN is not set", SLACK_SETUP_HINT)
    client = make_web_client(settings, timeout=max(1, int(timeout)))
    try:
        auth = client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error", exc.response.status_code)
        return Check(
            "slack auth",
            Status.FAIL,
            f"Slack refused the bot token: {error}",
            "copy the Bot User OAuth Token (xoxb-…) again from OAuth & Permissions",
        )
    except OSError as exc:
        return Check(
            "slack auth",
            Status.FAIL,
            f"cannot reach {settings.slack_api_url}: {exc}",
            "check network access to Slack (or SLACK_API_URL)",
        )
    return Check("slack auth", Status.OK, f"bot @{auth.get('user')} in team {auth.get('team')}")


def check_slack_transport(settings: Settings) -> Check:
    if settings.slack_app_token:
        return Check("slack transport", Status.OK, "Socket Mode (SLACK_APP_TOKEN)")
    if settings.slack_signing_secret:
        return Check(
            "slack transport", Status.OK, "HTTP mode, requests verified with the signing secret"
        )
    return Check(
        "slack transport",
        Status.FAIL,
        "neither SLACK_APP_TOKEN nor SLACK_SIGNING_SECRET is set",
        "set SLACK_APP_TOKEN (Basic Information → App-Level Tokens, scope connections:write)",
    )


def check_openai(settings: Settings, timeout: float) -> Check:
    if not settings.openai_api_key:
        return Check("openai", Status.OFF, "no OPENAI_API_KEY: drafts use the offline drafter")
    client = openai.OpenAI(
        api_key=settings.openai_api_key.get_secret_value(),
        base_url=settings.openai_base_url,
        timeout=timeout,
        max_retries=0,
    )
    where = settings.openai_base_url or "api.openai.com"
    try:
        client.models.list()
    except openai.AuthenticationError:
        return Check(
            "openai", Status.FAIL, f"{where} refused OPENAI_API_KEY", "check OPENAI_API_KEY"
        )
    except openai.APIError as exc:
        return Check(
            "openai",
            Status.FAIL,
            f"{where}: {type(exc).__name__}: {exc}",
            "check OPENAI_BASE_URL and that the server runs",
        )
    return Check("openai", Status.OK, f"{where}, model {settings.openai_model}")


def check_sources(settings: Settings, loaded: LoadedConfig, timeout: float = 10.0) -> list[Check]:
    enabled = set(loaded.team.sources.enabled())
    checks = [check_webhook(settings, "webhook" in enabled)]
    ctx = SourceContext(settings, loaded.team, CursorStore(make_engine(settings.database_url)))
    for name in WATCHED:
        label = f"source {name}"
        if name not in enabled:
            checks.append(Check(label, Status.OFF, "disabled in threadline.toml"))
            continue
        try:
            source = build_source(name, ctx)
        except ConfigError as exc:
            checks.append(Check(label, Status.FAIL, "enabled but not configured", str(exc)))
            continue
        checks.append(probe_source(label, source, timeout))
    return checks


def check_webhook(settings: Settings, enabled: bool) -> Check:
    if not enabled:
        return Check("source webhook", Status.OFF, "disabled in threadline.toml")
    if not settings.threadline_webhook_secret:
        # The webhook is on by default; without a secret it simply stays closed.
        return Check(
            "source webhook", Status.OFF, "no THREADLINE_WEBHOOK_SECRET: endpoint answers 404"
        )
    return Check("source webhook", Status.OK, "POST /ingest/webhook is open (signed)")


def probe_source(label: str, source: WatchedSource, timeout: float) -> Check:
    """A live check, bounded in time: a hung network must not hang `doctor`."""
    outcome: list[Check] = []

    def probe() -> None:
        try:
            outcome.append(Check(label, Status.OK, source.probe()))
        except SourceError as exc:
            outcome.append(Check(label, Status.FAIL, str(exc), exc.fix))
        except Exception as exc:
            outcome.append(Check(label, Status.FAIL, f"{type(exc).__name__}: {exc}", ""))

    thread = threading.Thread(target=probe, name=f"doctor-{label}", daemon=True)
    thread.start()
    thread.join(timeout)
    with contextlib.suppress(Exception):  # the probe's verdict matters, not a clean close
        source.close()
    if not outcome:
        return Check(label, Status.FAIL, f"no answer within {timeout:g} s", "check the network")
    return outcome[0]


def render_table(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = []
    for check in checks:
        lines.append(f"{check.status.value:<4}  {check.name:<{width}}  {check.detail}")
        if check.status is Status.FAIL and check.fix:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {check.fix}")
    return "\n".join(lines)
