"""Hand inbound messages to `handlers.ingest` in their own write transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.config_schema import TeamConfig
from bot.sources.base import Checkpoint
from bot.sources.cursors import write_checkpoint
from handlers.classify import Classification, Classifier
from handlers.inbound import InboundMessage
from handlers.ingest import IngestResult, ingest_batch, message_key, stored_messages
from storage.db import session_scope

log = logging.getLogger(__name__)

ATTEMPTS = 3


class Intake:
    """What every source calls. `on_ingested` wakes the outbox drainer in this process."""

    def __init__(
        self,
        engine: Engine,
        team: TeamConfig,
        classifier: Classifier,
        on_ingested: Callable[[IngestResult], None] | None = None,
    ) -> None:
        self.engine = engine
        self.team = team
        self.classifier = classifier
        self.on_ingested = on_ingested

    def accept(self, msg: InboundMessage, checkpoint: Checkpoint | None = None) -> IngestResult:
        """Store one message; `checkpoint` (a watched source's cursor) is saved with it."""
        return self.accept_many([msg], checkpoint)[0]

    def accept_many(
        self, msgs: Sequence[InboundMessage], checkpoint: Checkpoint | None = None
    ) -> list[IngestResult]:
        """Store `msgs` in order in ONE transaction (with `checkpoint`, when given): all of
        them or, on an error, none. One result per message: a re-delivery, or a repeat inside
        `msgs`, is `duplicate=True` with the stored ids."""
        with session_scope(self.engine) as session:
            seen = stored_messages(session, msgs)
        # No classifier call (maybe an LLM) for a re-delivery, and none inside the write lock.
        classified: dict[tuple[str, str], tuple[InboundMessage, Classification]] = {}
        for msg in msgs:
            key = message_key(msg)
            if key not in seen and key not in classified:
                classified[key] = (msg, self.classifier.classify(msg.text, msg.language))
        if not classified:
            if checkpoint is not None:
                with session_scope(self.engine, write=True) as session:
                    write_checkpoint(session, checkpoint)
            return [seen[message_key(m)] for m in msgs]
        fresh = self._store(list(classified.values()), checkpoint)
        results, answered = [], set()
        for msg in msgs:
            key = message_key(msg)
            result = seen.get(key) or fresh[key]
            if key in answered:  # a repeat inside `msgs`
                result = IngestResult(result.conversation_id, result.message_id, duplicate=True)
            answered.add(key)
            results.append(result)
        if self.on_ingested:
            for result in results:
                if not result.duplicate:
                    self.on_ingested(result)
        return results

    def _store(
        self,
        items: list[tuple[InboundMessage, Classification]],
        checkpoint: Checkpoint | None,
    ) -> dict[tuple[str, str], IngestResult]:
        # Two deliveries of one message (or two first messages of one thread) racing on
        # PostgreSQL: the loser hits a unique key; its retry sees the winner's rows.
        for attempt in range(ATTEMPTS):
            try:
                with session_scope(self.engine, write=True) as session:
                    results = ingest_batch(session, items, self.team)
                    if checkpoint is not None:
                        write_checkpoint(session, checkpoint)
                break
            except IntegrityError:
                if attempt == ATTEMPTS - 1:
                    raise
                log.info("ingest race on %d message(s), retrying", len(items))
        return {message_key(m): r for (m, _), r in zip(items, results, strict=True)}
