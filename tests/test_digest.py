"""The manager's daily digest: every figure against a plain recomputation, the Block Kit
message within Slack's limits, and exactly one DM per manager per local day (several
workers, restarts, time zones, DST, Slack failures), plus `threadline digest`."""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import threading
import time as wallclock
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import typer
from slack_sdk import WebClient
from sqlalchemy.engine import Engine
from sqlmodel import select
from typer.testing import CliRunner

from bot.blocks.digest import digest_message, digest_text, figure, sparkline
from bot.cli_digest import register
from bot.config import LoadedConfig, Settings
from bot.config_schema import TeamConfig
from bot.digest_job import (
    DigestError,
    ZoneCache,
    local_day_window,
    register_digest_job,
    send_digest_now,
    send_due_digests,
)
from handlers.digest import (
    AgentLoad,
    Backlog,
    BacklogItem,
    Counted,
    DigestData,
    Duration,
    Figure,
    Money,
    Outcomes,
    ResponseTimes,
    build_digest,
)
from storage import migrate
from storage.db import make_engine, session_scope
from storage.models import (
    AuditEvent,
    Conversation,
    Customer,
    DigestRun,
    Identity,
    Message,
    Outcome,
)
from tests.fakes.slack import FakeSlack

ROOT = Path(__file__).resolve().parents[1]
PRAGUE = ZoneInfo("Europe/Prague")
DAY = date(2026, 11, 22)  # the Sunday the digest summarises
START = datetime.combine(DAY, time(), tzinfo=PRAGUE)
END = datetime.combine(DAY + timedelta(days=1), time(), tzinfo=PRAGUE)
SLA = timedelta(minutes=30)
AGENTS = ["U0AGENT1", "U0AGENT2", "U0AGENT3"]
NETWORKS = ["discord", "mastodon", "bluesky", "webhook"]
INTENTS = ["complaint", "question", "purchase_intent", "praise", "other"]
SENTIMENTS = ["negative", "neutral", "positive"]
FOLLOWERS = {"ana": 120, "star": 50_000, "edge": 10_000, "bo": 9_999, "quiet": None}
BOSS, WEST, EAST = "U0BOSS1", "U0BOSS2", "U0BOSS3"


# ------------------------------------------------------------------ the world
@dataclass
class Conv:
    key: int
    source: str
    intent: str
    sentiment: str
    status: str
    created: datetime
    first_response: datetime | None = None
    resolved: datetime | None = None
    assignee: str | None = None
    authors: list[str] = field(default_factory=lambda: ["ana"])
    replies: list[tuple[str | None, datetime]] = field(default_factory=list)
    slack_ts: str | None = None
    id: int = 0


@dataclass
class Result:
    kind: str
    staff: str
    at: datetime
    conv: int  # index into World.convs
    value: Decimal | None = None
    currency: str | None = None


@dataclass
class World:
    convs: list[Conv] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)


def ms(rnd: random.Random, low_minutes: float, high_minutes: float) -> timedelta:
    return timedelta(
        milliseconds=rnd.randint(int(low_minutes * 60_000), int(high_minutes * 60_000))
    )


