"""Per-channel pacing for Slack posts: about one message per second per channel, short
bursts allowed, and a pause when Slack answers 429 with Retry-After."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class ChannelPacer:
    def __init__(
        self,
        rate_per_second: float = 1.0,
        burst: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate_per_second
        self.burst = max(1, burst)
        self.clock = clock
        self._tokens: dict[str, float] = {}
        self._stamp: dict[str, float] = {}
        self._paused_until: dict[str, float] = {}
        self._rates: dict[str, float] = {}  # channels Slack has rate-limited pace slower
        self._lock = threading.Lock()

    def _rate(self, channel: str) -> float:
        return self._rates.get(channel, self.rate)

    def _refill(self, channel: str, now: float) -> float:
        last = self._stamp.setdefault(channel, now)
        if now <= last:  # still inside a pause: nothing accrues until it ends
            return self._tokens.get(channel, float(self.burst))
        rate = self._rate(channel)
        tokens = min(self.burst, self._tokens.get(channel, self.burst) + (now - last) * rate)
        self._tokens[channel], self._stamp[channel] = tokens, now
        return tokens

    def wait_time(self, channel: str) -> float:
        """Seconds until a post to `channel` is allowed (0 = now)."""
        with self._lock:
            now = self.clock()
            paused = max(0.0, self._paused_until.get(channel, 0.0) - now)
            tokens = self._refill(channel, now)
            return max(paused, 0.0 if tokens >= 1 else (1 - tokens) / self._rate(channel))

    def take(self, channel: str) -> None:
        with self._lock:
            now = self.clock()
            self._tokens[channel] = self._refill(channel, now) - 1

    def pause(self, channel: str, seconds: float) -> None:
        with self._lock:
            until = self.clock() + seconds
            self._paused_until[channel] = max(self._paused_until.get(channel, 0.0), until)
            self._tokens[channel] = 0.0
            self._stamp[channel] = until
            # A 429 means our bucket and Slack's tick in step and jitter lands some posts
            # early; each costs a whole Retry-After second. Pacing this channel 5% under the
            # rate from now on keeps it clear of Slack's edge.
            self._rates[channel] = self.rate * 0.95

    def blocked(self) -> list[str]:
        """Channels that cannot take a post right now (the claim query skips them)."""
        return [c for c in list(self._tokens) if self.wait_time(c) > 0]
