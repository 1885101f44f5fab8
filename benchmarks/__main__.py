"""`make bench`: run every benchmark in turn."""

from benchmarks import classify, ingest, storage_writes

for bench in (storage_writes, classify, ingest):
    bench.main()
