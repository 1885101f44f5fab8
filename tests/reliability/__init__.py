"""Fault-and-load suite: crashes, failing networks, fuzzed input, security (issue 9)."""
