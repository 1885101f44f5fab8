"""Retry-After parsing shared by every source: a network's wait, never an endless one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from bot.sources.base import retry_after_seconds


@pytest.mark.parametrize(
    ("header", "expected"),
    [("2", 2.0), ("0.5", 0.5), ("-3", 0.0), (None, None), ("", None), ("soon", None)],
)
def test_seconds_and_junk(header: str | None, expected: float | None) -> None:
    assert retry_after_seconds(header) == expected


@pytest.mark.parametrize("header", ["inf", "1e400", "nan", "-inf"])
def test_values_that_are_not_finite_are_ignored(header: str) -> None:
    # A feed answering `Retry-After: inf` once must not go quiet until the next restart.
    assert retry_after_seconds(header) is None


def test_an_http_date_becomes_the_seconds_until_then() -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    assert retry_after_seconds(format_datetime(when, usegmt=True)) == pytest.approx(30, abs=2)
