"""Hand an inbound message to `handlers.ingest` in its own write transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.config_schema import TeamConfig
from bot.sources.base import Checkpoint
from bot.sources.cursors import write_checkpoint
from handlers.classify import Classifier
from handlers.inbound import InboundMessage
from handlers.ingest import IngestResult, already_stored, ingest_message
from storage.db import session_scope

log = logging.getLogger(__name__)


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
        with session_scope(self.engine) as session:
            seen = already_stored(session, msg)
        if seen is not None:  # no classifier call (maybe an LLM) for a re-delivery
            if checkpoint is not None:
                with session_scope(self.engine, write=True) as session:
                    write_checkpoint(session, checkpoint)
            return seen
        classification = self.classifier.classify(msg.text, msg.language)
        # Two deliveries of one message (or two first messages of one thread) racing on
        # PostgreSQL: the loser hits a unique key; its retry sees the winner's rows.
        for attempt in range(3):
            try:
                with session_scope(self.engine, write=True) as session:
                    result = ingest_message(session, msg, self.team, classification)
                    if checkpoint is not None:
                        write_checkpoint(session, checkpoint)
                break
            except IntegrityError:
                if attempt == 2:
                    raise
                log.info("ingest race on %s/%s, retrying", msg.source, msg.external_id)
        if self.on_ingested and not result.duplicate:
            self.on_ingested(result)
        return result
