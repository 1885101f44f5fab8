"""The slash command: parse the text after `/crm` into one typed request per sub-command.

Anything we cannot act on (an unknown word, a missing or malformed argument) becomes a
`HelpResult` that says what was wrong and how to write it, never an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SubCommand:
    name: str
    usage: str
    summary: str


# `help` lists exactly these, in this order.
SUBCOMMANDS: list[SubCommand] = [
    SubCommand("help", "help", "show this list"),
    SubCommand(
        "lookup",
        "lookup <@handle | email | name | profile url>",
        "a customer's record: identities, value, tags, recent conversations",
    ),
    SubCommand("open", "open", "unclaimed open conversations, most urgent first"),
    SubCommand("mine", "mine", "open conversations assigned to you"),
    SubCommand("find", "find <text>", "search every message and note, in any language"),
    SubCommand("stats", "stats [7d|30d]", "conversations, replies, response time and outcomes"),
    SubCommand("link", "link <customer> <customer>", "merge two records of the same person"),
    SubCommand("forget", "forget <customer>", "admins: erase a customer's personal data"),
    SubCommand("role", "role <member id> <agent|manager|admin>", "admins: set someone's role"),
    SubCommand("tag", "tag <name>", "create a new tag for the card's tag picker"),
]
USAGE = {sub.name: sub.usage for sub in SUBCOMMANDS}
QUERY_LIMIT = 300  # a lookup argument: longer is not a handle, email, name or URL
FIND_LIMIT = 200
MAX_DAYS = 365


@dataclass(frozen=True)
class TagRequest:
    name: str


@dataclass(frozen=True)
class LookupRequest:
    query: str


@dataclass(frozen=True)
class OpenRequest:
    pass


@dataclass(frozen=True)
class MineRequest:
    pass


@dataclass(frozen=True)
class FindRequest:
    text: str


@dataclass(frozen=True)
class StatsRequest:
    days: int = 7


@dataclass(frozen=True)
class LinkRequest:
    first: str
    second: str


@dataclass(frozen=True)
class RoleRequest:
    user_id: str
    role: str


@dataclass(frozen=True)
class ForgetRequest:
    query: str


@dataclass(frozen=True)
class HelpResult:
    command: str
    subcommands: list[SubCommand] = field(default_factory=list)
    unknown: str | None = None  # the sub-command the user typed that we do not know
    problem: str | None = None  # what was wrong with the arguments (plain text)
    usage: str | None = None  # the usage line of the sub-command that was misused


CommandRequest = (
    HelpResult
    | TagRequest
    | LookupRequest
    | OpenRequest
    | MineRequest
    | FindRequest
    | StatsRequest
    | LinkRequest
    | ForgetRequest
    | RoleRequest
)


class _BadArgumentError(Exception):
    """An argument we cannot use; the message says how to fix it."""


# Slack sends `&`, `<`, `>` escaped and wraps what it recognises: <mailto:a@b.c|a@b.c>,
# <https://x|x>, <https://x>. Arguments are read as the person typed them.
_SLACK_LINK = re.compile(r"<((?:mailto:|https?://)[^|>]+)(?:\|[^>]*)?>")
_TOKEN = re.compile(r'"([^"]*)"|“([^”]*)”|(\S+)')
_DAYS = re.compile(r"(\d{1,4})\s*d?", re.IGNORECASE)


def unslack(text: str) -> str:
    """Command text as typed: Slack's link markup unwrapped, its entities decoded."""
    text = _SLACK_LINK.sub(lambda m: m.group(1).removeprefix("mailto:"), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _unquote(text: str) -> str:
    text = text.strip()
    for left, right in (('"', '"'), ("“", "”")):
        if len(text) >= 2 and text.startswith(left) and text.endswith(right):
            return text[1:-1].strip()
    return text


def _query(rest: str, what: str) -> str:
    query = _unquote(unslack(rest))
    if not query:
        raise _BadArgumentError(f"Tell me {what}.")
    if len(query) > QUERY_LIMIT:
        raise _BadArgumentError(f"That is too long for {what} (at most {QUERY_LIMIT} characters).")
    return query


def _two_customers(rest: str) -> LinkRequest:
    tokens = [next(g for g in m.groups() if g is not None) for m in _TOKEN.finditer(unslack(rest))]
    tokens = [t.strip() for t in tokens if t.strip()]
    if len(tokens) != 2:
        raise _BadArgumentError(
            "Name exactly two customers (a handle, email or profile URL each; put a name "
            'with spaces in quotes, like "Ana Nováková").'
        )
    return LinkRequest(first=tokens[0][:QUERY_LIMIT], second=tokens[1][:QUERY_LIMIT])


def _days(rest: str) -> StatsRequest:
    if not rest:
        return StatsRequest()
    found = _DAYS.fullmatch(rest)
    if found is None or not 1 <= int(found.group(1)) <= MAX_DAYS:
        raise _BadArgumentError(f"The period is a number of days: 7d or 30d (1 to {MAX_DAYS}).")
    return StatsRequest(days=int(found.group(1)))


def _find(rest: str) -> FindRequest:
    text = _unquote(unslack(rest))
    if not text:
        raise _BadArgumentError("Tell me what to search for.")
    if len(text) > FIND_LIMIT:
        raise _BadArgumentError(f"Search for at most {FIND_LIMIT} characters.")
    return FindRequest(text=text)


def _no_argument(name: str, rest: str) -> CommandRequest:
    if rest:
        raise _BadArgumentError(f"`{name}` takes no argument.")
    return OpenRequest() if name == "open" else MineRequest()


def _request(word: str, rest: str) -> CommandRequest | None:
    if word == "tag":
        if not rest:
            raise _BadArgumentError("Tell me the name of the new tag.")
        return TagRequest(name=rest)
    if word == "lookup":
        return LookupRequest(_query(rest, "who to look up: an @handle, email, name or URL"))
    if word == "forget":
        return ForgetRequest(_query(rest, "whose data to erase: an @handle, email or URL"))
    if word in ("open", "mine"):
        return _no_argument(word, rest)
    if word == "find":
        return _find(rest)
    if word == "stats":
        return _days(rest)
    if word == "link":
        return _two_customers(rest)
    if word == "role":
        return _role(rest)
    return None


_MEMBER = re.compile(r"^(?:<@)?([UW][A-Z0-9]{2,})(?:\|[^>]*)?>?$")


def _role(rest: str) -> RoleRequest:
    """`U0123ABC manager` or `<@U0123ABC|ana> manager` (a member ID: profile → ⋮ → Copy)."""
    parts = rest.split()
    found = _MEMBER.match(parts[0]) if len(parts) == 2 else None
    if found is None or parts[1].lower() not in ("agent", "manager", "admin"):
        raise _BadArgumentError("Give a member ID and a role, e.g. `role U0123ABC manager`.")
    return RoleRequest(user_id=found.group(1), role=parts[1].lower())


def parse_command(command: str, text: str) -> CommandRequest:
    """The sub-command and its argument; anything unknown answers with help that says so."""
    parts = text.strip().split(maxsplit=1)
    word = parts[0].lower() if parts else "help"
    rest = parts[1].strip() if len(parts) > 1 else ""
    try:
        request = _request(word, rest)
    except _BadArgumentError as exc:
        return HelpResult(
            command=command,
            subcommands=list(SUBCOMMANDS),
            problem=str(exc),
            usage=USAGE.get(word),
        )
    if request is not None:
        return request
    known = {sub.name for sub in SUBCOMMANDS}
    return HelpResult(
        command=command,
        subcommands=list(SUBCOMMANDS),
        unknown=None if word in known else word[:60],
    )