def make_world(seed: int = 20261122) -> World:
    """~16 days of traffic around DAY, random but with every boundary case spelled out."""
    rnd = random.Random(seed)
    world = World()
    first = START - timedelta(days=15)
    span_minutes = (END + timedelta(hours=8) - first).total_seconds() / 60
    for i in range(320):
        created = first + ms(rnd, 0, span_minutes)
        noise = rnd.random() < 0.12
        conv = Conv(
            key=i,
            source=rnd.choice(NETWORKS),
            intent="spam" if noise and rnd.random() < 0.7 else rnd.choice(INTENTS),
            sentiment=rnd.choice(SENTIMENTS),
            status="suppressed" if noise else rnd.choice(["open", "replied", "resolved"]),
            created=created,
            authors=[rnd.choice(list(FOLLOWERS))],
        )
        if rnd.random() < 0.2:
            conv.authors.append(rnd.choice(list(FOLLOWERS)))  # someone else joins in
        if not noise and conv.status != "open" and rnd.random() < 0.8:
            delay = rnd.choice([SLA, SLA + timedelta(milliseconds=1), ms(rnd, 0.5, 300)])
            conv.first_response = created + delay
            conv.replies.append((rnd.choice(AGENTS), conv.first_response))
            if rnd.random() < 0.4:
                conv.replies.append((rnd.choice([*AGENTS, None]), created + ms(rnd, 300, 2000)))
        if conv.status == "resolved":
            conv.resolved = (conv.first_response or created) + ms(rnd, 1, 90)
        if conv.status == "open":
            conv.assignee = rnd.choice([None, None, *AGENTS])
        if not noise:
            conv.slack_ts = f"{1763000000 + i}.000100"
        world.convs.append(conv)
        if conv.resolved and rnd.random() < 0.8:
            kind = rnd.choice(["resolved", "lead_created", "sale", "sale", "refund", "escalated"])
            result = Result(kind, rnd.choice(AGENTS), conv.resolved, i)
            if kind == "sale" and rnd.random() < 0.85:
                result.value = Decimal(rnd.randint(100, 99_999)) / 100
                result.currency = rnd.choice(["EUR", "USD"])
            world.results.append(result)
    specials = [
        # created exactly at the start (in), exactly at the end (out), just before (day before)
        Conv(1000, "discord", "question", "neutral", "open", START),
        Conv(1001, "discord", "question", "neutral", "open", END),
        Conv(1002, "discord", "question", "neutral", "open", START - timedelta(milliseconds=1)),
        # no answer: the SLA ran out 1 minute before midnight / would run out after midnight
        Conv(1003, "webhook", "complaint", "negative", "open", END - SLA - timedelta(minutes=1)),
        Conv(1004, "webhook", "complaint", "negative", "open", END - SLA + timedelta(minutes=1)),
        # resolved without a reply: inside the SLA (no breach) and after it (breach)
        Conv(
            1005,
            "mastodon",
            "other",
            "neutral",
            "resolved",
            START + timedelta(hours=3),
            resolved=START + timedelta(hours=3, minutes=10),
        ),
        Conv(
            1006,
            "mastodon",
            "other",
            "neutral",
            "resolved",
            START + timedelta(hours=4),
            resolved=START + timedelta(hours=6),
        ),
        # answered after midnight: late (2 h) and in time (20 min)
        Conv(
            1007,
            "bluesky",
            "question",
            "positive",
            "replied",
            END - timedelta(minutes=10),
            first_response=END + timedelta(minutes=110),
        ),
        Conv(
            1008,
            "bluesky",
            "question",
            "positive",
            "replied",
            END - timedelta(minutes=10),
            first_response=END + timedelta(minutes=10),
        ),
        # the influencer, engaged today; spam that nobody answers is no breach
        Conv(
            1009,
            "discord",
            "complaint",
            "negative",
            "replied",
            START + timedelta(hours=9),
            first_response=START + timedelta(hours=9, minutes=5),
            authors=["star"],
        ),
        Conv(1010, "discord", "spam", "neutral", "suppressed", START + timedelta(hours=1)),
    ]
    for conv in specials:
        if conv.first_response:
            conv.replies.append((AGENTS[0], conv.first_response))
        if conv.status != "suppressed":
            conv.slack_ts = f"{1762000000 + conv.key}.000200"
        world.convs.append(conv)
    # an old reply today in a conversation from long ago, by someone with exactly the threshold
    old = Conv(
        1011,
        "webhook",
        "question",
        "neutral",
        "replied",
        START - timedelta(days=30),
        first_response=START - timedelta(days=30, minutes=-20),
        authors=["edge"],
    )
    old.replies += [(AGENTS[1], old.first_response), (AGENTS[2], START + timedelta(hours=12))]
    world.convs.append(old)
    return world


def insert_world(engine: Engine, world: World) -> None:
    with session_scope(engine, write=True) as session:
        identities = {}
        for name, followers in FOLLOWERS.items():
            customer = Customer(name=name)
            session.add(customer)
            session.flush()
            identity = Identity(
                customer_id=customer.id, source="webhook", external_id=name, followers=followers
            )
            session.add(identity)
            session.flush()
            identities[name] = identity
        for conv in world.convs:
            row = Conversation(
                source=conv.source,
                external_thread_id=f"t-{conv.key}",
                customer_id=identities[conv.authors[0]].customer_id,
                status=conv.status,
                assignee_slack_id=conv.assignee,
                intent=conv.intent,
                sentiment=conv.sentiment,
                slack_channel="C0SUPPORT" if conv.slack_ts else None,
                slack_ts=conv.slack_ts,
                created_at=conv.created,
                updated_at=conv.created,
                last_message_at=conv.created,
                first_response_at=conv.first_response,
                resolved_at=conv.resolved,
            )
            session.add(row)
            session.flush()
            conv.id = row.id or 0
            for n, author in enumerate(conv.authors):
                session.add(
                    message(
                        conv,
                        "in",
                        conv.created + timedelta(seconds=n),
                        identity=identities[author].id,
                        ext=f"m-{conv.key}-{n}",
                    )
                )
            for agent, at in conv.replies:
                session.add(message(conv, "out", at, agent=agent))
            session.add(message(conv, "note", conv.created, agent=AGENTS[2]))  # never counted
        for result in world.results:
            conv = world.convs[result.conv]
            session.add(
                Outcome(
                    conversation_id=conv.id,
                    customer_id=identities[conv.authors[0]].customer_id,
                    kind=result.kind,
                    value=result.value,
                    currency=result.currency,
                    staff_slack_id=result.staff,
                    created_at=result.at,
                )
            )


def message(
    conv: Conv,
    direction: str,
    at: datetime,
    *,
    identity: int | None = None,
    agent: str | None = None,
    ext: str | None = None,
) -> Message:
    return Message(
        conversation_id=conv.id,
        source=conv.source if direction != "note" else "slack",
        external_id=ext,
        direction=direction,
        author_identity_id=identity,
        author_slack_id=agent,
        text="…",
        created_at=at,
        received_at=at,
    )


# ------------------------------------------------------------------ the recomputation
def day_index(moment: datetime) -> int | None:
    """0..13 for the 14 local days ending with DAY (13), else None."""
    for k in range(14):
        low = datetime.combine(DAY - timedelta(days=13 - k), time(), tzinfo=PRAGUE)
        high = datetime.combine(DAY - timedelta(days=12 - k), time(), tzinfo=PRAGUE)
        if low <= moment < high:
            return k
    return None


