"""The HTTP surface: Slack's endpoint through bolt's Flask adapter, health and metrics."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from sqlalchemy.engine import Engine
from waitress.server import create_server
from werkzeug.exceptions import HTTPException

from bot.metrics import Metrics, make_metrics
from storage.db import DatabaseError, check_connection

log = logging.getLogger(__name__)


def create_web_app(
    engine: Engine,
    slack_app: App | None,
    metrics: Metrics | None = None,
    blueprints: tuple[Blueprint, ...] = (),
) -> Flask:
    web = Flask("threadline")
    web.config["MAX_CONTENT_LENGTH"] = 2 * 1024 * 1024  # Slack payloads are far smaller
    metrics = metrics or make_metrics()
    web.extensions["threadline_metrics"] = metrics

    @web.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()

    @web.after_request
    def _count(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.http_requests.labels(route, str(response.status_code)).inc()
        metrics.http_latency.labels(route).observe(time.perf_counter() - g.get("started", 0))
        return response

    if slack_app is not None:
        slack_handler = SlackRequestHandler(slack_app)

        @web.post("/slack/events")
        def slack_events() -> Response | tuple[Response, int]:
            try:
                return slack_handler.handle(request)
            except (ValueError, TypeError, AttributeError, KeyError) as exc:
                # bolt parses the body before any listener runs and raises on a `payload=`
                # that is not JSON or whose `user`/`team` is not an object: that is the
                # sender's mistake (a 400), not our outage (a 500). Listener errors never
                # get here: bolt hands them to the app's error handler.
                log.warning("malformed Slack request refused: %s", type(exc).__name__)
                return jsonify(error="malformed Slack request"), 400

    for blueprint in blueprints:
        web.register_blueprint(blueprint)

    @web.errorhandler(HTTPException)
    def _json_errors(exc: HTTPException) -> tuple[Response, int]:
        # Machines call these endpoints; answer them in JSON, not HTML.
        return jsonify(error=exc.description or exc.name), exc.code or 500

    @web.get("/healthz")
    def healthz() -> tuple[Response, int]:
        try:
            check_connection(engine)
        except DatabaseError as exc:
            metrics.database_up.set(0)
            return jsonify(status="unavailable", database=str(exc)), 503
        metrics.database_up.set(1)
        return jsonify(status="ok", database="ok"), 200

    @web.get("/metrics")
    def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST)

    return web


@dataclass
class RunningServer:
    """A waitress server on a background thread (tests, `run` with other work alongside)."""

    server: Any
    thread: threading.Thread
    host: str
    port: int
    stopping: threading.Event

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.stopping.set()
        self.server.close()
        self.thread.join(timeout=5)


def start_http_server(web: Flask, host: str, port: int, *, threads: int = 8) -> RunningServer:
    server = create_server(web, host=host, port=port, threads=threads, ident="threadline")
    stopping = threading.Event()

    def serve() -> None:
        try:
            server.run()
        except OSError:
            # close() from another thread pulls the socket out from under select();
            # that is how a stop looks, not a failure.
            if not stopping.is_set():
                raise

    thread = threading.Thread(target=serve, name="http", daemon=True)
    thread.start()
    return RunningServer(server, thread, host, server.effective_port, stopping)
