"""Builds the watched sources that `threadline.toml` enables.

Each network module (`bot/sources/<name>.py`) exposes `from_config(ctx) -> WatchedSource`.
It must not touch the network (the runner and `doctor` do that), and raises `ConfigError`
naming the missing key or variable when it cannot be built. Modules are imported only when
their source is enabled, so a team that watches RSS never loads discord.py.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass

from bot.config import ConfigError, Settings
from bot.config_schema import TeamConfig
from bot.sources.base import WatchedSource
from bot.sources.cursors import CursorStore

log = logging.getLogger(__name__)

# The webhook is push-only: its messages arrive over HTTP, so it is not watched.
WATCHED = ("discord", "mastodon", "bluesky", "rss")


@dataclass(frozen=True)
class SourceContext:
    settings: Settings
    team: TeamConfig
    cursors: CursorStore


def build_source(name: str, ctx: SourceContext) -> WatchedSource:
    module = importlib.import_module(f"bot.sources.{name}")
    return module.from_config(ctx)


def build_watched_sources(ctx: SourceContext) -> list[WatchedSource]:
    """Every enabled source that is configured; the others are logged with the fix and
    skipped, so one missing token never stops the rest."""
    sources = []
    for name in ctx.team.sources.enabled():
        if name not in WATCHED:
            continue
        try:
            sources.append(build_source(name, ctx))
        except ConfigError as exc:
            log.error("source %s is enabled but not started: %s", name, exc)
    return sources
