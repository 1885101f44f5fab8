"""Peak memory (RSS) of a real `threadline worker` while the ingest benchmark's load flows
through its database.

    python -m benchmarks.memory [--messages N] [--settle S]

Set-up: one SQLite database, FakeSlack (the local Slack Web API, no rate limit of its own)
in this process, and `threadline worker` started as a subprocess on them — its outbox
drainer, reply drainer, source runner and scheduler all running, production pacing (one
post per second per channel). This process then ingests N messages (default 100,000: the
load of `benchmarks.ingest`, through `Intake.accept_many`) into that database while the
worker claims, renders and posts cards from the growing outbox; after the ingest the worker
keeps draining for S seconds (default 20), then gets SIGTERM.

Sampled every 0.25 s from /proc/<pid>/status: VmRSS (now) and VmHWM (the kernel's peak
RSS, so nothing between samples is missed). The ingesting process's own peak is printed too:
in a deployment the webhook (`threadline serve`) or a source inside the worker does that work.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

from benchmarks.common import report
from benchmarks.ingest import Load
from bot.config_schema import TeamConfig
from bot.intake import Intake
from handlers.classify_offline import OfflineClassifier
from handlers.inbound import InboundMessage
from storage import migrate
from storage.db import make_engine
from tests.fakes.slack import FakeSlack

N = 100_000
BATCH = 500
SETTLE_S = 20.0
TARGET_MB = 250.0
TOKEN = "xoxb-bench"
ROOT = Path(__file__).resolve().parents[1]
CONFIG = """
[channels]
support = "#support"
c0 = "#team-c0"
c1 = "#team-c1"
c2 = "#team-c2"
c3 = "#team-c3"
c4 = "#team-c4"

[routing]
default_channel = "support"
influencer_followers = 10000

[[routing.rules]]
name = "complaints"
channel = "c0"
notify = ["c1"]
tags = ["bug"]
match = { intents = ["complaint"] }

[[routing.rules]]
name = "buying"
channel = "c2"
match = { intents = ["purchase_intent"] }

[[routing.rules]]
name = "refunds"
channel = "c3"
match = { keywords = ["refund", "Rück"] }

[[routing.rules]]
name = "persian"
channel = "c4"
match = { languages = ["fa", "ar"] }
"""


def status_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a live process, in kB."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.pid = pid
        self.stop = threading.Event()
        self.peak_hwm_kb = 0
        self.samples = 0

    def run(self) -> None:
        while not self.stop.wait(0.25):
            try:
                seen = status_kb(self.pid)
            except (FileNotFoundError, ProcessLookupError):
                return
            self.peak_hwm_kb = max(self.peak_hwm_kb, seen.get("VmHWM", 0))
            self.samples += 1


def worker_command() -> list[str]:
    """The installed `threadline` console script next to this interpreter, else `-m bot`."""
    script = shutil.which("threadline", path=str(Path(sys.executable).parent))
    return [script, "worker"] if script else [sys.executable, "-m", "bot", "worker"]


def start_worker(workdir: Path, db_url: str, slack_url: str) -> subprocess.Popen[bytes]:
    keep = ("SLACK_", "OPENAI_", "DISCORD_", "THREADLINE_", "DATABASE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(keep)}
    env |= {
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": db_url,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_APP_TOKEN": "xapp-bench",
        "SLACK_API_URL": slack_url,
        "THREADLINE_CONFIG": str(workdir / "threadline.toml"),
    }
    log = (workdir / "worker.log").open("wb")
    return subprocess.Popen(worker_command(), cwd=workdir, env=env, stdout=log, stderr=log)


def ingest(db_url: str, team: TeamConfig, n: int) -> float:
    engine = make_engine(db_url)
    intake = Intake(engine, team, OfflineClassifier())
    started = time.perf_counter()
    for payloads in Load(n).batches(BATCH):
        intake.accept_many([InboundMessage.model_validate(p) for p in payloads])
    engine.dispose()
    return time.perf_counter() - started


def measure(n: int, settle_s: float) -> list[dict[str, Any]]:
    team = TeamConfig.model_validate(tomllib.loads(CONFIG))
    with tempfile.TemporaryDirectory() as tmp, FakeSlack(bot_token=TOKEN) as fake:
        workdir = Path(tmp)
        (workdir / "threadline.toml").write_text(CONFIG)
        for name in ("support", "team-c0", "team-c1", "team-c2", "team-c3", "team-c4"):
            fake.add_channel(name)
        db_url = f"sqlite:///{workdir / 'threadline.db'}"
        migrate.upgrade(make_engine(db_url))
        worker = start_worker(workdir, db_url, fake.api_url)
        sampler = Sampler(worker.pid)
        sampler.start()
        try:
            time.sleep(3)  # start-up: imports, migrations check, auth.test
            if worker.poll() is not None:
                raise SystemExit((workdir / "worker.log").read_text()[-3000:])
            started_kb = status_kb(worker.pid).get("VmRSS", 0)
            ingest_s = ingest(db_url, team, n)
            time.sleep(settle_s)
        finally:
            sampler.stop.set()
            sampler.join()
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=30)
        posts = len(fake.all_posts())
        log_text = (workdir / "worker.log").read_text()
    if code != 0 or "Traceback" in log_text:
        raise SystemExit(f"worker failed (exit {code}):\n{log_text[-3000:]}")
    own_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker_mb = sampler.peak_hwm_kb / 1024
    return [
        {
            "process": "threadline worker (drains the outbox)",
            "messages": n,
            "ingest_s": ingest_s,
            "cards_posted": posts,
            "rss_after_start_mb": started_kb / 1024,
            "peak_rss_mb": worker_mb,
            "target": f"<= {TARGET_MB:.0f} MB",
            "verdict": "met" if worker_mb <= TARGET_MB else "GAP",
        },
        {
            "process": "ingesting process (accept_many 500)",
            "messages": n,
            "ingest_s": ingest_s,
            "cards_posted": 0,
            "rss_after_start_mb": 0.0,
            "peak_rss_mb": own_peak_mb,
            "target": "",
            "verdict": "—",
        },
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=N)
    parser.add_argument("--settle", type=float, default=SETTLE_S, help="drain after ingest, s")
    args = parser.parse_args([] if argv is None else argv)
    report("memory", measure(args.messages, args.settle))


if __name__ == "__main__":
    main(sys.argv[1:])
