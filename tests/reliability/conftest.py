"""Fixtures for the fault-and-load suite: fakes, and real Threadline processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.fakes.callback import FakeCallback
from tests.fakes.slack import FakeSlack
from tests.reliability.harness import WEBHOOK_SECRET, Stack, make_stack


@pytest.fixture
def callback() -> Iterator[FakeCallback]:
    """An integrator's reply endpoint that treats a repeated Idempotency-Key as handled,
    as the README asks receivers to."""
    with FakeCallback(WEBHOOK_SECRET) as server:
        server.dedupe = True
        yield server


@pytest.fixture
def slack_channels(fake_slack: FakeSlack) -> FakeSlack:
    for name in ("support", "product", "sales"):
        fake_slack.add_channel(name)
    return fake_slack


@pytest.fixture
def stack(tmp_path: Path, slack_channels: FakeSlack) -> Iterator[Stack]:
    """A deployment on a SQLite file; the test starts the processes it needs."""
    deployment = make_stack(tmp_path / "deploy", free_port(), slack_api_url=slack_channels.api_url)
    try:
        yield deployment
    finally:
        deployment.stop_all()
