"""Logging set-up that keeps secrets out of every log line."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

# Token shapes worth hiding even when they are not our own configured secrets
# (a customer pasting a token, a library echoing a header).
_TOKEN_PATTERNS = re.compile(
    r"xox[abposr]-[A-Za-z0-9-]{6,}|xapp-[A-Za-z0-9-]{6,}|sk-[A-Za-z0-9_-]{12,}"
    r"|(?i:bearer\s+)[A-Za-z0-9._~+/=-]{12,}"
)
REDACTED = "[redacted]"


class SecretRedactingFilter(logging.Filter):
    """Rewrites each record's final message with known secrets and token shapes removed."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is hidden whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return _TOKEN_PATTERNS.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = self.redact(message), None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def configure_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # On the handler, not a logger: records from every library pass through it.
    handler.addFilter(SecretRedactingFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # slack_sdk logs request bodies at DEBUG, which hold customer text.
    logging.getLogger("slack_sdk").setLevel(max(logging.INFO, root.level))
    # httpx (RSS fetches, atproto) logs every request URL at INFO: feed URLs may carry
    # tokens in their query strings, and one line per poll drowns the useful ones.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
