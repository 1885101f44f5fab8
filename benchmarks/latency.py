"""Slack interaction latency through the real HTTP server: a signed `block_actions` claim
and `/crm lookup` commands against Threadline's web app (`threadline serve`'s stack:
waitress, bolt's Flask adapter, `process_before_response=False`), and the same requests
against a bare bolt app that only acks, served by the same stack, interleaved in one run.

    python -m benchmarks.latency [--conversations N] [--requests N]

The database is benchmarks/dataset.py's (default 1,000,000 conversations, 300,000
customers), copied first because claims change it. FakeSlack plays the Web API (the card
updates go to it) and a keep-alive client signs every request exactly as Slack does.

What the user waits for is the HTTP response. A lookup is answered in the ack itself, so
its response carries the whole lookup. A claim acks first and runs after the response (bolt
runs listeners on a thread pool when process_before_response is False): its row measures
the response, and the "card updated" row measures until chat.update reached Slack.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from slack_bolt import Ack, App
from slack_sdk import WebClient
from sqlalchemy import text

from benchmarks.common import RESULTS, report
from benchmarks.dataset import Dataset, cached_dataset
from bot.config import Settings
from bot.config_schema import TeamConfig
from bot.listeners import ListenerContext
from bot.slack_app import build_slack_app
from bot.web import RunningServer, create_web_app, start_http_server
from handlers.drafting import TemplateDrafter
from storage.db import make_engine
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_driver import DriverResponse, SlackDriver

DEFAULT_CONVERSATIONS = 1_000_000
DEFAULT_REQUESTS = 1000
NAME_LOOKUPS = 20  # a name substring scans: a few show its cost
TARGET_P99_MS = 25.0
TARGET_RATIO = 2.0  # against the bare app's p99
SIGNING_SECRET = "bench-signing-secret"
STAFF = "U0BENCH"
CARD_TIMEOUT_S = 10.0


class KeepAliveDriver(SlackDriver):
    """SlackDriver's payloads and signatures over one persistent HTTP/1.1 connection, as
    Slack's own senders keep connections open."""

    def __init__(self, events_url: str, fake: FakeSlack) -> None:
        super().__init__(events_url, SIGNING_SECRET, fake=fake)
        url = urlsplit(events_url)
        self._path = url.path
        self._conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)

    def send(
        self,
        body: str,
        content_type: str,
        *,
        headers: dict[str, str] | None = None,
        sign: bool = True,
        timestamp_offset: int = 0,
        sent: Any = None,
    ) -> DriverResponse:
        all_headers = self.signed_headers(body, content_type, headers, sign, timestamp_offset)
        data = body.encode("utf-8")
        started = time.perf_counter()
        self._conn.request("POST", self._path, body=data, headers=all_headers)
        response = self._conn.getresponse()
        raw = response.read()
        elapsed = time.perf_counter() - started
        return DriverResponse(
            response.status, raw.decode("utf-8", "replace"), dict(response.getheaders()), elapsed
        )

    def close(self) -> None:
        self._conn.close()


def bare_app(fake: FakeSlack) -> App:
    """A bolt app that only acks the same two requests."""
    app = App(
        client=WebClient(base_url=fake.api_url, token="xoxb-test"),
        signing_secret=SIGNING_SECRET,
        token_verification_enabled=False,
    )

    def ack_only(ack: Ack) -> None:
        ack()

    app.action("conversation.claim")(ack_only)
    app.command("/crm")(ack_only)
    return app


@dataclass
class Bench:
    dataset: Dataset
    fake: FakeSlack
    engine: Any
    threadline: RunningServer
    bare: RunningServer
    times: dict[str, list[float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def record(self, name: str, answer: DriverResponse, expect: str = "") -> None:
        if answer.status != 200 or expect not in answer.body:
            self.failures.append(f"{name}: HTTP {answer.status} {answer.body[:120]!r}")
        self.times.setdefault(name, []).append(answer.elapsed * 1000)


def start(dataset: Dataset, db_copy: Path, fake: FakeSlack) -> Bench:
    for channel in ("C0SUPPORT", "C0SALES", "C0PRODUCT"):
        fake.add_channel(channel.lower(), id=channel)
    engine = make_engine(f"sqlite:///{db_copy}")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token="xoxb-test",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake.api_url,
    )
    team = TeamConfig()
    listeners = ListenerContext(engine, team, TemplateDrafter())
    web = create_web_app(engine, build_slack_app(settings, team, listeners=listeners))
    threadline = start_http_server(web, "127.0.0.1", 0)
    bare = start_http_server(create_web_app(engine, bare_app(fake)), "127.0.0.1", 0)
    return Bench(dataset, fake, engine, threadline, bare)


def claimable(bench: Bench, count: int, rng: random.Random) -> list[tuple[int, str, str]]:
    """Open, unclaimed, posted conversations, with their cards seeded into FakeSlack."""
    with bench.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, slack_channel, slack_ts FROM conversation "
                "WHERE status = 'open' AND assignee_slack_id IS NULL AND slack_ts IS NOT NULL"
            )
        ).all()
    picked = rng.sample(rows, min(count, len(rows)))
    for _, channel, ts in picked:
        bench.fake.add_message(channel, "card", user=bench.fake.bot_user_id, ts=ts)
    return [(int(cid), str(channel), str(ts)) for cid, channel, ts in picked]


def wait_for_card(fake: FakeSlack, channel: str, ts: str, started: float) -> float:
    """Milliseconds from `started` until the card shows an edit (chat.update arrived)."""
    deadline = started + CARD_TIMEOUT_S
    while time.perf_counter() < deadline:
        message = fake.message(channel, ts)
        if message and message.get("edited"):
            return (time.perf_counter() - started) * 1000
        time.sleep(0.0005)
    raise TimeoutError(f"card {channel}/{ts} was not updated within {CARD_TIMEOUT_S} s")


