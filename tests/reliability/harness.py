"""Real `threadline` processes (serve, worker, run) on one database, against local fakes.

Each process is started exactly as an operator would (`python -m bot <mode>` with environment
variables and a `threadline.toml` in its working directory); its stdout and stderr go to one
log file per process name, appended across restarts, so tests can scan everything it said.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
SIGNING_SECRET = "sign-rel-3c9f0d1e"
WEBHOOK_SECRET = "whsec-rel-8a7b6c5d"
_OURS = ("SLACK_", "OPENAI_", "DISCORD_", "MASTODON_", "BLUESKY_", "THREADLINE_", "DATABASE_")

T = TypeVar("T")

# Short leases and settle times keep recovery inside the test's time bound; the behaviour
# (lease expiry, reconcile-before-retry) is the production code path.
BASE_CONFIG = """
[channels]
support = "#support"
product = "#product"
sales = "#sales"

[slack]
posts_per_second = 50.0
post_burst = 50

[staff]
admins = ["UADMIN1"]

[routing]
default_channel = "support"

[[routing.rules]]
name = "product complaints"
channel = "support"
notify = ["product"]
match = { intents = ["complaint"] }

[[routing.rules]]
name = "buying"
channel = "sales"
match = { intents = ["purchase_intent"] }

[outbox]
lease_seconds = 2.0
settle_seconds = 0.5
max_attempts = 10

[sources.webhook]
reply_timeout_seconds = 1.0

[drafts]
timeout_seconds = 1.0
"""


def wait_until(check: Callable[[], T | None], seconds: float, what: str, poll: float = 0.05) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:.0f}s waiting for {what}")
        time.sleep(poll)


def http_get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@dataclass
class ManagedProcess:
    name: str
    mode: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like a crash or an OOM kill."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self) -> int:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        return int(self.popen.returncode)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@dataclass
class Stack:
    """One Threadline deployment: a working directory, a database and its processes."""

    workdir: Path
    env: dict[str, str]
    port: int
    processes: dict[str, ManagedProcess] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, mode: str, name: str | None = None) -> ManagedProcess:
        name = name or mode
        base = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
        log_path = self.workdir / f"{name}.log"
        with log_path.open("ab") as log_file:
            popen = subprocess.Popen(
                [sys.executable, "-m", "bot", mode],
                cwd=self.workdir,
                env={**base, "PYTHONPATH": str(ROOT), **self.env},
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        proc = ManagedProcess(name, mode, popen, log_path)
        self.processes[name] = proc
        return proc

    def start_http(self, mode: str = "serve", name: str | None = None) -> ManagedProcess:
        proc = self.start(mode, name)
        self.wait_healthy(proc)
        return proc

    def start_worker(self, name: str = "worker") -> ManagedProcess:
        proc = self.start("worker", name)
        marker_count = proc.log().count("worker started")
        wait_until(
            lambda: proc.log().count("worker started") > marker_count or not proc.alive(),
            30,
            "the worker to start",
        )
        assert proc.alive(), f"worker exited: {proc.log()[-3000:]}"
        return proc

    def wait_healthy(self, proc: ManagedProcess, seconds: float = 30) -> None:
        def healthy() -> bool:
            assert proc.alive(), f"{proc.name} exited: {proc.log()[-3000:]}"
            try:
                return http_get(f"{self.url}/healthz", timeout=1)[0] == 200
            except OSError:
                return False

        wait_until(healthy, seconds, f"{proc.name} to answer /healthz", poll=0.1)

    def healthz(self) -> int:
        return http_get(f"{self.url}/healthz")[0]

    def stop_all(self) -> dict[str, int]:
        return {name: proc.stop() for name, proc in self.processes.items()}

    def logs(self) -> str:
        return "\n".join(p.log() for p in {p.log_path: p for p in self.processes.values()}.values())


def make_stack(
    workdir: Path,
    port: int,
    *,
    slack_api_url: str,
    database_url: str | None = None,
    bot_token: str = "xoxb-test",
    config: str = BASE_CONFIG,
    extra_env: dict[str, str] | None = None,
) -> Stack:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "threadline.toml").write_text(config, encoding="utf-8")
    env = {
        "DATABASE_URL": database_url or f"sqlite:///{workdir / 'threadline.db'}",
        "SLACK_BOT_TOKEN": bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_api_url,
        "THREADLINE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        **(extra_env or {}),
    }
    return Stack(workdir, env, port)


def posts_with(posts: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [p for p in posts if (p.get("metadata") or {}).get("event_type") == event_type]


def payload_of(post: dict[str, Any]) -> dict[str, Any]:
    return dict((post.get("metadata") or {}).get("event_payload") or {})


def everything_said(post: dict[str, Any]) -> str:
    """A post's text and blocks as one string, for "must not contain" checks."""
    return json.dumps({"text": post.get("text"), "blocks": post.get("blocks")}, ensure_ascii=False)


@contextmanager
def postgres_database(prefix: str = "threadline_rel") -> Iterator[str | None]:
    """A fresh PostgreSQL database of our own (None when no server answers); dropped after."""
    from tests.conftest import _postgres_admin_url

    admin = _postgres_admin_url()
    if admin is None:
        yield None
        return
    import psycopg
    from sqlalchemy.engine import make_url

    admin_url = make_url(admin).set(drivername="postgresql")
    dsn = admin_url.render_as_string(hide_password=False)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
