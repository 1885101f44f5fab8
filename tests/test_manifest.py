"""The Slack app manifest gives a working app with only the scopes the bot uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.config_schema import TeamConfig

ROOT = Path(__file__).resolve().parents[1]


def _manifest() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def test_scopes_are_exactly_what_the_bot_needs() -> None:
    scopes = set(_manifest()["oauth_config"]["scopes"]["bot"])
    assert scopes == {
        "chat:write",
        "commands",
        "channels:history",
        "groups:history",
        "channels:read",
        "groups:read",
        "im:write",
        "users:read",
        "reactions:read",
        "reactions:write",
    }
    assert "oauth_config" in _manifest()
    assert not any(s.endswith(":write.public") or s.startswith("admin") for s in scopes)


def test_slash_command_matches_the_default_config() -> None:
    commands = _manifest()["features"]["slash_commands"]
    assert [c["command"] for c in commands] == [TeamConfig().slack.command]
    assert all(len(c["description"]) <= 100 for c in commands)


def test_socket_mode_interactivity_home_and_events() -> None:
    manifest = _manifest()
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    events = set(settings["event_subscriptions"]["bot_events"])
    assert {"app_home_opened", "message.channels", "message.groups", "reaction_added"} <= events
    assert "reactions:read" in set(manifest["oauth_config"]["scopes"]["bot"])
    # Each message.* event needs its history scope, or Slack refuses the manifest.
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    for event in events - {"app_home_opened", "reaction_added", "reaction_removed"}:
        kind = event.split(".", 1)[1]
        assert f"{kind}:history" in scopes


def test_display_limits() -> None:
    info = _manifest()["display_information"]
    assert len(info["name"]) <= 35
    assert len(info["description"]) <= 140
    assert 175 <= len(info["long_description"]) <= 4000
    assert _manifest()["features"]["bot_user"]["display_name"] == "Threadline"
