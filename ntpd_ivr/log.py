"""Logging set-up. Every line about a call carries the call's Asterisk unique id."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(call_id)s] %(message)s"


class _DefaultCallId(logging.Filter):
    """Lines not about a call show '-' where the unique id would be."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "call_id"):
            record.call_id = "-"
        return True


class CallLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger bound to one call: `CallLogger(log, uniqueid).info("...")`."""

    def __init__(self, logger: logging.Logger, call_id: str) -> None:
        super().__init__(logger, {"call_id": call_id or "?"})

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs.setdefault("extra", {}).update(self.extra or {})
        return msg, kwargs


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(_DefaultCallId())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # panoramisk logs every reconnect attempt at ERROR with a traceback; ours says it better.
    logging.getLogger("panoramisk").setLevel(logging.CRITICAL)
