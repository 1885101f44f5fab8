"""One worker reads the networks at a time.

Several `threadline worker` processes may share one PostgreSQL database (the Procfile scales
them). Each would otherwise poll every feed and account, and Discord allows one gateway
session per bot token. A session-level advisory lock, held on a connection of its own for
as long as the worker runs, makes one worker the reader; the others stand by and try again
every `retry_seconds`, so when the reader dies (its connection closes, the lock goes) one of
them takes over within that time. Ingest's dedupe keeps even an overlap harmless. SQLite
means one machine and, in practice, one worker: there every runner leads.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

# "THRLSRCS" as a signed 64-bit key: the lock's name inside pg_locks.
LOCK_KEY = int.from_bytes(b"THRLSRCS", "big", signed=True)


class SourceLeadership:
    def __init__(self, engine: Engine, retry_seconds: float = 15.0) -> None:
        self.engine = engine
        self.retry_seconds = retry_seconds
        self._conn: Connection | None = None

    @property
    def exclusive(self) -> bool:
        """Whether leadership means anything here (PostgreSQL), or every runner leads."""
        return self.engine.dialect.name == "postgresql"

    def wait_until_leader(self, stop: threading.Event) -> bool:
        """Block until this process holds the lock (True) or `stop` is set (False)."""
        if not self.exclusive:
            return True
        said = False
        while not stop.is_set():
            if self._try_lock():
                if said:
                    log.info("this worker now reads the watched sources")
                return True
            if not said:
                log.info("another worker reads the watched sources; this one stands by")
                said = True
            stop.wait(self.retry_seconds)
        return False

    def _try_lock(self) -> bool:
        try:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except Exception:  # the database is down: stand by and try again
            log.warning("cannot reach the database to take the sources lock", exc_info=True)
            return False
        query = text("SELECT pg_try_advisory_lock(:key)")
        got = bool(conn.execute(query, {"key": LOCK_KEY}).scalar())
        if got:
            self._conn = conn  # the lock lives as long as this connection
        else:
            conn.close()
        return got

    def release(self) -> None:
        if self._conn is None:
            return
        # Returning the connection to the pool would keep the session, and the lock with it.
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
            self._conn.close()
        except Exception:  # a broken connection: its session, and the lock, are gone anyway
            self._conn.invalidate()
        self._conn = None
