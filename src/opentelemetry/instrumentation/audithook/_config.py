"""Configuration: the environment, parsed once into a frozen object.

``parse_config(environ, **kwargs)`` is pure apart from logging: tests patch
``os.environ`` (or pass a dict) and call it.  Environment values that do not
parse are logged once, as a warning naming the variable, the value and the
fallback; keyword arguments that do not parse raise ``ValueError``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.instrumentation.audithook import _selection
from opentelemetry.instrumentation.audithook.environment_variables import (
    OTEL_PYTHON_AUDITHOOK_EVENTS,
    OTEL_PYTHON_AUDITHOOK_MAX_VALUE_LENGTH,
)

_logger = logging.getLogger("opentelemetry.instrumentation.audithook")

DEFAULT_EVENTS = "@default"
DEFAULT_MAX_VALUE_LENGTH = 1024

# A process reads its environment a few times at most (instrument() again after
# uninstrument()); the same bad value is reported once, not at every re-arm.
_warned: set[tuple[str, str, str]] = set()


def _warn(variable: str, value: str, problem: str, fallback: str) -> None:
    key = (variable, value, problem)
    if key in _warned:
        return
    _warned.add(key)
    _logger.warning("%s=%r: %s; using %s instead", variable, value, problem, fallback)


@dataclass(frozen=True)
class Config:
    """Everything the hook needs to know, fixed at instrument() time."""

    selection: _selection.Selection = _selection.DEFAULT_SELECTION
    max_value_length: int = DEFAULT_MAX_VALUE_LENGTH


def _split(value: str) -> list[str]:
    return [part for part in (p.strip() for p in value.split(",")) if part]


def _events_from_env(raw: str | None) -> _selection.Selection:
    if raw is None:
        return _selection.DEFAULT_SELECTION
    var = OTEL_PYTHON_AUDITHOOK_EVENTS
    items = _split(raw)
    if not items:
        _warn(var, raw, "no selector given", repr(DEFAULT_EVENTS))
        return _selection.DEFAULT_SELECTION
    selection, problems = _selection.parse_selection(items)
    if not selection.selectors:
        _warn(var, raw, "; ".join(problems), repr(DEFAULT_EVENTS))
        return _selection.DEFAULT_SELECTION
    if problems:
        _warn(var, raw, "; ".join(problems), repr(selection.text))
    for text in _selection.unmatched(selection):
        _warn(
            var,
            raw,
            f"{text!r} matches no event in the audit events table",
            "it as given, for events that libraries raise with sys.audit()",
        )
    return selection


def _events_from_arg(events: str | Iterable[str]) -> _selection.Selection:
    items = _split(events) if isinstance(events, str) else list(events)
    if not all(isinstance(item, str) for item in items):
        raise ValueError(f"events: every selector must be a str, got {items!r}")
    selection, problems = _selection.parse_selection(items)
    if problems:
        raise ValueError("events: " + "; ".join(problems))
    if not selection.selectors:
        raise ValueError("events: no selector given (use '@none' to select nothing)")
    return selection


def _positive_int_from_env(variable: str, raw: str | None, default: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        _warn(variable, raw, "not a whole number", str(default))
        return default
    if value <= 0:
        _warn(variable, raw, "must be greater than 0", str(default))
        return default
    return value


def _positive_int_from_arg(name: str, value: object) -> int:
    if type(value) is not int or value <= 0:
        raise ValueError(f"{name} must be an int greater than 0, got {value!r}")
    return value


_KEYWORDS = frozenset({"events", "max_value_length"})


def parse_config(environ: Mapping[str, str], **kwargs: Any) -> Config:
    """Build the configuration: keyword arguments win over ``environ``."""
    unknown = set(kwargs) - _KEYWORDS
    if unknown:
        raise ValueError(f"unknown keyword argument(s): {', '.join(sorted(unknown))}")
    if kwargs.get("events") is not None:
        selection = _events_from_arg(kwargs["events"])
    else:
        selection = _events_from_env(environ.get(OTEL_PYTHON_AUDITHOOK_EVENTS))
    if kwargs.get("max_value_length") is not None:
        max_len = _positive_int_from_arg("max_value_length", kwargs["max_value_length"])
    else:
        max_len = _positive_int_from_env(
            OTEL_PYTHON_AUDITHOOK_MAX_VALUE_LENGTH,
            environ.get(OTEL_PYTHON_AUDITHOOK_MAX_VALUE_LENGTH),
            DEFAULT_MAX_VALUE_LENGTH,
        )
    return Config(selection=selection, max_value_length=max_len)
