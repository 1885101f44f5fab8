"""What Mastodon.py's exceptions mean for an operator (`SourceError`) and for a person who
clicked Send (`DeliveryResult`). Messages never carry the token or a response body (a body
can hold customers' posts)."""

from __future__ import annotations

import time

from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonReadTimeout,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from bot.sources.base import (
    DeliveryResult,
    SourceAuthError,
    SourceError,
    SourceRateLimitedError,
    SourceUnavailableError,
)

TOKEN_FIX = (
    "in Mastodon open Preferences → Development → New application with the scopes "
    "read:notifications read:statuses write:statuses read:accounts, copy 'Your access token' "
    "and set MASTODON_ACCESS_TOKEN"
)
URL_FIX = (
    "set [sources.mastodon] api_base_url to your instance's address, e.g. https://mastodon.social"
)
# When a 429 carries no usable X-RateLimit-Reset: Mastodon's window is 5 minutes.
DEFAULT_RATE_WAIT = 60.0


def http_status(exc: MastodonError) -> int | None:
    """Mastodon.py raises MastodonAPIError('…returned error', status, reason, message)."""
    if len(exc.args) > 1 and isinstance(exc.args[1], int):
        return exc.args[1]
    return None


def retry_after(reset_epoch: float | None) -> float:
    """Seconds until the rate limit window resets (Mastodon.py keeps X-RateLimit-Reset)."""
    if reset_epoch is None:
        return DEFAULT_RATE_WAIT
    return max(1.0, reset_epoch - time.time())


def describe(exc: MastodonError, base_url: str) -> str:
    """One line about what went wrong, without response bodies."""
    if isinstance(exc, MastodonReadTimeout) or "timed out" in str(exc).lower():
        return f"{base_url} did not answer in time"
    if isinstance(exc, MastodonNetworkError):
        return f"cannot reach {base_url} (connection failed or dropped)"
    if isinstance(exc, MastodonAPIError) and str(exc.args[0]).startswith("Could not parse"):
        return f"{base_url} sent an answer that is not valid JSON"
    status = http_status(exc)
    server_says = exc.args[3] if len(exc.args) > 3 and isinstance(exc.args[3], str) else ""
    detail = f": {server_says[:200]}" if server_says else ""
    return f"{base_url} answered HTTP {status}{detail}" if status else type(exc).__name__


def source_error(exc: MastodonError, base_url: str, reset_epoch: float | None) -> SourceError:
    """The runner's view: what happened and what the operator should do."""
    if isinstance(exc, MastodonRatelimitError):
        wait = retry_after(reset_epoch)
        return SourceRateLimitedError(
            f"Mastodon rate limit reached (300 calls per 5 minutes); retrying in {wait:.0f} s",
            "nothing to do unless it repeats; then raise [sources.mastodon] poll_seconds",
            retry_after=wait,
        )
    if isinstance(exc, MastodonUnauthorizedError):
        return SourceAuthError("Mastodon rejected the access token (HTTP 401)", TOKEN_FIX)
    status = http_status(exc)
    if status == 403:
        return SourceAuthError(f"{describe(exc, base_url)} (a scope is missing)", TOKEN_FIX)
    if isinstance(exc, MastodonNotFoundError):
        return SourceError(f"{describe(exc, base_url)}: not a Mastodon API address", URL_FIX)
    if isinstance(exc, MastodonNetworkError | MastodonServerError) or str(
        exc.args[0] if exc.args else ""
    ).startswith("Could not parse"):
        return SourceUnavailableError(
            describe(exc, base_url),
            f"check the network and that {base_url} is up; Threadline keeps retrying",
        )
    return SourceUnavailableError(describe(exc, base_url), URL_FIX)


def delivery_failure(
    exc: MastodonError, base_url: str, reset_epoch: float | None, part: int, parts: int
) -> DeliveryResult:
    """A reply that did not (fully) go out. Parts already posted are not posted again on
    retry: each part carries its own Idempotency-Key."""
    where = f" (part {part} of {parts})" if parts > 1 else ""
    if isinstance(exc, MastodonRatelimitError):
        wait = retry_after(reset_epoch)
        return DeliveryResult(
            ok=False,
            error=f"Mastodon rate limit reached{where}; retrying in {wait:.0f} s",
            retryable=True,
            retry_after=wait,
        )
    if isinstance(exc, MastodonUnauthorizedError):
        error = "Mastodon rejected the access token: set a new MASTODON_ACCESS_TOKEN"
        return DeliveryResult(ok=False, error=error + where)
    if isinstance(exc, MastodonNotFoundError):
        error = "the post this answers no longer exists on Mastodon (deleted?)"
        return DeliveryResult(ok=False, error=error + where)
    retryable = isinstance(exc, MastodonNetworkError | MastodonServerError) or str(
        exc.args[0] if exc.args else ""
    ).startswith("Could not parse")
    return DeliveryResult(ok=False, error=describe(exc, base_url) + where, retryable=retryable)
