"""Security against a real `threadline run` (HTTP mode) with every secret set, at DEBUG:
forged, stale and replayed requests are refused or deduplicated, admin commands are for
admins, and no secret value ever reaches the process's output."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.engine import Engine, make_url
from sqlmodel import col, select

from storage.db import make_engine, session_scope
from storage.models import AuditEvent, Conversation, Message, Staff
from tests.conftest import free_port
from tests.fakes.callback import FakeCallback
from tests.fakes.openai import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_driver import SlackDriver
from tests.fakes.webhook_sender import WebhookSender, message
from tests.polling import count_rows
from tests.reliability.harness import Stack, make_stack, postgres_database, wait_until
from tests.reliability.load import click_draft, draft_of

SLACK_BOT_TOKEN = "xoxb-SECRETbot-7f3a9c11"
SIGNING = "SECRETsign-51a9e2d7"
WEBHOOK = "SECRETwebhook-c0ffee77"
OPENAI_KEY = "sk-SECRETopenai-a1b2c3d4e5f6"
DB_PASSWORD = "SECRETdbpw-4242"
OTHER_SECRETS = {
    "DISCORD_BOT_TOKEN": "SECRETdiscord.tok.998877",
    "MASTODON_ACCESS_TOKEN": "SECRETmastodon-665544",
    "BLUESKY_APP_PASSWORD": "SECRET-bsky-pass-3322",
}
ADMIN, AGENT = "UADMIN1", "UAGENT9"


@dataclass
class Deployment:
    stack: Stack
    engine: Engine
    slack: FakeSlack
    openai: FakeOpenAI
    callback: FakeCallback
    webhook: WebhookSender
    driver: SlackDriver
    database_url: str

    def secrets(self) -> dict[str, str]:
        found = {
            "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING,
            "THREADLINE_WEBHOOK_SECRET": WEBHOOK,
            "OPENAI_API_KEY": OPENAI_KEY,
            **OTHER_SECRETS,
        }
        password = make_url(self.database_url).password
        if password:
            found["DATABASE_URL password"] = str(password)
        return found


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp("security")
    with (
        FakeSlack(bot_token=SLACK_BOT_TOKEN) as slack,
        FakeOpenAI(api_key=OPENAI_KEY) as openai,
        FakeCallback(WEBHOOK) as callback,
        postgres_database() as pg_url,
    ):
        for name in ("support", "product", "sales"):
            slack.add_channel(name)
        # The local server trusts 127.0.0.1, so the password is carried but not checked:
        # exactly what is needed to see whether it leaks.
        url = (
            make_url(pg_url).set(password=DB_PASSWORD).render_as_string(hide_password=False)
            if pg_url
            else f"sqlite:///{workdir / 'threadline.db'}"
        )
        stack = make_stack(
            Path(workdir),
            free_port(),
            slack_api_url=slack.api_url,
            database_url=url,
            bot_token=SLACK_BOT_TOKEN,
            extra_env={
                "SLACK_SIGNING_SECRET": SIGNING,
                "THREADLINE_WEBHOOK_SECRET": WEBHOOK,
                "OPENAI_API_KEY": OPENAI_KEY,
                "OPENAI_BASE_URL": openai.base_url,
                "THREADLINE_LOG_LEVEL": "debug",
                **OTHER_SECRETS,
            },
        )
        stack.start_http("run")
        engine = make_engine(url)
        try:
            yield Deployment(
                stack,
                engine,
                slack,
                openai,
                callback,
                WebhookSender(f"{stack.url}/ingest/webhook", WEBHOOK),
                SlackDriver(f"{stack.url}/slack/events", SIGNING, fake=slack),
                url,
            )
        finally:
            stack.stop_all()
            engine.dispose()


def card_of(dep: Deployment, message_id: str, text: str, **extra: object) -> tuple[int, str, str]:
    resp = dep.webhook.post(message(message_id, text, **extra))
    assert resp.status == 202, resp.body
    cid = int(resp.json()["conversation_id"])

    def located() -> tuple[str, str] | None:
        with session_scope(dep.engine) as session:
            conv = session.get(Conversation, cid)
            return (conv.slack_channel, conv.slack_ts) if conv and conv.slack_ts else None

    channel, ts = wait_until(located, 30, f"the card of {message_id}")
    return cid, str(channel), ts


# ------------------------------------------------------------------ webhook
def test_webhook_refuses_unsigned_forged_and_stale_requests(deployment: Deployment) -> None:
    body = json.dumps(message("sec-forged-1", "Please reset my password")).encode()
    now = int(time.time())
    forged = WebhookSender(deployment.webhook.url, "not-" + WEBHOOK)
    before = count_rows(deployment.engine, Message)
    answers = {
        "wrong secret": forged.post_raw(body),
        "stale": deployment.webhook.post_raw(body, timestamp=now - 301),
        "future": deployment.webhook.post_raw(body, timestamp=now + 301),
        "garbage signature": deployment.webhook.post_raw(body, signature="v1=00ff"),
        "v0 scheme": deployment.webhook.post_raw(body, signature="v0=" + "a" * 64),
        "empty signature": deployment.webhook.post_raw(body, signature=" "),
    }
    tampered = deployment.webhook.post_raw(body, timestamp=now)  # fine; then change the body
    assert tampered.status == 202
    answers["tampered body"] = deployment.webhook.post_raw(
        body.replace(b"password", b"passw0rd"),
        headers={"X-Threadline-Signature": _signature_of(body, now)},
        timestamp=now,
    )
    unsigned = _post_unsigned(deployment.webhook.url, body)
    assert unsigned == 401
    assert {name: r.status for name, r in answers.items()} == dict.fromkeys(answers, 401)
    assert count_rows(deployment.engine, Message) == before + 1  # only the one honest delivery


def _signature_of(body: bytes, timestamp: int) -> str:
    from bot.sources.webhook import sign

    return sign(WEBHOOK, str(timestamp), body)


def _post_unsigned(url: str, body: bytes) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def test_a_replayed_webhook_within_the_window_is_deduplicated(deployment: Deployment) -> None:
    body = json.dumps(message("sec-replay-1", "Where is my parcel?")).encode()
    ts = int(time.time())
    signature = _signature_of(body, ts)
    first = deployment.webhook.post_raw(body, timestamp=ts, signature=signature)
    replays = [
        deployment.webhook.post_raw(body, timestamp=ts, signature=signature) for _ in range(3)
    ]
    assert first.status == 202 and first.json()["duplicate"] is False
    for replay in replays:
        assert replay.status == 200
        assert replay.json() == {
            "conversation_id": first.json()["conversation_id"],
            "duplicate": True,
        }
    assert count_rows(deployment.engine, Message, Message.external_id == "sec-replay-1") == 1


# ------------------------------------------------------------------ Slack
def test_slack_refuses_unsigned_forged_and_stale_requests(deployment: Deployment) -> None:
    dep = deployment
    cid, channel, ts = card_of(dep, "sec-slack-1", "My invoice is wrong", author="victim-1")
    forged = SlackDriver(dep.driver.events_url, "not-" + SIGNING, fake=dep.slack)
    no_signature = {"X-Slack-Signature": "", "X-Slack-Request-Timestamp": ""}
    statuses = [
        forged.slash_command("/crm", "forget @victim-1", user_id=ADMIN).status,
        dep.driver.slash_command("/crm", "forget @victim-1", user_id=ADMIN, sign=False).status,
        dep.driver.slash_command(
            "/crm", "forget @victim-1", user_id=ADMIN, timestamp_offset=-301
        ).status,
        dep.driver.block_action(
            "conversation.claim",
            str(cid),
            user_id=AGENT,
            channel_id=channel,
            message_ts=ts,
            sign=False,
        ).status,
        dep.driver.block_action(
            "conversation.claim",
            str(cid),
            user_id=AGENT,
            channel_id=channel,
            message_ts=ts,
            timestamp_offset=-600,
        ).status,
        dep.driver.send(
            "command=%2Fcrm&text=forget+%40victim-1&user_id=UADMIN1",
            "application/x-www-form-urlencoded",
            headers=no_signature,
        ).status,
        dep.driver.send(
            "command=%2Fcrm&text=forget+%40victim-1&user_id=UADMIN1",
            "application/x-www-form-urlencoded",
            headers={"X-Slack-Request-Timestamp": "soon"},
        ).status,
        forged.message("a forged note", user=AGENT, channel=channel, thread_ts=ts).status,
    ]
    assert statuses == [401] * len(statuses)
    time.sleep(0.5)  # a listener that slipped through would have acted by now
    with session_scope(dep.engine) as session:
        conv = session.get(Conversation, cid)
        assert conv is not None and conv.assignee_slack_id is None
        texts = session.exec(select(Message.text).where(Message.conversation_id == cid)).all()
    assert "My invoice is wrong" in texts and "a forged note" not in texts
    assert "a forged note" not in dep.stack.logs()  # a refused body is not logged either
    assert count_rows(dep.engine, AuditEvent, AuditEvent.action == "customer.erased") == 0


def test_a_redelivered_slack_event_is_stored_once(deployment: Deployment) -> None:
    dep = deployment
    _cid, channel, ts = card_of(dep, "sec-event-1", "Is there an API?", author="cust-ev")
    note = dep.driver.message(
        "internal: check the API docs", user=AGENT, channel=channel, thread_ts=ts
    )
    assert note.status == 200
    envelope = note.sent
    for retry in (1, 2):
        again = dep.driver.event(envelope["event"], event_id=envelope["event_id"], retry_num=retry)
        assert again.status == 200
    wait_until(
        lambda: count_rows(dep.engine, Message, Message.text == "internal: check the API docs"),
        10,
        "the note",
    )
    time.sleep(0.5)
    assert count_rows(dep.engine, Message, Message.text == "internal: check the API docs") == 1
    # A retry racing the first delivery is not an error worth a traceback.
    assert "IntegrityError" not in dep.stack.logs()


def test_a_click_that_fails_after_ack_is_still_acknowledged(deployment: Deployment) -> None:
    dep = deployment
    _cid, channel, ts = card_of(dep, "sec-ack-1", "Hello?", author="cust-ack")
    seen = len(_responses_to(dep, AGENT))
    resp = dep.driver.block_action(
        "draft.send", "not-a-number", user_id=AGENT, channel_id=channel, message_ts=ts
    )
    # bolt 1.30 alone answers this with 404 after 3 s (its ack races the error path); the
    # listeners report the failure themselves, so Slack gets its 200 at once.
    assert resp.status == 200 and resp.elapsed < 2.5
    wait_until(
        lambda: any("Something went wrong" in r for r in _responses_to(dep, AGENT)[seen:]),
        10,
        "the note with the error id",
    )


def test_a_replayed_send_click_delivers_the_reply_once(deployment: Deployment) -> None:
    """Slack signatures carry no nonce: inside the 5-minute window a captured click can be
    replayed byte for byte. Sending is idempotent, so the customer still gets one reply."""
    dep = deployment
    cid, channel, _ = card_of(
        dep,
        "sec-replay-send",
        "Can I pay by invoice?",
        author="cust-rs",
        reply_url=dep.callback.url,
    )
    draft_id = click_draft(dep.driver, dep.engine, cid, AGENT)
    draft_ts = draft_of(dep.engine, draft_id).slack_ts
    click = dep.driver.block_action(
        "draft.send", str(draft_id), user_id=AGENT, channel_id=channel, message_ts=draft_ts
    )
    assert click.status == 200
    body = urlencode({"payload": json.dumps(click.sent)})
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": SignatureVerifier(SIGNING).generate_signature(
            timestamp=timestamp, body=body
        ),
    }
    for _ in range(2):  # the same bytes, the same signature, twice
        assert dep.driver.send(body, headers["Content-Type"], headers=headers).status == 200
    key = f"reply-out:{draft_id}"
    wait_until(
        lambda: any(r.idempotency_key == key for r in dep.callback.requests), 15, "the reply"
    )
    time.sleep(1.0)  # a second delivery would have arrived by now
    assert [r.idempotency_key for r in dep.callback.requests].count(key) == 1


def _responses_to(dep: Deployment, user: str) -> list[str]:
    return [json.dumps(r, ensure_ascii=False) for r in dep.slack.responses if r.get("user") == user]


def test_a_non_admin_cannot_forget_or_change_roles(deployment: Deployment) -> None:
    dep = deployment
    cid, _, _ = card_of(dep, "sec-admin-1", "Please delete nothing yet", author="keep-me")
    seen = len(_responses_to(dep, AGENT))
    assert dep.driver.slash_command("/crm", "forget @keep-me", user_id=AGENT).status == 200
    assert dep.driver.slash_command("/crm", f"role {AGENT} admin", user_id=AGENT).status == 200
    refusals = wait_until(
        lambda: [r for r in _responses_to(dep, AGENT)[seen:] if "only admins" in r] or None,
        15,
        "the refusal of forget",
    )
    assert len(refusals) == 1  # forget answers through response_url
    with session_scope(dep.engine) as session:
        assert session.get(Staff, AGENT) is None
        texts = session.exec(select(Message.text).where(Message.conversation_id == cid)).all()
    assert texts == ["Please delete nothing yet"]
    sensitive = col(AuditEvent.action).in_(["customer.erased", "staff.role_set"])
    assert count_rows(dep.engine, AuditEvent, sensitive) == 0

    # The same command from an admin does erase: the refusal above was about the role.
    assert dep.driver.slash_command("/crm", "forget @keep-me", user_id=ADMIN).status == 200
    wait_until(
        lambda: "Please delete nothing yet" not in _texts_of(dep.engine, cid),
        15,
        "the admin's erasure",
    )


def _texts_of(engine: Engine, cid: int) -> list[str]:
    with session_scope(engine) as session:
        return list(session.exec(select(Message.text).where(Message.conversation_id == cid)).all())


# ------------------------------------------------------------------ logs
def test_no_secret_reaches_the_logs_even_when_things_fail(deployment: Deployment) -> None:
    dep = deployment
    dep.slack.fail("chat.postMessage", status=500, times=2)
    dep.openai.fail(401, times=3)
    cid, channel, ts = card_of(
        dep,
        "sec-logs-1",
        "App crashes on login, token xoxb-123456789-abcdef in my logs?",
        author="leaky",
        reply_url=f"http://127.0.0.1:{free_port()}/closed",
    )
    draft = dep.driver.block_action(
        "conversation.draft", str(cid), user_id=AGENT, channel_id=channel, message_ts=ts
    )
    assert draft.status == 200
    dep.driver.block_action(  # fails inside the listener: logged with a traceback
        "draft.send", "not-a-number", user_id=AGENT, channel_id=channel, message_ts=ts
    )
    forged = WebhookSender(dep.webhook.url, OPENAI_KEY)
    assert forged.post(message("sec-logs-2", "x")).status == 401
    assert dep.webhook.post({"message_id": "sec-logs-3", "text": 42}).status == 400
    wait_until(lambda: "listener failed" in dep.stack.logs(), 15, "the listener error in the log")
    wait_until(lambda: "LLM draft failed" in dep.stack.logs(), 15, "the drafter fallback")

    log = dep.stack.logs()
    assert " DEBUG " in log and "Traceback" in log  # it did log details, failures included
    leaked = {name: value for name, value in dep.secrets().items() if value in log}
    assert leaked == {}, f"secrets in the log: {sorted(leaked)}"
