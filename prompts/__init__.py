"""LLM prompt templates: plain text and Markdown files, read at run time."""

from __future__ import annotations

from importlib.resources import files


def read_prompt(name: str) -> str:
    """The text of a bundled prompt file, e.g. read_prompt("brand.md")."""
    return files(__name__).joinpath(name).read_text(encoding="utf-8")
