"""Where the RSS source has read each feed up to: small enough for `source_cursor` (255).

Per feed: the newest entry time read, the first start's cut-off, a marker for feeds without
dates, and the validators for the next conditional GET. Which entries are already in is
not kept here: the message table knows (ingest dedupes on the entry id), so the cursor only
bounds how far back to look.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.sources.rss_feed import short_hash

MAX_CURSOR_CHARS = 255  # source_cursor.cursor is VARCHAR(255)
# Entries can appear late (a comment held for moderation): keep looking this far behind the
# newest entry read; the message table stops repeats.
LATE_ENTRY_WINDOW = timedelta(hours=72)
# The clock a future-dated entry may run ahead before it counts as "now".
FUTURE_SLACK = timedelta(minutes=5)


def _epoch(when: datetime | None) -> int | None:
    return int(when.timestamp()) if when else None


def _when(value: object) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if isinstance(value, int) else None


@dataclass
class FeedCursor:
    floor: datetime  # nothing older is ever read in: the first start minus backfill_hours
    since: datetime | None = None  # the newest entry time read (never ahead of the clock)
    # Feeds without dates: a hash of the newest entry at the first start. Undated entries
    # listed below it (feeds list newest first) were there before us.
    undated_marker: str | None = None
    etag: str | None = None
    modified: str | None = None
    fresh: bool = False  # no saved cursor: the first start

    @classmethod
    def load(cls, raw: str | None, now: datetime, backfill: timedelta) -> FeedCursor:
        if raw:
            try:
                data = json.loads(raw)
                floor = _when(data["f"])
                if floor is not None:
                    return cls(
                        floor=floor,
                        since=_when(data.get("s")),
                        undated_marker=data.get("u"),
                        etag=data.get("e"),
                        modified=data.get("m"),
                    )
            except (ValueError, KeyError, TypeError, AttributeError):
                pass
        # None or unreadable: a first start (anything re-read is deduped by ingest).
        return cls(floor=now - backfill, fresh=True)

    def dumps(self) -> str:
        data = {
            "f": _epoch(self.floor),
            "s": _epoch(self.since),
            "u": self.undated_marker,
            "e": self.etag,
            "m": self.modified,
        }
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        # Validators are an optimisation: drop a huge ETag, then Last-Modified, to fit.
        for key in ("e", "m"):
            if len(text) <= MAX_CURSOR_CHARS:
                break
            data[key] = None
            text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        return text

    def cutoff(self) -> datetime:
        if self.since is None:
            return self.floor
        return max(self.floor, self.since - LATE_ENTRY_WINDOW)

    def advance(self, written: datetime | None, now: datetime) -> None:
        if written is not None:
            # A clock-skewed entry from the future must not hide the real ones behind it.
            capped = min(written, now + FUTURE_SLACK)
            self.since = capped if self.since is None else max(self.since, capped)

    def mark_undated(self, keys_newest_first: list[str]) -> None:
        if keys_newest_first:
            self.undated_marker = short_hash(keys_newest_first[0], 16)

    def undated_before_us(self, keys_newest_first: list[str]) -> set[str]:
        """Undated entries listed at or below the marker: there before the first start."""
        hashes = [short_hash(k, 16) for k in keys_newest_first]
        if self.undated_marker is None or self.undated_marker not in hashes:
            return set()
        return set(keys_newest_first[hashes.index(self.undated_marker) :])
