"""App Home: my conversations, the open queue, and today's numbers for managers only."""

from __future__ import annotations

import json

from tests.pipeline import Pipeline, team_config


def open_home(pipe: Pipeline, user: str) -> str:
    if pipe.fake.user(user) is None:
        pipe.fake.add_user(user, user.lower())
    pipe.slack.event({"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home"})
    view = pipe.fake.views_published[user]
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    return json.dumps(view, ensure_ascii=False)


def test_home_lists_mine_and_the_queue_in_priority_order(pipeline: Pipeline) -> None:
    mine, card = pipeline.posted_card("h-1", "How do I export invoices?", author="ana")
    pipeline.posted_card("h-2", "The app is broken, it crashes every time. Terrible!", author="bo")
    pipeline.posted_card("h-3", "Where is my order?", author="cy")
    pipeline.slack.block_action(
        "conversation.claim", str(mine), user_id="UAGENT", channel_id=card["channel"]
    )
    home = open_home(pipeline, "UAGENT")
    yours, queue = home.split("Open queue", 1)
    assert "Customer ana" in yours
    assert "Open queue (2)" in home
    assert queue.index("Customer bo") < queue.index("Customer cy")  # high priority first
    assert "Last 24 hours" not in home  # agents do not get the manager numbers


def test_managers_see_todays_numbers(engine, fake_slack) -> None:
    team = team_config(managers=[{"slack_id": "UBOSS"}])
    pipe = Pipeline(engine, fake_slack, team)
    try:
        pipe.posted_card("n-1", "Where is my order?")
        home = open_home(pipe, "UBOSS")
    finally:
        pipe.stop()
    assert "Last 24 hours" in home and "*New:* 1" in home and "*Unclaimed now:* 1" in home


def test_customer_names_are_escaped_on_home(pipeline: Pipeline) -> None:
    from tests.fakes.webhook_sender import message

    payload = message("e-1", "Where is my order?", author="eve")
    payload["author"]["name"] = "<!channel> Eve"
    pipeline.webhook.post(payload)
    pipeline.drain()
    home = open_home(pipeline, "U1")
    assert "<!channel>" not in home and "&lt;!channel&gt; Eve" in home
