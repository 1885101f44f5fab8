"""`threadline run` without Slack credentials and `threadline sandbox`, as real processes:
the URL is printed, the page answers, --reset starts fresh, Ctrl-C stops cleanly."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from bot.sandbox.runner import SANDBOX_DB

ROOT = Path(__file__).resolve().parents[1]


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "OPENAI_", "DISCORD_", "THREADLINE_", "DATABASE_"))
    }
    return {**env, "PYTHONPATH": str(ROOT), "PORT": "0", **extra}


def _start(args: list[str], cwd: Path) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def _read_until_url(lines: queue.Queue[str], seconds: float = 45) -> tuple[str, str]:
    seen = ""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            seen += lines.get(timeout=0.5)
        except queue.Empty:
            continue
        found = re.search(r"open (http://127\.0\.0\.1:\d+/sandbox)", seen)
        if found:
            return found.group(1), seen
    raise AssertionError(f"no sandbox URL printed; got: {seen!r}")


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_run_without_credentials_says_so_and_starts_the_sandbox(tmp_path: Path) -> None:
    proc, lines = _start(["run"], tmp_path)
    try:
        url, printed = _read_until_url(lines)
        assert "No Slack credentials are set" in printed
        with urllib.request.urlopen(url, timeout=5) as answer:
            assert answer.status == 200 and b"Threadline sandbox" in answer.read()
    finally:
        code = _stop(proc)
    assert code == 0  # Ctrl-C stops cleanly
    assert (tmp_path / SANDBOX_DB).exists()  # the sandbox's own file, not threadline.db
    assert not (tmp_path / "threadline.db").exists()


def test_sandbox_reset_starts_from_a_fresh_file(tmp_path: Path) -> None:
    (tmp_path / SANDBOX_DB).write_bytes(b"not a database")
    proc, lines = _start(["sandbox", "--reset"], tmp_path)
    try:
        _, printed = _read_until_url(lines)
        assert "--reset: starting fresh" in printed
    finally:
        _stop(proc)
    assert (tmp_path / SANDBOX_DB).read_bytes()[:15] == b"SQLite format 3"


def test_run_no_sandbox_still_names_the_missing_variables(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--no-sandbox"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "SLACK_BOT_TOKEN" in proc.stderr and "manifest.yml" in proc.stderr
    assert not (tmp_path / SANDBOX_DB).exists()
