"""The offline classifier: messages per second, and accuracy on the labelled evaluation set.

The classifier runs on every inbound message inside the ingest transaction, so its cost
is per-message latency for everyone. Input: the labelled evaluation set
(`tests/data/classify_eval.jsonl`: short, mixed-language customer posts) repeated to N
messages, plus a long-post row to show the cost of the `MAX_CHARS` cap.

Accuracy is printed per split and language (the six languages the set covers in depth; the
rest are pooled as "other", and "none" is text with no linguistic signal), then as an intent
confusion matrix per split. Read the `holdout` rows as the estimate for unseen messages: the
lexicons were tuned on `tuning` (see tests/data/README.md).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from itertools import cycle, islice
from typing import Any, get_args

from benchmarks.common import report
from handlers.classify import Classification, Intent
from handlers.classify_offline import MAX_CHARS, OfflineClassifier, detect_language
from tests.classify_data import CORE_LANGUAGES, SPLITS, Example, load_eval

N = 50_000
LONG_N = 500
DIMENSIONS = ("language", "intent", "sentiment")
INTENTS: tuple[str, ...] = get_args(Intent)


def rate(texts: list[str], work: Callable[[str], object]) -> tuple[float, float]:
    """(messages per second, microseconds per message) of calling `work` on each text."""
    started = time.perf_counter()
    for text in texts:
        work(text)
    elapsed = time.perf_counter() - started
    return len(texts) / elapsed, elapsed / len(texts) * 1e6


def throughput(classifier: OfflineClassifier, examples: Sequence[Example]) -> list[dict[str, Any]]:
    short = list(islice(cycle(e.text for e in examples), N))
    long_post = ("Thanks for the quick reply, but the export still fails. " * 200)[:MAX_CHARS]
    rows = []
    for label, texts, work in (
        ("classify, eval set", short, classifier.classify),
        ("detect_language only", short, detect_language),
        (f"classify, {MAX_CHARS:,}-char post", [long_post] * LONG_N, classifier.classify),
    ):
        per_second, micros = rate(texts, work)
        rows.append(
            {
                "workload": label,
                "messages": len(texts),
                "msgs_per_s": per_second,
                "us_per_msg": micros,
            }
        )
    return rows


def _group(language: str | None) -> str:
    if language is None:
        return "none"
    return language if language in CORE_LANGUAGES else "other"


def accuracy(results: Sequence[tuple[Example, Classification]]) -> list[dict[str, Any]]:
    """One row per split and language group, plus an "all" row per split; accuracy as the
    fraction of messages whose label the classifier got right."""
    rows = []
    for split in SPLITS:
        in_split = [(e, got) for e, got in results if e.split == split]
        groups = [*CORE_LANGUAGES, "other", "none"]
        for group in ["all", *groups]:
            chosen = [(e, g) for e, g in in_split if group in ("all", _group(e.language))]
            if not chosen:
                continue
            row: dict[str, Any] = {"split": split, "language": group, "messages": len(chosen)}
            for dim in DIMENSIONS:
                right = sum(getattr(e, dim) == getattr(g, dim) for e, g in chosen)
                row[f"{dim}_acc"] = right / len(chosen)
            rows.append(row)
    return rows


def intent_confusion(results: Sequence[tuple[Example, Classification]]) -> list[dict[str, Any]]:
    """Per split, one row per expected intent: how many messages got each predicted intent
    (the diagonal is the hits)."""
    rows = []
    for split in SPLITS:
        pairs = Counter((e.intent, got.intent) for e, got in results if e.split == split)
        for expected in INTENTS:
            counts = {got: pairs[expected, got] for got in INTENTS}
            total = sum(counts.values())
            row: dict[str, Any] = {"split": split, "expected": expected, "messages": total}
            row |= {f"→{got}": n for got, n in counts.items()}
            row["recall"] = counts[expected] / total if total else 0.0
            rows.append(row)
    return rows


def main() -> None:
    classifier = OfflineClassifier()
    examples = load_eval()
    results = [(e, classifier.classify(e.text)) for e in examples]
    report("classify", throughput(classifier, examples))
    report("classify_accuracy", accuracy(results))
    report("classify_intent_confusion", intent_confusion(results))


if __name__ == "__main__":
    main()
