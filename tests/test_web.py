"""The HTTP surface over real HTTP: Slack's endpoint (signed), health and metrics."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy.engine import Engine

from bot.config import Settings
from bot.config_schema import TeamConfig
from bot.slack_app import build_slack_app
from bot.web import RunningServer, create_web_app, start_http_server
from storage.db import make_engine
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_driver import SlackDriver

SIGNING_SECRET = "test-signing-secret"


@dataclass
class Served:
    server: RunningServer
    driver: SlackDriver


def get(url: str) -> tuple[int, str, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers.items())
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), dict(err.headers.items())


def serve(engine: Engine, fake_slack: FakeSlack) -> RunningServer:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token="xoxb-test",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake_slack.api_url,
    )
    slack_app = build_slack_app(settings, TeamConfig(), process_before_response=True)
    return start_http_server(create_web_app(engine, slack_app), "127.0.0.1", 0)


@pytest.fixture
def served(sqlite_engine: Engine, fake_slack: FakeSlack) -> Iterator[Served]:
    server = serve(sqlite_engine, fake_slack)
    yield Served(server, SlackDriver(f"{server.url}/slack/events", SIGNING_SECRET, fake=fake_slack))
    server.stop()


def test_healthz_answers_when_the_database_does(served: Served) -> None:
    status, body, _ = get(f"{served.server.url}/healthz")
    assert status == 200
    assert json.loads(body) == {"status": "ok", "database": "ok"}


def test_healthz_is_503_when_the_database_is_down(fake_slack: FakeSlack) -> None:
    engine = make_engine("postgresql://nobody:pw@127.0.0.1:1/none?connect_timeout=1")
    server = serve(engine, fake_slack)
    try:
        status, body, _ = get(f"{server.url}/healthz")
        metrics = get(f"{server.url}/metrics")[1]
    finally:
        server.stop()
    assert status == 503
    assert "cannot reach the database" in json.loads(body)["database"]
    assert "pw@" not in body
    assert "threadline_database_up 0.0" in metrics


def test_metrics_are_prometheus_text_counting_requests(served: Served) -> None:
    get(f"{served.server.url}/healthz")
    get(f"{served.server.url}/healthz")
    status, body, headers = get(f"{served.server.url}/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    assert 'threadline_http_requests_total{route="/healthz",status="200"} 2.0' in body
    assert "threadline_database_up 1.0" in body
    assert 'threadline_http_request_seconds_bucket{le="0.005",route="/healthz"}' in body


def test_signed_slash_command_gets_help(served: Served) -> None:
    response = served.driver.slash_command("/crm", "")
    assert response.status == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert "/crm help" in body["text"]


def test_unknown_subcommand_is_named_and_escaped(served: Served) -> None:
    response = served.driver.slash_command("/crm", "<!channel> please")
    assert response.status == 200
    text = response.json()["text"]
    assert "I don't know `&lt;!channel&gt;`" in text
    assert "<!channel>" not in text


@pytest.mark.parametrize("kwargs", [{"sign": False}, {"timestamp_offset": -600}])
def test_unsigned_or_stale_requests_are_refused(served: Served, kwargs: dict) -> None:
    response = served.driver.slash_command("/crm", "", **kwargs)
    assert response.status == 401


def test_unknown_path_is_404(served: Served) -> None:
    assert get(f"{served.server.url}/nope")[0] == 404
