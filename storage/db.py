"""Engine and session setup for SQLite (the default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine

SQLITE_BUSY_TIMEOUT_MS = 10_000


class DatabaseError(Exception):
    """A database problem explained in one line, fit to show an operator."""


def normalize_url(raw: str) -> URL:
    """Parse a DATABASE_URL, mapping the common spellings to the drivers we ship."""
    raw = raw.strip()
    if raw.startswith("postgres://"):  # Heroku and others still hand this out
        raw = "postgresql://" + raw[len("postgres://") :]
    try:
        url = make_url(raw)
    except ArgumentError:
        raise DatabaseError(
            f"DATABASE_URL is not a database URL: {redact_url(raw)!r} "
            "(expected e.g. sqlite:///threadline.db or postgresql://user@host/dbname)"
        ) from None
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")  # psycopg 3 is the driver we install
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseError(
            f"DATABASE_URL uses an unsupported database {url.get_backend_name()!r}: "
            "Threadline runs on sqlite:// or postgresql://"
        )
    return url


def redact_url(raw: str | URL) -> str:
    """The URL with its password hidden, for messages and logs."""
    try:
        url = raw if isinstance(raw, URL) else make_url(raw)
    except ArgumentError:
        return "<unparseable>"
    return url.render_as_string(hide_password=True)


def make_engine(raw_url: str, *, echo: bool = False) -> Engine:
    url = normalize_url(raw_url)
    try:
        if url.get_backend_name() == "sqlite":
            return _sqlite_engine(url, echo=echo)
        return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)
    except NoSuchModuleError as exc:
        raise DatabaseError(f"DATABASE_URL driver is not installed: {exc}") from None
    except ModuleNotFoundError as exc:
        raise DatabaseError(
            f"the driver for {url.drivername} is missing ({exc.name}); "
            "install it with: pip install 'threadline[postgres]'"
        ) from None


def _sqlite_engine(url: URL, *, echo: bool) -> Engine:
    in_memory = url.database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if in_memory:
        kwargs["poolclass"] = StaticPool  # one shared connection, or each sees an empty DB
    engine = create_engine(url, echo=echo, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, emit BEGIN, so we can choose BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if not in_memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A transaction that reads and then writes must take the write lock up front:
        # busy_timeout cannot save a deferred transaction that upgrades (SQLITE_BUSY at once).
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def writer(engine: Engine) -> Engine:
    """An engine view whose transactions take the write lock at BEGIN on SQLite.

    Use it for read-then-write units of work (ingest, claim). PostgreSQL ignores the option.
    """
    return engine.execution_options(sqlite_immediate=True)


@contextmanager
def session_scope(engine: Engine, *, write: bool = False) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with Session(writer(engine) if write else engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def check_connection(engine: Engine) -> None:
    """Raise DatabaseError with a one-line reason when the database does not answer."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseError(
            f"cannot reach the database at {redact_url(engine.url)}: {reason}"
        ) from None