def fig(items: list[Any], when: Any = lambda item: item.created) -> tuple[int, float]:
    days = Counter(day_index(when(item)) for item in items)
    return days[13], sum(days[k] for k in range(6, 13)) / 7


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(p * 100) - 1]


def expected(world: World) -> dict[str, Any]:
    convs, results = world.convs, world.results
    posted = [c for c in convs if c.status != "suppressed"]
    noise = [c for c in convs if c.status == "suppressed"]

    def late(c: Conv) -> bool:
        return c.first_response is not None and c.first_response - c.created > SLA

    def unanswered(c: Conv) -> bool:
        k = day_index(c.created)
        if c.first_response is not None or k is None:
            return False
        day_end = datetime.combine(DAY - timedelta(days=12 - k), time(), tzinfo=PRAGUE)
        return day_end - c.created > SLA and (c.resolved is None or c.resolved - c.created > SLA)

    def waits(days: range) -> list[float]:
        return [
            (c.first_response - c.created).total_seconds()
            for c in posted
            if c.first_response and day_index(c.created) in days
        ]

    influencer_days = {
        (day_index(at), c.key)
        for c in convs
        for _, at in c.replies
        if any((FOLLOWERS[a] or 0) >= 10_000 for a in c.authors) and day_index(at) is not None
    }
    handled: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # replies, outcomes, before
    for c in convs:
        for agent, at in c.replies:
            k = day_index(at)
            if agent and k is not None and k >= 6:
                handled[agent][0 if k == 13 else 2] += 1
    for r in results:
        k = day_index(r.at)
        if k is not None and k >= 6:
            handled[r.staff][1 if k == 13 else 2] += 1
    money: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for r in results:
        k = day_index(r.at)
        if r.kind == "sale" and r.value is not None and k is not None and k >= 6:
            money[r.currency or ""][0 if k == 13 else 1] += r.value
    unclaimed = sorted(
        (c for c in convs if c.status == "open" and c.assignee is None),
        key=lambda c: (c.created, c.id),
    )
    return {
        "new": fig(posted),
        "networks": {n: fig([c for c in posted if c.source == n]) for n in NETWORKS},
        "intents": {i: fig([c for c in posted if c.intent == i]) for i in INTENTS},
        "noise": fig(noise),
        "spam": fig([c for c in noise if c.intent == "spam"]),
        "answered": fig([c for c in posted if c.first_response]),
        "late": fig([c for c in posted if late(c)]),
        "unanswered": fig([c for c in posted if unanswered(c)]),
        "median": (percentile(waits(range(13, 14)), 0.5), percentile(waits(range(6, 13)), 0.5)),
        "p90": (percentile(waits(range(13, 14)), 0.9), percentile(waits(range(6, 13)), 0.9)),
        "backlog": (len(unclaimed), [c.id for c in unclaimed[:3]]),
        "outcomes": {
            k: fig([r for r in results if r.kind == k], lambda r: r.at)
            for k in {r.kind for r in results}
        },
        "money": {c: (v[0], (v[1] / 7).quantize(Decimal("0.01"))) for c, v in money.items()},
        "sentiment": {s: fig([c for c in posted if c.sentiment == s]) for s in SENTIMENTS},
        "influencers": (
            sum(1 for k, _ in influencer_days if k == 13),
            sum(1 for k, _ in influencer_days if 6 <= k < 13) / 7,
        ),
        "agents": {a: (r, o, (r + o, before / 7)) for a, (r, o, before) in handled.items()},
        "series": [sum(1 for c in posted if day_index(c.created) == k) for k in range(14)],
    }


def pair(f: Figure) -> tuple[float, float]:
    return f.value, pytest.approx(f.average)  # type: ignore[return-value]


def as_dict(items: tuple[Counted, ...]) -> dict[str, tuple[float, float]]:
    return {c.key: (c.figure.value, c.figure.average) for c in items}


def close(a: dict[str, tuple[float, float]], b: dict[str, tuple[float, float]]) -> bool:
    keys = {k for k, v in {**a, **b}.items() if v != (0, 0.0)}
    return all(a.get(k, (0, 0.0)) == pytest.approx(b.get(k, (0, 0.0))) for k in keys)


TEAM = TeamConfig.model_validate(
    {"sla": {"first_response_minutes": 30}, "routing": {"influencer_followers": 10_000}}
)


def build(engine: Engine, start: datetime = START, end: datetime = END) -> DigestData:
    with session_scope(engine) as session:
        return build_digest(session, start=start, end=end, team=TEAM)


