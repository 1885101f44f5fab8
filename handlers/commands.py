"""The slash command: parse the text after `/crm` and answer with typed results."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SubCommand:
    name: str
    usage: str
    summary: str


# Later sub-commands register here so `help` always lists exactly what works.
SUBCOMMANDS: list[SubCommand] = [
    SubCommand("help", "help", "show this list"),
    SubCommand("tag", "tag <name>", "create a new tag for the card's tag picker"),
]


@dataclass(frozen=True)
class TagRequest:
    name: str


@dataclass(frozen=True)
class HelpResult:
    command: str
    subcommands: list[SubCommand] = field(default_factory=list)
    unknown: str | None = None  # the sub-command the user typed that we do not know


def parse_command(command: str, text: str) -> HelpResult | TagRequest:
    """The sub-command and its argument; anything unknown answers with help that says so."""
    word, _, rest = text.strip().partition(" ")
    word = word.lower() or "help"
    if word == "tag" and rest.strip():
        return TagRequest(name=rest.strip())
    known = {sub.name for sub in SUBCOMMANDS}
    return HelpResult(
        command=command,
        subcommands=list(SUBCOMMANDS),
        unknown=None if word in known else word[:60],
    )
