"""`make bench`: run every benchmark in turn."""

from benchmarks import classify, storage_writes

for bench in (storage_writes, classify):
    bench.main()
