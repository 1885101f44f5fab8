"""Sending the managers' daily digest: once per manager per local day, however many workers.

Every minute each worker asks, for each manager: has `digest_time` passed today in the
manager's time zone (`timezone` from threadline.toml, else their Slack time zone, cached)?
If so, and no digest run exists for that local date, it claims one with INSERT … ON CONFLICT
DO NOTHING on UNIQUE(manager, day): only the worker whose insert landed builds and sends.
A run that failed on a transient Slack or network error goes back to "claimed" through a
conditional UPDATE on a later tick (one worker wins), and first looks in the DM for a post
that did land, by its message metadata; an error that retrying cannot fix is "refused".
The digest covers the manager's local calendar day that just ended (see handlers.digest).
"""

from __future__ import annotations

import logging
import threading
import time as clock
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.job import Job
from apscheduler.schedulers.base import BaseScheduler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bot.blocks.digest import digest_message, digest_text
from bot.config_schema import Manager, TeamConfig
from bot.outbox_render import message_kwargs
from handlers.digest import DigestData, build_digest
from storage.db import session_scope
from storage.models import AuditEvent, DigestRun

log = logging.getLogger(__name__)

EVENT_TYPE = "threadline_digest"
CLAIMED, SENT, FAILED, REFUSED = "claimed", "sent", "failed", "refused"
# Slack errors worth another try on the next tick; any other `ok: false` is "refused".
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
HISTORY_LOOKBACK = 50  # DM messages searched for a post whose answer was lost


class DigestError(Exception):
    """A manual send that did not reach everyone; the message says who and why."""


class ZoneCache:
    """Managers' Slack time zones (users.info), kept for `ttl` seconds. A failed lookup
    keeps the last known zone, or none, and is not repeated for `failure_ttl` seconds."""

    def __init__(self, ttl: float = 6 * 3600, failure_ttl: float = 300) -> None:
        self.ttl, self.failure_ttl = ttl, failure_ttl
        self._entries: dict[str, tuple[ZoneInfo | None, float]] = {}
        self._lock = threading.Lock()

    def zone_for(self, client: WebClient, manager: Manager) -> ZoneInfo | None:
        if manager.timezone:
            return ZoneInfo(manager.timezone)
        now = clock.monotonic()
        with self._lock:
            known, until = self._entries.get(manager.slack_id, (None, 0.0))
        if until > now:
            return known
        found = _slack_zone(client, manager.slack_id)
        with self._lock:
            if found is None:
                self._entries[manager.slack_id] = (known, now + self.failure_ttl)
                return known
            self._entries[manager.slack_id] = (found, now + self.ttl)
        return found


_ZONES = ZoneCache()


def _slack_zone(client: WebClient, user: str) -> ZoneInfo | None:
    if not client.token:
        return None
    try:
        name = client.users_info(user=user)["user"].get("tz")
        return ZoneInfo(str(name))
    except (SlackClientError, OSError, KeyError, ValueError, ZoneInfoNotFoundError) as exc:
        log.warning(
            "cannot read the Slack time zone of manager %s (%s); set timezone for this manager "
            "in threadline.toml",
            user,
            _describe(exc),
        )
        return None


