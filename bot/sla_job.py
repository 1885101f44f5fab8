"""The SLA check as a scheduled job: every minute, queue the nudges that became due.

Safe to run in every worker at once and after any restart: each nudge is a uniquely keyed
outbox row inserted with ON CONFLICT DO NOTHING (handlers.sla), so it is queued once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.job import Job
from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy.engine import Engine

from bot.config_schema import TeamConfig
from handlers.sla import due_nudges, enqueue_nudges
from storage.db import session_scope

log = logging.getLogger(__name__)

SLA_JOB_ID = "sla"
SLA_INTERVAL_SECONDS = 60


def check_sla(engine: Engine, team: TeamConfig, now: datetime | None = None) -> int:
    """Queue every SLA nudge due at `now` (default: the current time) in one write
    transaction; return how many outbox rows were new."""
    now = now or datetime.now(UTC)
    with session_scope(engine, write=True) as session:
        queued = enqueue_nudges(session, team, due_nudges(session, team, now))
    if queued:
        log.info("queued %d SLA nudge(s)", queued)
    return queued


def register_sla_job(scheduler: BaseScheduler, engine: Engine, team: TeamConfig) -> Job:
    """Every 60 s; a late or overlapping run is coalesced into one, never skipped."""
    return scheduler.add_job(
        check_sla,
        "interval",
        seconds=SLA_INTERVAL_SECONDS,
        args=(engine, team),
        id=SLA_JOB_ID,
        name="SLA nudges",
        replace_existing=True,
        coalesce=True,
        misfire_grace_time=3600,
        max_instances=1,
    )
