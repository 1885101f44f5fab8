"""SLA nudges: business time, exactly-once queuing on both backends, rendering, end to end."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bot.blocks.sla import sla_escalation_message, sla_nudge_message
from bot.config_schema import SLASection, TeamConfig
from bot.sla_job import check_sla, register_sla_job
from bot.sla_render import render_sla
from handlers.business_time import business_deadline, business_minutes_between
from handlers.sla import Nudge, due_nudges, enqueue_nudges
from storage.db import make_engine, session_scope
from storage.models import Conversation, ConversationStatus, Customer, OutboxItem
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_validation import check_message_content
from tests.pipeline import TEAM, Pipeline, team_config

PRAGUE, NEW_YORK = ZoneInfo("Europe/Prague"), ZoneInfo("America/New_York")
OFFICE = SLASection()  # UTC, Mon-Fri 09:00-17:00, 30 / 120 minutes
PRAGUE_OFFICE = SLASection(timezone="Europe/Prague")
PRAGUE_ALWAYS = SLASection(
    timezone="Europe/Prague",
    business_hours_start=time(0, 0),
    business_hours_end=time(23, 59),
    business_days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
)
TEHRAN_OFFICE = SLASection(
    timezone="Asia/Tehran",
    business_hours_start=time(8, 0),
    business_hours_end=time(16, 0),
    business_days=["sat", "sun", "mon", "tue", "wed"],
)
WITH_HOLIDAY = SLASection(holidays=[date(2026, 6, 2)])


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)  # type: ignore[misc]


MON = utc(2026, 6, 1, 9, 0)  # a Monday, 09:00 UTC (June 2026: Mon 1st, Sat 6th, Mon 8th)
CASES = {
    "same-day": (utc(2026, 6, 1, 10), utc(2026, 6, 1, 10, 45), OFFICE, 45),
    "overnight": (utc(2026, 6, 1, 16, 30), utc(2026, 6, 2, 9, 30), OFFICE, 60),
    "fri-evening-to-mon": (utc(2026, 6, 5, 16, 50), utc(2026, 6, 8, 9, 20), OFFICE, 30),
    "weekend": (utc(2026, 6, 6, 22), utc(2026, 6, 7, 23, 59), OFFICE, 0),
    "sat-night-to-mon-09:29": (utc(2026, 6, 6, 22), utc(2026, 6, 8, 9, 29), OFFICE, 29),
    "sat-night-to-mon-09:30": (utc(2026, 6, 6, 22), utc(2026, 6, 8, 9, 30), OFFICE, 30),
    "holiday-tuesday": (utc(2026, 6, 1, 16), utc(2026, 6, 3, 10), WITH_HOLIDAY, 120),
    "start-after-hours": (utc(2026, 6, 1, 18), utc(2026, 6, 2, 9, 15), OFFICE, 15),
    "start-before-hours": (utc(2026, 6, 1, 7), utc(2026, 6, 1, 9, 30), OFFICE, 30),
    "end-before-hours": (utc(2026, 6, 1, 10), utc(2026, 6, 2, 8), OFFICE, 420),
    "start-eq-end": (utc(2026, 6, 1, 10), utc(2026, 6, 1, 10), OFFICE, 0),
    "end-lt-start": (utc(2026, 6, 2, 10), utc(2026, 6, 1, 10), OFFICE, 0),
    # Prague springs forward on Sun 29 March 2026: Monday 09:30 CEST is 07:30 UTC ...
    "prague-spring": (utc(2026, 3, 27, 15), utc(2026, 3, 30, 7, 30), PRAGUE_OFFICE, 90),
    # ... and falls back on Sun 25 October 2026: Monday 09:30 CET is 08:30 UTC.
    "prague-autumn": (utc(2026, 10, 23, 14), utc(2026, 10, 26, 8, 30), PRAGUE_OFFICE, 90),
    # The DST days last 23 and 25 hours: local midnight to noon is 11 h and 13 h.
    "prague-23h-day": (
        local(PRAGUE, 2026, 3, 29),
        local(PRAGUE, 2026, 3, 29, 12),
        PRAGUE_ALWAYS,
        660,
    ),
    "prague-25h-day": (
        local(PRAGUE, 2026, 10, 25),
        local(PRAGUE, 2026, 10, 25, 12),
        PRAGUE_ALWAYS,
        780,
    ),
    # Tehran is +03:30 and works Saturday to Wednesday: Wed 15:30 → Sat 08:30 local.
    "tehran": (utc(2026, 6, 3, 12), utc(2026, 6, 6, 5), TEHRAN_OFFICE, 60),
    # Inputs in any zone: 04:00 in New York is 10:00 in Prague.
    "other-zone-input": (
        local(NEW_YORK, 2026, 6, 1, 4),
        local(NEW_YORK, 2026, 6, 1, 5, 15),
        PRAGUE_OFFICE,
        75,
    ),
}


@pytest.mark.parametrize(("start", "end", "sla", "minutes"), CASES.values(), ids=CASES.keys())
def test_business_minutes_between(
    start: datetime, end: datetime, sla: SLASection, minutes: float
) -> None:
    assert business_minutes_between(start, end, sla) == pytest.approx(minutes)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        business_minutes_between(datetime(2026, 6, 1), MON, OFFICE)


def test_a_long_span_is_counted_per_day_not_per_minute() -> None:
    # Ten years of Mon-Fri 8-hour days (no holidays configured).
    first, days = date(2020, 1, 1), (date(2030, 1, 1) - date(2020, 1, 1)).days
    weekdays = sum((first + timedelta(days=i)).weekday() < 5 for i in range(days))
    minutes = business_minutes_between(utc(2020, 1, 1), utc(2030, 1, 1), OFFICE)
    assert minutes == weekdays * 8 * 60


SLAS = st.sampled_from([OFFICE, WITH_HOLIDAY, PRAGUE_OFFICE, PRAGUE_ALWAYS, TEHRAN_OFFICE])
INSTANTS = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(start=INSTANTS, minutes=st.floats(min_value=0, max_value=20_000), sla=SLAS)
def test_business_deadline_is_the_inverse(start: datetime, minutes: float, sla: SLASection) -> None:
    deadline = business_deadline(start, minutes, sla)
    assert deadline >= start
    assert business_minutes_between(start, deadline, sla) == pytest.approx(minutes, abs=1e-3)


@settings(max_examples=60, deadline=None)
@given(
    start=INSTANTS.map(lambda d: d.replace(second=0, microsecond=0)),
    span=st.integers(min_value=0, max_value=3 * 24 * 60),
    sla=SLAS,
)
def test_business_minutes_match_a_minute_by_minute_count(
    start: datetime, span: int, sla: SLASection
) -> None:
    zone = ZoneInfo(sla.timezone)
    counted = 0
    for i in range(span):
        local = (start + timedelta(minutes=i)).astimezone(zone)
        counted += (
            local.strftime("%a").lower() in sla.business_days
            and local.date() not in sla.holidays
            and sla.business_hours_start <= local.time() < sla.business_hours_end
        )
    end = start + timedelta(minutes=span)
    assert business_minutes_between(start, end, sla) == pytest.approx(counted)


# ---------------------------------------------------------------------- queuing
MANAGERS = ["U0MGR1", "U0MGR2"]
ONCALL = "S0ONCALL"


def sla_team(managers: list[str] = MANAGERS) -> TeamConfig:
    return team_config(
        slack={**TEAM["slack"], "oncall_group": ONCALL},
        managers=[{"slack_id": m} for m in managers],
    )


def seed(
    engine: Engine,
    created_at: datetime,
    *,
    status: ConversationStatus = ConversationStatus.OPEN,
    assignee: str | None = None,
    slack_ts: str | None = "1780304400.000100",
    customer: str = "Ana Nováková",
) -> int:
    with session_scope(engine, write=True) as session:
        person = Customer(name=customer)
        session.add(person)
        session.flush()
        conv = Conversation(
            source="mastodon",
            external_thread_id=uuid.uuid4().hex,
            customer_id=person.id or 0,
            status=status,
            assignee_slack_id=assignee,
            home_channel="#support",
            slack_channel="C0SUPPORT" if slack_ts else None,
            slack_ts=slack_ts,
            created_at=created_at,
        )
        session.add(conv)
        session.flush()
        return conv.id or 0


def outbox(engine: Engine) -> list[OutboxItem]:
    with session_scope(engine) as session:
        return list(session.exec(select(OutboxItem).order_by(col(OutboxItem.id))).all())


def keys(engine: Engine) -> list[str]:
    return sorted(item.idempotency_key for item in outbox(engine))


def test_first_threshold_is_queued_once(engine: Engine) -> None:
    cid = seed(engine, MON)
    team = sla_team()
    assert check_sla(engine, team, now=MON + timedelta(minutes=29)) == 0
    assert check_sla(engine, team, now=MON + timedelta(minutes=30)) == 1
    assert check_sla(engine, team, now=MON + timedelta(minutes=31)) == 0
    [item] = outbox(engine)
    assert (item.kind, item.idempotency_key, item.destination) == (
        "slack_sla_nudge",
        f"sla:{cid}:first",
        "C0SUPPORT",
    )
    assert item.payload == {"conversation_id": cid, "threshold": "first", "minutes": 30}
    assert item.next_attempt_at <= datetime.now(UTC)  # due now, whatever `now` the check had


def test_escalation_is_queued_once_per_manager(engine: Engine) -> None:
    cid = seed(engine, MON)
    team = sla_team()
    assert check_sla(engine, team, now=MON + timedelta(minutes=45)) == 1
    assert check_sla(engine, team, now=MON + timedelta(minutes=119)) == 0
    assert check_sla(engine, team, now=MON + timedelta(minutes=120)) == 2
    assert check_sla(engine, team, now=MON + timedelta(hours=5)) == 0
    dms = [i for i in outbox(engine) if i.kind == "slack_sla_escalation"]
    assert sorted((i.idempotency_key, i.destination) for i in dms) == [
        (f"sla:{cid}:escalate:U0MGR1", "U0MGR1"),
        (f"sla:{cid}:escalate:U0MGR2", "U0MGR2"),
    ]
    assert {i.payload["manager"] for i in dms} == set(MANAGERS)


def test_saturday_night_is_not_late_until_monday(engine: Engine) -> None:
    seed(engine, utc(2026, 6, 6, 22))
    team = sla_team()
    assert check_sla(engine, team, now=utc(2026, 6, 7, 23)) == 0
    assert check_sla(engine, team, now=utc(2026, 6, 8, 9, 29)) == 0
    assert check_sla(engine, team, now=utc(2026, 6, 8, 9, 30)) == 1


def test_a_restart_queues_nothing_again(engine: Engine) -> None:
    seed(engine, MON)
    team, now = sla_team(), MON + timedelta(hours=3)
    assert check_sla(engine, team, now=now) == 3
    restarted = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        assert check_sla(restarted, team, now=now) == 0
        assert check_sla(restarted, team, now=now + timedelta(days=1)) == 0
    finally:
        restarted.dispose()
    assert len(outbox(engine)) == 3


def test_two_workers_at_once_never_duplicate(engine: Engine) -> None:
    ids = [seed(engine, MON + timedelta(minutes=i)) for i in range(10)]
    team, now = sla_team(), MON + timedelta(hours=4)
    barrier = threading.Barrier(4)
    results: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(check_sla(engine, team, now=now))
        except BaseException as exc:  # surfaced below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(results) == len(ids) * 3
    assert len(keys(engine)) == len(set(keys(engine))) == len(ids) * 3


def test_only_open_unclaimed_posted_conversations_are_nudged(engine: Engine) -> None:
    due = seed(engine, MON)
    seed(engine, MON, assignee="U0AGENT")
    seed(engine, MON, status=ConversationStatus.RESOLVED)
    seed(engine, MON, status=ConversationStatus.REPLIED)
    seed(engine, MON, status=ConversationStatus.SUPPRESSED)
    seed(engine, MON, slack_ts=None)  # its card was never posted
    check_sla(engine, sla_team(), now=MON + timedelta(days=1))
    assert {item.conversation_id for item in outbox(engine)} == {due}


def test_sql_skips_queued_nudges_and_the_insert_ignores_duplicates(engine: Engine) -> None:
    cid = seed(engine, MON)
    team, now = sla_team(), MON + timedelta(minutes=40)
    with session_scope(engine) as session:
        found = due_nudges(session, team, now)
    assert found == [Nudge(cid, "first", 40, "C0SUPPORT")]
    assert check_sla(engine, team, now=now) == 1
    with session_scope(engine, write=True) as session:
        assert due_nudges(session, team, now) == []  # NOT EXISTS, no Python work
        assert enqueue_nudges(session, team, found) == 0  # ON CONFLICT DO NOTHING
    assert len(outbox(engine)) == 1


def test_a_manager_added_later_gets_only_their_own_dm(engine: Engine) -> None:
    cid = seed(engine, MON)
    now = MON + timedelta(hours=3)
    assert check_sla(engine, sla_team(["U0MGR1"]), now=now) == 2
    assert check_sla(engine, sla_team(["U0MGR1", "U0MGR2"]), now=now) == 1
    assert f"sla:{cid}:escalate:U0MGR2" in keys(engine)


def test_no_managers_means_no_escalation_and_old_backlog_is_left_alone(engine: Engine) -> None:
    seed(engine, MON)
    seed(engine, MON - timedelta(days=15))
    assert check_sla(engine, sla_team([]), now=MON + timedelta(hours=3)) == 1
    assert [i.kind for i in outbox(engine)] == ["slack_sla_nudge"]


def test_the_job_runs_every_minute_coalesced() -> None:
    scheduler = BackgroundScheduler(timezone="UTC")
    job = register_sla_job(scheduler, make_engine("sqlite://"), sla_team())
    assert scheduler.get_job("sla") is job
    assert job.trigger.interval == timedelta(seconds=60)
    assert (job.coalesce, job.misfire_grace_time, job.max_instances) == (True, 3600, 1)


# ---------------------------------------------------------------------- rendering
def no_permalink(channel: str, ts: str) -> str | None:
    return None


def render(engine: Engine, team: TeamConfig, kind: str, **link: Any) -> Any:
    with session_scope(engine) as session:
        item = session.exec(select(OutboxItem).where(OutboxItem.kind == kind)).first()
        assert item is not None
        return render_sla(session, item, team, link.get("permalink", no_permalink))


def test_nudge_renders_as_a_thread_reply_mentioning_on_call(sqlite_engine: Engine) -> None:
    cid = seed(sqlite_engine, MON, customer="<!channel> Eve")
    check_sla(sqlite_engine, sla_team(), now=MON + timedelta(minutes=45))
    post = render(sqlite_engine, sla_team(), "slack_sla_nudge")
    assert (post.channel_ref, post.kwargs["thread_ts"]) == ("C0SUPPORT", "1780304400.000100")
    assert post.kwargs["text"] == (
        "⏰ Unclaimed for 45 business minutes (SLA 30). <!subteam^S0ONCALL> can someone take it?"
    )
    assert "Eve" not in str(post.kwargs) and post.ids == {"conversation_id": cid}


def test_escalation_renders_as_a_dm_with_a_link(sqlite_engine: Engine) -> None:
    seed(sqlite_engine, MON, customer="<!channel> Eve")
    team = sla_team(["U0MGR1"])
    check_sla(sqlite_engine, team, now=MON + timedelta(hours=2))
    url = "https://acme.slack.com/archives/C0SUPPORT/p1780304400000100"
    post = render(sqlite_engine, team, "slack_sla_escalation", permalink=lambda c, t: url)
    assert (post.channel_ref, post.method) == ("U0MGR1", "chat.postMessage")
    shown = post.kwargs["blocks"][0]["text"]["text"]
    assert f"<{url}|Open the card>" in shown and "&lt;!channel&gt; Eve" in shown
    assert "<!channel>" not in str(post.kwargs)


@pytest.mark.parametrize(
    "change",
    [
        {"assignee_slack_id": "U0AGENT"},
        {"status": ConversationStatus.RESOLVED},
        {"status": ConversationStatus.REPLIED},
    ],
)
def test_claimed_or_answered_meanwhile_is_skipped(
    sqlite_engine: Engine, change: dict[str, Any]
) -> None:
    cid = seed(sqlite_engine, MON)
    team = sla_team()
    check_sla(sqlite_engine, team, now=MON + timedelta(hours=3))
    with session_scope(sqlite_engine, write=True) as session:
        conv = session.get(Conversation, cid)
        assert conv is not None
        for key, value in change.items():
            setattr(conv, key, value)
        session.add(conv)
    assert render(sqlite_engine, team, "slack_sla_nudge") is None
    assert render(sqlite_engine, team, "slack_sla_escalation") is None


def test_builders_are_valid_slack_and_mention_only_a_real_group() -> None:
    nudge = sla_nudge_message(minutes=1, oncall_group="S0X>|<!channel", priority=3)
    assert nudge["text"] == "🔴 Urgent · ⏰ Unclaimed for 1 business minute. Can someone take it?"
    dm = sla_escalation_message(
        minutes=130,
        channel="#support",
        ts="not-a-ts",
        permalink="javascript:alert(1)",
        customer_name=None,
        network="webhook",
    )
    assert "<" not in dm["blocks"][0]["text"]["text"] and len(dm["blocks"]) == 1
    for payload in (nudge, dm, sla_nudge_message(minutes=45, oncall_group=ONCALL, priority=1)):
        check_message_content(dict(payload))


# ---------------------------------------------------------------------- end to end
@pytest.fixture
def sla_pipe(engine: Engine, fake_slack: FakeSlack) -> Iterator[Pipeline]:
    fake_slack.add_user("U0MGR1", "mara", "Mara Manager")
    pipe = Pipeline(engine, fake_slack, team=sla_team(["U0MGR1"]))
    yield pipe
    pipe.stop()


def test_a_late_card_gets_one_nudge_then_the_manager_a_dm(
    sla_pipe: Pipeline, engine: Engine
) -> None:
    fake = sla_pipe.fake
    cid, card = sla_pipe.posted_card("sla-1", "Where is my parcel? Nobody answers.")
    with session_scope(engine, write=True) as session:  # opened Monday 09:00 UTC
        conv = session.get(Conversation, cid)
        assert conv is not None
        conv.created_at = MON
        session.add(conv)

    def nudges() -> list[dict[str, Any]]:
        return [m for m in fake.thread(card["channel"], card["ts"]) if "Unclaimed" in m["text"]]

    for _ in range(2):  # a second check (a restart) queues nothing more
        check_sla(engine, sla_pipe.team, now=MON + timedelta(minutes=40))
        sla_pipe.drain()
    [nudge] = nudges()
    assert nudge["thread_ts"] == card["ts"] and f"<!subteam^{ONCALL}>" in nudge["text"]

    assert check_sla(engine, sla_pipe.team, now=MON + timedelta(minutes=125)) == 1
    sla_pipe.drain()
    [dm] = [p for p in fake.all_posts() if p["channel"].startswith("D")]
    assert fake.channel(dm["channel"])["user"] == "U0MGR1"
    assert f"/archives/{card['channel']}/p" in dm["blocks"][0]["text"]["text"]
    assert len(nudges()) == 1