def lookup_texts(dataset: Dataset, rng: random.Random, count: int) -> list[tuple[str, str]]:
    """(kind, query) for random customers: handles, emails and profile URLs in turn."""
    shape, out = dataset.shape, []
    while len(out) < count:
        cid = rng.randrange(1, shape.customers + 1)
        kind = ("@handle", "email", "profile URL")[len(out) % 3]
        if kind == "email" and not shape.has_email(cid):
            continue
        if kind == "profile URL" and shape.first_source(cid) != "mastodon":
            continue
        query = {
            "@handle": f"@user{cid}",
            "email": f"user{cid}@example.com",
            "profile URL": f"https://mastodon.social/@user{cid}",
        }[kind]
        out.append((kind, query))
    return out


def run(bench: Bench, requests: int, seed: int = 5) -> None:
    """Interleaved, one request at a time: each kind sees the same machine load."""
    rng = random.Random(seed)
    claims = claimable(bench, requests, rng)
    lookups = lookup_texts(bench.dataset, rng, requests)
    ours = KeepAliveDriver(f"{bench.threadline.url}/slack/events", bench.fake)
    bare = KeepAliveDriver(f"{bench.bare.url}/slack/events", bench.fake)
    try:
        for _ in range(5):  # warm-up: connections, statement caches, first imports
            bench.record("warm-up", bare.slash_command(text="lookup @user1"))
        for (cid, channel, ts), (kind, query) in zip(claims, lookups, strict=False):
            started = time.perf_counter()
            bench.record(
                "claim",
                ours.block_action(
                    "conversation.claim", str(cid), user_id=STAFF, channel_id=channel, message_ts=ts
                ),
            )
            done = wait_for_card(bench.fake, channel, ts, started)
            bench.times.setdefault("claim: card updated", []).append(done)
            bench.record("bare: block_actions", bare.block_action("conversation.claim", "1"))
            bench.record(f"lookup {kind}", ours.slash_command(text=f"lookup {query}"), "blocks")
            bench.record("bare: slash command", bare.slash_command(text=f"lookup {query}"))
        for _ in range(NAME_LOOKUPS):
            bench.record("lookup name 'Rezae'", ours.slash_command(text="lookup Rezae"), "blocks")
    finally:
        ours.close()
        bare.close()


def percentiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return statistics.median(values), cuts[98]


def rows(bench: Bench) -> list[dict[str, Any]]:
    times = dict(bench.times)
    times.pop("warm-up", None)
    times["lookup (all kinds)"] = [
        t for kind in ("@handle", "email", "profile URL") for t in times[f"lookup {kind}"]
    ]
    bare_p99 = {
        "claim": percentiles(times["bare: block_actions"])[1],
        "lookup": percentiles(times["bare: slash command"])[1],
    }
    out = []
    for name, values in times.items():
        p50, p99 = percentiles(values)
        versus = next((bare_p99[k] for k in bare_p99 if name.startswith(k)), None)
        meets = (
            "-"
            if versus is None or name == "claim: card updated"
            else "yes"
            if p99 <= TARGET_P99_MS and p99 <= TARGET_RATIO * versus
            else "no"
        )
        out.append(
            {
                "request": name,
                "n": len(values),
                "p50_ms": round(p50, 2),
                "p99_ms": round(p99, 2),
                "x_bare_p99": "-" if versus is None else round(p99 / versus, 2),
                "target": "-" if meets == "-" else f"p99<={TARGET_P99_MS:.0f}, <={TARGET_RATIO}x",
                "ok": meets,
            }
        )
    return out


def main(
    conversations: int = DEFAULT_CONVERSATIONS,
    requests: int = DEFAULT_REQUESTS,
    *,
    cache_dir: Path = RESULTS,
    report_as: str = "latency",
) -> list[dict[str, Any]]:
    """Run, print the table and save it as benchmarks/results/<report_as>.json."""
    dataset = cached_dataset(conversations, cache_dir=cache_dir)
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as fake:
        copy = Path(tmp) / "latency.db"
        shutil.copyfile(dataset.path, copy)  # claims write; the cache stays pristine
        bench = start(dataset, copy, fake)
        load_before = os.getloadavg()[0]
        try:
            run(bench, requests)
        finally:
            time.sleep(0.2)  # let waitress close the keep-alive channels before stopping
            bench.threadline.stop()
            bench.bare.stop()
            bench.engine.dispose()
        table = rows(bench)
    print(
        f"\n{dataset.built:,} conversations, {dataset.shape.customers:,} customers; load "
        f"average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, "
        f"on {os.cpu_count()} CPUs. Claims run after the HTTP response (bolt acks first); "
        "'claim: card updated' is until chat.update reached Slack."
    )
    report(report_as, table)
    if bench.failures:  # a fast wrong answer is no result: say so loudly
        shown = "; ".join(bench.failures[:3])
        raise RuntimeError(f"{len(bench.failures)} requests were not answered right: {shown}")
    return table


def _parse(argv: Iterable[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--conversations", type=int, default=DEFAULT_CONVERSATIONS)
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS)
    args = parser.parse_args(None if argv is None else list(argv))
    if args.conversations < 1 or args.requests < 2:
        parser.error("--conversations must be at least 1 and --requests at least 2")
    return args


if __name__ == "__main__":
    arguments = _parse()
    main(arguments.conversations, arguments.requests)
