"""`make bench`: every benchmark in turn, at sizes that finish in a few minutes on a small
machine; each prints its table and writes JSON to benchmarks/results/. A benchmark that is
missing or fails is reported and the others still run; the exit status says whether all
of them ran.

The full-size runs (a 1,000,000-conversation database, built once in about 2-4 minutes and
then cached in benchmarks/results/) are printed at the end.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from collections.abc import Callable

QUICK_CONVERSATIONS = 100_000
QUICK_REQUESTS = 300
FULL_RUNS = (
    "python -m benchmarks.ingest                        # 100k messages, raw floor, PostgreSQL",
    "python -m benchmarks.ingest --scaling              # ingest at 10k, 100k and 1M",
    "python -m benchmarks.egress                        # 2,000 cards, 5 channels at 1/s each",
    "python -m benchmarks.memory                        # worker peak RSS while 100k are ingested",
    "python -m benchmarks.lookup_digest                 # lookups, search, digest at 1M",
    "python -m benchmarks.lookup_digest --days 365      # the same 1M spread over a year",
    "python -m benchmarks.lookup_digest --scaling       # lookups at 10k, 100k and 1M",
    "python -m benchmarks.latency --requests 1000       # Slack round trips at 1M",
    "python -m benchmarks.lookup_digest --database-url postgresql://.../empty_db",
)
# (module, arguments for its main()): ingest, egress and memory take an argv list.
PLAN: tuple[tuple[str, tuple[object, ...]], ...] = (
    ("storage_writes", ()),
    ("classify", ()),
    ("ingest", (["--messages", "20000", "--single", "1000"],)),
    ("egress", (["--cards", "200"],)),
    ("memory", (["--messages", "20000"],)),
    ("lookup_digest", (QUICK_CONVERSATIONS,)),
    ("latency", (QUICK_CONVERSATIONS, QUICK_REQUESTS)),
)


def run_one(name: str, args: tuple[object, ...] = ()) -> str | None:
    """Run benchmarks.<name>; None when it ran, else why not (one line)."""
    try:
        module = importlib.import_module(f"benchmarks.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"benchmarks.{name}":
            return f"benchmarks/{name}.py is missing (not written yet?): skipped"
        return f"benchmarks/{name}.py cannot be imported: {exc}"
    entry: Callable[..., object] | None = getattr(module, "main", None)
    if not callable(entry):
        return f"benchmarks/{name}.py has no main(): skipped"
    started = time.perf_counter()
    try:
        entry(*args)
    except Exception as exc:
        traceback.print_exc()
        return f"benchmarks/{name}.py failed: {type(exc).__name__}: {exc}"
    print(f"({name} took {time.perf_counter() - started:.0f} s)")
    return None


def main(plan: tuple[tuple[str, tuple[object, ...]], ...] = PLAN) -> int:
    problems = [p for name, args in plan if (p := run_one(name, args)) is not None]
    print("\nFull-size runs (not part of make bench):")
    for line in FULL_RUNS:
        print(f"  {line}")
    if problems:
        print("\nNot every benchmark ran:")
        for problem in problems:
            print(f"  {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
