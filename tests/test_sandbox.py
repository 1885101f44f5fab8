"""`threadline sandbox`: the emulator and the page's API over real HTTP, the signed path from a
click to /slack/events, the customer panel, the sample day, --reset, escaping, reactions,
thread notes and the Home tab (tests/test_sandbox_cli.py runs `threadline` as a process)."""

from __future__ import annotations

import json
import re
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import func, select

from bot.config import ConfigError, LoadedConfig, Settings
from bot.config_schema import TeamConfig
from bot.sandbox.customer import load_sample_day
from bot.sandbox.elements import RenderContext
from bot.sandbox.mrkdwn_html import mrkdwn_to_html
from bot.sandbox.render import blocks_html, view_html
from bot.sandbox.runner import RunningSandbox, reset_database, start_sandbox
from storage.db import session_scope
from storage.models import Conversation, Outcome
from tests.polling import wait_for


def call(sb: RunningSandbox, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        sb.server.url + path,
        data=data,
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def state(sb: RunningSandbox, channel: str | None = None) -> dict[str, Any]:
    status, body = call(sb, "/sandbox/api/state" + (f"?channel={channel}" if channel else ""))
    assert status == 200
    return body


def post_customer(sb: RunningSandbox, text: str, **fields: Any) -> dict[str, Any]:
    form = {"network": "instagram", "name": "Jiří Novák", "handle": "@jiri", "followers": 40}
    status, body = call(sb, "/sandbox/api/customer", {**form, **fields, "text": text})
    assert status == 200, body
    return body


def card_of(sb: RunningSandbox, conversation_id: int) -> dict[str, Any]:
    """The card, once the outbox has also stored where it is (as a person sees it)."""

    def stored() -> bool:
        with session_scope(sb.engine) as session:
            conversation = session.get(Conversation, conversation_id)
            return conversation is not None and conversation.slack_ts is not None

    wait_for(stored)

    def find() -> dict[str, Any] | None:
        for message in sb.slack.all_posts():
            payload = message.get("metadata", {}).get("event_payload", {})
            if payload.get("conversation_id") == conversation_id and "thread_ts" not in message:
                return message
        return None

    return wait_for(find)


def click(sb: RunningSandbox, message: dict[str, Any], action_id: str, **extra: Any) -> int:
    body = {"channel": message["channel"], "ts": message["ts"], "action_id": action_id, **extra}
    status, _ = call(sb, "/sandbox/api/action", body)
    return status


def text_of(sb: RunningSandbox, channel: str) -> str:
    return state(sb, channel)["messages_html"]


def count_rows(sb: RunningSandbox, table: Any) -> int:
    with session_scope(sb.engine) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


def events_served(sb: RunningSandbox) -> float:
    with urllib.request.urlopen(sb.server.url + "/metrics", timeout=5) as answer:
        metrics = answer.read().decode()
    found = re.findall(r'http_requests_total\{[^}]*route="/slack/events"[^}]*\} ([0-9.]+)', metrics)
    return sum(float(n) for n in found)


def test_the_page_and_its_state_show_the_team_channels(sandbox: RunningSandbox) -> None:
    with urllib.request.urlopen(sandbox.url, timeout=5) as answer:
        page = answer.read().decode()
        csp = answer.headers["Content-Security-Policy"]
    assert "/sandbox/assets/sandbox.js" in page and "script-src 'self'" in csp
    current = state(sandbox)
    names = [row["name"] for row in current["sidebar"]]
    assert names[:3] == ["support", "product", "sales"]
    assert current["channel_name"] == "support"
    assert "No messages yet" in current["messages_html"]
    assert current["modal"] is None


def test_a_click_is_a_signed_request_to_slack_events_and_updates_the_card(
    sandbox: RunningSandbox,
) -> None:
    answer = post_customer(sandbox, "Where is my parcel? Order 1182 never arrived.")
    cid = answer["answer"]["conversation_id"]
    card = card_of(sandbox, cid)
    assert "Jiří Novák" in text_of(sandbox, card["channel"])
    before = events_served(sandbox)
    assert click(sandbox, card, "conversation.claim", value=str(cid)) == 200
    assert events_served(sandbox) == before + 1  # through bolt's signature check, answered 200
    wait_for(lambda: "Unclaim" in text_of(sandbox, card["channel"]))
    assert "@you" in text_of(sandbox, card["channel"])
    # The panel can continue that conversation: same thread, same conversation.
    thread = state(sandbox)["customer"]["threads"][0]["thread"]
    follow_up = post_customer(sandbox, "Any news? It is urgent.", thread_id=thread)
    assert follow_up["answer"]["conversation_id"] == cid


def test_tags_draft_send_reach_the_customer_panel(sandbox: RunningSandbox) -> None:
    cid = post_customer(sandbox, "Aplikace padá po aktualizaci, ztratil jsem data.")["answer"][
        "conversation_id"
    ]
    card = card_of(sandbox, cid)
    block = f"conversation:{cid}"
    click(sandbox, card, "conversation.claim", value=str(cid))
    click(
        sandbox,
        card,
        "conversation.tags",
        block_id=block,
        type="multi_static_select",
        values=["vip"],
    )
    wait_for(lambda: "vip" in json.dumps(sandbox.slack.message(card["channel"], card["ts"])))
    click(sandbox, card, "conversation.draft", value=str(cid))

    def draft_message() -> dict[str, Any] | None:
        thread = sandbox.slack.thread(card["channel"], card["ts"])[1:]
        return next((m for m in thread if "draft.send" in json.dumps(m)), None)

    draft = {**wait_for(draft_message), "channel": card["channel"]}
    draft_id = re.search(r'"action_id": "draft.send", "value": "(\d+)"', json.dumps(draft))
    assert draft_id is not None
    assert click(sandbox, draft, "draft.send", value=draft_id.group(1)) == 200
    feed = wait_for(
        lambda: "Reply delivered" in (f := state(sandbox)["customer"]["feed_html"]) and f
    )
    delivered = feed.split("Reply delivered to the customer", 1)[1]
    assert "Dobrý den" in delivered or "Jiří" in delivered  # the offline draft, in Czech


def test_a_modal_refuses_empty_required_inputs_and_saves_a_full_one(
    sandbox: RunningSandbox,
) -> None:
    cid = post_customer(sandbox, "Do you ship to Norway? I want to buy two.")["answer"][
        "conversation_id"
    ]
    card = card_of(sandbox, cid)
    click(sandbox, card, "conversation.outcome", value=str(cid))
    modal = wait_for(lambda: state(sandbox)["modal"])
    status, body = call(sandbox, "/sandbox/api/submit", {"view_id": modal["id"], "form": {}})
    assert status == 200 and body["errors"]["outcome"] == "Please fill out this field."
    assert "Please fill out this field." in state(sandbox)["modal"]["html"]
    form = {
        "outcome": {"value": {"type": "static_select", "value": "sale"}},
        "amount": {"value": {"type": "plain_text_input", "value": "80"}},
        "currency": {"value": {"type": "static_select", "value": "EUR"}},
    }
    status, body = call(sandbox, "/sandbox/api/submit", {"view_id": modal["id"], "form": form})
    assert status == 200 and body["errors"] == {}
    assert state(sandbox)["modal"] is None
    wait_for(lambda: count_rows(sandbox, Outcome) == 1)
    wait_for(lambda: "80.00 EUR" in text_of(sandbox, card["channel"]))


def test_a_slash_command_answers_only_the_person(sandbox: RunningSandbox) -> None:
    channel = state(sandbox)["channel"]
    status, _ = call(sandbox, "/sandbox/api/command", {"channel": channel, "text": "/crm help"})
    assert status == 200
    html = wait_for(lambda: "Only visible to you" in (h := text_of(sandbox, channel)) and h)
    assert "/crm" in html


def test_customer_text_is_escaped_everywhere(sandbox: RunningSandbox) -> None:
    evil = 'Hi <script>alert(1)</script> <img src=x onerror="alert(2)"> & bye'
    cid = post_customer(sandbox, evil, name="<b>Mallory</b>")["answer"]["conversation_id"]
    card = card_of(sandbox, cid)
    html = text_of(sandbox, card["channel"])
    feed = state(sandbox)["customer"]["feed_html"]
    for shown in (html, feed):
        assert "<script>" not in shown and "<img" not in shown and "<b>Mallory" not in shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;Mallory&lt;/b&gt;" in feed


def test_mrkdwn_renders_markup_but_never_unsafe_links() -> None:
    rendered = mrkdwn_to_html(
        "*Bold* _it_ `x<y` <https://example.com/?a=1&amp;b=2|site> <javascript:alert(1)|click>"
        " <@U1> &lt;i&gt;",
        {"U1": "ana"}.get,  # type: ignore[arg-type]
    )
    assert "<b>Bold</b>" in rendered and "<i>it</i>" in rendered
    assert "<code>x&lt;y</code>" in rendered
    assert 'href="https://example.com/?a=1&amp;b=2"' in rendered
    assert "javascript" not in rendered and ">click<" not in rendered
    assert "@ana" in rendered and "&lt;i&gt;" in rendered


def test_bad_panel_input_is_refused_with_the_field_and_nothing_is_sent(
    sandbox: RunningSandbox,
) -> None:
    for fields, expected in (
        ({"text": "  "}, "text:"),
        ({"text": "hi", "followers": "lots"}, "followers:"),
        ({"text": "hi", "network": "Not A Network"}, "network:"),
        ({"text": "hi", "name": "", "handle": ""}, "name:"),
    ):
        status, body = call(
            sandbox, "/sandbox/api/customer", {"network": "x", "name": "Ana", **fields}
        )
        assert status == 400 and body["error"].startswith(expected)
    status, body = call(sandbox, "/sandbox/api/action", {"channel": "C1", "ts": "1.2"})
    assert status == 400 and "action_id" in body["error"]
    status, body = call(sandbox, "/sandbox/api/action", {"action_id": "x", "ts": "1.2"})
    assert status == 400 and "gone" in body["error"]
    assert [p for p in sandbox.slack.all_posts() if not p["channel"].startswith("D")] == []
    assert count_rows(sandbox, Conversation) == 0


def test_the_reply_endpoint_checks_the_signature(sandbox: RunningSandbox) -> None:
    status, body = call(sandbox, "/sandbox/customer/reply", {"type": "reply", "text": "forged"})
    assert status == 401 and "X-Threadline-Signature" in body["error"]
    assert "forged" not in state(sandbox)["customer"]["feed_html"]


def test_the_sample_day_fills_the_channels(sandbox: RunningSandbox) -> None:
    messages = load_sample_day()
    assert 20 <= len(messages) <= 40
    languages = {m["lang"] for m in messages}
    assert {"fa", "zh", "hi", "cs", "es", "en"} <= languages
    assert max(m["author"]["followers"] for m in messages) >= 100_000
    assert call(sandbox, "/sandbox/api/sample-day", {})[0] == 202
    assert call(sandbox, "/sandbox/api/sample-day", {})[0] == 409  # one at a time
    sample = wait_for(
        lambda: (s := state(sandbox)["customer"]["sample"])["state"] == "done" and s, 30
    )
    assert sample["new"] == sample["total"] == len(messages) and sample["failed"] == 0
    threads = {m["thread_id"] for m in messages}
    assert count_rows(sandbox, Conversation) == len(threads)
    counts = {row["name"]: row["count"] for row in state(sandbox)["sidebar"]}
    wait_for(lambda: all(state(sandbox)["sidebar"][i]["count"] for i in range(3)), 20)
    assert set(counts) >= {"support", "sales", "product"}


def test_a_busy_port_is_one_clear_error_and_leaves_nothing_running(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path / 'sandbox.db'}",
    )
    before = threading.active_count()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            start_sandbox(settings, LoadedConfig(TeamConfig(), None), host="127.0.0.1", port=port)
    wait_for(lambda: threading.active_count() <= before)  # drainers and emulator stopped


