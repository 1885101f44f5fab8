"""`InboundMessage`: the one normalized shape every source produces."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

# Customer messages longer than this are refused at the door: no network allows more, and
# it keeps one message far below Slack's and the database's limits.
MAX_TEXT_CHARS = 100_000

SourceName = Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,40}$")]
ExternalId = Annotated[str, Field(min_length=1, max_length=255)]
Url = Annotated[AnyHttpUrl, Field()]
Handle = Annotated[str, Field(max_length=255)]
DisplayName = Annotated[str, Field(max_length=300)]
Followers = Annotated[int, Field(ge=0)]
Email = Annotated[str, Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold U+0000 (SQLite can), and it never carries meaning in a
        # message: drop it, so a message is stored the same way on both backends. (The
        # webhook refuses it with a 400 instead: there the sender can be told.)
        return value.replace("\x00", "") if isinstance(value, str) else value


class Author(Strict):
    external_id: ExternalId
    handle: Handle | None = None
    display_name: DisplayName | None = None
    profile_url: Url | None = None
    followers: Followers | None = None
    email: Email | None = None


class Attachment(Strict):
    name: str = Field(min_length=1, max_length=300)
    url: Url
    mime: str | None = Field(default=None, max_length=100, pattern=r"^[\w.+-]+/[\w.+-]+$")


class InboundMessage(Strict):
    source: SourceName
    external_id: ExternalId
    thread_id: ExternalId
    parent_id: ExternalId | None = None
    author: Author
    text: str = Field(max_length=MAX_TEXT_CHARS)
    language: str | None = Field(default=None, pattern=r"^[a-zA-Z]{2,3}([-_][a-zA-Z0-9]{2,8})*$")
    url: Url | None = None
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)
    is_direct: bool = False
    # Per-network facts needed to answer later (webhook reply_url, visibility, post refs).
    reply_meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("text")
    @classmethod
    def _has_content(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is empty")
        return value

    @field_validator("created_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("created_at needs a time zone (e.g. 2026-11-23T09:00:00Z)")
        return value.astimezone(UTC)

    @property
    def followers(self) -> int:
        return self.author.followers or 0
