"""`threadline digest`: send the managers' daily digest by hand, or preview it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

import typer
from sqlalchemy.engine import Engine

from bot.config import LoadedConfig, Settings
from bot.digest_job import DigestError, send_digest_now
from bot.slack_app import make_web_client

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")


def register(
    app: typer.Typer,
    boot: Callable[[], tuple[Settings, LoadedConfig]],
    database: Callable[[Settings], Engine],
) -> None:
    """Add the `digest` command to `app`, using the CLI's own start-up helpers."""

    @app.command()
    def digest(
        now: Annotated[
            bool, typer.Option("--now", help="Send the digest now, whatever the time.")
        ] = False,
        to: Annotated[
            str | None,
            typer.Option("--to", help="Only to this Slack user id (U…), manager or not."),
        ] = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Print the digest instead of sending it.")
        ] = False,
    ) -> None:
        """The managers' daily digest: --now sends it at once, --dry-run prints it.

        The worker sends it by itself at each manager's digest_time (threadline.toml)."""
        if not (now or dry_run):
            typer.echo(
                "threadline: the worker sends the digest at each manager's digest_time; "
                "use --now to send it at once or --dry-run to print it",
                err=True,
            )
            raise typer.Exit(2)
        if to is not None and not _USER_ID.fullmatch(to):
            typer.echo(f"threadline: --to {to!r} is not a Slack user id (U…)", err=True)
            raise typer.Exit(2)
        settings, loaded = boot()
        if not dry_run and not settings.slack_bot_token:
            typer.echo(
                "threadline: SLACK_BOT_TOKEN is not set, so nothing can be sent "
                "(--dry-run prints the digest without Slack)",
                err=True,
            )
            raise typer.Exit(1)
        engine = database(settings)
        try:
            text = send_digest_now(
                engine,
                make_web_client(settings),
                loaded.team,
                to=to,
                dry_run=dry_run,
                now=datetime.now(UTC),
            )
        except DigestError as exc:
            typer.echo(f"threadline: {exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo(text)
