"""Configuration: environment variables (pydantic-settings) and `threadline.toml`.

Anything wrong becomes a `ConfigError` whose message names the file and the key, so the
CLI can print one line instead of a traceback.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.config_schema import TeamConfig

SLACK_SETUP_HINT = (
    "create the Slack app from manifest.yml (https://api.slack.com/apps → Create New App → "
    "From an app manifest), install it to your workspace, then copy the Bot User OAuth Token "
    "(xoxb-…) from OAuth & Permissions and an app-level token (xapp-…, scope "
    "connections:write) from Basic Information"
)


class ConfigError(Exception):
    """Configuration that cannot be used; the message is one line for an operator."""


class Settings(BaseSettings):
    """Environment variables (and `.env`). Names are the contract in DESIGN.md."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    database_url: str = "sqlite:///threadline.db"
    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4.1-mini"
    discord_bot_token: SecretStr | None = None
    mastodon_access_token: SecretStr | None = None
    bluesky_app_password: SecretStr | None = None
    threadline_config: Path | None = None
    threadline_webhook_secret: SecretStr | None = None
    port: int = Field(default=3000, ge=0, le=65535)
    host: str = "127.0.0.1"
    log_level: str = Field(
        default="INFO",
        pattern=r"(?i)^(debug|info|warning|error)$",
        validation_alias=AliasChoices("THREADLINE_LOG_LEVEL", "LOG_LEVEL"),
    )

    def secret_values(self) -> list[str]:
        """Every configured secret, so log output can be scrubbed of them."""
        secrets = [
            self.slack_bot_token,
            self.slack_app_token,
            self.slack_signing_secret,
            self.openai_api_key,
            self.discord_bot_token,
            self.mastodon_access_token,
            self.bluesky_app_password,
            self.threadline_webhook_secret,
        ]
        return [s.get_secret_value() for s in secrets if s and s.get_secret_value()]

    def missing_for_slack(self) -> list[str]:
        """The variables `run` still needs: a bot token and one transport's credential."""
        missing = [] if self.slack_bot_token else ["SLACK_BOT_TOKEN"]
        if not (self.slack_app_token or self.slack_signing_secret):
            missing.append("SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)")
        return missing


def load_settings(env_file: str | Path | None = ".env") -> Settings:
    try:
        return Settings(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]).upper() if err["loc"] else "environment"
        raise ConfigError(f"environment variable {name}: {err['msg']}") from None


@dataclass(frozen=True)
class LoadedConfig:
    team: TeamConfig
    path: Path | None  # None: no file, built-in defaults


def load_team_config(settings: Settings) -> LoadedConfig:
    """Read THREADLINE_CONFIG (or ./threadline.toml when present; defaults otherwise)."""
    explicit = settings.threadline_config
    path = explicit or Path("threadline.toml")
    if not path.exists():
        if explicit is not None:
            raise ConfigError(
                f"{path}: file not found (THREADLINE_CONFIG points at it); "
                "copy threadline.example.toml to start"
            )
        return LoadedConfig(team=TeamConfig(), path=None)
    return LoadedConfig(team=parse_team_config(path.read_bytes(), path), path=path)


def parse_team_config(raw: bytes, path: Path) -> TeamConfig:
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    try:
        return TeamConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None


def _describe(exc: ValidationError, path: Path) -> str:
    err = exc.errors()[0]
    key = _dotted(err["loc"])
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown key (see threadline.example.toml for every key)"
    more = exc.error_count() - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    where = f"key {key}: " if key else ""
    value = ""
    if key and err["type"] != "missing" and not isinstance(err.get("input"), dict | list):
        value = f" (got {err.get('input')!r})"
    return f"{path}: {where}{message}{value}{suffix}"


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
