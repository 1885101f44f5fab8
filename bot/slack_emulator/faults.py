"""Fault injection and rate limiting for FakeSlack.

Retry logic is only trustworthy if it has been exercised against real 429s, 5xx and stalls;
these rules decide, per request, whether FakeSlack misbehaves before it touches any state.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

# Slack's own error strings for its 5xx answers; anything else gets a generic one.
STATUS_ERRORS = {
    429: "ratelimited",
    500: "fatal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "request_timeout",
}


@dataclass
class Fault:
    """One injected misbehaviour. `remaining=None` means "until clear_faults()"."""

    method: str
    channel: str | None
    remaining: int | None
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    hang_seconds: float = 0.0
    process_after_hang: bool = True

    def matches(self, method: str, channel_keys: Iterable[str]) -> bool:
        if self.method not in ("*", method):
            return False
        return self.channel is None or self.channel in set(channel_keys)


@dataclass
class TokenBucket:
    """Classic token bucket: `burst` requests at once, then `rate` per second."""

    rate: float
    burst: int
    tokens: float = field(init=False)
    updated: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def take(self) -> int | None:
        """Consume a token, or return the Retry-After (whole seconds, like Slack) if empty."""
        now = time.monotonic()
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - self.tokens) / self.rate))


@dataclass
class RateLimit:
    method: str
    per_second: float
    burst: int
    buckets: dict[str, TokenBucket] = field(default_factory=dict)


class FaultBook:
    """Thread-safe registry of pending faults and rate limits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hangs: list[Fault] = []
        self._failures: list[Fault] = []
        self._limits: dict[str, RateLimit] = {}

    def add(self, fault: Fault) -> None:
        if fault.remaining is not None and fault.remaining <= 0:
            raise ValueError("times must be positive (or None for 'until cleared')")
        with self._lock:
            (self._hangs if fault.hang_seconds > 0 else self._failures).append(fault)

    def add_rate_limit(self, method: str, per_second: float, burst: int) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("per_channel_per_second must be > 0 and burst >= 1")
        with self._lock:
            self._limits[method] = RateLimit(method, per_second, burst)

    def clear(self) -> None:
        with self._lock:
            self._hangs.clear()
            self._failures.clear()
            self._limits.clear()

    def _take(self, pool: list[Fault], method: str, channel_keys: list[str]) -> Fault | None:
        with self._lock:
            for fault in pool:
                if fault.matches(method, channel_keys):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            pool.remove(fault)
                    return fault
        return None

    def take_hang(self, method: str, channel_keys: list[str]) -> Fault | None:
        return self._take(self._hangs, method, channel_keys)

    def take_failure(self, method: str, channel_keys: list[str]) -> Fault | None:
        return self._take(self._failures, method, channel_keys)

    def throttle(self, method: str, channel: str | None) -> int | None:
        """Retry-After seconds if this call exceeds a configured rate, else None."""
        with self._lock:
            limit = self._limits.get(method) or self._limits.get("*")
            if limit is None:
                return None
            key = channel or ""
            bucket = limit.buckets.get(key)
            if bucket is None:
                bucket = limit.buckets[key] = TokenBucket(limit.per_second, limit.burst)
            return bucket.take()
