"""Tests for bot/logs.py: the token never reaches a log line."""

from __future__ import annotations

import io
import logging

from bot.logs import REDACTED, Redactor

TOKEN = "MTIz.secret.token"


def _logger_to(stream: io.StringIO) -> logging.Logger:
    handler = logging.StreamHandler(stream)
    handler.addFilter(Redactor([TOKEN]))
    logger = logging.getLogger(f"test-redact-{id(stream)}")
    logger.propagate = False
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    return logger


def test_token_is_redacted_from_message_args_and_traceback() -> None:
    """The token is replaced in the message, its %s arguments and an exception's traceback."""
    stream = io.StringIO()
    log = _logger_to(stream)
    log.info("token is " + TOKEN)
    log.info("token in args: %s and %r", TOKEN, {"auth": TOKEN})
    try:
        raise ValueError(f"bad header Bot {TOKEN}")
    except ValueError:
        log.exception("failed")
    output = stream.getvalue()
    assert TOKEN not in output
    assert output.count(REDACTED) == 4
    assert "ValueError: bad header Bot [redacted]" in output


def test_nothing_to_redact_leaves_records_alone() -> None:
    """Without secrets the filter passes records through unchanged."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "a %s", ("b",), None)
    assert Redactor([]).filter(record)
    assert record.getMessage() == "a b"
