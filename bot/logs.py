"""Logging for the bot: one stderr handler whose filter redacts secrets from every record."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

__all__ = ["REDACTED", "Redactor", "setup_logging"]

REDACTED = "[redacted]"


class Redactor(logging.Filter):
    """Replaces each secret in a record's message, arguments and traceback by ``[redacted]``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # the shortest secrets last, so one that contains another is replaced whole
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._formatter = logging.Formatter()

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def setup_logging(*, level: str, secrets: Iterable[str] = ()) -> logging.Handler:
    """Send every log record to stderr, redacted; returns the handler (tests remove it)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-8s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    handler.addFilter(Redactor(secrets))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    # discord.py's gateway chatter at DEBUG drowns everything else
    logging.getLogger("discord").setLevel(max(logging.getLevelName(level), logging.INFO))
    return handler
