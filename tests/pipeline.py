"""A running Threadline pipeline for integration tests: real HTTP server with the webhook
and Slack endpoints, a real outbox drainer, FakeSlack behind the real WebClient."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from slack_sdk import WebClient
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

from bot.config import Settings
from bot.config_schema import TeamConfig
from bot.delivery import ReplyDrainer
from bot.intake import Intake
from bot.listeners import ListenerContext
from bot.outbox import OutboxDrainer
from bot.outbox_claim import SLACK_KINDS
from bot.slack_app import build_slack_app
from bot.sources.base import WatchedSource
from bot.sources.runner import SourceRunner
from bot.sources.webhook_reply import WebhookReplySender
from bot.web import RunningServer, create_web_app, start_http_server
from bot.wiring import make_intake, webhook_routes
from handlers.classify_offline import OfflineClassifier
from handlers.drafting import Drafter, TemplateDrafter
from handlers.inbound import Author, InboundMessage
from storage.db import session_scope
from storage.models import Draft, OutboxItem, OutboxStatus
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_driver import SlackDriver
from tests.fakes.webhook_sender import WebhookSender
from tests.polling import wait_for

WEBHOOK_SECRET = "whsec-test-4f1c"
SIGNING_SECRET = "signing-secret-test"

TEAM: dict[str, Any] = {
    "channels": {"support": "#support", "product": "#product", "sales": "#sales"},
    "slack": {"posts_per_second": 50, "post_burst": 50},
    "tags": {"allowed": ["bug", "billing", "vip"]},
    "routing": {
        "default_channel": "support",
        "influencer_followers": 10_000,
        "rules": [
            {
                "name": "product complaints",
                "channel": "support",
                "notify": ["product"],
                "tags": ["bug"],
                "match": {"intents": ["complaint"]},
            },
            {"name": "buying", "channel": "sales", "match": {"intents": ["purchase_intent"]}},
        ],
    },
}


def team_config(**overrides: Any) -> TeamConfig:
    return TeamConfig.model_validate({**TEAM, **overrides})


def ingest_backlog(engine: Engine, count: int, text: str = "Where is my parcel?") -> None:
    """`count` separate first messages (one conversation and one card each)."""
    intake = Intake(engine, team_config(), OfflineClassifier())
    for i in range(count):
        intake.accept(
            InboundMessage(
                source="webhook",
                external_id=f"m-{i}",
                thread_id=f"t-{i}",
                author=Author(external_id=f"u-{i}", display_name=f"Customer {i}"),
                text=f"{text} (order {i})",
            )
        )


def drainer_client(fake: FakeSlack, timeout: int = 5) -> WebClient:
    return WebClient(base_url=fake.api_url, token="xoxb-test", timeout=timeout, retry_handlers=[])


class Pipeline:
    def __init__(
        self,
        engine: Engine,
        fake: FakeSlack,
        team: TeamConfig | None = None,
        *,
        client_timeout: int = 5,
        settle_seconds: float = 1.5,
        drafter: Drafter | None = None,
        sources: Sequence[WatchedSource] = (),
    ) -> None:
        self.engine = engine
        self.fake = fake
        self.team = team or team_config()
        self.channel_ids = {
            name: fake.add_channel(name) for name in ("support", "product", "sales")
        }
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            slack_bot_token="xoxb-test",
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=fake.api_url,
            threadline_webhook_secret=WEBHOOK_SECRET,
        )
        self.drainer = OutboxDrainer(
            engine,
            drainer_client(fake, client_timeout),
            self.team,
            backoff_base=0.05,
            settle_seconds=settle_seconds,
        )
        self.replies = ReplyDrainer(
            engine,
            drainer_client(fake, client_timeout),
            self.team,
            {
                "webhook": WebhookReplySender(WEBHOOK_SECRET, timeout=2),
                **{source.name: source for source in sources},
            },
            backoff_base=0.05,
        )
        self.sources = list(sources)
        self.runner: SourceRunner | None = None
        self.intake = intake = make_intake(engine, self.team)
        listeners = ListenerContext(engine, self.team, drafter or TemplateDrafter())
        web = create_web_app(
            engine,
            build_slack_app(settings, self.team, process_before_response=True, listeners=listeners),
            blueprints=(webhook_routes(settings, self.team, intake),),
        )
        self.server: RunningServer = start_http_server(web, "127.0.0.1", 0)
        self.webhook = WebhookSender(f"{self.server.url}/ingest/webhook", WEBHOOK_SECRET)
        self.slack = SlackDriver(f"{self.server.url}/slack/events", SIGNING_SECRET, fake=fake)

    def pending_slack(self) -> int:
        with session_scope(self.engine) as session:
            return session.exec(
                select(func.count())
                .select_from(OutboxItem)
                .where(
                    OutboxItem.status == OutboxStatus.PENDING, col(OutboxItem.kind).in_(SLACK_KINDS)
                )
            ).one()

    def pending(self) -> int:
        with session_scope(self.engine) as session:
            return session.exec(
                select(func.count())
                .select_from(OutboxItem)
                .where(OutboxItem.status == OutboxStatus.PENDING)
            ).one()

    def posted_card(self, message_id: str, text: str, **extra: Any) -> tuple[int, dict[str, Any]]:
        """Send a customer message through the webhook and wait for its card."""
        from tests.fakes.webhook_sender import message

        answer = self.webhook.post(message(message_id, text, **extra))
        assert answer.status == 202, answer.body
        self.drain()
        cid = answer.json()["conversation_id"]
        card = next(
            p
            for p in self.fake.all_posts()
            if p.get("metadata", {}).get("event_payload", {}).get("conversation_id") == cid
        )
        return cid, card

    def drain(self, timeout: float = 30) -> None:
        """Run the drainer until the outbox is empty (waiting out backoffs and pauses)."""
        deadline = time.monotonic() + timeout
        while self.pending_slack():
            if time.monotonic() > deadline:
                raise AssertionError(f"outbox not drained: {self.pending()} pending")
            if not self.drainer.drain_once():
                time.sleep(0.02)

    def drain_replies(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while self.pending():
            assert time.monotonic() < deadline, "replies not delivered"
            if not self.replies.drain_once():
                time.sleep(0.02)

    def start_sources(self, *, backoff_base: float = 0.05) -> SourceRunner:
        """Watch `sources` in background threads, as `threadline worker` does; stop it (or
        let `stop()` do it) before the test ends."""
        self.runner = SourceRunner(self.sources, self.intake, backoff_base=backoff_base).start()
        return self.runner

    def request_draft(
        self, cid: int, channel: str, card_ts: str, user: str = "U1"
    ) -> tuple[int, dict[str, Any]]:
        """Click "Draft" on a card and wait for the draft's post in the card's thread;
        returns (the draft's id, that post)."""
        self.slack.block_action(
            "conversation.draft", str(cid), user_id=user, channel_id=channel, message_ts=card_ts
        )
        post = wait_for(
            lambda: next(
                (
                    m
                    for m in self.fake.thread(channel, card_ts)[1:]
                    if "draft.send" in json.dumps(m.get("blocks", []))
                ),
                None,
            )
        )
        with session_scope(self.engine) as session:
            draft = session.exec(select(Draft).where(Draft.conversation_id == cid)).one()
        return draft.id or 0, post

    def send_draft(
        self, cid: int, channel: str, card_ts: str, user: str = "U1"
    ) -> tuple[int, dict[str, Any]]:
        """A staff reply from Slack: claim, draft, click Send and deliver the reply;
        returns (the draft's id, its post in the card's thread)."""
        self.slack.block_action(
            "conversation.claim", str(cid), user_id=user, channel_id=channel, message_ts=card_ts
        )
        draft_id, post = self.request_draft(cid, channel, card_ts, user)
        self.slack.block_action(
            "draft.send", str(draft_id), user_id=user, channel_id=channel, message_ts=post["ts"]
        )
        self.drain_replies()
        return draft_id, post

    def cards(self, channel: str) -> list[dict[str, Any]]:
        return self.fake.messages(self.channel_ids[channel])

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()
        self.server.stop()