def test_reset_deletes_the_sqlite_file_and_never_a_server_database(tmp_path: Path) -> None:
    db = tmp_path / "sb.db"
    for path in (db, tmp_path / "sb.db-wal"):
        path.write_bytes(b"old")
    removed = reset_database(f"sqlite:///{db}")
    assert sorted(p.name for p in removed) == ["sb.db", "sb.db-wal"] and not db.exists()
    with pytest.raises(ConfigError, match="only deletes a SQLite file"):
        reset_database("postgresql+psycopg://u:p@127.0.0.1/prod")


def test_a_check_reaction_asks_for_the_outcome_in_an_ephemeral_that_works(
    sandbox: RunningSandbox,
) -> None:
    cid = post_customer(sandbox, "Thanks, all sorted now!")["answer"]["conversation_id"]
    card = card_of(sandbox, cid)
    body = {"channel": card["channel"], "ts": card["ts"], "name": "white_check_mark"}
    assert call(sandbox, "/sandbox/api/react", body)[0] == 200
    assert call(sandbox, "/sandbox/api/react", body)[1]["status"] is None  # once per person
    assert call(sandbox, "/sandbox/api/react", {**body, "name": "script"})[0] == 400
    prompt = wait_for(lambda: sandbox.slack.visible_ephemerals("U0YOU01", card["channel"]))[0]
    assert "Only visible to you" in text_of(sandbox, card["channel"])
    status, _ = call(
        sandbox,
        "/sandbox/api/action",
        {
            "channel": card["channel"],
            "ts": prompt["message_ts"],
            "ephemeral": True,
            "action_id": "conversation.outcome",
            "value": str(cid),
        },
    )
    assert status == 200
    modal = wait_for(lambda: state(sandbox)["modal"])
    assert "outcome" in modal["html"].lower()
    call(sandbox, "/sandbox/api/close", {"view_id": modal["id"]})
    assert state(sandbox)["modal"] is None
    call(sandbox, "/sandbox/api/dismiss", {"ts": prompt["message_ts"]})
    assert "Only visible to you" not in text_of(sandbox, card["channel"])


