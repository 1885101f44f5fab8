"""The customer's side of the sandbox: post as a fake customer through the signed webhook,
receive the replies staff send (the webhook's reply_url), and replay a sample day."""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from bot.sources.webhook import sign, verify

NETWORKS = ["webhook", "instagram", "x", "trustpilot", "facebook", "tiktok", "app_store"]
SAMPLE_PACE_SECONDS = 0.12  # a sample day fills the channels in a few seconds
_NETWORK = re.compile(r"^[a-z0-9_-]{1,40}$")
_MAX_FEED = 300


class CustomerError(Exception):
    """Input from the customer panel that cannot be sent; the message says which field."""


@dataclass(frozen=True)
class Posted:
    status: int
    body: dict[str, Any]


def load_sample_day() -> list[dict[str, Any]]:
    raw = resources.files("bot.sandbox").joinpath("assets/sample_day.json").read_text("utf-8")
    messages = json.loads(raw)["messages"]
    return [dict(m) for m in messages]


def _author(name: str, handle: str, followers: Any) -> dict[str, Any]:
    name, handle = name.strip(), handle.strip().lstrip("@")
    if not name and not handle:
        raise CustomerError("name: give the customer a name or a handle")
    try:
        count = int(followers or 0)
    except (TypeError, ValueError):
        raise CustomerError("followers: a whole number, e.g. 1200") from None
    if count < 0:
        raise CustomerError("followers: cannot be negative")
    key = re.sub(r"[^a-z0-9_.-]+", "-", (handle or name).lower()).strip("-") or "customer"
    author: dict[str, Any] = {"id": key[:100], "name": name or handle, "followers": count}
    if handle:
        author["handle"] = "@" + handle
    return author


@dataclass
class CustomerDesk:
    """Speaks the webhook contract (DESIGN.md) as an integrator would, signing every request."""

    webhook_url: str
    reply_url: str
    secret: str
    feed: list[dict[str, Any]] = field(default_factory=list)
    sample: dict[str, Any] = field(default_factory=lambda: {"state": "idle", "posted": 0})
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _seen_keys: set[str] = field(default_factory=set)

    def post(self, form: dict[str, Any]) -> Posted:
        """One customer message from the panel's fields."""
        text = str(form.get("text") or "")
        if not text.strip():
            raise CustomerError("text: write what the customer says")
        network = str(form.get("network") or "webhook").strip().lower()
        if not _NETWORK.match(network):
            raise CustomerError("network: lowercase letters, digits, - and _ only")
        author = _author(
            str(form.get("name") or ""), str(form.get("handle") or ""), form.get("followers")
        )
        message_id = f"sbx-{secrets.token_hex(6)}"
        thread = str(form.get("thread_id") or "") or message_id
        payload = {
            "source": network,
            "message_id": message_id,
            "thread_id": thread,
            "author": author,
            "text": text,
        }
        if form.get("lang"):
            payload["lang"] = str(form["lang"])
        return self.send(payload)

    def send(self, payload: dict[str, Any]) -> Posted:
        """POST a webhook payload (reply_url added), signed, and note it in the feed."""
        payload = {**payload, "reply_url": self.reply_url}
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        timestamp = str(int(time.time()))
        request = urllib.request.Request(
            self.webhook_url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "X-Threadline-Timestamp": timestamp,
                "X-Threadline-Signature": sign(self.secret, timestamp, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=15) as answer:
                status, raw = answer.status, answer.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            parsed = json.loads(raw.decode("utf-8") or "{}")
        except ValueError:
            parsed = {"error": raw.decode("utf-8", "replace")[:200]}
        if status == 202 and not parsed.get("duplicate"):
            self._note("customer", payload, thread=str(payload.get("thread_id") or ""))
        return Posted(status, parsed if isinstance(parsed, dict) else {})

    def receive_reply(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """The reply_url endpoint: check our own signature, as a real receiver must."""
        problem = verify(
            self.secret,
            headers.get("X-Threadline-Timestamp"),
            headers.get("X-Threadline-Signature"),
            body,
        )
        if problem:
            return 401, {"error": problem}
        try:
            reply = json.loads(body.decode("utf-8"))
            text = str(reply["text"])
        except (ValueError, KeyError, TypeError):
            return 400, {"error": "not a reply body"}
        key = str(headers.get("Idempotency-Key") or reply.get("idempotency_key") or "")
        with self._lock:
            first_time = key not in self._seen_keys
            self._seen_keys.add(key)
        if first_time:
            self._note(
                "reply",
                {"text": text, "lang": reply.get("lang"), "sent_by": reply.get("sent_by")},
                thread=str(reply.get("thread_id") or ""),
            )
        return 200, {"id": f"reply-{key[:16]}"}

    def _note(self, kind: str, payload: dict[str, Any], *, thread: str) -> None:
        author = payload.get("author") or {}
        entry = {
            "kind": kind,
            "network": payload.get("source") or "webhook",
            "name": author.get("name") or author.get("handle") or "",
            "text": payload.get("text") or "",
            "thread": thread,
            "at": time.time(),
            "sent_by": payload.get("sent_by"),
        }
        with self._lock:
            self.feed.append(entry)
            del self.feed[:-_MAX_FEED]

    def threads(self) -> list[dict[str, str]]:
        """Conversations the panel started, newest first, to continue one of them."""
        with self._lock:
            seen: dict[str, dict[str, str]] = {}
            for entry in self.feed:
                if entry["kind"] == "customer" and entry["thread"] not in seen:
                    seen[entry["thread"]] = {
                        "thread": entry["thread"],
                        "name": entry["name"],
                        "network": entry["network"],
                    }
            return list(reversed(seen.values()))

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"feed": list(self.feed), "sample": dict(self.sample)}

    def play_sample_day(self, pace: float = SAMPLE_PACE_SECONDS) -> bool:
        """Replay the bundled sample in a background thread; False if one is playing."""
        with self._lock:
            if self.sample.get("state") == "playing":
                return False
            messages = load_sample_day()
            self.sample = {"state": "playing", "posted": 0, "new": 0, "total": len(messages)}
        threading.Thread(
            target=self._play, args=(messages, pace), name="sample-day", daemon=True
        ).start()
        return True

    def _play(self, messages: list[dict[str, Any]], pace: float) -> None:
        new = failed = 0
        for index, message in enumerate(messages, 1):
            try:
                answer = self.send(message)
            except OSError:
                answer = Posted(0, {})
            new += answer.status == 202 and not answer.body.get("duplicate")
            failed += answer.status != 202
            with self._lock:
                self.sample.update(posted=index, new=new, failed=failed)
            time.sleep(pace)
        with self._lock:
            self.sample["state"] = "done"