# ------------------------------------------------------------------ the figures
def test_every_figure_matches_a_plain_recomputation(engine: Engine) -> None:
    world = make_world()
    insert_world(engine, world)
    want, got = expected(world), build(engine)

    assert pair(got.new) == want["new"]
    assert close(as_dict(got.by_network), want["networks"])
    assert close(as_dict(got.by_intent), want["intents"])
    assert [c.figure.value for c in got.by_network] == sorted(
        (c.figure.value for c in got.by_network), reverse=True
    )
    assert pair(got.noise) == want["noise"]
    assert pair(got.spam) == want["spam"]
    assert want["noise"][0] >= 1 and want["spam"][0] >= 1
    resp = got.response
    assert pair(resp.answered) == want["answered"]
    assert pair(resp.late) == want["late"]
    assert pair(resp.unanswered) == want["unanswered"]
    assert pair(resp.breaches) == (
        want["late"][0] + want["unanswered"][0],
        pytest.approx(want["late"][1] + want["unanswered"][1]),
    )
    assert want["late"][0] >= 2 and want["unanswered"][0] >= 2  # boundary cases are in
    assert (resp.median.seconds, resp.median.average) == pytest.approx(want["median"], abs=0.002)
    assert (resp.p90.seconds, resp.p90.average) == pytest.approx(want["p90"], abs=0.002)
    assert resp.sla_minutes == 30
    assert (got.backlog.count, [i.conversation_id for i in got.backlog.oldest]) == want["backlog"]
    assert all(i.slack_channel == "C0SUPPORT" for i in got.backlog.oldest)
    out = got.outcomes
    for kind, value in (
        ("resolved", out.resolved),
        ("lead_created", out.leads),
        ("sale", out.sales),
    ):
        assert pair(value) == want["outcomes"].get(kind, (0, 0.0)), kind
    assert close(as_dict(out.by_kind), want["outcomes"])
    assert {m.currency: (m.total, m.average) for m in out.sales_value} == want["money"]
    assert [c.key for c in got.sentiment] == SENTIMENTS
    assert close(as_dict(got.sentiment), want["sentiment"])
    assert pair(got.influencers) == want["influencers"]
    assert want["influencers"][0] >= 2  # the ⭐ author and the one at exactly the threshold
    assert {
        a.slack_id: (a.replies, a.outcomes, (a.handled.value, pytest.approx(a.handled.average)))
        for a in got.agents
    } == want["agents"]
    assert [d.count for d in got.series] == want["series"]
    assert [d.day for d in got.series] == [DAY - timedelta(days=13 - k) for k in range(14)]


def test_no_influencers_when_the_threshold_is_zero(sqlite_engine: Engine) -> None:
    insert_world(sqlite_engine, make_world())
    team = TeamConfig.model_validate({"routing": {"influencer_followers": 0}})
    with session_scope(sqlite_engine) as session:
        data = build_digest(session, start=START, end=END, team=team)
    assert data.influencers == Figure(0, 0.0)


def test_an_empty_database_gives_a_quiet_digest(sqlite_engine: Engine) -> None:
    data = build(sqlite_engine)
    assert data.new == Figure(0, 0.0)
    assert data.response.median.seconds is None and data.response.p90.average is None
    assert data.backlog == Backlog(0, ())
    assert [d.count for d in data.series] == [0] * 14
    assert "Daily digest" in digest_text(data, DAY)


def test_sparkline_and_figures() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([]) == ""
    assert sparkline([0, 0, 0]) == "▁▁▁"
    assert sparkline([5, 5]) == "██"
    assert sparkline([0, 100, 50, -3]) == "▁█▅▁"
    assert len(sparkline(list(range(14)))) == 14
    assert figure(Figure(12, 9.0)) == "12 (▲ 3 vs 7-day avg)"
    assert figure(Figure(3, 4.5)) == "3 (▼ 1.5 vs 7-day avg)"
    assert figure(Figure(2, 2.0)) == "2 (= 7-day avg)"


# ------------------------------------------------------------------ the message
def client_for(fake: FakeSlack, **options: Any) -> WebClient:
    return WebClient(base_url=fake.api_url, token="xoxb-test", **options)


def digest_posts(fake: FakeSlack) -> list[dict[str, Any]]:
    return [
        p
        for p in fake.all_posts()
        if (p.get("metadata") or {}).get("event_type") == "threadline_digest"
    ]


def dms(fake: FakeSlack) -> Counter[str]:
    """Digest posts per recipient (the user of each DM channel)."""
    return Counter(fake.channel(p["channel"])["user"] for p in digest_posts(fake))


def runs(engine: Engine) -> list[DigestRun]:
    with session_scope(engine) as session:
        return list(session.exec(select(DigestRun).order_by(DigestRun.id)).all())


def team_of(*managers: dict[str, Any], **extra: Any) -> TeamConfig:
    return TeamConfig.model_validate({"managers": list(managers), **extra})


def seed_users(fake: FakeSlack) -> None:
    fake.add_user(BOSS, "boss", "Bára Nováková", tz="Europe/Prague")
    fake.add_user(WEST, "west", "Wes", tz="America/Los_Angeles")
    fake.add_user(EAST, "east", "Shirin", tz="Asia/Tehran")


