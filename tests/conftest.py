"""Shared fixtures: databases (SQLite always, PostgreSQL when a server answers) and fakes."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine, make_url

from bot.config import LoadedConfig, Settings
from bot.config_schema import TeamConfig
from bot.sandbox.runner import RunningSandbox, start_sandbox
from storage import migrate
from storage.db import make_engine
from tests.fakes.openai import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.pipeline import Pipeline

PG_ADMIN_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _postgres_admin_url() -> str | None:
    """TEST_DATABASE_URL when set; else the local server, if one answers on 5432."""
    explicit = os.environ.get("TEST_DATABASE_URL")
    if explicit:
        return explicit
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return PG_ADMIN_DEFAULT
    except OSError:
        return None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test run; dropped afterwards."""
    admin = _postgres_admin_url()
    if admin is None:
        pytest.skip("no PostgreSQL server: set TEST_DATABASE_URL or run one on 127.0.0.1:5432")
    import psycopg

    admin_url = make_url(admin).set(drivername="postgresql")
    name = f"threadline_test_{uuid.uuid4().hex[:10]}"
    dsn = admin_url.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _reset_schema(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on each backend (the PostgreSQL one is wiped per test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'threadline.db'}"
        return
    url = request.getfixturevalue("postgres_server")
    engine = make_engine(url)
    _reset_schema(engine)
    engine.dispose()
    yield url


@pytest.fixture
def engine(empty_db_url: str) -> Iterator[Engine]:
    """A migrated database on each backend."""
    eng = make_engine(empty_db_url)
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'threadline.db'}")
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No Threadline variables from the developer's shell, and a scratch working directory
    (so no stray .env or threadline.toml is read)."""
    for name in list(os.environ):
        if name.startswith(("SLACK_", "OPENAI_", "DISCORD_", "THREADLINE_", "DATABASE_")):
            monkeypatch.delenv(name)
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.delenv("HOST", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        yield slack


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def pipeline(engine: Engine, fake_slack: FakeSlack) -> Iterator[Pipeline]:
    pipe = Pipeline(engine, fake_slack)
    yield pipe
    pipe.stop()


@pytest.fixture
def sqlite_pipeline(sqlite_engine: Engine, fake_slack: FakeSlack) -> Iterator[Pipeline]:
    pipe = Pipeline(sqlite_engine, fake_slack)
    yield pipe
    pipe.stop()


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[RunningSandbox]:
    """A running sandbox (emulator, bot and page) on a free port with its own SQLite file."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path / 'sandbox.db'}",
        openai_api_key=None,
    )
    running = start_sandbox(settings, LoadedConfig(TeamConfig(), None), host="127.0.0.1", port=0)
    try:
        yield running
    finally:
        running.stop()
