"""Turning configured channel references (#name or C…) into Slack channel ids."""

from __future__ import annotations

import logging
import re
import threading

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)
_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


class ChannelDirectory:
    """Resolves #names once through conversations.list and caches the answer."""

    def __init__(self, client: WebClient) -> None:
        self.client = client
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def resolve(self, ref: str) -> str | None:
        if _ID.match(ref):
            return ref
        name = ref.removeprefix("#")
        with self._lock:
            if name not in self._ids:
                self._load()
            return self._ids.get(name)

    def remember(self, ref: str, channel_id: str) -> None:
        if not _ID.match(ref):
            with self._lock:
                self._ids[ref.removeprefix("#")] = channel_id

    def _load(self) -> None:
        try:
            for page in self.client.conversations_list(
                types="public_channel,private_channel", exclude_archived=True, limit=200
            ):
                for channel in page.get("channels", []):
                    self._ids[channel["name"]] = channel["id"]
        except SlackApiError as exc:
            log.warning("cannot list channels to resolve names: %s", exc.response.get("error"))
