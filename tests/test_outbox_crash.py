"""A worker killed with SIGKILL in the middle of a backlog, then restarted: every card once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from storage import migrate
from storage.db import make_engine
from tests.fakes.slack import FakeSlack
from tests.pipeline import ingest_backlog

ROOT = Path(__file__).resolve().parents[1]
BACKLOG = 500
CONFIG = """
[channels]
support = "#support"
[slack]
posts_per_second = 50.0
post_burst = 50
[outbox]
lease_seconds = 2.0
settle_seconds = 0.5
"""


def card_ids(fake: FakeSlack) -> list[int]:
    return [
        p["metadata"]["event_payload"]["conversation_id"]
        for p in fake.all_posts()
        if p.get("metadata", {}).get("event_type") == "threadline_card"
    ]


def start_worker(cwd: Path, fake: FakeSlack) -> subprocess.Popen[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "OPENAI_", "DISCORD_", "THREADLINE_", "DATABASE_"))
    }
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": f"sqlite:///{cwd / 'threadline.db'}",
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_APP_TOKEN": "xapp-test",
            "SLACK_API_URL": fake.api_url,
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "worker"],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(cwd / "worker.log").open("a"),
        text=True,
    )


def wait_for_cards(
    fake: FakeSlack, count: int, seconds: float, worker: subprocess.Popen[str], log: Path
) -> None:
    deadline = time.monotonic() + seconds
    while len(card_ids(fake)) < count:
        assert worker.poll() is None, f"worker exited: {log.read_text()[-2000:]}"
        assert time.monotonic() < deadline, f"only {len(card_ids(fake))} of {count} cards"
        time.sleep(0.01)


def test_sigkill_mid_backlog_then_restart_posts_every_card_exactly_once(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    fake_slack.add_channel("support")
    (tmp_path / "threadline.toml").write_text(CONFIG)
    engine = make_engine(f"sqlite:///{tmp_path / 'threadline.db'}")
    migrate.upgrade(engine)
    ingest_backlog(engine, BACKLOG)
    engine.dispose()

    for stop_at in (120, 300):
        worker = start_worker(tmp_path, fake_slack)
        wait_for_cards(fake_slack, stop_at, 60, worker, tmp_path / "worker.log")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    worker = start_worker(tmp_path, fake_slack)
    try:
        wait_for_cards(fake_slack, BACKLOG, 90, worker, tmp_path / "worker.log")
        time.sleep(2.5)  # past the lease: a duplicate would have shown up by now
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=20)

    counts = Counter(card_ids(fake_slack))
    assert len(counts) == BACKLOG
    duplicates = {cid: n for cid, n in counts.items() if n > 1}
    assert duplicates == {}
