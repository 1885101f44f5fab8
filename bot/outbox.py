"""The outbox drainer: delivers queued Slack posts at least once, and effectively once.

Each item is claimed with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one
writer), sent with no transaction open, then marked done. A drainer that dies between
Slack's answer and our commit leaves the lease to expire; the next attempt first looks in
Slack for a message carrying the item's metadata, and adopts it instead of posting again.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import and_, update
from sqlalchemy.engine import Engine

from bot.channels import ChannelDirectory
from bot.config_schema import TeamConfig
from bot.outbox_claim import SLACK_KINDS, claim_due, drain_until_stopped
from bot.outbox_render import Delivery, NotReadyError, SlackPost, render_item, store_delivery
from bot.pacing import ChannelPacer
from storage.db import session_scope
from storage.models import OutboxItem, OutboxStatus

log = logging.getLogger(__name__)

# Slack errors that will not go away by retrying this item: park it for a person.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_blocks",
        "msg_too_long",
        "no_text",
        "message_not_found",
        "cant_update_message",
        "invalid_metadata_format",
        "invalid_arguments",
        "too_many_attachments",
        "restricted_action",
    }
)


@dataclass
class DrainStats:
    sent: int = 0
    retried: int = 0
    parked: int = 0
    reconciled: int = 0


class OutboxDrainer:
    def __init__(
        self,
        engine: Engine,
        client: WebClient,
        team: TeamConfig,
        *,
        worker_id: str | None = None,
        lease_seconds: float = 60.0,
        backoff_base: float = 1.0,
        settle_seconds: float = 10.0,
        batch_size: int = 10,
    ) -> None:
        self.engine = engine
        self.client = client
        self.team = team
        self.worker_id = worker_id or f"drainer-{uuid.uuid4().hex[:8]}"
        self.lease = timedelta(seconds=lease_seconds)
        self.backoff_base = backoff_base
        # After an attempt whose outcome we never heard (timeout, 5xx), Slack may still be
        # posting it: wait this long before looking for it and trying again.
        self.settle_seconds = settle_seconds
        self.batch_size = batch_size
        self.pacer = ChannelPacer(team.slack.posts_per_second, team.slack.post_burst)
        self.channels = ChannelDirectory(client)
        self.wake = threading.Event()
        self.stats = DrainStats()
        self._permalinks: dict[tuple[str, str], str | None] = {}

    # ------------------------------------------------------------------ loop
    def run(self, stop: threading.Event, idle_seconds: float = 0.5) -> None:
        drain_until_stopped(self.drain_once, self.wake, stop, idle_seconds, "outbox drain")

    def drain_once(self) -> int:
        ids = self.claim()
        for item_id in ids:
            self.deliver(item_id)
        return len(ids)

    # ------------------------------------------------------------------ claiming
    def claim(self) -> list[int]:
        return claim_due(
            self.engine,
            self.worker_id,
            SLACK_KINDS,
            self.batch_size,
            self.lease,
            skip_destinations=self.pacer.blocked(),
        )

    # ------------------------------------------------------------------ delivery
    def deliver(self, item_id: int) -> None:
        with session_scope(self.engine) as session:
            item = session.get(OutboxItem, item_id)
            if item is None or item.locked_by != self.worker_id:
                return
            try:
                post = render_item(session, item, self.team, self.permalink)
            except NotReadyError as exc:
                self._retry(item, str(exc))
                return
            except SlackApiError as exc:  # the permalink lookup failed
                self._retry(item, f"Slack error: {exc.response.get('error')}")
                return
        if post is None:  # nothing to send any more (e.g. the conversation was erased)
            self._finish(item_id, Delivery(channel=None, ts=None), note="skipped")
            return
        wait = self.pacer.wait_time(post.channel_ref)
        if wait > 0:
            self._release(item_id, wait, counted=False)
            return
        try:
            delivery = self._reconciled(item, post) or self._send(post, item_id)
        except SlackApiError as exc:
            self._failed(item, post, exc)
            return
        except OSError as exc:  # timeouts and resets: Slack may or may not have posted
            self._retry(item, f"{type(exc).__name__}: {exc}", at_least=self.settle_seconds)
            return
        self._finish(item_id, delivery)

    def permalink(self, channel: str, ts: str) -> str | None:
        key = (channel, ts)
        if key not in self._permalinks:
            response = self.client.chat_getPermalink(channel=channel, message_ts=ts)
            self._permalinks[key] = response.get("permalink")
        return self._permalinks[key]

    def _send(self, post: SlackPost, item_id: int) -> Delivery:
        self.pacer.take(post.channel_ref)
        kwargs = dict(post.kwargs)
        channel = self.channels.resolve(post.channel_ref) or post.channel_ref
        if post.method == "chat.update":
            response = self.client.chat_update(channel=channel, **kwargs)
        else:
            response = self.client.chat_postMessage(
                channel=channel, metadata=_metadata(post, item_id), **kwargs
            )
        self.channels.remember(post.channel_ref, response["channel"])
        self.stats.sent += 1
        return Delivery(channel=response["channel"], ts=response["ts"])

    def _reconciled(self, item: OutboxItem, post: SlackPost) -> Delivery | None:
        """After an attempt whose outcome we never learned, find its message in Slack."""
        if (
            item.attempts <= 1
            or post.method != "chat.postMessage"
            or item.last_error == "ratelimited"
        ):
            return None
        channel = self.channels.resolve(post.channel_ref)
        if channel is None:
            log.warning("cannot reconcile outbox item %s: unknown channel", item.id)
            return None
        thread_ts = post.kwargs.get("thread_ts")
        oldest = f"{item.created_at.timestamp() - 5:.6f}"
        if thread_ts:
            pages = self.client.conversations_replies(
                channel=channel, ts=thread_ts, include_all_metadata=True, limit=200
            )
        else:
            pages = self.client.conversations_history(
                channel=channel, oldest=oldest, include_all_metadata=True, limit=200
            )
        for page in pages:
            for message in page.get("messages", []):
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                if payload.get("outbox_id") == item.id:
                    self.stats.reconciled += 1
                    log.info("outbox item %s was already posted; adopting ts", item.id)
                    return Delivery(channel=channel, ts=message["ts"])
        return None

    # ------------------------------------------------------------------ outcomes
    def _finish(self, item_id: int, delivery: Delivery, note: str | None = None) -> None:
        with session_scope(self.engine, write=True) as session:
            item = session.get(OutboxItem, item_id)
            if item is None:
                return
            store_delivery(session, item, delivery, self.team)
            item.status = OutboxStatus.DONE
            item.locked_by = item.locked_until = None
            item.result = {"channel": delivery.channel, "ts": delivery.ts, "note": note}
            item.updated_at = datetime.now(UTC)
            session.add(item)

    def _failed(self, item: OutboxItem, post: SlackPost, exc: SlackApiError) -> None:
        status = exc.response.status_code
        error = str(exc.response.get("error") or status)
        if status == 429:
            retry_after = float(exc.response.headers.get("Retry-After", 1) or 1)
            self.pacer.pause(post.channel_ref, retry_after)
            self._release(item.id or 0, retry_after, counted=False, error="ratelimited")
        elif error in PERMANENT_ERRORS:
            self._park(item.id or 0, f"Slack refused: {error}")
        else:
            settle = self.settle_seconds if status >= 500 else 0.0
            self._retry(item, f"Slack error: {error}", at_least=settle)

    def _retry(self, item: OutboxItem, error: str, at_least: float = 0.0) -> None:
        if item.attempts >= self.team.outbox.max_attempts:
            self._park(item.id or 0, f"gave up after {item.attempts} attempts: {error}")
            return
        delay = min(300.0, self.backoff_base * 2 ** (item.attempts - 1))
        delay = max(at_least, delay * random.uniform(0.8, 1.0))
        log.warning(
            "outbox item %s (attempt %s): %s; retrying in %.1fs",
            item.id,
            item.attempts,
            error,
            delay,
        )
        self._release(item.id or 0, delay, counted=True, error=error)

    def _release(
        self, item_id: int, delay: float, *, counted: bool, error: str | None = None
    ) -> None:
        with session_scope(self.engine, write=True) as session:
            item = session.get(OutboxItem, item_id)
            if item is None:
                return
            if not counted:
                item.attempts = max(0, item.attempts - 1)
            else:
                self.stats.retried += 1
            item.next_attempt_at = datetime.now(UTC) + timedelta(seconds=delay)
            item.locked_by = item.locked_until = None
            item.last_error = error if error is not None else item.last_error
            item.updated_at = datetime.now(UTC)
            session.add(item)

    def _park(self, item_id: int, error: str) -> None:
        log.error("outbox item %s parked: %s", item_id, error)
        self.stats.parked += 1
        with session_scope(self.engine, write=True) as session:
            session.execute(
                update(OutboxItem)
                .where(and_(OutboxItem.id == item_id))
                .values(
                    status=OutboxStatus.PARKED,
                    last_error=error,
                    locked_by=None,
                    locked_until=None,
                    updated_at=datetime.now(UTC),
                )
            )


def _metadata(post: SlackPost, item_id: int) -> dict[str, Any]:
    """Our ids ride on every post (no PII), so a lost answer can be found again."""
    return {
        "event_type": f"threadline_{post.kind}",
        "event_payload": {"outbox_id": item_id, **post.ids},
    }
