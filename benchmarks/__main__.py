"""`make bench`: run every benchmark in turn (lookup_digest at 100k conversations; its full
1M run is `python -m benchmarks.lookup_digest`)."""

from benchmarks import classify, ingest, lookup_digest, storage_writes

for bench in (storage_writes, classify, ingest):
    bench.main()
lookup_digest.main(conversations=100_000)
