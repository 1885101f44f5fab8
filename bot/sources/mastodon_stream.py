"""Optional streaming (`[sources.mastodon] streaming = true`): the instance pushes each new
notification, and we use that only to poll at once instead of at the next `poll_seconds`.

Polling stays the one reader, so ordering, cursors and dedupe do not change. Streams have no
resume: the end of a connection and every (re)connect wake the poller, so whatever arrived
in the gap is read by that poll. If the stream cannot
connect at all, Mastodon.py keeps retrying in its own thread and polling carries on.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from mastodon import Mastodon
from mastodon.streaming import StreamListener

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 30.0  # between attempts while the stream is down
# A live stream gets a heartbeat at least every 10 s from Mastodon; silence this long means
# a dead connection, which the client then drops and reconnects.
READ_TIMEOUT_SECONDS = 60.0


class _WakeOnMention(StreamListener):  # type: ignore[misc]
    def __init__(self, wake: threading.Event) -> None:
        super().__init__()
        self.wake = wake

    def handle_stream(self, response: Any) -> None:
        """One connection's life. Mastodon.py calls this again after each reconnect."""
        log.info("mastodon: stream connected")
        self.wake.set()  # poll now: the stream does not replay what came before it
        try:
            super().handle_stream(response)
        finally:
            self.wake.set()  # and poll when it ends, for whatever the gap will hold

    def on_notification(self, notification: Any) -> None:
        if notification.get("type") == "mention":
            self.wake.set()

    def on_unknown_event(self, name: str, unknown_event: Any = None) -> None:
        pass  # new event kinds must not break the stream

    def on_abort(self, err: Exception) -> None:
        log.warning("mastodon: stream interrupted (%s); polling carries on", type(err).__name__)


class MentionStream:
    """The user stream, run by Mastodon.py in its own daemon thread."""

    def __init__(self, client: Mastodon, wake: threading.Event, reconnect_seconds: float) -> None:
        self._client = client
        self._wake = wake
        self._reconnect_seconds = reconnect_seconds
        self._handle: Any = None

    def start(self) -> None:
        if self._handle is not None:
            return
        self._handle = self._client.stream_user(
            _WakeOnMention(self._wake),
            run_async=True,
            reconnect_async=True,
            reconnect_async_wait_sec=self._reconnect_seconds,
            timeout=READ_TIMEOUT_SECONDS,
        )

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()
