"""Mastodon: mentions of the brand account become conversations; replies go back in thread.

Reading polls the brand account's `mention` notifications with `min_id` (40 per page, oldest
first, page after page until caught up). The cursor is the last notification id, one row per
instance and account (`mastodon.social:1093…`); the very first start begins at the newest
mention, so old history never floods Slack. A mention becomes one `InboundMessage`:

* `external_id` is the status id; `parent_id` the status it answers (`in_reply_to_id`);
  `thread_id` the root of its thread: the oldest ancestor that is not one of our own posts
  (a reply to our broadcast post starts its own conversation), else the status itself.
* `is_direct` for `visibility == "direct"`; `reply_meta` keeps the visibility and the
  accounts to address, so a private mention is answered privately to the same people.

Replies post one status per ≤ 500-character part (see `mastodon_text`), each in reply to
the previous one, each with its own `Idempotency-Key` derived from the reply's key, so a
retry after a partial failure re-finds the parts the server already has.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from mastodon import Mastodon
from mastodon.errors import MastodonError, MastodonNotFoundError
from pydantic import ValidationError

from bot.config import ConfigError
from bot.sources.base import Checkpoint, DeliveryResult, OutboundReply, SourceError
from bot.sources.cursors import CursorStore
from bot.sources.mastodon_errors import TOKEN_FIX, delivery_failure, source_error
from bot.sources.mastodon_stream import RECONNECT_SECONDS, MentionStream
from bot.sources.mastodon_text import html_to_text, reply_parts
from handlers.inbound import Attachment, Author, InboundMessage

if TYPE_CHECKING:
    from bot.sources.registry import SourceContext

log = logging.getLogger(__name__)

NAME = "mastodon"
PAGE_SIZE = 40  # Mastodon's default page; 80 is the most it gives
VISIBILITIES = ("public", "unlisted", "private", "direct")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")  # what we send: Mastodon takes ISO 639 codes
_INBOUND_LANGUAGE = re.compile(r"^[a-z]{2,3}([-_][a-z0-9]{2,8})*$")  # e.g. "zh-tw" arrives
_ROOTS_KEPT = 10_000  # status id → thread root, for replies to statuses we have seen
T = TypeVar("T")


class MastodonSource:
    name = NAME
    # Set by the runner: called after each poll that reached the network.
    on_reachable: Callable[[], None] | None = None

    def __init__(
        self,
        *,
        api_base_url: str,
        access_token: str,
        cursors: CursorStore,
        poll_seconds: float = 60.0,
        request_timeout: float = 20.0,
        max_characters: int = 500,
        page_size: int = PAGE_SIZE,
        streaming: bool = False,
        stream_reconnect_seconds: float = RECONNECT_SECONDS,
    ) -> None:
        self.base_url = api_base_url.rstrip("/")
        self.host = urlsplit(self.base_url).hostname or self.base_url
        self.cursors = cursors
        self.poll_seconds = poll_seconds
        self.max_characters = max_characters
        self.page_size = min(max(1, page_size), 80)

        def client() -> Mastodon:
            return Mastodon(
                api_base_url=self.base_url,
                access_token=access_token,
                ratelimit_method="throw",
                request_timeout=request_timeout,
            )

        # Reading (the runner's thread) and sending (the reply drainer's) never share one
        # client: Mastodon.py's session and rate-limit bookkeeping are not thread-safe.
        self._reader, self._writer = client(), client()
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by close() and by the stream: poll now
        self._stream = (
            MentionStream(client(), self._wake, stream_reconnect_seconds) if streaming else None
        )
        self._me: dict[str, Any] | None = None
        self._domain = self.host  # the instance's own domain, for local accounts' handles
        self._checkpoints: dict[str, Checkpoint] = {}
        self._roots: OrderedDict[str, str] = OrderedDict()
        self._roots_lock = threading.Lock()

    # -- reading ---------------------------------------------------------------------------

    def watch(self) -> Iterator[InboundMessage]:
        self._checkpoints.clear()  # a restarted watch() re-reads from the saved cursor
        me = self._call(self._reader, self._reader.account_verify_credentials)
        self._me = dict(me)
        self._domain = self._local_domain()
        account = f"{self.host}:{me['id']}"
        cursor = self.cursors.load(NAME, account) or self._start_cursor(account)
        self._start_stream()
        while not self._stop.is_set():
            for note in self._new_mentions(cursor):
                cursor = str(note["id"])
                checkpoint = Checkpoint(NAME, account, cursor)
                msg = self._message_or_none(note)
                if msg is None:  # not for us, ours, or unreadable: read, so move past it
                    self.cursors.save(checkpoint)
                    continue
                self._checkpoints[msg.external_id] = checkpoint
                yield msg
                if self._stop.is_set():
                    return
            if self.on_reachable is not None:  # a clean poll: health shows a recovery
                self.on_reachable()
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def checkpoint(self, msg: InboundMessage) -> Checkpoint | None:
        return self._checkpoints.pop(msg.external_id, None)

    def probe(self) -> str:
        me = self._call(self._reader, self._reader.account_verify_credentials)
        newest = self._call(self._reader, self._reader.notifications, types=["mention"], limit=1)
        seen = f"newest mention notification {newest[0]['id']}" if newest else "no mentions yet"
        return f"signed in as @{me['acct']}@{self._local_domain()} via {self.host}; {seen}"

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._stream is not None:
            self._stream.close()

    def _start_stream(self) -> None:
        if self._stream is None or self._stop.is_set():
            return
        try:
            self._stream.start()
        except MastodonError as exc:  # polling alone still reads everything
            log.warning("mastodon: streaming unavailable (%s); polling only", type(exc).__name__)

    def _start_cursor(self, account: str) -> str:
        """First start: begin after the newest mention ("0" when there is none yet, so every
        later mention counts as new even across a restart)."""
        newest = self._call(self._reader, self._reader.notifications, types=["mention"], limit=1)
        cursor = str(newest[0]["id"]) if newest else "0"
        self.cursors.save(Checkpoint(NAME, account, cursor))
        log.info("mastodon: first start on %s; reading mentions after %s", self.host, cursor)
        return cursor

    def _new_mentions(self, cursor: str) -> Iterator[dict[str, Any]]:
        """Every mention after `cursor`, oldest first, a page at a time."""
        while True:
            page = self._call(
                self._reader,
                self._reader.notifications,
                types=["mention"],
                min_id=cursor,
                limit=self.page_size,
            )
            # Items without an id cannot be placed after the cursor: passed over.
            readable = [n for n in page if isinstance(n, dict) and n.get("id") is not None]
            ordered = sorted(readable, key=lambda note: _id_order(note["id"]))
            yield from ordered
            if len(page) < self.page_size or not ordered:
                return
            cursor = str(ordered[-1]["id"])

    def _message_or_none(self, note: dict[str, Any]) -> InboundMessage | None:
        try:
            return self._message(note)
        except ValidationError as exc:
            # Field names only: the values are customer text.
            fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
            log.warning("mastodon: notification %s skipped: invalid %s", note.get("id"), fields)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.warning(
                "mastodon: notification %s skipped: malformed (%s)",
                note.get("id"),
                type(exc).__name__,
            )
        return None

    def _message(self, note: dict[str, Any]) -> InboundMessage | None:
        status = note.get("status")
        if note.get("type") != "mention" or not status:
            return None
        me = self._me or {}
        account = status["account"]
        if str(account["id"]) == str(me.get("id")):
            return None  # our own post (a reply to ourselves)
        status_id = str(status["id"])
        parent = str(status["in_reply_to_id"]) if status.get("in_reply_to_id") else None
        content = str(status.get("content") or "")
        text = html_to_text(content, {str(me.get("url") or "")}) or html_to_text(content)
        spoiler = str(status.get("spoiler_text") or "").strip()
        if spoiler:
            text = f"CW: {spoiler}\n\n{text}"
        author_acct = self._full_acct(account)
        others = [m for m in status.get("mentions") or [] if str(m["id"]) != str(me.get("id"))]
        mentions = [author_acct] + [self._full_acct(m) for m in others]
        visibility = str(status.get("visibility") or "public")
        language = str(status.get("language") or "").lower() or None
        return InboundMessage(
            source=NAME,
            external_id=status_id,
            thread_id=self._thread_of(status_id, parent),
            parent_id=parent,
            author=_author(account, author_acct),
            text=text,
            language=language if language and _INBOUND_LANGUAGE.match(language) else None,
            url=_http_url(status.get("url")) or _http_url(status.get("uri")),
            created_at=_aware(status.get("created_at")),
            attachments=_attachments(status),
            is_direct=visibility == "direct",
            reply_meta={
                "instance": self.host,
                "status_id": status_id,
                "visibility": visibility,
                "mentions": mentions,
            },
        )

    def _thread_of(self, status_id: str, parent: str | None) -> str:
        if parent is None:
            root = status_id
        else:
            with self._roots_lock:
                known = self._roots.get(parent)
            root = known or self._root_from_context(status_id, parent)
        self._remember(status_id, root)
        return root

    def _root_from_context(self, status_id: str, parent: str) -> str:
        try:
            context = self._call(self._reader, self._reader.status_context, status_id)
        except SourceError as exc:
            if isinstance(exc.__cause__, MastodonNotFoundError):
                return parent  # deleted meanwhile: the post it answers is the best key left
            raise
        mine = str((self._me or {}).get("id"))
        ancestors = [a for a in context["ancestors"] if a]
        while ancestors and str(ancestors[0]["account"]["id"]) == mine:
            ancestors.pop(0)
        return str(ancestors[0]["id"]) if ancestors else status_id

    def _remember(self, status_id: str, root: str) -> None:
        with self._roots_lock:
            self._roots[status_id] = root
            while len(self._roots) > _ROOTS_KEPT:
                self._roots.popitem(last=False)

    def _local_domain(self) -> str:
        """Local accounts' `acct` has no domain; the instance's own name completes it (it can
        differ from the API host). Also makes Mastodon.py learn the server's version."""
        instance = self._call(self._reader, self._reader.instance)
        return str(instance.get("domain") or instance.get("uri") or self.host)

    def _full_acct(self, account: dict[str, Any]) -> str:
        acct = str(account["acct"])
        return acct if "@" in acct else f"{acct}@{self._domain}"

    def _call(self, client: Mastodon, request: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return request(*args, **kwargs)
        except MastodonError as exc:
            raise source_error(exc, self.base_url, client.ratelimit_reset) from exc

    # -- replying --------------------------------------------------------------------------

    def send_reply(self, reply: OutboundReply) -> DeliveryResult:
        meta = reply.reply_meta
        instance = meta.get("instance")
        if instance not in (None, self.host):
            error = f"this conversation is on {instance}; Threadline is signed in on {self.host}"
            return DeliveryResult(ok=False, error=error)
        target = reply.in_reply_to or meta.get("status_id")
        if not target:
            return DeliveryResult(ok=False, error="no Mastodon post to answer in this conversation")
        visibility = meta.get("visibility")
        if visibility not in VISIBILITIES:
            visibility = "direct" if reply.is_direct else "public"
        try:
            mentions = [str(m) for m in meta.get("mentions") or []]
            parts = reply_parts(reply.text, mentions, self.max_characters)
        except ValueError as exc:
            return DeliveryResult(ok=False, error=str(exc))
        if not parts:
            return DeliveryResult(ok=False, error="the reply is empty")
        language = (reply.language or "").split("-")[0].split("_")[0].lower()
        previous, first_url = str(target), None
        for number, part in enumerate(parts, 1):
            try:
                status = self._writer.status_post(
                    part,
                    in_reply_to_id=previous,
                    visibility=visibility,
                    language=language if _LANGUAGE.match(language) else None,
                    idempotency_key=f"{reply.idempotency_key}:{number}",
                )
            except MastodonError as exc:
                reset = self._writer.ratelimit_reset
                return delivery_failure(exc, self.base_url, reset, number, len(parts))
            previous = str(status["id"])
            first_url = first_url or status.get("url")
            self._remember(previous, reply.thread_id)
        # The last part's id: a customer who answers usually answers the end of the reply.
        return DeliveryResult(ok=True, external_id=previous, url=first_url)


def _id_order(value: Any) -> tuple[int, str]:
    text = str(value)
    return (int(text), "") if text.isdigit() else (0, text)


def _http_url(value: Any) -> str | None:
    """Only web links: a missing or odd URL must not cost us the customer's message."""
    url = str(value or "")
    return url if url.startswith(("http://", "https://")) and len(url) < 2000 else None


def _author(account: dict[str, Any], acct: str) -> Author:
    url = _http_url(account.get("url"))
    followers = account.get("followers_count")
    return Author(
        external_id=acct.lower(),
        handle=f"@{acct}",
        display_name=str(account.get("display_name") or account.get("username") or "")[:300]
        or None,
        profile_url=url,
        followers=max(0, int(followers)) if isinstance(followers, int) else None,
    )


def _attachments(status: dict[str, Any]) -> list[Attachment]:
    found = []
    for media in (status.get("media_attachments") or [])[:20]:
        url = str(media.get("url") or media.get("remote_url") or "")
        if not url.startswith(("http://", "https://")):
            continue
        name = str(media.get("description") or url.rsplit("/", 1)[-1] or "attachment")
        found.append(Attachment(name=name[:300], url=url))
    return found


def _aware(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.now(UTC)


def from_config(ctx: SourceContext) -> MastodonSource:
    cfg = ctx.team.sources.mastodon
    if not cfg.api_base_url:
        raise ConfigError(
            "sources.mastodon.api_base_url is not set (your instance, e.g. https://mastodon.social)"
        )
    token = ctx.settings.mastodon_access_token
    if token is None or not token.get_secret_value().strip():
        raise ConfigError(f"MASTODON_ACCESS_TOKEN is not set: {TOKEN_FIX}")
    return MastodonSource(
        api_base_url=cfg.api_base_url,
        access_token=token.get_secret_value().strip(),
        cursors=ctx.cursors,
        poll_seconds=cfg.poll_seconds,
        request_timeout=cfg.request_timeout_seconds,
        max_characters=cfg.max_characters,
        streaming=cfg.streaming,
    )