def test_the_digest_is_readable_within_slack_limits_and_accepted(
    sqlite_engine: Engine, fake_slack: FakeSlack
) -> None:
    world = make_world()
    insert_world(sqlite_engine, world)
    want = expected(world)
    seed_users(fake_slack)
    fake_slack.add_channel("support", "C0SUPPORT")
    oldest = next(c for c in world.convs if c.id == want["backlog"][1][0])
    fake_slack.add_message("C0SUPPORT", "card", user="U0BOT", ts=oldest.slack_ts)
    team = team_of({"slack_id": BOSS, "timezone": "Europe/Prague"})
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

    result = send_digest_now(
        sqlite_engine, client_for(fake_slack), team, to=BOSS, dry_run=False, now=now
    )

    assert result == f"Digest sent to {BOSS}."
    (post,) = digest_posts(fake_slack)
    assert not fake_slack.internal_errors
    blocks = post["blocks"]
    assert len(blocks) <= 50
    assert blocks[0]["text"]["text"] == "📊 Daily digest · Sunday 22 November 2026"
    text = str(blocks)
    new, avg = want["new"]
    assert f"*New conversations*\\n{figure(Figure(new, avg))}" in text
    assert "vs 7-day avg" in text and "`" + sparkline(want["series"]) + "`" in text
    assert f"<@{AGENTS[0]}>" in text
    # the oldest card links to its permalink; the others into their channel
    assert f"https://fake.slack.com/archives/C0SUPPORT/p{oldest.slack_ts.replace('.', '')}" in text
    assert "https://slack.com/app_redirect?channel=C0SUPPORT&amp;message_ts=" in text
    assert post["metadata"]["event_payload"] == {"digest_run_id": runs(sqlite_engine)[0].id}
    assert "new conversations" in post["text"]


def test_a_huge_digest_still_fits(fake_slack: FakeSlack) -> None:
    many = tuple(Counted(f"net-{i}-<!channel>", Figure(i, i / 3)) for i in range(60))
    data = DigestData(
        start=START,
        end=END,
        new=Figure(10**6, 2.5),
        by_network=many,
        by_intent=many,
        noise=Figure(1, 0),
        spam=Figure(1, 0),
        response=build_response(),
        backlog=Backlog(
            999,
            tuple(
                BacklogItem(i, "discord" * 30, "complaint", 3, START, "C0SUPPORT", "1.000001")
                for i in range(3)
            ),
        ),
        outcomes=build_outcomes(),
        sentiment=(),
        influencers=Figure(0, 0),
        agents=tuple(AgentLoad(f"U{i:09d}", i, i, Figure(2 * i, i)) for i in range(80)),
        series=(),
    )
    message = digest_message(data, manager=BOSS, day=DAY)
    response = client_for(fake_slack).chat_postMessage(channel="general", **message)
    assert response["ok"]
    assert "&lt;!channel&gt;" in str(message["blocks"]) and "<!channel>" not in str(message)
    assert "…and" in str(message["blocks"])


def build_response() -> ResponseTimes:
    return ResponseTimes(
        answered=Figure(5, 4),
        median=Duration(3600 * 30, 60),
        p90=Duration(None, None),
        sla_minutes=30,
        late=Figure(1, 0),
        unanswered=Figure(1, 0),
        breaches=Figure(2, 0),
    )


def build_outcomes() -> Outcomes:
    return Outcomes(
        resolved=Figure(1, 1),
        leads=Figure(0, 0),
        sales=Figure(2, 1),
        sales_value=(Money("EUR", Decimal("1234.50"), Decimal("99.99")),),
        by_kind=(Counted("refund", Figure(1, 0)),),
    )


# ------------------------------------------------------------------ exactly once
def run_workers(
    engine: Engine, fake: FakeSlack, team: TeamConfig, now: datetime, workers: int = 4
) -> list[str]:
    """`workers` processes' worth of ticks at the same instant (own client, own cache);
    every manager any of them sent to, sorted, so a double send shows twice."""
    barrier = threading.Barrier(workers)

    def tick() -> list[str]:
        client, zones = client_for(fake), ZoneCache()
        barrier.wait()
        return send_due_digests(engine, client, team, now, zones=zones)

    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(tick) for _ in range(workers)]
        return sorted(manager for future in futures for manager in future.result())


def test_several_workers_send_one_dm_per_manager_per_local_day(
    engine: Engine, fake_slack: FakeSlack
) -> None:
    insert_world(engine, make_world())
    seed_users(fake_slack)
    team = team_of(
        {"slack_id": BOSS, "timezone": "Europe/Prague", "digest_time": time(9, 0)},
        {"slack_id": WEST, "digest_time": time(0, 0)},  # Slack says America/Los_Angeles
        {"slack_id": EAST, "timezone": "Asia/Tehran", "digest_time": time(9, 0)},
    )
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 09:00 Prague, 00:00 LA, 11:30 Tehran

    assert run_workers(engine, fake_slack, team, now) == sorted([BOSS, WEST, EAST])
    assert dms(fake_slack) == {BOSS: 1, WEST: 1, EAST: 1}
    done = runs(engine)
    assert [(r.status, r.day) for r in done] == [("sent", date(2026, 11, 23))] * 3
    by_ts = {p["ts"]: p for p in digest_posts(fake_slack)}
    for run in done:
        post = by_ts[run.slack_ts or ""]
        assert post["channel"] == run.slack_channel
        assert post["metadata"]["event_payload"] == {"digest_run_id": run.id}
        assert run.sent_at == now

    # A restart later the same day sends nothing more.
    assert run_workers(engine, fake_slack, team, now + timedelta(hours=3), workers=2) == []
    # The next local day: Tehran's 09:00 comes first, then Prague's and LA's midnight.
    next_day = datetime(2026, 11, 24, 7, 59, tzinfo=UTC)
    assert run_workers(engine, fake_slack, team, next_day, workers=2) == [EAST]
    later = run_workers(engine, fake_slack, team, next_day + timedelta(minutes=1))
    assert later == sorted([BOSS, WEST])
    assert dms(fake_slack) == {BOSS: 2, WEST: 2, EAST: 2}
    assert len(runs(engine)) == 6


