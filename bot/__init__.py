"""Threadline's runtime: configuration, CLI, Slack wiring, HTTP server, sources, scheduler."""
