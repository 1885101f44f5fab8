"""Loader for the classifier's labelled evaluation set, `tests/data/classify_eval.jsonl`.

Plain Python (no pytest), so `benchmarks/classify.py` can import it too. What the labels
mean and how the two splits were used is in `tests/data/README.md`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

EVAL_PATH: Final = Path(__file__).resolve().parent / "data" / "classify_eval.jsonl"
SPLITS: Final = ("tuning", "holdout")
# The languages the issue asks the set to cover, each with enough messages to be measured.
CORE_LANGUAGES: Final = ("en", "es", "fa", "zh", "hi", "cs")
# Every language label allowed in the file (ISO 639-1). `None` is allowed too: a message
# with no linguistic signal at all (emoji, digits, a bare link).
LANGUAGES: Final = frozenset(
    (*CORE_LANGUAGES, "ar", "de", "el", "fr", "he", "it", "ja", "ko", "pl", "pt", "ru", "th", "uk")
)
_REQUIRED: Final = frozenset({"text", "language", "intent", "sentiment", "split"})
_OPTIONAL: Final = frozenset({"note"})


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    language: str | None
    intent: str
    sentiment: str
    split: str  # "tuning" | "holdout"
    note: str | None = None


def load_eval(split: str | None = None) -> list[Example]:
    """The examples of `split` ("tuning" or "holdout"), or all of them, in file order.

    Raises ValueError, naming the line, for a malformed line, so a bad edit to the data fails
    loudly instead of silently shrinking the set. Label values are checked by the tests."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    examples = []
    with EVAL_PATH.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{EVAL_PATH.name}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: not JSON ({exc})") from exc
            if not isinstance(row, dict):
                raise ValueError(f"{where}: expected an object")
            keys = set(row)
            if missing := _REQUIRED - keys:
                raise ValueError(f"{where}: missing {sorted(missing)}")
            if unknown := keys - _REQUIRED - _OPTIONAL:
                raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
            if row["split"] not in SPLITS:
                raise ValueError(f"{where}: unknown split {row['split']!r}")
            if not isinstance(row["text"], str):
                raise ValueError(f"{where}: text must be a string")
            example = Example(**row)
            if split is None or example.split == split:
                examples.append(example)
    return examples
