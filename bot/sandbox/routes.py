"""The sandbox's HTTP surface, mounted on the bot's own server under /sandbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from flask import Blueprint, Response, jsonify, request

from bot.sandbox.customer import CustomerDesk, CustomerError
from bot.sandbox.interact import InteractionError, Interactions
from bot.sandbox.state import page_state
from bot.sandbox.workspace import SANDBOX_USER, SandboxSlack
from bot.slack_emulator.driver import SlackDriver
from bot.slack_emulator.validation import ApiError

ASSETS = {"sandbox.js": "text/javascript", "sandbox.css": "text/css"}
# Customer text is data: even if an escape were missed, no inline or foreign script runs.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


@dataclass
class SandboxSession:
    """The emulated workspace plus what needs the server's address (known once it listens)."""

    slack: SandboxSlack
    signing_secret: str
    webhook_secret: str
    command: str = "/crm"
    interactions: Interactions | None = None
    desk: CustomerDesk | None = None
    base_url: str = field(default="")

    def attach(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        driver = SlackDriver(
            f"{self.base_url}/slack/events",
            self.signing_secret,
            team_id=self.slack.team_id,
            fake=self.slack,
            api_app_id=self.slack.app_id,
            team_domain=self.slack.team_domain,
        )
        self.interactions = Interactions(self.slack, driver, command=self.command)
        self.desk = CustomerDesk(
            f"{self.base_url}/ingest/webhook",
            f"{self.base_url}/sandbox/customer/reply",
            self.webhook_secret,
        )

    def ready(self) -> tuple[Interactions, CustomerDesk]:
        if self.interactions is None or self.desk is None:
            raise InteractionError("the sandbox is still starting")
        return self.interactions, self.desk


def _asset(name: str) -> str:
    return resources.files("bot.sandbox").joinpath(f"assets/{name}").read_text("utf-8")


def _body() -> dict[str, Any]:
    # JSON only: a cross-site form cannot send application/json without a CORS preflight,
    # which this server never grants, so another web page cannot click for you.
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InteractionError("send a JSON object")
    return body


def sandbox_blueprint(session: SandboxSession) -> Blueprint:
    bp = Blueprint("sandbox", __name__)

    @bp.errorhandler(InteractionError)
    @bp.errorhandler(CustomerError)
    def _refused(exc: Exception) -> tuple[Response, int]:
        return jsonify(error=str(exc)), 400

    @bp.errorhandler(ApiError)
    def _slack_refused(exc: ApiError) -> tuple[Response, int]:
        return jsonify(error=f"Slack would refuse this: {exc.error}"), 400

    @bp.after_request
    def _headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        return response

    _page_routes(bp, session)
    _slack_routes(bp, session)
    _customer_routes(bp, session)
    return bp


def _page_routes(bp: Blueprint, session: SandboxSession) -> None:
    @bp.get("/sandbox")
    @bp.get("/sandbox/")
    def page() -> Response:
        return Response(_asset("page.html"), content_type="text/html; charset=utf-8")

    @bp.get("/sandbox/assets/<name>")
    def asset(name: str) -> tuple[Response, int] | Response:
        if name not in ASSETS:
            return jsonify(error="no such file"), 404
        return Response(_asset(name), content_type=f"{ASSETS[name]}; charset=utf-8")

    @bp.get("/sandbox/api/state")
    def state() -> Response:
        channel = request.args.get("channel") or None
        home = request.args.get("home") == "1"
        return jsonify(page_state(session.slack, session.desk, SANDBOX_USER, channel, home))


def _slack_routes(bp: Blueprint, session: SandboxSession) -> None:
    """What a person does in Slack, sent on to /slack/events as Slack would."""

    @bp.post("/sandbox/api/action")
    def action() -> tuple[Response, int]:
        interactions, _ = session.ready()
        answer = interactions.click(_body())
        return jsonify(status=answer.status), 200 if answer.status == 200 else 502

    @bp.post("/sandbox/api/submit")
    def submit() -> Response:
        interactions, _ = session.ready()
        body = _body()
        errors = interactions.submit(str(body.get("view_id") or ""), body.get("form") or {})
        return jsonify(errors=errors)

    @bp.post("/sandbox/api/close")
    def close() -> Response:
        interactions, _ = session.ready()
        interactions.close(str(_body().get("view_id") or ""))
        return jsonify(ok=True)

    @bp.post("/sandbox/api/command")
    def command() -> Response:
        interactions, _ = session.ready()
        body = _body()
        answer = interactions.slash_command(str(body.get("text") or ""), str(body.get("channel")))
        return jsonify(status=answer.status)

    @bp.post("/sandbox/api/reply")
    def thread_reply() -> Response:
        interactions, _ = session.ready()
        body = _body()
        answer = interactions.thread_reply(
            str(body.get("channel") or ""), str(body.get("ts") or ""), str(body.get("text") or "")
        )
        return jsonify(status=answer.status)

    @bp.post("/sandbox/api/react")
    def react() -> Response:
        interactions, _ = session.ready()
        body = _body()
        answer = interactions.react(
            str(body.get("channel") or ""), str(body.get("ts") or ""), str(body.get("name") or "")
        )
        return jsonify(status=None if answer is None else answer.status)

    @bp.post("/sandbox/api/dismiss")
    def dismiss() -> Response:
        session.slack.dismiss_ephemeral(str(_body().get("ts") or ""))
        return jsonify(ok=True)

    @bp.post("/sandbox/api/home")
    def home() -> Response:
        interactions, _ = session.ready()
        _body()
        return jsonify(status=interactions.open_home().status)


def _customer_routes(bp: Blueprint, session: SandboxSession) -> None:
    """The customer's side: the signed webhook out, the reply_url in."""

    @bp.post("/sandbox/api/customer")
    def customer() -> tuple[Response, int]:
        _, desk = session.ready()
        posted = desk.post(_body())
        if posted.status == 202:
            return jsonify(status=posted.status, answer=posted.body), 200
        error = str(posted.body.get("error") or f"the webhook answered HTTP {posted.status}")
        return jsonify(error=error, status=posted.status), 400 if posted.status < 500 else 502

    @bp.post("/sandbox/api/sample-day")
    def sample_day() -> tuple[Response, int]:
        _, desk = session.ready()
        _body()
        if not desk.play_sample_day():
            return jsonify(error="the sample day is already playing"), 409
        return jsonify(ok=True), 202

    @bp.post("/sandbox/customer/reply")
    def customer_reply() -> tuple[Response, int]:
        _, desk = session.ready()
        headers = {key: value for key, value in request.headers.items()}
        status, body = desk.receive_reply(headers, request.get_data(cache=False))
        return jsonify(body), status
