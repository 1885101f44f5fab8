"""Waiting for background threads in tests: poll a check, count stored rows."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import func, select

from storage.db import session_scope
from storage.models import Direction, Message

T = TypeVar("T")


def wait_for(check: Callable[[], T], seconds: float = 10) -> T:
    """Poll ``check`` until it returns something truthy and return that; fail after
    ``seconds`` so a test that never sees its condition ends instead of hanging."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition never held")


def count_rows(engine: Engine, model: Any, *where: Any) -> int:
    """How many rows of ``model`` match every ``where`` clause."""
    with session_scope(engine) as session:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())


def stored_in(engine: Engine, source: str) -> int:
    """How many inbound messages from ``source`` (e.g. "mastodon") are stored."""
    return count_rows(engine, Message, Message.source == source, Message.direction == Direction.IN)
