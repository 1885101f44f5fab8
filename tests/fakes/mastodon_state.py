"""What a fake Mastodon instance knows: accounts, statuses and the brand's notifications,
as the REST JSON Mastodon.py reads (``FakeMastodon`` serves it over HTTP)."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit


class FakeMastodonState:
    """Accounts, statuses and the brand's notifications; callers hold the fake's lock."""

    def __init__(self, domain: str) -> None:
        self.domain = domain
        self.accounts: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, dict[str, Any]] = {}
        self.notes: list[dict[str, Any]] = []  # the brand's notifications, oldest first
        self.by_key: dict[str, str] = {}  # Idempotency-Key → status id
        self.max_characters = 500
        # Realistic ids: statuses are snowflakes (time in the high bits), notifications serial.
        self._next_status = int(datetime.now(UTC).timestamp() * 1000) << 16
        self._next_note = 40_000
        self.brand = self.add_account("brand", None, 1200, "Brand Support")

    def add_account(
        self, username: str, domain: str | None, followers: int, name: str
    ) -> dict[str, Any]:
        host = domain or self.domain
        account = {
            "id": str(100_000 + len(self.accounts)),
            "username": username,
            "acct": username if domain is None else f"{username}@{domain}",
            "display_name": name,
            "url": f"https://{host}/@{username}",
            "uri": f"https://{host}/users/{username}",
            "followers_count": followers,
            "following_count": 0,
            "statuses_count": 0,
            "note": "",
            "bot": False,
            "locked": False,
            "created_at": "2024-01-01T00:00:00.000Z",
            "avatar": f"https://{host}/avatars/{username}.png",
            "emojis": [],
            "fields": [],
        }
        self.accounts[account["id"]] = account
        return account

    def new_status(
        self, author: dict[str, Any], content: str, in_reply_to: str | None, **extra: Any
    ) -> dict[str, Any]:
        self._next_status += 1
        sid = str(self._next_status)
        host = urlsplit(author["url"]).hostname
        parent = self.statuses.get(in_reply_to) if in_reply_to else None
        status = {
            "id": sid,
            "uri": f"https://{host}/users/{author['username']}/statuses/{sid}",
            "url": f"https://{host}/@{author['username']}/{sid}",
            "created_at": datetime.now(UTC).isoformat(timespec="milliseconds")[:23] + "Z",
            "account": author,
            "content": content,
            "in_reply_to_id": in_reply_to,
            "in_reply_to_account_id": parent["account"]["id"] if parent else None,
            "sensitive": False,
            "media_attachments": [],
            "tags": [],
            "emojis": [],
            "reblog": None,
            **extra,
        }
        self.statuses[sid] = status
        return status

    def post_customer_status(
        self,
        author: dict[str, Any],
        text: str,
        in_reply_to: str | None,
        visibility: str,
        language: str | None,
        also_mention: tuple[dict[str, Any], ...],
        notify: bool,
        spoiler_text: str,
    ) -> dict[str, Any]:
        mentioned = ([self.brand] if notify else []) + list(also_mention)
        links = " ".join(mention_html(a) for a in mentioned)
        body = plain_to_html(text)
        content = body.replace("<p>", f"<p>{links} ", 1) if links else body
        status = self.new_status(
            author,
            content,
            in_reply_to,
            visibility=visibility,
            language=language,
            spoiler_text=spoiler_text,
            mentions=[mention_json(a) for a in mentioned],
        )
        if notify:
            self.add_notification("mention", author, status)
        return status

    def add_notification(
        self, kind: str, author: dict[str, Any], status: dict[str, Any] | None
    ) -> None:
        self._next_note += 1
        self.notes.append(
            {
                "id": str(self._next_note),
                "type": kind,
                "created_at": datetime.now(UTC).isoformat(timespec="milliseconds")[:23] + "Z",
                "account": author,
                "status": status,
            }
        )

    def notifications(
        self, query: dict[str, list[str]], base: str
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Mastodon's paging: newest first; min_id gives the page just above it."""
        types = query.get("types[]") or query.get("types")
        items = [n for n in self.notes if not types or n["type"] in types]
        for name, keep in (("max_id", lambda i, b: i < b), ("since_id", lambda i, b: i > b)):
            if name in query:
                bound = int(query[name][0])
                items = [n for n in items if keep(int(n["id"]), bound)]
        limit = min(int((query.get("limit") or ["40"])[0]), 80)
        if "min_id" in query:
            bound = int(query["min_id"][0])
            items = [n for n in items if int(n["id"]) > bound][:limit]
        else:
            items = items[-limit:]
        page = list(reversed(items))
        if not page:
            return page, None
        url = f"{base}/api/v1/notifications"
        newest, oldest = page[0]["id"], page[-1]["id"]
        link = f'<{url}?max_id={oldest}>; rel="next", <{url}?min_id={newest}>; rel="prev"'
        return page, link

    def post_brand_status(
        self, body: dict[str, Any], key: str | None
    ) -> tuple[int, Any, dict[str, str]]:
        if key is not None and key in self.by_key:
            return 200, self.statuses[self.by_key[key]], {}
        text = str(body.get("status") or "")
        if not text.strip():
            return 422, {"error": "Validation failed: Text can't be blank"}, {}
        if len(text) > self.max_characters:
            error = f"Validation failed: Text character limit of {self.max_characters} exceeded"
            return 422, {"error": error}, {}
        parent = body.get("in_reply_to_id")
        if parent is not None and str(parent) not in self.statuses:
            return 404, {"error": "Record not found"}, {}
        mentioned = [a for a in self.accounts.values() if f"@{full_acct(a, self.domain)}" in text]
        status = self.new_status(
            self.brand,
            plain_to_html(text),
            str(parent) if parent is not None else None,
            visibility=body.get("visibility") or "public",
            language=body.get("language"),
            spoiler_text=body.get("spoiler_text") or "",
            mentions=[mention_json(a) for a in mentioned],
            text=text,
        )
        if key is not None:
            self.by_key[key] = status["id"]
        return 200, status, {}

    def context(self, status: dict[str, Any]) -> dict[str, Any]:
        ancestors = []
        parent = status.get("in_reply_to_id")
        while parent is not None and parent in self.statuses:
            ancestors.insert(0, self.statuses[parent])
            parent = self.statuses[parent].get("in_reply_to_id")
        descendants = [s for s in self.statuses.values() if s.get("in_reply_to_id") == status["id"]]
        return {"ancestors": ancestors, "descendants": descendants}

    def instance(self, v2: bool) -> dict[str, Any]:
        limits = {"statuses": {"max_characters": self.max_characters}}
        common = {"title": "Fake Mastodon", "version": "4.3.2", "configuration": limits}
        if v2:
            return {**common, "domain": self.domain, "api_versions": {"mastodon": 2}}
        return {**common, "uri": self.domain}


def full_acct(account: dict[str, Any], local_domain: str) -> str:
    acct = str(account["acct"])
    return acct if "@" in acct else f"{acct}@{local_domain}"


def mention_json(account: dict[str, Any]) -> dict[str, Any]:
    return {k: account[k] for k in ("id", "username", "acct", "url")}


def mention_html(account: dict[str, Any]) -> str:
    name = html.escape(account["username"])
    return (
        f'<span class="h-card" translate="no"><a href="{account["url"]}" '
        f'class="u-url mention">@<span>{name}</span></a></span>'
    )


def plain_to_html(text: str) -> str:
    paragraphs = [p for p in text.split("\n\n") if p]
    return "".join(
        "<p>" + "<br />".join(html.escape(line, quote=False) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )
