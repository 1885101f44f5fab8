"""The `threadline` command line, run as a real process: clear errors, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect

from storage.db import make_engine

ROOT = Path(__file__).resolve().parents[1]


def threadline(
    *args: str, env: dict[str, str] | None = None, cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "OPENAI_", "DISCORD_", "THREADLINE_", "DATABASE_"))
    }
    base["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={**base, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_clean_failure(proc: subprocess.CompletedProcess[str], code: int) -> str:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    return proc.stderr


def test_run_without_slack_names_the_missing_variables_and_how_to_get_them(tmp_path: Path) -> None:
    err = assert_clean_failure(threadline("run", "--no-sandbox", cwd=tmp_path), 1)
    assert "SLACK_BOT_TOKEN" in err
    assert "SLACK_APP_TOKEN" in err
    assert "SLACK_SIGNING_SECRET" in err
    assert "manifest.yml" in err
    assert not (tmp_path / "threadline.db").exists()  # failed before touching anything


def test_serve_needs_the_signing_secret(tmp_path: Path) -> None:
    err = assert_clean_failure(
        threadline(
            "serve", env={"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}, cwd=tmp_path
        ),
        1,
    )
    assert "SLACK_SIGNING_SECRET" in err
    assert "SLACK_BOT_TOKEN" not in err.split("How to get them")[0]


def test_bad_config_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "threadline.toml").write_text("[sla]\nfirst_response_minutes = 'soon'\n")
    err = assert_clean_failure(threadline("migrate", cwd=tmp_path), 2)
    assert err.count("\n") == 1
    assert "threadline.toml: key sla.first_response_minutes" in err


def test_bad_database_url_is_one_line(tmp_path: Path) -> None:
    err = assert_clean_failure(
        threadline("migrate", env={"DATABASE_URL": "nonsense"}, cwd=tmp_path), 2
    )
    assert err.count("\n") == 1
    assert "DATABASE_URL is not a database URL" in err


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    url = "postgresql://bob:topsecret9@127.0.0.1:1/x?connect_timeout=2"
    err = assert_clean_failure(threadline("migrate", env={"DATABASE_URL": url}, cwd=tmp_path), 2)
    assert err.count("\n") == 1
    assert "cannot reach the database" in err
    assert "topsecret9" not in err


def test_migrate_creates_the_schema(tmp_path: Path) -> None:
    proc = threadline("migrate", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "at revision" in proc.stdout
    engine = make_engine(f"sqlite:///{tmp_path / 'threadline.db'}")
    assert "conversation" in inspect(engine).get_table_names()
    engine.dispose()


def test_doctor_prints_a_table_with_fixes(tmp_path: Path) -> None:
    proc = threadline("doctor", cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    status = {
        line.split()[1]: line.split()[0] for line in lines if line[:4] in ("OK  ", "FAIL", "OFF ")
    }
    assert status["config"] == "OK"
    assert status["database"] == "FAIL"  # not created yet
    assert status["openai"] == "OFF"
    assert "fix: run: threadline migrate" in proc.stdout
    assert "fix: create the Slack app from manifest.yml" in proc.stdout
    assert "problem(s) found" in proc.stdout


@pytest.mark.parametrize("command", ["run", "serve", "worker"])
def test_long_running_commands_refuse_bad_config_before_starting(
    tmp_path: Path, command: str
) -> None:
    (tmp_path / "threadline.toml").write_text("[channels]\nsupport = 'oops'\n")
    err = assert_clean_failure(threadline(command, cwd=tmp_path), 2)
    assert "channels" in err