def local_day_window(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The local calendar day before `day`: [yesterday 00:00, today 00:00) in `zone`."""
    return (
        datetime.combine(day - timedelta(days=1), time(), tzinfo=zone),
        datetime.combine(day, time(), tzinfo=zone),
    )


def due_day(manager: Manager, zone: ZoneInfo, now: datetime) -> date | None:
    """The manager's local date when their digest time has passed today, else None. On a
    spring-forward day a skipped time (02:30) is passed at 03:00; a repeated one, once."""
    local = now.astimezone(zone)
    return local.date() if local.time() >= manager.digest_time else None


# ------------------------------------------------------------------ the scheduled job
def send_due_digests(
    engine: Engine,
    client: WebClient,
    team: TeamConfig,
    now: datetime,
    *,
    zones: ZoneCache | None = None,
) -> list[str]:
    """Send every digest that is due and not yet claimed; returns the managers sent to."""
    sent = []
    for manager in team.managers:
        zone = (zones or _ZONES).zone_for(client, manager)
        if zone is None:
            continue  # no time zone yet: the lookup is retried later
        day = due_day(manager, zone, now)
        if day is None:
            continue
        claim = claim_run(engine, manager.slack_id, day, now)
        if (
            claim
            and _deliver(engine, client, team, manager.slack_id, zone, day, claim, now) is None
        ):
            sent.append(manager.slack_id)
    return sent


def register_digest_job(
    scheduler: BaseScheduler, engine: Engine, client: WebClient, team: TeamConfig
) -> Job:
    """Check every minute (first check at start-up); late ticks coalesce into one."""

    def tick() -> None:
        try:
            sent = send_due_digests(engine, client, team, datetime.now(UTC))
        except Exception:
            log.exception("digest check failed; the next tick tries again")
            return
        if sent:
            log.info("daily digest sent to %s", ", ".join(sent))

    return scheduler.add_job(
        tick,
        "interval",
        minutes=1,
        id="digest",
        name="managers' daily digest",
        coalesce=True,
        misfire_grace_time=3600,
        max_instances=1,
        replace_existing=True,
        next_run_time=datetime.now(UTC),
    )


# ------------------------------------------------------------------ claiming
@dataclass(frozen=True)
class Claim:
    run_id: int
    retry: bool  # an earlier attempt failed: look for a post that landed before sending


def claim_run(engine: Engine, manager: str, day: date, now: datetime) -> Claim | None:
    """Own the (manager, day) run, or None when another worker has it or it is done."""
    with session_scope(engine) as session:
        status = session.exec(
            select(DigestRun.status).where(
                DigestRun.manager_slack_id == manager, DigestRun.day == day
            )
        ).first()
    if status is None:
        insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
        with session_scope(engine, write=True) as session:
            run_id = session.execute(
                insert(DigestRun)
                .values(manager_slack_id=manager, day=day, status=CLAIMED, created_at=now)
                .on_conflict_do_nothing(index_elements=["manager_slack_id", "day"])
                .returning(DigestRun.id)
            ).scalar()
        return Claim(run_id, retry=False) if run_id is not None else None
    if status != FAILED:
        return None
    with session_scope(engine, write=True) as session:
        run_id = session.execute(
            update(DigestRun)
            .where(
                col(DigestRun.manager_slack_id) == manager,
                col(DigestRun.day) == day,
                col(DigestRun.status) == FAILED,
            )
            .values(status=CLAIMED)
            .returning(DigestRun.id)
        ).scalar()
    return Claim(run_id, retry=True) if run_id is not None else None


# ------------------------------------------------------------------ sending
def _deliver(
    engine: Engine,
    client: WebClient,
    team: TeamConfig,
    manager: str,
    zone: ZoneInfo,
    day: date,
    claim: Claim,
    now: datetime,
) -> str | None:
    """Build and send a claimed run; None when sent, else what went wrong."""
    try:
        channel, ts = _post(engine, client, team, manager, zone, day, claim)
    except Exception as exc:
        transient = _transient(exc)
        if not isinstance(exc, SlackClientError | OSError):
            log.exception("building the digest for %s failed", manager)
        reason = _describe(exc)
        _finish(engine, claim.run_id, now, status=FAILED if transient else REFUSED)
        _audit(engine, now, "digest.failed", claim.run_id, manager, error=reason)
        outlook = "the next check retries" if transient else "Slack refused it; not retried"
        log.warning("digest for %s failed (%s): %s", manager, reason, outlook)
        return reason
    _finish(engine, claim.run_id, now, status=SENT, channel=channel, ts=ts)
    return None


def _post(
    engine: Engine,
    client: WebClient,
    team: TeamConfig,
    manager: str,
    zone: ZoneInfo,
    day: date,
    claim: Claim | None,
) -> tuple[str, str]:
    channel = str(client.conversations_open(users=[manager])["channel"]["id"])
    if claim is not None and claim.retry and (landed := _find_post(client, channel, claim.run_id)):
        return channel, landed
    data = _build(engine, team, zone, day)
    payload: dict[str, Any] = {"digest_run_id": claim.run_id} if claim else {"manual": True}
    message = digest_message(
        data, manager=manager, day=data.start.date(), permalinks=_permalinks(client, data)
    )
    response = client.chat_postMessage(
        channel=channel,
        metadata={"event_type": EVENT_TYPE, "event_payload": payload},
        **message_kwargs(message),
    )
    return str(response["channel"]), str(response["ts"])


def _build(engine: Engine, team: TeamConfig, zone: ZoneInfo, day: date) -> DigestData:
    start, end = local_day_window(day, zone)
    with session_scope(engine) as session:
        return build_digest(session, start=start, end=end, team=team)


def _find_post(client: WebClient, channel: str, run_id: int) -> str | None:
    """The ts of this run's digest if an attempt whose answer was lost did post it."""
    try:
        history = client.conversations_history(
            channel=channel, limit=HISTORY_LOOKBACK, include_all_metadata=True
        )
    except (SlackClientError, OSError) as exc:
        log.info("cannot check the DM for an earlier digest post (%s)", _describe(exc))
        return None
    for message in history.get("messages") or []:
        meta = message.get("metadata") or {}
        payload = meta.get("event_payload") or {}
        if meta.get("event_type") == EVENT_TYPE and payload.get("digest_run_id") == run_id:
            return str(message["ts"])
    return None


def _permalinks(client: WebClient, data: DigestData) -> dict[int, str]:
    links = {}
    for item in data.backlog.oldest:
        if not (item.slack_channel and item.slack_ts):
            continue
        try:
            response = client.chat_getPermalink(
                channel=item.slack_channel, message_ts=item.slack_ts
            )
        except (SlackClientError, OSError):
            continue  # the digest links into the channel instead
        if response.get("permalink"):
            links[item.conversation_id] = str(response["permalink"])
    return links


def _finish(
    engine: Engine,
    run_id: int,
    now: datetime,
    *,
    status: str,
    channel: str | None = None,
    ts: str | None = None,
) -> None:
    values: dict[str, Any] = {"status": status}
    if status == SENT:
        values.update(slack_channel=channel, slack_ts=ts, sent_at=now)
    with session_scope(engine, write=True) as session:
        session.execute(
            update(DigestRun)
            .where(col(DigestRun.id) == run_id, col(DigestRun.status) == CLAIMED)
            .values(**values)
        )


def _audit(
    engine: Engine, now: datetime, action: str, run_id: int | None, manager: str, **detail: Any
) -> None:
    with session_scope(engine, write=True) as session:
        session.add(
            AuditEvent(
                actor="system",
                action=action,
                at=now,
                detail={"digest_run_id": run_id, "manager": manager, **detail},
            )
        )


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", 200)
        return status == 429 or status >= 500 or exc.response.get("error") in TRANSIENT_ERRORS
    return not isinstance(exc, SlackClientError)  # network trouble and our own bugs: retry


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or exc.response.status_code)
    return f"{type(exc).__name__}: {exc}"[:300]