NOW_TABLE = [  # (UTC now, who gets a digest at that tick), one worker started at the first
    # LA is at 21:29 on the 14th: its digest for that day is late but still sent, once.
    (datetime(2026, 1, 15, 5, 29, 59, tzinfo=UTC), [WEST]),  # Tehran 08:59:59
    (datetime(2026, 1, 15, 5, 30, tzinfo=UTC), [EAST]),  # Tehran 09:00 (+03:30)
    (datetime(2026, 1, 15, 5, 31, tzinfo=UTC), []),
    (datetime(2026, 1, 15, 16, 59, 59, tzinfo=UTC), []),  # LA 08:59:59 (PST, -08:00)
    (datetime(2026, 1, 15, 17, 0, tzinfo=UTC), [WEST]),  # LA 09:00
    (datetime(2026, 1, 15, 20, 30, tzinfo=UTC), []),  # Tehran: past midnight, before 09:00
    (datetime(2026, 1, 16, 5, 30, tzinfo=UTC), [EAST]),
    (datetime(2026, 1, 16, 7, 59, tzinfo=UTC), []),  # LA is still on the 15th, already sent
    (datetime(2026, 1, 16, 17, 0, tzinfo=UTC), [WEST]),
]


def test_each_manager_gets_it_at_nine_in_their_own_time_zone(
    sqlite_engine: Engine, fake_slack: FakeSlack
) -> None:
    seed_users(fake_slack)
    team = team_of({"slack_id": WEST}, {"slack_id": EAST, "timezone": "Asia/Tehran"})
    client, zones = client_for(fake_slack), ZoneCache()
    got = [send_due_digests(sqlite_engine, client, team, now, zones=zones) for now, _ in NOW_TABLE]
    assert got == [who for _, who in NOW_TABLE]
    assert fake_slack.count_calls("users.info") == 1  # WEST's zone, cached
    assert sorted((r.manager_slack_id, r.day) for r in runs(sqlite_engine)) == [
        (WEST, date(2026, 1, 14)),
        (WEST, date(2026, 1, 15)),
        (WEST, date(2026, 1, 16)),
        (EAST, date(2026, 1, 15)),
        (EAST, date(2026, 1, 16)),
    ]
    headers = [p["blocks"][0]["text"]["text"] for p in digest_posts(fake_slack)]
    assert headers[:3] == [  # each summarises the local day before
        "📊 Daily digest · Tuesday 13 January 2026",
        "📊 Daily digest · Wednesday 14 January 2026",
        "📊 Daily digest · Wednesday 14 January 2026",
    ]


PRAGUE_DST = [
    # 29 March 2026: 02:00 CET → 03:00 CEST. 02:30 never happens; 09:00 is 07:00 UTC.
    (datetime(2026, 3, 29, 0, 59, tzinfo=UTC), []),
    (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), [BOSS]),  # 03:00 CEST: 02:30 has passed
    (datetime(2026, 3, 29, 6, 59, tzinfo=UTC), []),  # 08:59 CEST (07:59 in winter time)
    (datetime(2026, 3, 29, 7, 0, tzinfo=UTC), ["U0BOSS4"]),
    # 25 October 2026: 03:00 CEST → 02:00 CET. 02:30 happens twice; one digest.
    (datetime(2026, 10, 25, 0, 29, tzinfo=UTC), []),
    (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), [BOSS]),  # 02:30 CEST
    (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), []),  # 02:30 CET, again
    (datetime(2026, 10, 25, 7, 59, tzinfo=UTC), []),  # 08:59 CET
    (datetime(2026, 10, 25, 8, 0, tzinfo=UTC), ["U0BOSS4"]),
]


def test_dst_change_days_in_prague(sqlite_engine: Engine, fake_slack: FakeSlack) -> None:
    seed_users(fake_slack)
    fake_slack.add_user("U0BOSS4", "boss4", tz="Europe/Prague")
    team = team_of(
        {"slack_id": BOSS, "timezone": "Europe/Prague", "digest_time": time(2, 30)},
        {"slack_id": "U0BOSS4", "digest_time": time(9, 0)},
    )
    client, zones = client_for(fake_slack), ZoneCache()
    got = [send_due_digests(sqlite_engine, client, team, now, zones=zones) for now, _ in PRAGUE_DST]
    assert got == [who for _, who in PRAGUE_DST]
    assert {r.day for r in runs(sqlite_engine)} == {date(2026, 3, 29), date(2026, 10, 25)}


