"""`threadline doctor` against local fakes of Slack and OpenAI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlmodel import select

from bot.config import Settings
from bot.doctor import Check, Status, render_table, run_checks
from storage import migrate
from storage.db import make_engine, session_scope
from storage.models import OutboxItem, OutboxStatus
from tests.fakes.openai import FakeOpenAI
from tests.fakes.slack import FakeSlack

ROOT = Path(__file__).resolve().parents[1]


def settings_for(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 't.db'}", **values)  # type: ignore[call-arg]


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def migrated(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 't.db'}")
    migrate.upgrade(engine)
    engine.dispose()


def test_all_ok_against_working_fakes(
    clean_env: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    migrated(clean_env)
    checks = by_name(
        run_checks(
            settings_for(
                clean_env,
                slack_bot_token="xoxb-test",
                slack_app_token="xapp-test",
                slack_api_url=fake_slack.api_url,
                openai_api_key="sk-test",
                openai_base_url=fake_openai.base_url,
                threadline_webhook_secret="whsec",
            )
        )
    )
    assert {name: c.status for name, c in checks.items()} == {
        "config": Status.OK,
        "database": Status.OK,
        "slack auth": Status.OK,
        "slack transport": Status.OK,
        "openai": Status.OK,
        "source webhook": Status.OK,
        "source discord": Status.OFF,
        "source mastodon": Status.OFF,
        "source bluesky": Status.OFF,
        "source rss": Status.OFF,
    }
    assert "in team" in checks["slack auth"].detail
    assert fake_slack.count_calls("auth.test") == 1
    assert [r.path for r in fake_openai.requests] == ["/v1/models"]


def test_each_failure_says_what_is_wrong_and_how_to_fix_it(
    clean_env: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    (clean_env / "threadline.toml").write_text(
        "[sources.discord]\nenabled = true\n[sources.rss]\nenabled = true\n"
    )
    checks = by_name(
        run_checks(
            settings_for(
                clean_env,
                slack_bot_token="xoxb-wrong",
                slack_api_url=fake_slack.api_url,
                openai_api_key="sk-wrong",
                openai_base_url=fake_openai.base_url,
            )
        )
    )
    assert checks["slack auth"].status is Status.FAIL
    assert "invalid_auth" in checks["slack auth"].detail
    assert checks["slack transport"].status is Status.FAIL
    assert checks["openai"].status is Status.FAIL
    assert "refused OPENAI_API_KEY" in checks["openai"].detail
    assert checks["database"].status is Status.FAIL
    assert checks["source discord"].fix == "set DISCORD_BOT_TOKEN"
    assert "sources.rss.feeds" in checks["source rss"].fix
    table = render_table(list(checks.values()))
    assert table.count("fix: ") == sum(c.status is Status.FAIL for c in checks.values())
    assert "xoxb-wrong" not in table and "sk-wrong" not in table


def test_unreachable_services_fail_quickly(clean_env: Path) -> None:
    checks = by_name(
        run_checks(
            settings_for(
                clean_env,
                slack_bot_token="xoxb-test",
                slack_api_url="http://127.0.0.1:9/api/",
                openai_api_key="sk-test",
                openai_base_url="http://127.0.0.1:9/v1",
            ),
            timeout=2,
        )
    )
    assert checks["slack auth"].status is Status.FAIL
    assert "cannot reach" in checks["slack auth"].detail
    assert checks["openai"].status is Status.FAIL
    assert "APIConnectionError" in checks["openai"].detail


def test_bad_config_file_is_reported_not_raised(clean_env: Path) -> None:
    (clean_env / "threadline.toml").write_text("[sla]\ntimezone = 'Nowhere/Town'\n")
    checks = by_name(run_checks(settings_for(clean_env)))
    assert checks["config"].status is Status.FAIL
    assert "sla.timezone" in checks["config"].detail
    assert "source webhook" not in checks  # sources are unknown without a valid config


def test_parked_posts_fail_the_check_and_outbox_retry_requeues_them(clean_env: Path) -> None:
    migrated(clean_env)
    engine = make_engine(f"sqlite:///{clean_env / 't.db'}")
    with session_scope(engine) as session:
        session.add(
            OutboxItem(
                kind="slack_card",
                idempotency_key="card:1",
                status=OutboxStatus.PARKED,
                attempts=10,
                last_error="Slack refused: not_in_channel",
            )
        )
    check = by_name(run_checks(settings_for(clean_env)))["database"]
    assert check.status is Status.FAIL
    assert "1 Slack post(s) parked" in check.detail
    assert "not_in_channel" in check.detail
    assert "outbox-retry" in check.fix
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "outbox-retry"],
        cwd=clean_env,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": f"sqlite:///{clean_env / 't.db'}",
        },
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "1 parked post(s) returned" in proc.stdout
    with session_scope(engine) as session:
        item = session.exec(select(OutboxItem)).one()
    assert (item.status, item.attempts) == (OutboxStatus.PENDING, 0)
    assert by_name(run_checks(settings_for(clean_env)))["database"].status is Status.OK
    engine.dispose()
