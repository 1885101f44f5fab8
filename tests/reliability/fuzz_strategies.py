"""Hypothesis strategies for the fuzz tests: webhook bodies and signed Slack payloads, and
the checks that every Slack post keeps customer text inert."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from hypothesis import strategies as st

# What customers (or attackers) type to ping everyone, fake a link or break formatting.
INJECTIONS = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@UEVIL123>",
    "<!subteam^SEVIL1>",
    "<#CEVIL1>",
    "<https://evil.example|bank>",
    "<mailto:x@evil.example|mail>",
    "*bold*",
    "_it_",
    "~gone~",
    "`code`",
    "```block```",
    "> quote",
    "&",
    "&amp;",
    "&lt;!channel&gt;",
    "\u202e",  # right-to-left override
    "\u2066",  # left-to-right isolate
    "\u200b",  # zero-width space
    "\u200d",  # zero-width joiner
    "\ufeff",
    "سلام",
    "👨‍👩‍👧‍👦",
]
SAFE_URL = "https://example.com/"  # customer URLs the fuzz sends in URL fields
_ids = itertools.count(1)

injected_text = st.lists(
    st.one_of(st.sampled_from(INJECTIONS), st.text(max_size=12)), max_size=12
).map("".join)
texts = st.one_of(
    st.text(min_size=1, max_size=300),
    injected_text.filter(bool),
    st.sampled_from(["\x00", "", " ", "\n\t "]),
    st.sampled_from([3001, 40_001, 100_000, 100_001]).map(lambda n: ("é<!here>&" * n)[:n]),
)
wrong_type = st.one_of(
    st.none(), st.integers(), st.floats(allow_nan=False), st.booleans(), st.just([]), st.just({})
)
safe_urls = st.integers(0, 999).map(lambda n: f"{SAFE_URL}p/{n}")


def one_in(n: int) -> st.SearchStrategy[bool]:
    """True about once in `n` draws (integers() would favour the boundary)."""
    return st.sampled_from([False] * (n - 1) + [True])


def unique_id() -> str:
    return f"fz-{next(_ids)}"


# Values that break the contract, per field; a fuzzed body breaks at most one field, so
# most bodies get through validation and into storage, where byte-exactness is checked.
GARBAGE: dict[str, st.SearchStrategy[Any]] = {
    "message_id": st.one_of(st.just(""), st.text(min_size=256, max_size=260), wrong_type),
    "author": st.one_of(wrong_type, st.just({"handle": "@no-id"})),
    "author.id": st.one_of(st.just(""), wrong_type),
    "author.followers": st.one_of(st.integers(-5, -1), st.text(max_size=3)),
    "author.email": st.text(max_size=20).filter(lambda t: "@" not in t),
    "author.url": st.one_of(st.text(max_size=30), st.just("javascript:alert(1)")),
    "source": st.text(min_size=1, max_size=8).filter(lambda t: not t.isalnum()),
    "lang": st.text(min_size=1, max_size=8).filter(lambda t: not t.isalpha()),
    "direct": st.text(max_size=3),
    "created_at": st.text(max_size=12),
    "url": st.text(max_size=30),
    "surprise": st.text(max_size=5),
}


@st.composite
def webhook_payloads(draw: st.DrawFn, nul: bool = True) -> dict[str, Any]:
    """Valid-shaped messages with hostile text and names; a third break one field."""
    author: dict[str, Any] = {"id": draw(st.sampled_from(["a-1", "a-2", "ünï-3"]))}
    for key, values in {
        "handle": st.text(max_size=40),
        "name": st.one_of(injected_text, st.text(max_size=300)),
        "followers": st.integers(0, 10**9),
        "email": st.just("ana@example.com"),
        "url": safe_urls,
    }.items():
        if draw(st.booleans()):
            author[key] = draw(values)
    payload: dict[str, Any] = {"message_id": unique_id(), "author": author, "text": draw(texts)}
    optional = {
        "thread_id": st.text(min_size=1, max_size=20),
        "lang": st.sampled_from(["en", "cs", "fa", "zh-Hant", "hi"]),
        "direct": st.booleans(),
        "url": safe_urls,
        "source": st.sampled_from(["webhook", "forum", "help_widget"]),
        "created_at": st.just("2026-11-23T09:00:00Z"),
        "attachments": st.lists(
            st.fixed_dictionaries({"name": injected_text.filter(str.strip), "url": safe_urls}),
            max_size=2,
        ),
    }
    for key, values in optional.items():
        if draw(one_in(4)):
            payload[key] = draw(values)
    if draw(one_in(3)):
        field = draw(st.sampled_from(sorted(GARBAGE)))
        value = draw(GARBAGE[field])
        if field.startswith("author.") and isinstance(payload["author"], dict):
            payload["author"][field.removeprefix("author.")] = value
        else:
            payload[field] = value
    return payload if nul else _without_nul(payload)


def _without_nul(value: Any) -> Any:
    """The payload with U+0000 removed everywhere (PostgreSQL text cannot hold it)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {k: _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


@st.composite
def webhook_bodies(draw: st.DrawFn, nul: bool = True) -> tuple[bytes, dict[str, Any] | None]:
    """(raw body, the payload when the body is that payload's JSON)."""
    payload = draw(webhook_payloads(nul))
    # ensure_ascii=True sends lone surrogates as \\ud800 escapes (valid JSON, odd text);
    # False with surrogatepass sends them raw, which is not UTF-8.
    ascii_only = draw(one_in(5))
    raw = json.dumps(payload, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    kind = draw(st.sampled_from(["payload"] * 17 + ["truncated", "not an object", "not UTF-8"]))
    if kind == "truncated":
        return raw[: draw(st.integers(0, max(0, len(raw) - 1)))], None
    if kind == "not an object":
        return json.dumps(draw(st.one_of(wrong_type, st.text(max_size=5)))).encode(), None
    if kind == "not UTF-8":
        return b"\xff\xfe" + raw, None
    return raw, payload


# ------------------------------------------------------------------ Slack payloads
KNOWN_ACTIONS = [
    "conversation.claim",
    "conversation.takeover",
    "conversation.unclaim",
    "conversation.reassign",
    "conversation.tags",
    "conversation.draft",
    "conversation.draft_anyway",
    "conversation.outcome",
    "draft.send",
    "draft.send_anyway",
    "draft.edit",
    "draft.discard",
    "draft.regenerate",
    "delivery.retry",
]


def garbage_ref(value: str) -> bool:
    """True when `value` cannot name an existing row (ids here are small numbers)."""
    tail = value.rsplit(":", 1)[-1].strip()
    try:
        number = int(tail)
    except ValueError:
        return True
    return number <= 0 or number >= 1_000_000


garbage_values = st.one_of(
    st.text(max_size=40),
    st.integers(1_000_000, 10**30).map(str),
    st.integers(-(10**9), 0).map(str),
    st.just("9" * 3000),
).filter(garbage_ref)


@st.composite
def block_actions(draw: st.DrawFn, target: Any) -> dict[str, Any]:
    driver = target.pipe.slack
    action_id = draw(st.one_of(st.sampled_from(KNOWN_ACTIONS), st.text(max_size=30)))
    resp_payload: dict[str, Any] = {
        "action_id": action_id,
        "value": draw(st.one_of(st.none(), garbage_values)),
        "block_id": draw(garbage_values),
        "action_type": draw(
            st.sampled_from(["button", "static_select", "multi_static_select", "users_select"])
        ),
        "channel_id": draw(st.sampled_from([target.channel, "C0GHOST1", "D0DM"])),
        "message": {"type": "message", "ts": "1700000000.000100", "text": ""},
        "selected_options": draw(st.lists(st.text(max_size=20), max_size=3)),
        "user_id": draw(st.sampled_from(["U1", "UNOBODY", "W0X"])),
    }
    return {"kind": "action", "driver": driver, **resp_payload}


# ------------------------------------------------------------------ what reached Slack
_SEGMENT = re.compile(r"<([^<>]*)>")
_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def mrkdwn_strings(post: dict[str, Any]) -> list[str]:
    """The message's fallback text and every mrkdwn text object in its blocks."""
    found = [str(post.get("text") or "")]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(post.get("blocks") or [])
    return found


def unsafe_markup(
    text: str, allowed_link_prefixes: tuple[str, ...], ours: frozenset[str]
) -> list[str]:
    """Every `<…>` that is not ours (a date, a mention of our staff or channels, a link we
    built to a known place), and every `&` that does not start an entity: what customer
    text must never produce."""
    problems = []
    for segment in _SEGMENT.findall(text):
        if segment.startswith("!date^") or segment in ours:
            continue
        if segment.startswith(allowed_link_prefixes) and "|" in segment:
            continue
        problems.append(f"<{segment}>")
    problems += [f"bare & at {m.start()}" for m in _ENTITY.finditer(text)]
    return problems
