"""`make bench`: run every benchmark in turn."""

from benchmarks import storage_writes

for bench in (storage_writes,):
    bench.main()
