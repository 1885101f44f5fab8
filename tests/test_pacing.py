"""Per-channel pacing: bursts, steady rate, and Retry-After pauses (with a test clock)."""

from __future__ import annotations

import pytest

from bot.pacing import ChannelPacer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_steady_rate() -> None:
    clock = Clock()
    pacer = ChannelPacer(rate_per_second=1.0, burst=3, clock=clock)
    for _ in range(3):
        assert pacer.wait_time("#a") == 0
        pacer.take("#a")
    assert pacer.wait_time("#a") == pytest.approx(1.0)
    clock.now += 0.5
    assert pacer.wait_time("#a") == pytest.approx(0.5)
    clock.now += 0.5
    assert pacer.wait_time("#a") == 0
    pacer.take("#a")
    clock.now += 10  # idle time refills only up to the burst
    for _ in range(3):
        assert pacer.wait_time("#a") == 0
        pacer.take("#a")
    assert pacer.wait_time("#a") > 0


def test_channels_are_independent() -> None:
    pacer = ChannelPacer(rate_per_second=1.0, burst=1, clock=Clock())
    pacer.take("#a")
    assert pacer.wait_time("#a") > 0
    assert pacer.wait_time("#b") == 0
    assert pacer.blocked() == ["#a"]


def test_a_pause_holds_the_channel_for_retry_after_then_resumes() -> None:
    clock = Clock()
    pacer = ChannelPacer(rate_per_second=1.0, burst=3, clock=clock)
    pacer.pause("#a", 5)
    assert pacer.wait_time("#a") == pytest.approx(5)
    clock.now += 4.9
    assert pacer.wait_time("#a") > 0
    clock.now += 0.2
    # The pause is over; a token accrues from its end, not before, at 95% of the rate.
    assert pacer.wait_time("#a") == pytest.approx(0.9 / 0.95, abs=0.01)
    clock.now += 1
    assert pacer.wait_time("#a") == 0


def test_after_a_429_the_channel_paces_five_percent_under_the_rate() -> None:
    clock = Clock()
    pacer = ChannelPacer(rate_per_second=1.0, burst=1, clock=clock)
    pacer.take("#a")
    pacer.take("#b")
    assert pacer.wait_time("#a") == pytest.approx(1.0)
    pacer.pause("#a", 1)
    clock.now += 1
    assert pacer.wait_time("#a") == pytest.approx(1 / 0.95)
    assert pacer.wait_time("#b") == 0  # the other channel keeps the full rate