def test_thread_replies_are_notes_and_the_home_tab_opens(sandbox: RunningSandbox) -> None:
    cid = post_customer(sandbox, "Is there a student discount?")["answer"]["conversation_id"]
    card = card_of(sandbox, cid)
    note = {"channel": card["channel"], "ts": card["ts"], "text": "Checking with sales 🧐"}
    assert call(sandbox, "/sandbox/api/reply", note)[0] == 200
    assert call(sandbox, "/sandbox/api/reply", {**note, "text": " "})[0] == 400
    assert "Checking with sales" in text_of(sandbox, card["channel"])
    assert call(sandbox, "/sandbox/api/home", {})[0] == 200

    def home() -> str:
        _, body = call(sandbox, "/sandbox/api/state?home=1")
        return str(body["home_html"])

    assert "student discount" in wait_for(home) or "queue" in wait_for(home).lower()


def test_an_existing_threadline_toml_decides_the_channels(tmp_path: Path) -> None:
    team = TeamConfig.model_validate(
        {"channels": {"support": "#help-desk", "sales": "#deals"}, "slack": {"command": "/care"}}
    )
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path / 'sandbox.db'}",
    )
    running = start_sandbox(
        settings, LoadedConfig(team, tmp_path / "threadline.toml"), host="127.0.0.1", port=0
    )
    try:
        names = [row["name"] for row in state(running)["sidebar"]]
        assert names[:2] == ["help-desk", "deals"]
        cid = post_customer(running, "Hello, where is my order?")["answer"]["conversation_id"]
        assert card_of(running, cid)["channel"] == running.slack.channel("help-desk")["id"]
    finally:
        running.stop()


