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
    OTEL_PYTHON_AUDITHOOK_CAPTURE_RAW,
    OTEL_PYTHON_AUDITHOOK_CODE_LOCATION,
    OTEL_PYTHON_AUDITHOOK_EVENTS,
    OTEL_PYTHON_AUDITHOOK_MAX_VALUE_LENGTH,
    OTEL_PYTHON_AUDITHOOK_NO_SPAN,
    OTEL_PYTHON_AUDITHOOK_RATE_LIMIT,
    OTEL_PYTHON_AUDITHOOK_RATE_LIMIT_TOTAL,
    OTEL_PYTHON_AUDITHOOK_SAMPLE_RATIO,
    OTEL_PYTHON_AUDITHOOK_SPAN_EVENT_BUDGET,
)

_logger = logging.getLogger("opentelemetry.instrumentation.audithook")

DEFAULT_EVENTS = "@default"
DEFAULT_MAX_VALUE_LENGTH = 1024
DEFAULT_RATE_LIMIT = 100.0
DEFAULT_RATE_LIMIT_TOTAL = 1000.0
DEFAULT_SPAN_EVENT_BUDGET = 16
NO_SPAN_MODES = ("log", "drop")
DEFAULT_NO_SPAN = "log"
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")

# (selector or None for "every event", ratio); the first match wins.
SampleRatios = tuple[tuple[_selection.Selector | None, float], ...]

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
    sample_ratios: SampleRatios = ()
    rate_limit: float = DEFAULT_RATE_LIMIT
    rate_limit_total: float = DEFAULT_RATE_LIMIT_TOTAL
    span_event_budget: int = DEFAULT_SPAN_EVENT_BUDGET
    no_span: str = DEFAULT_NO_SPAN
    capture_raw: _selection.Selection = _selection.EMPTY_SELECTION
    # None: on with the C hook, off with the pure one (whose frame walk other
    # audit hooks would see)
    code_location: bool | None = None

    def sample_ratio(self, event: str) -> float:
        for selector, ratio in self.sample_ratios:
            if selector is None or selector.mode_for(event):
                return ratio
        return 1.0

    def raw(self, event: str) -> bool:
        return bool(self.capture_raw.mode(event))


def _split(value: str) -> list[str]:
    return [part for part in (p.strip() for p in value.split(",")) if part]


def _selection_from_env(var: str, raw: str | None, default: str) -> _selection.Selection:
    fallback = _selection.parse_selection(_split(default))[0]
    if raw is None:
        return fallback
    items = _split(raw)
    if not items:
        if raw.strip() == "" and default == "":
            return fallback
        _warn(var, raw, "no selector given", repr(default))
        return fallback
    selection, problems = _selection.parse_selection(items)
    if not selection.selectors:
        _warn(var, raw, "; ".join(problems), repr(default))
        return fallback
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


def _selection_from_arg(
    name: str, value: str | Iterable[str], allow_empty: bool
) -> _selection.Selection:
    items = _split(value) if isinstance(value, str) else list(value)
    if not all(isinstance(item, str) for item in items):
        raise ValueError(f"{name}: every selector must be a str, got {items!r}")
    selection, problems = _selection.parse_selection(items)
    if problems:
        raise ValueError(f"{name}: " + "; ".join(problems))
    if not selection.selectors and not allow_empty:
        raise ValueError(f"{name}: no selector given (use '@none' to select nothing)")
    return selection


def _number(text: str, integer: bool) -> float:
    """Parse a number; raise ValueError with a reason a user understands."""
    text = text.strip()
    value = float(int(text)) if integer else float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("not a finite number")
    return value


def _bounds(low: float, high: float | None) -> str:
    return f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"


def _bounded_from_env(
    var: str, raw: str | None, default: float, low: float, high: float | None, integer: bool
) -> float:
    if raw is None:
        return default
    try:
        value = _number(raw, integer)
    except ValueError:
        _warn(var, raw, "not a whole number" if integer else "not a number", str(default))
        return default
    if value < low or (high is not None and value > high):
        _warn(var, raw, f"must be {_bounds(low, high)}", str(default))
        return default
    return value


def _bounded_from_arg(
    name: str, value: object, low: float, high: float | None, integer: bool
) -> float:
    allowed = (int,) if integer else (int, float)
    if type(value) not in allowed:
        raise ValueError(f"{name} must be {'an int' if integer else 'a number'}, got {value!r}")
    number = float(value)  # type: ignore[arg-type]
    if number != number or number < low or (high is not None and number > high):
        raise ValueError(f"{name} must be {_bounds(low, high)}, got {value!r}")
    return number


def _parse_ratios(text: str) -> tuple[SampleRatios, list[str]]:
    """``0.25`` or ``selector=ratio,...``; bad pairs are reported and skipped."""
    items = _split(text)
    if len(items) == 1 and "=" not in items[0]:
        try:
            ratio = _number(items[0], integer=False)
        except ValueError:
            return (), [f"{items[0]!r} is not a number"]
        if not 0.0 <= ratio <= 1.0:
            return (), [f"{items[0]!r} is not a ratio from 0 to 1"]
        return ((None, ratio),), []
    pairs: list[tuple[_selection.Selector | None, float]] = []
    problems = []
    for item in items:
        selector_text, sep, ratio_text = item.rpartition("=")
        if not sep:
            problems.append(f"{item!r} is not selector=ratio")
            continue
        try:
            selector = _selection.parse_selector(selector_text)
            if selector.exclude:
                raise _selection.SelectorError(f"{selector_text!r}: '-' has no meaning here")
            ratio = _number(ratio_text, integer=False)
        except _selection.SelectorError as exc:
            problems.append(str(exc))
            continue
        except ValueError:
            problems.append(f"{ratio_text!r} is not a number")
            continue
        if not 0.0 <= ratio <= 1.0:
            problems.append(f"{ratio_text!r} is not a ratio from 0 to 1")
            continue
        pairs.append((selector, ratio))
    return tuple(pairs), problems


