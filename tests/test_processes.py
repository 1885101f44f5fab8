"""`threadline run` and `worker` as real processes against FakeSlack: start, answer, stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import free_port
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_driver import SlackDriver

ROOT = Path(__file__).resolve().parents[1]


def start(command: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "OPENAI_", "DISCORD_", "THREADLINE_", "DATABASE_"))
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot", command],
        cwd=cwd,
        env={**base, "PYTHONPATH": str(ROOT), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_healthy(url: str, proc: subprocess.Popen[str], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited early: {proc.communicate()[1]}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("never became healthy")


def stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    return proc.returncode, err


def test_run_in_http_mode_migrates_serves_and_stops_on_sigterm(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    port = free_port()
    proc = start(
        "run",
        tmp_path,
        {
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": "sign-secret-1",
            "SLACK_API_URL": fake_slack.api_url,
            "PORT": str(port),
        },
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        driver = SlackDriver(f"http://127.0.0.1:{port}/slack/events", "sign-secret-1")
        response = driver.slash_command("/crm", "help")
        assert response.status == 200
        assert "Threadline commands" in response.body
    finally:
        code, err = stop(proc)
    assert code == 0, err
    assert (tmp_path / "threadline.db").exists()
    # Verified at start-up, before serving; bolt then checks once more on its first request.
    assert fake_slack.calls[0][0] == "auth.test"
    assert "Traceback" not in err, err[-3000:]
    assert "xoxb-test" not in err and "sign-secret-1" not in err


def test_run_with_a_rejected_token_says_so(tmp_path: Path, fake_slack: FakeSlack) -> None:
    proc = start(
        "run",
        tmp_path,
        {
            "SLACK_BOT_TOKEN": "xoxb-revoked",
            "SLACK_SIGNING_SECRET": "s",
            "SLACK_API_URL": fake_slack.api_url,
            "PORT": str(free_port()),
        },
    )
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "Slack refused SLACK_BOT_TOKEN (invalid_auth)" in err
    assert "Traceback" not in err, err[-3000:]


def test_worker_starts_and_stops_cleanly(tmp_path: Path, fake_slack: FakeSlack) -> None:
    proc = start(
        "worker",
        tmp_path,
        {
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_APP_TOKEN": "xapp-1",
            "SLACK_API_URL": fake_slack.api_url,
        },
    )
    deadline = time.monotonic() + 20
    while not (tmp_path / "threadline.db").exists() and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.1)
    time.sleep(0.5)
    code, err = stop(proc)
    assert code == 0, err
    assert "worker started" in err
