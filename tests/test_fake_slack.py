"""FakeSlack driven by the real slack_sdk.WebClient over real HTTP (no mocks).

These tests pin the fake to Slack's contract so bot tests built on it mean something: shapes
the bot reads, errors Slack raises, and failure modes the bot's retry logic must survive.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from tests.fakes.slack import FakeSlack

TS = re.compile(r"^\d{10}\.\d{6}$")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake
    assert fake.internal_errors == []


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    return WebClient(base_url=slack.api_url, token="xoxb-test")


def api_error(call: Callable[..., Any], *args: Any, **kwargs: Any) -> SlackApiError:
    """Call a WebClient method that must fail; return the SlackApiError."""
    with pytest.raises(SlackApiError) as info:
        call(*args, **kwargs)
    return info.value


def error_of(call: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    return str(api_error(call, *args, **kwargs).response["error"])


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def actions(n: int) -> dict[str, Any]:
    button = {"type": "button", "text": {"type": "plain_text", "text": "b"}}
    return {"type": "actions", "elements": [{**button, "action_id": f"a{i}"} for i in range(n)]}


def modal(
    title: str = "New ticket", blocks: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title},
        "blocks": [section("hi")] if blocks is None else blocks,
        **extra,
    }


# --------------------------------------------------------------------------- basics
def test_api_url_looks_like_slack_base_url(slack: FakeSlack) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/", slack.api_url)


def test_auth_test_identifies_the_bot(client: WebClient) -> None:
    data = client.auth_test().data
    assert isinstance(data, dict)
    assert data["ok"] is True
    assert (data["team_id"], data["user_id"], data["bot_id"]) == ("T0001", "U0BOT", "B0BOT")
    assert data["url"].startswith("https://") and data["team"] and data["user"]


@pytest.mark.parametrize("channel", ["C1", "general", "#general"])
def test_post_message_by_id_or_name(slack: FakeSlack, client: WebClient, channel: str) -> None:
    resp = client.chat_postMessage(channel=channel, text="hello")
    assert resp["channel"] == "C1"
    assert TS.match(resp["ts"])
    assert resp["message"]["text"] == "hello" and resp["message"]["user"] == "U0BOT"
    assert [m["text"] for m in slack.messages("C1")] == ["hello"]
    assert slack.all_posts()[0]["channel"] == "C1"


def test_ts_values_are_unique_and_increasing(client: WebClient) -> None:
    stamps = [client.chat_postMessage(channel="C1", text=str(i))["ts"] for i in range(30)]
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 30
    assert abs(float(stamps[-1]) - time.time()) < 60  # real-time based


def test_ts_strictly_increases_even_with_a_frozen_clock() -> None:
    with FakeSlack(clock=lambda: 1732350000.0) as fake:
        client = WebClient(base_url=fake.api_url, token="xoxb-test")
        stamps = [client.chat_postMessage(channel="C1", text="x")["ts"] for _ in range(3)]
    assert stamps == ["1732350000.000000", "1732350000.000001", "1732350000.000002"]


def test_all_posts_lists_api_posts_only(slack: FakeSlack, client: WebClient) -> None:
    slack.add_message("C1", "a human said this")
    parent = client.chat_postMessage(channel="C1", text="p")["ts"]
    client.chat_postMessage(channel="C2", text="r", thread_ts=parent)  # orphan thread in C2
    client.chat_postMessage(channel="C1", text="r", thread_ts=parent)
    posts = slack.all_posts()
    assert [(p["channel"], p["text"]) for p in posts] == [("C1", "p"), ("C2", "r"), ("C1", "r")]


def test_concurrent_posts_get_distinct_ts(slack: FakeSlack, client: WebClient) -> None:
    def worker() -> None:
        for i in range(10):
            client.chat_postMessage(channel="C2", text=f"m{i}")

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps = [m["ts"] for m in slack.messages("C2")]
    assert len(stamps) == 60 == len(set(stamps))


def test_thread_replies_update_parent(slack: FakeSlack, client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C1", text="parent")["ts"]
    r1 = client.chat_postMessage(channel="C1", text="r1", thread_ts=parent)
    r2 = client.chat_postMessage(channel="C1", text="r2", thread_ts=r1["ts"])  # reply-to-reply
    assert r1["message"]["thread_ts"] == parent and r2["message"]["thread_ts"] == parent
    thread = slack.thread("C1", parent)
    assert [m["text"] for m in thread] == ["parent", "r1", "r2"]
    assert thread[0]["reply_count"] == 2 and thread[0]["latest_reply"] == r2["ts"]
    assert thread[0]["reply_users"] == ["U0BOT"]
    assert [m["text"] for m in slack.messages("C1")] == ["parent"]
    assert len(slack.messages("C1", include_replies=True)) == 3
    replies = client.conversations_replies(channel="C1", ts=parent)["messages"]
    assert [m["text"] for m in replies] == ["parent", "r1", "r2"]


def test_broadcast_reply_is_visible_in_channel(slack: FakeSlack, client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C1", text="p")["ts"]
    client.chat_postMessage(channel="C1", text="b", thread_ts=parent, reply_broadcast=True)
    assert [m["text"] for m in slack.messages("C1")] == ["p", "b"]


def test_malformed_thread_ts_is_rejected(client: WebClient) -> None:
    # str(float) drops trailing zeros - the classic way bots lose their threads.
    assert (
        error_of(client.chat_postMessage, channel="C1", text="x", thread_ts="1602251441.0017")
        == "invalid_thread_ts"
    )


def test_update_changes_text_blocks_metadata(slack: FakeSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="v1")["ts"]
    meta = {"event_type": "ticket", "event_payload": {"id": 7}}
    resp = client.chat_update(channel="C1", ts=ts, text="v2", blocks=[section("b")], metadata=meta)
    assert resp["ts"] == ts and resp["text"] == "v2"
    stored = slack.message("C1", ts)
    assert stored is not None
    assert (stored["text"], stored["blocks"], stored["metadata"]) == ("v2", [section("b")], meta)
    assert stored["edited"]["user"] == "U0BOT"
    assert len(slack.messages("C1")) == 1


def test_update_errors(slack: FakeSlack, client: WebClient) -> None:
    assert (
        error_of(client.chat_update, channel="C1", ts="1700000000.000001", text="x")
        == "message_not_found"
    )
    human = slack.add_message("C1", "typed by a person", user="U1")
    assert (
        error_of(client.chat_update, channel="C1", ts=human["ts"], text="x")
        == "cant_update_message"
    )


def test_ephemeral(slack: FakeSlack, client: WebClient) -> None:
    resp = client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    assert TS.match(resp["message_ts"])
    assert slack.ephemerals == [
        {"channel": "C1", "user": "U1", "message_ts": resp["message_ts"], "text": "only you"}
    ]
    assert slack.messages("C1") == []
    assert (
        error_of(client.api_call, "chat.postEphemeral", json={"channel": "C1", "text": "x"})
        == "invalid_arguments"
    )
    assert (
        error_of(client.chat_postEphemeral, channel="C1", user="U404", text="x")
        == "user_not_in_channel"
    )


def test_permalink(client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C1", text="p")["ts"]
    reply = client.chat_postMessage(channel="C1", text="r", thread_ts=parent)["ts"]
    link = client.chat_getPermalink(channel="C1", message_ts=parent)["permalink"]
    assert link == f"https://fake.slack.com/archives/C1/p{parent.replace('.', '')}"
    rlink = client.chat_getPermalink(channel="C1", message_ts=reply)["permalink"]
    assert rlink.startswith(f"https://fake.slack.com/archives/C1/p{reply.replace('.', '')}")
    assert f"thread_ts={parent}" in rlink
    assert (
        error_of(client.chat_getPermalink, channel="C1", message_ts="1700000000.000001")
        == "message_not_found"
    )


def test_reactions(slack: FakeSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="p")["ts"]
    client.reactions_add(channel="C1", timestamp=ts, name="eyes")
    assert (
        error_of(client.reactions_add, channel="C1", timestamp=ts, name="eyes") == "already_reacted"
    )
    msg = slack.message("C1", ts)
    assert msg is not None and msg["reactions"] == [
        {"name": "eyes", "users": ["U0BOT"], "count": 1}
    ]


# --------------------------------------------------------------------------- views
def test_views_open_push_update(slack: FakeSlack, client: WebClient) -> None:
    opened = client.views_open(
        trigger_id="123.456.abc", view=modal(callback_id="new", private_metadata="m")
    )["view"]
    assert re.fullmatch(r"V\w+", opened["id"]) and opened["callback_id"] == "new"
    assert slack.views_opened[0]["id"] == opened["id"]
    pushed = client.views_push(trigger_id="123.456.def", view=modal("Step 2"))["view"]
    assert slack.views_pushed[0]["id"] == pushed["id"]
    updated = client.views_update(view_id=opened["id"], view=modal("Saved"), hash=opened["hash"])[
        "view"
    ]
    assert updated["title"]["text"] == "Saved" and updated["hash"] != opened["hash"]
    assert (
        error_of(client.views_update, view_id=opened["id"], view=modal(), hash=opened["hash"])
        == "hash_conflict"
    )
    assert error_of(client.views_update, view_id="V404", view=modal()) == "not_found"


def test_views_update_by_external_id(slack: FakeSlack, client: WebClient) -> None:
    opened = client.views_open(trigger_id="1.2.3", view=modal(external_id="ext-1"))["view"]
    client.views_update(external_id="ext-1", view=modal("Changed"))
    view = slack.view(opened["id"])
    assert view is not None and view["title"]["text"] == "Changed"


def test_views_open_validation(client: WebClient) -> None:
    def open_(view: dict[str, Any], trigger: str = "1.2.3") -> str:
        return error_of(client.views_open, trigger_id=trigger, view=view)

    assert open_(modal(), trigger="") == "invalid_arguments"
    client.views_open(trigger_id="1.2.3", view=modal("x" * 24))  # boundary is fine
    assert open_(modal("x" * 25)) == "invalid_arguments"
    client.views_open(trigger_id="1.2.3", view=modal(blocks=[section("b")] * 100))
    assert open_(modal(blocks=[section("b")] * 101)) == "invalid_arguments"
    needs_submit = modal(
        blocks=[
            {
                "type": "input",
                "label": {"type": "plain_text", "text": "T"},
                "element": {"type": "plain_text_input", "action_id": "t"},
            }
        ]
    )
    err = api_error(client.views_open, trigger_id="1.2.3", view=needs_submit)
    assert err.response["error"] == "invalid_arguments"
    assert "submit" in err.response["response_metadata"]["messages"][0]


def test_issued_trigger_is_single_use_and_can_expire(slack: FakeSlack, client: WebClient) -> None:
    trigger = slack.issue_trigger_id("U1")
    client.views_open(trigger_id=trigger, view=modal())
    assert error_of(client.views_open, trigger_id=trigger, view=modal()) == "exchanged_trigger_id"
    slack.trigger_ttl = 0.05
    stale = slack.issue_trigger_id("U1")
    time.sleep(0.1)
    assert error_of(client.views_open, trigger_id=stale, view=modal()) == "expired_trigger_id"


def test_views_publish_keeps_latest_per_user(slack: FakeSlack, client: WebClient) -> None:
    home = {"type": "home", "blocks": [section("v1")]}
    client.views_publish(user_id="U1", view=home)
    client.views_publish(user_id="U1", view={**home, "blocks": [section("v2")]})
    assert slack.views_published["U1"]["blocks"] == [section("v2")]
    assert list(slack.views_published) == ["U1"]
    too_big = {"type": "home", "blocks": [section("b")] * 101}
    assert error_of(client.views_publish, user_id="U1", view=too_big) == "invalid_arguments"
    assert error_of(client.views_publish, user_id="U1", view=modal()) == "invalid_arguments"


# --------------------------------------------------------------------------- users / convs
def test_users(slack: FakeSlack, client: WebClient) -> None:
    slack.add_user("U2", "dariush", "Dariush Mehr", tz="Asia/Tehran", is_admin=True)
    user = client.users_info(user="U2")["user"]
    assert (user["name"], user["real_name"], user["tz"]) == (
        "dariush",
        "Dariush Mehr",
        "Asia/Tehran",
    )
    assert user["tz_offset"] == 3 * 3600 + 1800 and user["is_admin"] is True
    assert user["is_bot"] is False and user["profile"]["email"] == "dariush@example.com"
    assert client.users_info(user="U0BOT")["user"]["is_bot"] is True
    assert error_of(client.users_info, user="U404") == "user_not_found"
    assert client.users_lookupByEmail(email="ana@example.com")["user"]["id"] == "U1"
    assert error_of(client.users_lookupByEmail, email="x@y.z") == "users_not_found"


def test_conversations_open_is_stable(slack: FakeSlack, client: WebClient) -> None:
    first = client.conversations_open(users="U1")["channel"]["id"]
    again = client.conversations_open(users=["U1"])
    assert first.startswith("D") and again["channel"]["id"] == first
    assert again["already_open"] is True
    info = client.conversations_info(channel=first)["channel"]
    assert info["is_im"] is True and info["user"] == "U1"
    client.chat_postMessage(channel="U1", text="dm")  # a user id posts to the app DM
    assert [m["text"] for m in slack.messages(first)] == ["dm"]
    assert error_of(client.conversations_open, users="U404") == "user_not_found"


def test_conversations_info_and_list(slack: FakeSlack, client: WebClient) -> None:
    assert client.conversations_info(channel="C1")["channel"]["name"] == "general"
    for i in range(5):
        slack.add_channel(f"extra-{i}")
    names: list[str] = []
    for page in client.conversations_list(limit=3):
        names += [c["name"] for c in page["channels"]]
    assert names[:2] == ["general", "random"] and len(names) == 7
    assert error_of(client.conversations_info, channel="C404") == "channel_not_found"


def test_history_order_paging_and_metadata(client: WebClient) -> None:
    meta = {"event_type": "ticket", "event_payload": {"id": 1}}
    for i in range(3):
        client.chat_postMessage(channel="C1", text=f"m{i}", metadata=meta)
    hist = client.conversations_history(channel="C1", limit=2)
    assert [m["text"] for m in hist["messages"]] == ["m2", "m1"] and hist["has_more"] is True
    assert all("metadata" not in m for m in hist["messages"])
    rest = client.conversations_history(
        channel="C1", cursor=hist["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in rest["messages"]] == ["m0"]
    full = client.conversations_history(channel="C1", include_all_metadata=True)
    assert all(m["metadata"] == meta for m in full["messages"])
    parent = full["messages"][0]["ts"]
    replies = client.conversations_replies(channel="C1", ts=parent)["messages"]
    assert "metadata" not in replies[0]
    replies = client.conversations_replies(channel="C1", ts=parent, include_all_metadata=True)
    assert replies["messages"][0]["metadata"] == meta
    assert (
        error_of(client.conversations_replies, channel="C1", ts="1700000000.000001")
        == "thread_not_found"
    )


# --------------------------------------------------------------------------- rejections
def test_auth_errors(slack: FakeSlack) -> None:
    no_token = WebClient(base_url=slack.api_url)
    assert error_of(no_token.chat_postMessage, channel="C1", text="x") == "not_authed"
    wrong = WebClient(base_url=slack.api_url, token="xoxb-wrong")
    assert error_of(wrong.chat_postMessage, channel="C1", text="x") == "invalid_auth"
    assert slack.messages("C1") == []


def test_unknown_channel_and_method(client: WebClient) -> None:
    assert error_of(client.chat_postMessage, channel="C404", text="x") == "channel_not_found"
    err = api_error(client.api_call, "chat.teleport")
    assert err.response.status_code == 404 and err.response["error"] == "unknown_method"


def test_bot_not_in_channel(slack: FakeSlack, client: WebClient) -> None:
    slack.add_channel("secret", "C9", bot_is_member=False)
    assert error_of(client.chat_postMessage, channel="C9", text="x") == "not_in_channel"


BAD_BLOCKS: list[tuple[str, list[Any]]] = [
    ("no type", [{"text": {"type": "mrkdwn", "text": "x"}}]),
    ("not a dict", ["section"]),
    ("unknown type", [{"type": "carousel"}]),
    ("51 blocks", [section("b")] * 51),
    ("section 3001", [section("x" * 3001)]),
    ("section empty", [section("")]),
    ("header 151", [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]),
    ("actions 26", [actions(26)]),
    ("header not plain_text", [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}]),
    ("duplicate block_id", [{**section("a"), "block_id": "x"}, {**section("b"), "block_id": "x"}]),
]


@pytest.mark.parametrize("blocks", [b for _, b in BAD_BLOCKS], ids=[n for n, _ in BAD_BLOCKS])
def test_invalid_blocks_are_rejected(
    slack: FakeSlack, client: WebClient, blocks: list[Any]
) -> None:
    err = api_error(client.chat_postMessage, channel="C1", text="t", blocks=blocks)
    assert err.response["error"] == "invalid_blocks"
    assert "json-pointer:/blocks" in err.response["errors"][0]
    assert slack.messages("C1") == []


def test_limits_are_inclusive(client: WebClient) -> None:
    ok_blocks = [
        section("x" * 3000),
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
        actions(25),
    ] + [{"type": "divider"}] * 47
    assert len(ok_blocks) == 50
    client.chat_postMessage(channel="C1", text="t" * 40_000, blocks=ok_blocks)


def test_text_rules(slack: FakeSlack, client: WebClient) -> None:
    with pytest.warns(UserWarning, match="`text` argument is missing"):  # the SDK agrees
        for missing in ({}, {"text": ""}, {"text": " \n\t "}):
            assert error_of(client.chat_postMessage, channel="C1", **missing) == "no_text"
    assert error_of(client.chat_postMessage, channel="C1", text="x" * 40_001) == "msg_too_long"
    with pytest.warns(UserWarning):  # blocks without fallback text: legal, but the SDK nags
        client.chat_postMessage(channel="C1", blocks=[section("blocks only")])
    assert len(slack.messages("C1")) == 1


def test_form_encoded_bodies_with_json_fields(slack: FakeSlack) -> None:
    blocks = [section("from a form")]
    meta = {"event_type": "t", "event_payload": {"k": "v"}}
    body = urlencode(
        {
            "token": "xoxb-test",
            "channel": "C1",
            "text": "form",
            "blocks": json.dumps(blocks),
            "metadata": json.dumps(meta),
        }
    ).encode()
    req = urllib.request.Request(
        slack.api_url + "chat.postMessage",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert json.loads(resp.read())["ok"] is True
    stored = slack.messages("C1")[0]
    assert stored["blocks"] == blocks and stored["metadata"] == meta
    assert "token" not in slack.calls[-1][1]


# --------------------------------------------------------------------------- unicode
UNICODE_TEXTS = [
    "سلام دنیا! این یک پیام آزمایشی است ۱۲۳",  # Persian, RTL with Persian digits
    "你好，世界 — 线程测试",
    "नमस्ते दुनिया, क्षत्रिय",
    "Příliš žluťoučký kůň úpěl ďábelské ódy",
    "family 👩‍👩‍👧 flag 🏳️‍🌈 skin 👍🏽 keycap 1️⃣",
    "mixed \u202bRTL\u202c e\u0301 (combining) vs é (precomposed)",
]


@pytest.mark.parametrize("text", UNICODE_TEXTS)
@pytest.mark.parametrize("as_form", [False, True], ids=["json", "form"])
def test_unicode_is_byte_exact(
    slack: FakeSlack, client: WebClient, text: str, as_form: bool
) -> None:
    if as_form:
        ts = client.api_call("chat.postMessage", params={"channel": "C1", "text": text})["ts"]
    else:
        ts = client.chat_postMessage(channel="C1", text=text, blocks=[section(text)])["ts"]
    stored = slack.message("C1", ts)
    assert stored is not None and stored["text"].encode("utf-8") == text.encode("utf-8")
    fetched = client.conversations_history(channel="C1")["messages"][0]
    assert fetched["text"].encode("utf-8") == text.encode("utf-8")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=200).filter(
        str.strip
    )
)
def test_any_text_round_trips(slack: FakeSlack, client: WebClient, text: str) -> None:
    ts = client.chat_postMessage(channel="C2", text=text)["ts"]
    stored = slack.message("C2", ts)
    assert stored is not None and stored["text"] == text


# --------------------------------------------------------------------------- faults
def test_429_surfaces_status_and_retry_after(slack: FakeSlack, client: WebClient) -> None:
    slack.fail("chat.postMessage", status=429, retry_after=2)
    err = api_error(client.chat_postMessage, channel="C1", text="x")
    assert err.response.status_code == 429
    assert err.response.headers["Retry-After"] == "2"
    assert err.response["error"] == "ratelimited"
    assert slack.messages("C1") == []  # a rate-limited post posts nothing
    client.chat_postMessage(channel="C1", text="x")  # times=1: next call is fine
    assert len(slack.messages("C1")) == 1


def test_rate_limit_retry_handler_recovers_once(slack: FakeSlack) -> None:
    client = WebClient(
        base_url=slack.api_url,
        token="xoxb-test",
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    slack.fail("chat.postMessage", retry_after=0)
    client.chat_postMessage(channel="C1", text="eventually")
    assert slack.count_calls("chat.postMessage") == 2
    assert [m["text"] for m in slack.messages("C1")] == ["eventually"]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors(slack: FakeSlack, client: WebClient, status: int) -> None:
    slack.fail("chat.postMessage", status=status)
    err = api_error(client.chat_postMessage, channel="C1", text="x")
    assert err.response.status_code == status and err.response["ok"] is False
    assert slack.messages("C1") == []


def test_server_error_retry_handler(slack: FakeSlack) -> None:
    client = WebClient(
        base_url=slack.api_url,
        token="xoxb-test",
        retry_handlers=[ServerErrorRetryHandler(max_retry_count=1)],
    )
    slack.fail("chat.postMessage", status=503)
    client.chat_postMessage(channel="C1", text="x")
    assert len(slack.messages("C1")) == 1 and slack.count_calls("chat.postMessage") == 2


def test_error_faults_count_and_until_cleared(slack: FakeSlack, client: WebClient) -> None:
    slack.fail("chat.postMessage", error="some_error", times=2)
    for _ in range(2):
        err = api_error(client.chat_postMessage, channel="C1", text="x")
        assert err.response.status_code == 200 and err.response["error"] == "some_error"
    client.chat_postMessage(channel="C1", text="x")
    slack.fail("users.info", error="fatal_error", times=None)
    for _ in range(3):
        assert error_of(client.users_info, user="U1") == "fatal_error"
    slack.clear_faults()
    assert client.users_info(user="U1")["user"]["id"] == "U1"


def test_faults_can_target_one_channel(slack: FakeSlack, client: WebClient) -> None:
    slack.fail("chat.postMessage", error="channel_is_archived", times=None, channel="general")
    client.chat_postMessage(channel="C2", text="fine")
    for target in ("C1", "#general"):
        assert error_of(client.chat_postMessage, channel=target, text="x") == "channel_is_archived"
    assert slack.messages("C1") == [] and len(slack.messages("C2")) == 1


def test_hang_makes_client_time_out(slack: FakeSlack) -> None:
    impatient = WebClient(base_url=slack.api_url, token="xoxb-test", timeout=1)
    slack.hang("chat.postMessage", seconds=2.0)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        impatient.chat_postMessage(channel="C1", text="slow")
    assert time.monotonic() - started < 1.9  # the client gave up; the server still stalls
    # Like real Slack, the timed-out post still lands: retrying blindly would duplicate it.
    deadline = time.monotonic() + 3
    while not slack.messages("C1") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [m["text"] for m in slack.messages("C1")] == ["slow"]


def test_hang_without_processing_changes_nothing(slack: FakeSlack) -> None:
    client = WebClient(base_url=slack.api_url, token="xoxb-test", timeout=5)
    slack.hang("chat.postMessage", seconds=0.3, process=False)
    err = api_error(client.chat_postMessage, channel="C1", text="lost")
    assert err.response.status_code == 504 and slack.messages("C1") == []


def test_rate_limiter_per_channel(slack: FakeSlack, client: WebClient) -> None:
    slack.rate_limit("chat.postMessage", per_channel_per_second=2.0, burst=2)
    client.chat_postMessage(channel="C1", text="1")
    client.chat_postMessage(channel="C1", text="2")
    err = api_error(client.chat_postMessage, channel="#general", text="3")  # same channel
    assert err.response.status_code == 429 and err.response.headers["Retry-After"] == "1"
    client.chat_postMessage(channel="C2", text="other channel has its own budget")
    time.sleep(0.6)  # one token back at 2/s
    client.chat_postMessage(channel="C1", text="4")
    assert [m["text"] for m in slack.messages("C1")] == ["1", "2", "4"]


def test_rate_limiter_retry_after_reflects_the_rate(slack: FakeSlack, client: WebClient) -> None:
    slack.rate_limit("users.info", per_channel_per_second=0.25, burst=1)
    client.users_info(user="U1")
    err = api_error(client.users_info, user="U1")
    assert err.response.status_code == 429 and err.response.headers["Retry-After"] == "4"


def test_calls_log_includes_faulted_requests(slack: FakeSlack, client: WebClient) -> None:
    slack.fail("chat.postMessage")
    api_error(client.chat_postMessage, channel="C1", text="x")
    client.users_info(user="U1")
    assert [m for m, _ in slack.calls] == ["chat.postMessage", "users.info"]
    assert slack.calls[0][1] == {"channel": "C1", "text": "x"}


# --------------------------------------------------------------------------- misc
def test_response_url(slack: FakeSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="original")["ts"]
    url = slack.issue_response_url("C1", "U1", message_ts=ts)
    assert WebhookClient(url).send(text="just you").status_code == 200
    assert slack.ephemerals[-1]["text"] == "just you"
    WebhookClient(url).send(text="edited", replace_original=True)
    stored = slack.message("C1", ts)
    assert stored is not None and stored["text"] == "edited"
    WebhookClient(url).send(text="everyone", response_type="in_channel")
    assert [m["text"] for m in slack.messages("C1")] == ["edited", "everyone"]
    assert len(slack.responses) == 3


def test_reset_keeps_directory(slack: FakeSlack, client: WebClient) -> None:
    slack.add_user("U7", "zoe")
    client.chat_postMessage(channel="C1", text="x")
    slack.fail("users.info", times=None)
    slack.reset()
    assert slack.messages("C1") == [] and slack.calls == []
    assert client.users_info(user="U7")["user"]["name"] == "zoe"
    slack.reset(full=True)
    assert error_of(client.users_info, user="U7") == "user_not_found"


def test_stop_releases_the_port_and_thread() -> None:
    def serving() -> int:
        return sum(t.name == "FakeSlack" for t in threading.enumerate())

    before = serving()
    fake = FakeSlack().start()
    url = fake.api_url
    assert serving() == before + 1
    fake.stop()
    assert serving() == before
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "auth.test", timeout=1)