def _ratios_from_env(raw: str | None) -> SampleRatios:
    if raw is None:
        return ()
    var = OTEL_PYTHON_AUDITHOOK_SAMPLE_RATIO
    if not _split(raw):
        _warn(var, raw, "no ratio given", "'1'")
        return ()
    ratios, problems = _parse_ratios(raw)
    if problems:
        kept = ",".join(f"{s.text if s else ''}={r:g}".lstrip("=") for s, r in ratios) or "1"
        _warn(var, raw, "; ".join(problems), repr(kept))
    return ratios


def _ratios_from_arg(value: object) -> SampleRatios:
    if type(value) in (int, float):
        ratio = _bounded_from_arg("sample_ratio", value, 0.0, 1.0, integer=False)
        return ((None, ratio),)
    if not isinstance(value, str):
        raise ValueError(f"sample_ratio must be a number or a str, got {value!r}")
    ratios, problems = _parse_ratios(value)
    if problems or not ratios:
        raise ValueError("sample_ratio: " + ("; ".join(problems) or "nothing given"))
    return ratios


def _choice_from_env(var: str, raw: str | None, choices: tuple[str, ...], default: str) -> str:
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in choices:
        return value
    _warn(var, raw, f"must be one of {', '.join(choices)}", repr(default))
    return default


def _optional_bool_from_env(var: str, raw: str | None) -> bool | None:
    if raw is None or raw.strip().lower() in ("", "auto"):
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    _warn(var, raw, "must be true, false or auto", "auto")
    return None


_KEYWORDS = frozenset(
    {
        "events",
        "max_value_length",
        "sample_ratio",
        "rate_limit",
        "rate_limit_total",
        "span_event_budget",
        "no_span",
        "capture_raw",
        "code_location",
    }
)


def parse_config(environ: Mapping[str, str], **kwargs: Any) -> Config:
    """Build the configuration: keyword arguments win over ``environ``."""
    unknown = set(kwargs) - _KEYWORDS
    if unknown:
        raise ValueError(f"unknown keyword argument(s): {', '.join(sorted(unknown))}")
    arg = {k: v for k, v in kwargs.items() if v is not None}
    env = environ.get

    if "events" in arg:
        selection = _selection_from_arg("events", arg["events"], allow_empty=False)
    else:
        selection = _selection_from_env(
            OTEL_PYTHON_AUDITHOOK_EVENTS, env(OTEL_PYTHON_AUDITHOOK_EVENTS), DEFAULT_EVENTS
        )
    if "capture_raw" in arg:
        capture_raw = _selection_from_arg("capture_raw", arg["capture_raw"], allow_empty=True)
    else:
        capture_raw = _selection_from_env(
            OTEL_PYTHON_AUDITHOOK_CAPTURE_RAW, env(OTEL_PYTHON_AUDITHOOK_CAPTURE_RAW), ""
        )

    def bounded(name: str, var: str, default: float, low: float, integer: bool) -> float:
        if name in arg:
            return _bounded_from_arg(name, arg[name], low, None, integer)
        return _bounded_from_env(var, env(var), default, low, None, integer)

    max_len = bounded(
        "max_value_length",
        OTEL_PYTHON_AUDITHOOK_MAX_VALUE_LENGTH,
        DEFAULT_MAX_VALUE_LENGTH,
        1,
        True,
    )
    rate = bounded("rate_limit", OTEL_PYTHON_AUDITHOOK_RATE_LIMIT, DEFAULT_RATE_LIMIT, 0, False)
    rate_total = bounded(
        "rate_limit_total",
        OTEL_PYTHON_AUDITHOOK_RATE_LIMIT_TOTAL,
        DEFAULT_RATE_LIMIT_TOTAL,
        0,
        False,
    )
    budget = bounded(
        "span_event_budget",
        OTEL_PYTHON_AUDITHOOK_SPAN_EVENT_BUDGET,
        DEFAULT_SPAN_EVENT_BUDGET,
        0,
        True,
    )

    if "sample_ratio" in arg:
        ratios = _ratios_from_arg(arg["sample_ratio"])
    else:
        ratios = _ratios_from_env(env(OTEL_PYTHON_AUDITHOOK_SAMPLE_RATIO))

    if "no_span" in arg:
        if arg["no_span"] not in NO_SPAN_MODES:
            raise ValueError(f"no_span must be one of {NO_SPAN_MODES}, got {arg['no_span']!r}")
        no_span = arg["no_span"]
    else:
        var = OTEL_PYTHON_AUDITHOOK_NO_SPAN
        no_span = _choice_from_env(var, env(var), NO_SPAN_MODES, DEFAULT_NO_SPAN)

    if "code_location" in arg:
        if type(arg["code_location"]) is not bool:
            raise ValueError(f"code_location must be a bool, got {arg['code_location']!r}")
        code_location: bool | None = arg["code_location"]
    else:
        var = OTEL_PYTHON_AUDITHOOK_CODE_LOCATION
        code_location = _optional_bool_from_env(var, env(var))

    return Config(
        selection=selection,
        max_value_length=int(max_len),
        sample_ratios=ratios,
        rate_limit=rate,
        rate_limit_total=rate_total,
        span_event_budget=int(budget),
        no_span=no_span,
        capture_raw=capture_raw,
        code_location=code_location,
    )