def test_a_dst_day_is_23_or_25_hours_and_days_follow_local_midnight(
    sqlite_engine: Engine,
) -> None:
    spring_start, spring_end = local_day_window(date(2026, 3, 30), PRAGUE)
    assert spring_end.astimezone(UTC) - spring_start.astimezone(UTC) == timedelta(hours=23)
    autumn_start, autumn_end = local_day_window(date(2026, 10, 26), PRAGUE)
    assert autumn_end.astimezone(UTC) - autumn_start.astimezone(UTC) == timedelta(hours=25)
    world = World()
    for key, utc in enumerate(
        [
            datetime(2026, 3, 21, 22, 59, tzinfo=UTC),  # Sat 21 23:59 CET: before the 7 days
            datetime(2026, 3, 21, 23, 0, tzinfo=UTC),  # Sun 22 00:00 CET: first compared day
            datetime(2026, 3, 28, 22, 59, tzinfo=UTC),  # Sat 28 23:59 CET
            datetime(2026, 3, 28, 23, 0, tzinfo=UTC),  # Sun 29 00:00 CET: the digest's day
            datetime(2026, 3, 29, 21, 59, tzinfo=UTC),  # Sun 29 23:59 CEST
            datetime(2026, 3, 29, 22, 0, tzinfo=UTC),  # Mon 30 00:00 CEST: the next day
        ]
    ):
        world.convs.append(Conv(key, "discord", "question", "neutral", "open", utc))
    insert_world(sqlite_engine, world)
    data = build(sqlite_engine, spring_start, spring_end)
    assert data.new == Figure(2, 2 / 7)
    assert [(d.day, d.count) for d in data.series[-9:]] == [
        (date(2026, 3, day), count)
        for day, count in zip(range(21, 30), [1, 1, 0, 0, 0, 0, 0, 1, 2], strict=True)
    ]


# ------------------------------------------------------------------ failures
def test_a_slack_failure_marks_the_run_failed_and_one_worker_retries_it(
    engine: Engine, fake_slack: FakeSlack
) -> None:
    seed_users(fake_slack)
    team = team_of({"slack_id": BOSS, "timezone": "Europe/Prague"})
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    fake_slack.fail("chat.postMessage", status=500, times=1)

    assert send_due_digests(engine, client_for(fake_slack), team, now, zones=ZoneCache()) == []
    (run,) = runs(engine)
    assert (run.status, run.slack_ts, run.sent_at) == ("failed", None, None)
    with session_scope(engine) as session:
        (event,) = session.exec(select(AuditEvent).where(AuditEvent.action == "digest.failed"))
    assert event.detail == {"digest_run_id": run.id, "manager": BOSS, "error": "fatal_error"}
    assert dms(fake_slack) == {}

    retried = run_workers(engine, fake_slack, team, now + timedelta(minutes=1), workers=3)
    assert retried == [BOSS]
    assert dms(fake_slack) == {BOSS: 1}
    (run,) = runs(engine)
    assert run.status == "sent" and run.slack_ts == digest_posts(fake_slack)[0]["ts"]
    assert run_workers(engine, fake_slack, team, now + timedelta(minutes=2), workers=2) == []
    assert dms(fake_slack) == {BOSS: 1}


def test_an_error_retrying_cannot_fix_is_not_retried(
    sqlite_engine: Engine, fake_slack: FakeSlack
) -> None:
    seed_users(fake_slack)
    team = team_of({"slack_id": BOSS, "timezone": "Europe/Prague"})
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    fake_slack.fail("conversations.open", error="user_disabled", times=1)
    client = client_for(fake_slack)
    assert send_due_digests(sqlite_engine, client, team, now, zones=ZoneCache()) == []
    assert send_due_digests(sqlite_engine, client, team, now + timedelta(hours=1)) == []
    assert [r.status for r in runs(sqlite_engine)] == ["refused"]
    assert fake_slack.count_calls("conversations.open") == 1


def test_a_post_whose_answer_was_lost_is_adopted_not_repeated(
    sqlite_engine: Engine, fake_slack: FakeSlack
) -> None:
    seed_users(fake_slack)
    team = team_of({"slack_id": BOSS, "timezone": "Europe/Prague"})
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    client = client_for(fake_slack, timeout=1, retry_handlers=[])
    fake_slack.hang("chat.postMessage", 1.5, times=1)  # Slack posts it; we never hear back

    assert send_due_digests(sqlite_engine, client, team, now, zones=ZoneCache()) == []
    assert [r.status for r in runs(sqlite_engine)] == ["failed"]
    deadline = wallclock.monotonic() + 5
    while not digest_posts(fake_slack) and wallclock.monotonic() < deadline:
        wallclock.sleep(0.05)

    assert send_due_digests(sqlite_engine, client, team, now + timedelta(minutes=1)) == [BOSS]
    (post,) = digest_posts(fake_slack)
    (run,) = runs(sqlite_engine)
    assert (run.status, run.slack_ts) == ("sent", post["ts"])
    assert fake_slack.count_calls("chat.postMessage") == 1


# ------------------------------------------------------------------ by hand
def test_dry_run_sends_nothing_and_claims_nothing(
    sqlite_engine: Engine, fake_slack: FakeSlack
) -> None:
    insert_world(sqlite_engine, make_world())
    seed_users(fake_slack)
    team = team_of({"slack_id": BOSS, "timezone": "Europe/Prague"}, {"slack_id": WEST})
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    text = send_digest_now(
        sqlite_engine, client_for(fake_slack), team, to=None, dry_run=True, now=now
    )
    assert f"To {BOSS} (dry run: not sent)" in text and f"To {WEST} (dry run: not sent)" in text
    assert "Daily digest · Sunday 22 November 2026" in text
    assert "Daily digest · Saturday 22 November 2026" not in text
    assert fake_slack.count_calls("chat.postMessage") == 0
    assert fake_slack.count_calls("conversations.open") == 0
    assert runs(sqlite_engine) == []


