"""Our warnings: one logger, and every message names the package.

Python's last-resort handler prints only the message, and most applications
print no logger name: without the prefix, a warning about an audit hook or an
environment variable would not say where it came from.
"""

from __future__ import annotations

import logging

LOGGER_NAME = "opentelemetry.instrumentation.audithook"
PREFIX = "opentelemetry-instrumentation-audithook: "

logger = logging.getLogger(LOGGER_NAME)


def warning(message: str, *args: object, exc_info: BaseException | bool | None = None) -> None:
    logger.warning(PREFIX + message, *args, exc_info=exc_info)
