"""SlackDriver against a real slack_bolt App served over real HTTP (flask + waitress).

The app talks to FakeSlack through a real WebClient, so these tests cover the full loop a
production bot sees: signed request in -> bolt -> listener -> Web API call out -> fake state.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import waitress
from flask import Flask, request
from slack_bolt import Ack, App, BoltRequest, Respond, Say
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_sdk import WebClient

from tests.fakes.slack import FakeSlack
from tests.fakes.slack_driver import (
    SlackDriver,
    datepicker,
    state_values,
    static_select,
    users_select,
)

SECRET = "s3cr3t-signing"
TICKET_MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "create_ticket",
    "private_metadata": "deal=42",
    "title": {"type": "plain_text", "text": "New ticket"},
    "submit": {"type": "plain_text", "text": "Create"},
    "blocks": [
        {
            "type": "input",
            "block_id": "title_block",
            "label": {"type": "plain_text", "text": "Title"},
            "element": {"type": "plain_text_input", "action_id": "title"},
        }
    ],
}


@dataclass
class Seen:
    """What the listeners observed; appended from waitress worker threads."""

    commands: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    submissions: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def clear(self) -> None:
        for bucket in (self.commands, self.actions, self.submissions, self.events):
            bucket.clear()


def build_app(client: WebClient, seen: Seen) -> App:
    app = App(signing_secret=SECRET, client=client, process_before_response=True)

    @app.command("/crm")
    def on_command(ack: Ack, command: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack(f"working on {command['text']}")
        seen.commands.append(command)
        if command["text"] == "new":
            client.views_open(trigger_id=command["trigger_id"], view=TICKET_MODAL)
        respond("only you can see this")

    @app.action({"action_id": "approve"})
    @app.action({"action_id": "pick"})
    def on_action(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        seen.actions.append(body)
        if body["actions"][0]["action_id"] == "approve":
            client.chat_update(
                channel=body["channel"]["id"],
                ts=body["message"]["ts"],
                text=f"Approved by <@{body['user']['id']}>",
            )

    @app.view("create_ticket")
    def on_submit(ack: Ack, view: dict[str, Any], body: dict[str, Any]) -> None:
        values = view["state"]["values"]
        seen.submissions.append(body)
        if not values["title_block"]["title"]["value"]:
            ack(response_action="errors", errors={"title_block": "Required"})
        else:
            ack()

    @app.event("app_mention")
    def on_mention(event: dict[str, Any], req: BoltRequest, say: Say) -> None:
        seen.events.append({"event": event, "headers": dict(req.headers)})
        say(text="on it", thread_ts=event["ts"])

    @app.event("message")
    def on_message(event: dict[str, Any], req: BoltRequest) -> None:
        seen.events.append({"event": event, "headers": dict(req.headers)})

    return app


@dataclass
class Stack:
    slack: FakeSlack
    driver: SlackDriver
    client: WebClient
    seen: Seen


@pytest.fixture(scope="module")
def stack_once() -> Iterator[Stack]:
    seen = Seen()
    with FakeSlack() as slack:
        client = WebClient(base_url=slack.api_url, token="xoxb-test")
        handler = SlackRequestHandler(build_app(client, seen))
        flask_app = Flask(__name__)

        @flask_app.route("/slack/events", methods=["POST"])
        def events() -> Any:
            return handler.handle(request)

        # A short loop timeout lets server.close() stop the serving thread promptly.
        server = waitress.create_server(
            flask_app, host="127.0.0.1", port=0, asyncore_loop_timeout=0.05
        )
        thread = threading.Thread(target=server.run, name="waitress", daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{server.effective_port}/slack/events"  # type: ignore[union-attr]
        try:
            yield Stack(slack, SlackDriver(url, SECRET, fake=slack), client, seen)
        finally:
            server.close()
            thread.join(timeout=5)
            assert not thread.is_alive(), "waitress did not shut down"
        assert slack.internal_errors == []


@pytest.fixture
def stack(stack_once: Stack) -> Stack:
    stack_once.slack.reset()
    stack_once.seen.clear()
    return stack_once


def test_slash_command_reaches_listener(stack: Stack) -> None:
    resp = stack.driver.slash_command("/crm", text="new", user_id="U1", channel_id="C1")
    # bolt answers ack("...") with a text/plain body (JSON only once blocks etc. are involved)
    assert resp.status == 200 and resp.body == "working on new"
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert resp.elapsed < 3  # Slack's ack deadline
    (cmd,) = stack.seen.commands
    assert (cmd["command"], cmd["text"], cmd["user_id"], cmd["channel_id"]) == (
        "/crm",
        "new",
        "U1",
        "C1",
    )
    assert cmd["channel_name"] == "general" and cmd["team_id"] == "T0001"
    assert cmd["is_enterprise_install"] == "false" and cmd["api_app_id"] == "A0APP"
    # views.open with the driver's trigger_id was accepted by the fake ...
    (opened,) = stack.slack.views_opened
    assert opened["callback_id"] == "create_ticket"
    # ... and respond() went to the fake's response_url as an ephemeral.
    assert stack.slack.ephemerals[-1]["text"] == "only you can see this"
    assert stack.slack.ephemerals[-1]["user"] == "U1"


def test_block_action_with_message_from_fake(stack: Stack) -> None:
    posted = stack.client.chat_postMessage(channel="C1", text="Deal 42 needs approval")
    resp = stack.driver.block_action(
        "approve", value="deal-42", user_id="U1", channel_id="C1", message_ts=posted["ts"]
    )
    assert resp.status == 200
    (body,) = stack.seen.actions
    action = body["actions"][0]
    assert body["type"] == "block_actions" and action["value"] == "deal-42"
    assert action["type"] == "button" and body["user"]["id"] == "U1"
    assert body["message"]["text"] == "Deal 42 needs approval"
    assert body["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": "C1",
        "is_ephemeral": False,
    }
    assert stack.slack.message("C1", posted["ts"])["text"] == "Approved by <@U1>"  # type: ignore[index]


def test_select_actions_carry_selections(stack: Stack) -> None:
    stack.driver.block_action("pick", value="high", action_type="static_select")
    stack.driver.block_action("pick", selected_user="U1", action_type="users_select")
    stack.driver.block_action(
        "pick", selected_options=["a", "b"], action_type="multi_static_select"
    )
    first, second, third = (b["actions"][0] for b in stack.seen.actions)
    assert first["selected_option"]["value"] == "high"
    assert second["selected_user"] == "U1"
    assert [o["value"] for o in third["selected_options"]] == ["a", "b"]


def test_block_action_from_a_view(stack: Stack) -> None:
    view = stack.client.views_open(trigger_id=stack.slack.issue_trigger_id(), view=TICKET_MODAL)[
        "view"
    ]
    stack.driver.block_action("pick", value="x", action_type="static_select", view=view)
    (body,) = stack.seen.actions
    assert body["container"] == {"type": "view", "view_id": view["id"]}
    assert body["view"]["id"] == view["id"] and "channel" not in body


def test_view_submission_values_and_metadata(stack: Stack) -> None:
    stack.driver.slash_command("/crm", text="new")
    view_id = stack.slack.views_opened[0]["id"]
    values = {
        "title_block": {"title": "Fix login"},
        "owner_block": {"owner": users_select("U1")},
        "prio_block": {"prio": static_select("p1", "Urgent")},
        "tags_block": {"tags": ["bug", "auth"]},
        "due": datepicker("2024-12-31"),
    }
    resp = stack.driver.view_submission("create_ticket", values, view_id=view_id)
    assert resp.status == 200 and resp.body == ""
    (body,) = stack.seen.submissions
    view = body["view"]
    assert body["type"] == "view_submission" and body["user"]["id"] == "U1"
    assert view["id"] == view_id and view["private_metadata"] == "deal=42"
    assert view["blocks"] == TICKET_MODAL["blocks"]  # the base is the view the bot opened
    got = view["state"]["values"]
    assert got == state_values(values)
    assert got["title_block"]["title"] == {"type": "plain_text_input", "value": "Fix login"}
    assert got["owner_block"]["owner"]["selected_user"] == "U1"
    assert got["prio_block"]["prio"]["selected_option"]["value"] == "p1"
    assert [o["value"] for o in got["tags_block"]["tags"]["selected_options"]] == ["bug", "auth"]
    assert got["due"]["due"] == {"type": "datepicker", "selected_date": "2024-12-31"}


def test_view_submission_errors_response(stack: Stack) -> None:
    resp = stack.driver.view_submission(
        "create_ticket", {"title_block": {"title": None}}, private_metadata="override"
    )
    assert resp.json() == {"response_action": "errors", "errors": {"title_block": "Required"}}
    assert stack.seen.submissions[0]["view"]["private_metadata"] == "override"


def test_event_and_retry_headers(stack: Stack) -> None:
    event = {
        "type": "app_mention",
        "user": "U1",
        "text": "<@U0BOT> hi",
        "channel": "C1",
        "ts": stack.slack.add_message("C1", "<@U0BOT> hi")["ts"],
    }
    first = stack.driver.event(event, event_id="Ev123")
    retry = stack.driver.event(event, event_id="Ev123", retry_num=1)
    assert first.status == retry.status == 200
    assert first.sent["event_id"] == retry.sent["event_id"] == "Ev123"
    original, redelivery = stack.seen.events
    assert original["event"]["text"] == "<@U0BOT> hi"
    assert "x-slack-retry-num" not in original["headers"]
    assert redelivery["headers"]["x-slack-retry-num"] == ["1"]
    assert redelivery["headers"]["x-slack-retry-reason"] == ["http_timeout"]
    # Both deliveries replied: exactly the duplicate a bot must dedupe by event_id.
    assert [m["text"] for m in stack.slack.thread("C1", event["ts"])[1:]] == ["on it", "on it"]


def test_message_helper_seeds_history(stack: Stack) -> None:
    resp = stack.driver.message("hello bot", user="U1", channel="C2")
    assert resp.status == 200
    (seen,) = stack.seen.events
    assert seen["event"]["text"] == "hello bot" and seen["event"]["channel_type"] == "channel"
    assert [m["text"] for m in stack.slack.messages("C2")] == ["hello bot"]


def test_url_verification(stack: Stack) -> None:
    resp = stack.driver.url_verification("chal-123")
    assert resp.status == 200 and resp.json() == {"challenge": "chal-123"}


@pytest.mark.parametrize(
    "tamper",
    [{"sign": False}, {"timestamp_offset": -600}],
    ids=["bad-signature", "stale-timestamp"],
)
def test_unsigned_or_stale_requests_are_rejected(stack: Stack, tamper: dict[str, Any]) -> None:
    responses = [
        stack.driver.slash_command("/crm", text="x", **tamper),
        stack.driver.block_action("approve", value="v", **tamper),
        stack.driver.view_submission("create_ticket", {"title_block": {"title": "t"}}, **tamper),
        stack.driver.event(
            {
                "type": "app_mention",
                "user": "U1",
                "text": "hi",
                "channel": "C1",
                "ts": "1700000000.000100",
            },
            **tamper,
        ),
    ]
    assert [r.status for r in responses] == [401, 401, 401, 401]
    assert stack.seen == Seen()
    assert stack.slack.calls == []


def test_slightly_old_timestamp_is_still_accepted(stack: Stack) -> None:
    # Inside Slack's 5-minute window: proves the stale test is about the window, not skew.
    resp = stack.driver.slash_command("/crm", text="ok", timestamp_offset=-240)
    assert resp.status == 200 and len(stack.seen.commands) == 1
