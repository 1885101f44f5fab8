"""Secrets never reach the logs."""

from __future__ import annotations

import io
import logging

from bot.logs import REDACTED, SecretRedactingFilter, configure_logging


def _capture(secrets: list[str]) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretRedactingFilter(secrets))
    logger = logging.getLogger(f"test.redact.{id(stream)}")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger, stream


def test_configured_secrets_are_redacted_in_messages_and_args() -> None:
    logger, out = _capture(["s3cr3t-signing-value"])
    logger.info("signing with %s now", "s3cr3t-signing-value")
    logger.info("inline s3cr3t-signing-value too")
    text = out.getvalue()
    assert "s3cr3t-signing-value" not in text
    assert text.count(REDACTED) == 2


def test_token_shapes_are_redacted_even_when_not_configured() -> None:
    logger, out = _capture([])
    logger.warning(
        "headers: Authorization: Bearer abcdefghijklmnop123 xoxb-1234-5678-abcdef "
        "xapp-1-A0-123-abcdef sk-proj-abcdefghijklmnop"
    )
    text = out.getvalue()
    for leaked in ("abcdefghijklmnop123", "xoxb-1234", "xapp-1-A0", "sk-proj-abc"):
        assert leaked not in text


def test_tracebacks_are_redacted() -> None:
    logger, out = _capture(["hunter2-password"])
    try:
        raise RuntimeError("connect failed for hunter2-password")
    except RuntimeError:
        logger.exception("boom")
    text = out.getvalue()
    assert "RuntimeError" in text
    assert "hunter2-password" not in text


def test_ordinary_text_is_untouched() -> None:
    logger, out = _capture(["secret-value-1"])
    logger.info("Dobrý den — 我的订单 — مرسی")
    assert out.getvalue().strip() == "Dobrý den — 我的订单 — مرسی"


def test_configure_logging_installs_the_filter_on_the_root_handler(capsys) -> None:
    configure_logging("INFO", ["xyz-secret-123"])
    logging.getLogger("any.library").warning("token xyz-secret-123 leaked?")
    err = capsys.readouterr().err
    assert "xyz-secret-123" not in err
    assert REDACTED in err
