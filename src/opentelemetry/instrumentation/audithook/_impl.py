"""Picks the hook implementation: the C accelerator when it was built, else
its pure-Python twin; ``OTEL_PYTHON_AUDITHOOK_PURE_PYTHON=true`` forces the
pure one."""

from __future__ import annotations

import logging
import os
from types import ModuleType

from opentelemetry.instrumentation.audithook import _purehook
from opentelemetry.instrumentation.audithook.environment_variables import (
    OTEL_PYTHON_AUDITHOOK_PURE_PYTHON,
)

_logger = logging.getLogger("opentelemetry.instrumentation.audithook")


def choose() -> ModuleType:
    raw = os.environ.get(OTEL_PYTHON_AUDITHOOK_PURE_PYTHON, "")
    value = raw.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return _purehook
    if value not in ("", "false", "0", "no", "off"):
        _logger.warning(
            "%s=%r: must be true or false; using false instead",
            OTEL_PYTHON_AUDITHOOK_PURE_PYTHON,
            raw,
        )
    try:
        from opentelemetry.instrumentation.audithook import _speedups
    except ImportError:
        return _purehook
    return _speedups


def name(module: ModuleType) -> str:
    return "pure" if module is _purehook else "c"
