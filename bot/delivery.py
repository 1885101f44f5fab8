"""Delivers approved replies on the customer's network, then shows the result in Slack."""

from __future__ import annotations

import logging
import random
import threading
import uuid
from datetime import UTC, datetime, timedelta

from slack_sdk import WebClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.config_schema import TeamConfig
from bot.conversation_view import refresh_card, refresh_draft
from bot.outbox_claim import NETWORK_KINDS, claim_due, drain_until_stopped
from bot.sources.base import DeliveryResult, OutboundReply, SourceAdapter
from handlers.drafts import record_delivery
from storage.db import session_scope
from storage.models import Conversation, Direction, Draft, Message, OutboxItem, OutboxStatus

log = logging.getLogger(__name__)


def adapter_key(conv: Conversation) -> str:
    """Messages that came through the webhook are answered through it, whatever platform
    name the sender gave them."""
    return str(conv.source_meta.get("via") or conv.source)


class ReplyDrainer:
    def __init__(
        self,
        engine: Engine,
        client: WebClient,
        team: TeamConfig,
        adapters: dict[str, SourceAdapter],
        *,
        worker_id: str | None = None,
        backoff_base: float = 2.0,
        lease_seconds: float = 60.0,
    ) -> None:
        self.engine = engine
        self.client = client
        self.team = team
        self.adapters = adapters
        self.worker_id = worker_id or f"replies-{uuid.uuid4().hex[:8]}"
        self.backoff_base = backoff_base
        self.lease = timedelta(seconds=lease_seconds)
        self.wake = threading.Event()

    def run(self, stop: threading.Event, idle_seconds: float = 0.5) -> None:
        drain_until_stopped(self.drain_once, self.wake, stop, idle_seconds, "reply delivery")

    def drain_once(self) -> int:
        ids = claim_due(self.engine, self.worker_id, NETWORK_KINDS, 5, self.lease)
        for item_id in ids:
            self.deliver(item_id)
        return len(ids)

    def deliver(self, item_id: int) -> None:
        with session_scope(self.engine) as session:
            item = session.get(OutboxItem, item_id)
            if item is None or item.locked_by != self.worker_id:
                return
            reply, key = self._outbound(session, item)
        adapter = self.adapters.get(key)
        if adapter is None:
            result = DeliveryResult(ok=False, error=f"replies to {key} are not supported yet")
        else:
            result = adapter.send_reply(reply)
        self._record(item_id, reply, result)
        refresh_draft(self.client, self.engine, self.team, reply.draft_id or 0, error=result.error)
        refresh_card(self.client, self.engine, self.team, reply.conversation_id)

    def _outbound(self, session: Session, item: OutboxItem) -> tuple[OutboundReply, str]:
        draft = session.get(Draft, item.payload["draft_id"])
        message = session.get(Message, item.payload["message_id"])
        conv = session.get(Conversation, item.conversation_id)
        assert draft is not None and message is not None and conv is not None
        last_in = session.exec(
            select(Message.external_id)
            .where(Message.conversation_id == conv.id, Message.direction == Direction.IN)
            .order_by(col(Message.created_at).desc(), col(Message.id).desc())
        ).first()
        reply = OutboundReply(
            conversation_id=conv.id or 0,
            draft_id=draft.id,
            source=conv.source,
            thread_id=conv.external_thread_id,
            in_reply_to=last_in,
            text=message.text,
            language=message.language,
            reply_meta=dict(conv.source_meta),
            idempotency_key=item.idempotency_key,
            sent_by=message.author_slack_id or "",
            is_direct=conv.is_direct,
        )
        return reply, adapter_key(conv)

    def _record(self, item_id: int, reply: OutboundReply, result: DeliveryResult) -> None:
        now = datetime.now(UTC)
        with session_scope(self.engine, write=True) as session:
            item = session.get(OutboxItem, item_id)
            if item is None:
                return
            item.locked_by = item.locked_until = None
            item.updated_at = now
            if result.ok:
                item.status, item.result = OutboxStatus.DONE, {"external_id": result.external_id}
            elif result.retryable and item.attempts < self.team.outbox.max_attempts:
                delay = result.retry_after or self.backoff_base * 2 ** (item.attempts - 1)
                item.next_attempt_at = now + timedelta(
                    seconds=min(300, delay) * random.uniform(0.9, 1)
                )
                item.last_error = result.error
                session.add(item)
                log.warning("reply %s not delivered (%s); retrying", item_id, result.error)
                return
            else:
                item.status, item.last_error = OutboxStatus.PARKED, result.error
            session.add(item)
            record_delivery(
                session,
                reply.draft_id or 0,
                item.payload["message_id"],
                ok=result.ok,
                external_id=result.external_id,
                url=result.url,
                error=result.error,
                now=now,
            )