def test_send_now_claims_today_then_only_extras(
    sqlite_engine: Engine, fake_slack: FakeSlack
) -> None:
    seed_users(fake_slack)
    fake_slack.add_user("U0OTHER", "other", tz="Asia/Tokyo")
    team = team_of({"slack_id": BOSS, "timezone": "Europe/Prague"})
    client = client_for(fake_slack)
    early = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # 07:00 in Prague: not due yet

    assert (
        send_digest_now(sqlite_engine, client, team, to=BOSS, dry_run=False, now=early)
        == f"Digest sent to {BOSS}."
    )
    assert send_due_digests(sqlite_engine, client, team, early + timedelta(hours=3)) == []
    extra = send_digest_now(sqlite_engine, client, team, to=None, dry_run=False, now=early)
    assert "an extra" in extra
    assert (
        send_digest_now(sqlite_engine, client, team, to="U0OTHER", dry_run=False, now=early)
        == "Digest sent to U0OTHER."
    )
    assert dms(fake_slack) == {BOSS: 2, "U0OTHER": 1}
    assert [(r.manager_slack_id, r.status) for r in runs(sqlite_engine)] == [
        (BOSS, "sent"),
        ("U0OTHER", "sent"),
    ]
    with pytest.raises(DigestError, match="no managers"):
        send_digest_now(sqlite_engine, client, TeamConfig(), to=None, dry_run=False, now=early)


def test_the_scheduled_job_checks_every_minute_and_sends(
    sqlite_engine: Engine, fake_slack: FakeSlack
) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    seed_users(fake_slack)
    team = team_of({"slack_id": BOSS, "timezone": "Europe/Prague", "digest_time": time(0, 0)})
    scheduler = BackgroundScheduler(timezone=UTC)
    job = register_digest_job(scheduler, sqlite_engine, client_for(fake_slack), team)
    assert (job.id, job.coalesce, job.misfire_grace_time, job.max_instances) == (
        "digest",
        True,
        3600,
        1,
    )
    assert job.trigger.interval == timedelta(minutes=1)
    scheduler.start()
    try:
        deadline = wallclock.monotonic() + 10
        while not digest_posts(fake_slack) and wallclock.monotonic() < deadline:
            wallclock.sleep(0.05)
    finally:
        scheduler.shutdown(wait=True)
    assert dms(fake_slack) == {BOSS: 1}


# ------------------------------------------------------------------ the command line
def test_the_digest_command(sqlite_engine: Engine, fake_slack: FakeSlack) -> None:
    seed_users(fake_slack)
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Threadline."""

    token: list[str | None] = ["xoxb-test"]

    def boot() -> tuple[Settings, LoadedConfig]:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            slack_bot_token=token[0],
            slack_api_url=fake_slack.api_url,
        )
        return settings, LoadedConfig(
            team_of({"slack_id": BOSS, "timezone": "Europe/Prague"}), None
        )

    register(app, boot, lambda _settings: sqlite_engine)
    runner = CliRunner()
    sent = runner.invoke(app, ["digest", "--now", "--to", BOSS])
    assert sent.exit_code == 0, sent.output
    assert f"Digest sent to {BOSS}." in sent.output
    preview = runner.invoke(app, ["digest", "--dry-run"])
    assert preview.exit_code == 0 and "Daily digest" in preview.output
    assert runner.invoke(app, ["digest"]).exit_code == 2
    assert runner.invoke(app, ["digest", "--now", "--to", "#general"]).exit_code == 2
    token[0] = None
    assert runner.invoke(app, ["digest", "--now"]).exit_code == 1
    assert dms(fake_slack) == {BOSS: 1}


def test_threadline_digest_now_dry_run_as_a_process(tmp_path: Path) -> None:
    """Needs `register(app, _boot, _database)` from bot.cli_digest in bot/cli.py."""
    engine = make_engine(f"sqlite:///{tmp_path / 'threadline.db'}")
    migrate.upgrade(engine)
    world = World(
        convs=[
            Conv(1, "discord", "question", "neutral", "open", datetime.now(UTC) - timedelta(days=1))
        ]
    )
    insert_world(engine, world)
    (tmp_path / "threadline.toml").write_text(
        '[[managers]]\nslack_id = "U0BOSS1"\ntimezone = "Europe/Prague"\ndigest_time = 09:00:00\n'
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "OPENAI_", "DISCORD_", "THREADLINE_", "DATABASE_"))
    }
    env.update(PYTHONPATH=str(ROOT), DATABASE_URL=f"sqlite:///{tmp_path / 'threadline.db'}")
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "digest", "--now", "--dry-run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "To U0BOSS1 (dry run: not sent)" in proc.stdout
    assert "Daily digest · " in proc.stdout and "Unclaimed now          1" in proc.stdout
    assert runs(engine) == []
    engine.dispose()