def test_cross_site_form_posts_are_refused(sandbox: RunningSandbox) -> None:
    request = urllib.request.Request(
        sandbox.server.url + "/sandbox/api/sample-day",
        data=b"x=1",
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 400
    assert state(sandbox)["customer"]["sample"]["state"] == "idle"


def test_every_block_kit_element_the_bot_sends_becomes_a_usable_control() -> None:
    ctx = RenderContext(users=[("U1", "ana")], channels=[("C1", "support")])
    option = {"text": {"type": "plain_text", "text": "Sale"}, "value": "sale"}
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Head <1>"}},
        {"type": "divider"},
        {
            "type": "section",
            "block_id": "s",
            "fields": [{"type": "mrkdwn", "text": "*Status*"}],
            "accessory": {"type": "overflow", "action_id": "o", "options": [option]},
        },
        {
            "type": "actions",
            "block_id": "a",
            "elements": [
                {
                    "type": "button",
                    "action_id": "send",
                    "value": "7",
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "Send"},
                    "confirm": {
                        "title": {"type": "plain_text", "text": "Send reply?"},
                        "text": {"type": "mrkdwn", "text": "To *X*?"},
                        "confirm": {"type": "plain_text", "text": "Send"},
                        "deny": {"type": "plain_text", "text": "Cancel"},
                    },
                },
                {
                    "type": "static_select",
                    "action_id": "pick",
                    "options": [option],
                    "initial_option": option,
                },
                {"type": "users_select", "action_id": "who", "initial_user": "U1"},
            ],
        },
    ]
    html = blocks_html(blocks, ctx)
    assert "Head &lt;1&gt;" in html and '<hr class="bk-divider">' in html
    assert 'data-action-id="send"' in html and 'data-value="7"' in html
    assert 'class="bk-btn bk-primary"' in html and 'data-confirm-title="Send reply?"' in html
    assert '<option value="sale" selected>Sale</option>' in html
    assert '<option value="U1" selected>@ana</option>' in html
    assert 'data-type="overflow"' in html and "<b>Status</b>" in html
    view = {
        "title": {"type": "plain_text", "text": "Outcome"},
        "submit": {"type": "plain_text", "text": "Save"},
        "blocks": [
            {
                "type": "input",
                "block_id": "note",
                "optional": True,
                "label": {"type": "plain_text", "text": "Note"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "v",
                    "multiline": True,
                    "initial_value": "</textarea><script>",
                },
            },
            {
                "type": "input",
                "block_id": "tags",
                "label": {"type": "plain_text", "text": "T"},
                "element": {"type": "checkboxes", "action_id": "v", "options": [option]},
            },
        ],
    }
    modal = view_html(view, ctx, {"tags": "Pick one <now>"})
    assert "&lt;/textarea&gt;&lt;script&gt;</textarea>" in modal
    assert "(optional)" in modal and "Pick one &lt;now&gt;" in modal
    assert "type='checkbox'" in modal and 'data-modal="submit"' in modal
    assert "data-live" not in modal.split('data-type="checkboxes"')[1][:20]
