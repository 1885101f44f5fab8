"""Config: environment variables and threadline.toml, with errors that name the key and file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from bot.config import ConfigError, load_settings, load_team_config, parse_team_config
from bot.config_schema import TeamConfig

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "threadline.example.toml"


def test_defaults_without_any_configuration(clean_env: Path) -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///threadline.db"
    assert settings.slack_api_url == "https://slack.com/api/"
    assert (settings.host, settings.port) == ("127.0.0.1", 3000)
    assert settings.openai_api_key is None
    loaded = load_team_config(settings)
    assert loaded.path is None
    assert loaded.team.routing.default_channel == "support"


def test_environment_and_dotenv_are_read(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / ".env").write_text("SLACK_BOT_TOKEN=xoxb-from-dotenv\nPORT=8080\n")
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/threadline")
    settings = load_settings()
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == "xoxb-from-dotenv"
    assert settings.port == 8080
    assert settings.database_url == "postgresql://db/threadline"
    assert "xoxb-from-dotenv" not in repr(settings)  # secrets never print


def test_bad_environment_value_names_the_variable(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORT", "eighty")
    with pytest.raises(ConfigError, match=r"^environment variable PORT: "):
        load_settings()


def test_missing_slack_variables_are_listed(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(load_settings().missing_for_slack()) == 2
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    assert load_settings().missing_for_slack() == []


def test_the_example_file_is_valid_and_loads(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THREADLINE_CONFIG", str(EXAMPLE))
    loaded = load_team_config(load_settings())
    team = loaded.team
    assert loaded.path == EXAMPLE
    assert set(team.channels) == {"support", "product", "sales"}
    assert team.routing.rules[0].notify == ["product"]
    assert team.routing.rules[0].priority == "high"
    assert team.managers[0].digest_time.hour == 9
    assert team.sources.enabled() == ["webhook"]


def _key_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    paths = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        paths.append(path)
        annotation: Any = field.annotation
        inner = getattr(annotation, "__args__", (annotation,))
        for candidate in inner:
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                paths += _key_paths(candidate, f"{path}.")
    return paths


def test_the_example_file_documents_every_key() -> None:
    text = EXAMPLE.read_text()
    missing = []
    for path in _key_paths(TeamConfig):
        leaf = path.rsplit(".", 1)[-1]
        if f"{leaf} =" not in text and f"[{path}]" not in text and f"[[{path}]]" not in text:
            missing.append(path)
    assert missing == []


BAD_CONFIGS = [
    ('[routing]\ndefault_chanel = "support"\n', "routing.default_chanel", "unknown key"),
    ("[[routing.rules]]\nname = 'x'\npriority = 'huge'\n", "routing.rules[0].priority", "huge"),
    ("[sla]\ntimezone = 'Mars/Olympus'\n", "sla.timezone", "unknown time zone"),
    ("[[managers]]\nslack_id = 'bob'\n", "managers[0].slack_id", "pattern"),
    ("[[routing.rules]]\nname = 'x'\n[routing.rules.match]\nregex = '(['\n", "regex", "regular"),
    ("[[routing.rules]]\nname = 'x'\nchannel = 'nowhere'\n", "nowhere", "not a key of"),
    ("[channels]\nsupport = 'support channel'\n", "channels", "neither #name"),
    ("[sla]\nfirst_response_minutes = -5\n", "sla.first_response_minutes", "greater than 0"),
]


@pytest.mark.parametrize(("toml", "key", "reason"), BAD_CONFIGS)
def test_invalid_config_is_one_line_naming_file_and_key(
    tmp_path: Path, toml: str, key: str, reason: str
) -> None:
    path = tmp_path / "threadline.toml"
    with pytest.raises(ConfigError) as info:
        parse_team_config(toml.encode(), path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert key in message
    assert reason in message
    assert "\n" not in message


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "threadline.toml"
    with pytest.raises(ConfigError, match=r"invalid TOML: .*line 2"):
        parse_team_config(b"[slack]\ncommand = \n", path)


def test_non_utf8_config_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not UTF-8"):
        parse_team_config(b"[slack]\ncommand = '\xff'\n", tmp_path / "t.toml")


def test_explicit_config_path_must_exist(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_CONFIG", str(clean_env / "missing.toml"))
    with pytest.raises(ConfigError, match=r"missing\.toml: file not found"):
        load_team_config(load_settings())


def test_threadline_toml_in_the_working_directory_is_picked_up(clean_env: Path) -> None:
    (clean_env / "threadline.toml").write_text('[channels]\nsupport = "C0SUPPORT"\n')
    loaded = load_team_config(load_settings())
    assert loaded.team.channels == {"support": "C0SUPPORT"}
