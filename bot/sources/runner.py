"""Runs every watched source in its own thread and feeds what it reads to intake.

One source's trouble never stops another: each thread catches its source's errors, logs
them with the fix, keeps the latest state for `health()`, waits (the network's Retry-After,
else an exponential backoff) and starts `watch()` again from the saved cursor. A message is
only checkpointed once intake stored it, so a crash or an error re-reads it, and ingest's
dedupe makes the second read a no-op.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.intake import Intake
from bot.sources.base import MAX_BACKOFF_SECONDS, SourceAuthError, SourceError, WatchedSource
from bot.sources.leader import SourceLeadership

log = logging.getLogger(__name__)

# Bad credentials do not fix themselves quickly; retry rarely, but do retry, so a token
# rotated in the environment of a long-running worker is picked up without a restart.
AUTH_RETRY_SECONDS = 300.0


@dataclass
class SourceHealth:
    name: str
    state: str = "starting"  # standby | starting | ok | failing | stopped
    error: str | None = None
    fix: str | None = None
    ingested: int = 0
    failures: int = 0  # consecutive
    since: datetime = field(default_factory=lambda: datetime.now(UTC))


class SourceRunner:
    def __init__(
        self,
        sources: list[WatchedSource],
        intake: Intake,
        *,
        backoff_base: float = 2.0,
        max_backoff: float = MAX_BACKOFF_SECONDS,
        leadership: SourceLeadership | None = None,
    ) -> None:
        self.sources = sources
        self.leadership = leadership
        self.intake = intake
        self.backoff_base = backoff_base
        self.max_backoff = max_backoff
        self.stop_event = threading.Event()
        self._health = {s.name: SourceHealth(s.name) for s in sources}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> SourceRunner:
        """Start reading; with `leadership`, only once this process holds it (a thread of
        its own waits for that, so start() never blocks)."""
        if self.leadership is None or not self.sources:
            self._start_sources()
            return self
        for health in self._health.values():
            health.state = "standby"
        thread = threading.Thread(target=self._lead, name="source-leader", daemon=True)
        self._threads.append(thread)
        thread.start()
        return self

    def _lead(self) -> None:
        assert self.leadership is not None
        if self.leadership.wait_until_leader(self.stop_event):
            with self._lock:
                for health in self._health.values():
                    health.state = "starting"
            self._start_sources()

    def _start_sources(self) -> None:
        for source in self.sources:
            if hasattr(source, "on_reachable"):
                # A poll that reached the network clears "failing" even when nothing new
                # arrived, so health and doctor do not show a recovered source as down.
                source.on_reachable = functools.partial(self.mark_connected, source.name)
            thread = threading.Thread(
                target=self._run, args=(source,), name=f"source-{source.name}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        if self.sources:
            log.info("watching sources: %s", ", ".join(s.name for s in self.sources))

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        for source in self.sources:
            try:
                source.close()
            except Exception:  # closing is best effort; the threads are daemons
                log.exception("source %s did not close cleanly", source.name)
        for thread in list(self._threads):
            thread.join(timeout=timeout)
        if self.leadership is not None:
            self.leadership.release()

    def health(self) -> dict[str, SourceHealth]:
        with self._lock:
            return {name: SourceHealth(**vars(h)) for name, h in self._health.items()}

    def _run(self, source: WatchedSource) -> None:
        while not self.stop_event.is_set():
            try:
                self._consume(source)
            except SourceError as exc:
                self._failed(source, str(exc), exc.fix)
                self.stop_event.wait(self._delay(source, exc))
                continue
            except Exception as exc:  # a bug or an unexpected library error: log and go on
                log.exception("source %s stopped unexpectedly", source.name)
                self._failed(source, f"{type(exc).__name__}: {exc}", "see the traceback above")
                self.stop_event.wait(self._delay(source, None))
                continue
            if not self.stop_event.is_set():
                # watch() returned on its own (a finite test feed, or a closed stream):
                # start it again after a short pause, from the saved cursor.
                self.stop_event.wait(self.backoff_base)
        self._set(source.name, state="stopped")

    def _consume(self, source: WatchedSource) -> None:
        for msg in source.watch():
            result = self.intake.accept(msg, source.checkpoint(msg))
            self.mark_connected(source.name)
            if not result.duplicate:
                with self._lock:
                    self._health[source.name].ingested += 1
            if self.stop_event.is_set():
                return

    def mark_connected(self, name: str) -> None:
        """The source reached its network (a message, or a clean poll via `on_reachable`)."""
        with self._lock:
            health = self._health.get(name)
            if health is None:
                return
            if health.state == "failing":
                log.info("source %s recovered", name)
            if health.state != "ok":
                health.state, health.error, health.fix = "ok", None, None
                health.since = datetime.now(UTC)
            health.failures = 0

    def _failed(self, source: WatchedSource, error: str, fix: str) -> None:
        with self._lock:
            health = self._health[source.name]
            health.failures += 1
            if health.state != "failing":
                health.since = datetime.now(UTC)
            health.state, health.error, health.fix = "failing", error, fix
            failures = health.failures
        log.error("source %s: %s. Fix: %s (attempt %d)", source.name, error, fix, failures)

    def _delay(self, source: WatchedSource, exc: SourceError | None) -> float:
        if isinstance(exc, SourceAuthError):
            return min(self.max_backoff, AUTH_RETRY_SECONDS)
        if exc is not None and exc.retry_after is not None:
            return min(self.max_backoff, max(0.0, exc.retry_after))
        failures = self._health[source.name].failures
        return min(self.max_backoff, self.backoff_base * 2 ** max(0, failures - 1))

    def _set(self, name: str, **changes: object) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(self._health[name], key, value)
