"""Messages per second through the offline classifier.

The classifier runs on every inbound message inside the ingest transaction, so its cost
is per-message latency for everyone. Input: the labelled sample (short, mixed-language
customer posts) repeated to N messages, plus a long-post row to show the cost of the
`MAX_CHARS` cap.
"""

from __future__ import annotations

import time
from itertools import cycle, islice

from benchmarks.common import report
from handlers.classify_offline import MAX_CHARS, OfflineClassifier, detect_language
from tests.classify_sample import HOLDOUT, SAMPLE

N = 50_000
LONG_N = 500


def rate(texts: list[str], work: object) -> tuple[float, float]:
    """(messages per second, microseconds per message) of calling `work` on each text."""
    assert callable(work)
    started = time.perf_counter()
    for text in texts:
        work(text)
    elapsed = time.perf_counter() - started
    return len(texts) / elapsed, elapsed / len(texts) * 1e6


def main() -> None:
    classifier = OfflineClassifier()
    short = list(islice(cycle(text for text, *_ in SAMPLE + HOLDOUT), N))
    long_post = ("Thanks for the quick reply, but the export still fails. " * 200)[:MAX_CHARS]
    rows = []
    for label, texts, work in (
        ("classify, labelled sample", short, classifier.classify),
        ("detect_language only", short, detect_language),
        (f"classify, {MAX_CHARS:,}-char post", [long_post] * LONG_N, classifier.classify),
    ):
        classify_rate, micros = rate(texts, work)
        rows.append(
            {
                "workload": label,
                "messages": len(texts),
                "msgs_per_s": classify_rate,
                "us_per_msg": micros,
            }
        )
    report("classify", rows)


if __name__ == "__main__":
    main()