# ------------------------------------------------------------------ by hand (the CLI)
def send_digest_now(
    engine: Engine,
    client: WebClient,
    team: TeamConfig,
    *,
    to: str | None,
    dry_run: bool,
    now: datetime,
) -> str:
    """Send (or with `dry_run` only render) the digest of the local day that just ended,
    whatever the time. Without `to`, to every manager; `to` may also be anyone else. It
    claims today's run when it can, so the schedule does not send a second one today; when
    the run exists already the message is an extra. Raises DigestError if a send failed."""
    recipients = [m for m in team.managers if to is None or m.slack_id == to]
    if to is not None and not recipients:
        recipients = [Manager(slack_id=to)]
    if not recipients:
        raise DigestError(
            'no managers in threadline.toml: add [[managers]] with slack_id = "U…", or pass --to U…'
        )
    out, failed = [], []
    for manager in recipients:
        zone = _ZONES.zone_for(client, manager) or ZoneInfo(team.sla.timezone)
        day = now.astimezone(zone).date()
        if dry_run:
            data = _build(engine, team, zone, day)
            text = digest_text(data, data.start.date())
            out.append(f"To {manager.slack_id} (dry run: not sent)\n{text}")
            continue
        claim = claim_run(engine, manager.slack_id, day, now)
        if claim is not None:
            error = _deliver(engine, client, team, manager.slack_id, zone, day, claim, now)
            if error is None:
                out.append(f"Digest sent to {manager.slack_id}.")
            else:
                failed.append(f"{manager.slack_id} ({error})")
            continue
        try:
            channel, ts = _post(engine, client, team, manager.slack_id, zone, day, None)
        except (SlackClientError, OSError) as exc:
            failed.append(f"{manager.slack_id} ({_describe(exc)})")
            continue
        _audit(engine, now, "digest.sent_manually", None, manager.slack_id, channel=channel, ts=ts)
        out.append(f"Digest sent to {manager.slack_id} (an extra: today's was already claimed).")
    if failed:
        raise DigestError("\n".join([*out, f"Digest not sent to: {', '.join(failed)}"]))
    return "\n\n".join(out)
