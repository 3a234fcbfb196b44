"""The options' parsers: environment values and keyword arguments into a Config.

Imported by ``_config.parse_config`` only when an ``OTEL_PYTHON_AUDITHOOK_*``
variable is set or ``instrument()`` is given a keyword: with none, the
defaults need no parsing, and a module not imported is a measurable part of
every instrumented start-up (issue 15).

Every option is one row of ``OPTIONS``: its ``Config`` field, its keyword
argument, its environment variable, and how each form is parsed.
Environment values that do not parse are logged once, as a warning naming
the variable, the value and the fallback; keyword arguments that do not
parse raise ``ValueError``.  The first part of the module is the selector
grammar of ``OTEL_PYTHON_AUDITHOOK_EVENTS`` (and ``..._CAPTURE_RAW``).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry.instrumentation.audithook import _config
from opentelemetry.instrumentation.audithook._catalog import CATALOG
from opentelemetry.instrumentation.audithook._config import (
    _DEFAULT_CONFIG,
    CATEGORIES,
    EMIT_LOG,
    EMIT_SPAN_EVENT,
    ENV_PREFIX,
    HOUSEKEEPING_HIDE,
    HOUSEKEEPING_SHOW,
    NO_SPAN_DROP,
    NO_SPAN_LOG,
    PRESETS,
    Config,
    Selection,
    Selector,
)
from opentelemetry.instrumentation.audithook.environment_variables import (
    OTEL_PYTHON_AUDITHOOK_BASELINE,
    OTEL_PYTHON_AUDITHOOK_CAPTURE_RAW,
    OTEL_PYTHON_AUDITHOOK_CODE_LOCATION,
    OTEL_PYTHON_AUDITHOOK_EMIT,
    OTEL_PYTHON_AUDITHOOK_EVENTS,
    OTEL_PYTHON_AUDITHOOK_HOUSEKEEPING,
    OTEL_PYTHON_AUDITHOOK_MAX_VALUE_LENGTH,
    OTEL_PYTHON_AUDITHOOK_NO_SPAN,
    OTEL_PYTHON_AUDITHOOK_PURE_PYTHON,
    OTEL_PYTHON_AUDITHOOK_RATE_LIMIT,
    OTEL_PYTHON_AUDITHOOK_RATE_LIMIT_TOTAL,
    OTEL_PYTHON_AUDITHOOK_REPEAT_WINDOW,
    OTEL_PYTHON_AUDITHOOK_SAMPLE_RATIO,
    OTEL_PYTHON_AUDITHOOK_SPAN_EVENT_BUDGET,
)

if TYPE_CHECKING:
    from opentelemetry.instrumentation.audithook._config import SampleRatios

# a set, not a regular expression: compiling one was a tenth of this module's import
_NAME_CHARS = frozenset(string.ascii_letters + string.digits + "_.*?[]!/:-")


class SelectorError(ValueError):
    """A selector that cannot mean anything; the message says why."""


def parse_selector(text: str) -> Selector:
    """Parse one selector; raise SelectorError when it cannot match anything valid."""
    item = text.strip()
    exclude = item.startswith("-")
    body = item[1:].strip() if exclude else item
    if not body:
        raise SelectorError(f"empty selector {text!r}")
    if body.startswith("@"):
        if body in PRESETS:
            return Selector(item, exclude, "preset", body)
        if body[1:] in CATEGORIES:
            return Selector(item, exclude, "category", body[1:])
        known = ", ".join([*PRESETS, *sorted("@" + c for c in CATEGORIES)])
        raise SelectorError(f"unknown category or preset {body!r} (known: {known})")
    if not _NAME_CHARS.issuperset(body):
        raise SelectorError(f"{body!r} is not an event name or glob")
    if any(ch in body for ch in "*?["):
        if "[" in body and "]" not in body.split("[", 1)[1]:
            raise SelectorError(f"unclosed '[' in glob {body!r}")
        return Selector(item, exclude, "glob", body)
    return Selector(item, exclude, "name", body)


def parse_selection(items: Iterable[str]) -> tuple[Selection, list[str]]:
    """Parse selectors, skipping the bad ones; return the selection and the problems."""
    selectors = []
    problems = []
    for item in items:
        if not item.strip():
            continue
        try:
            selector = parse_selector(item)
        except SelectorError as exc:
            problems.append(str(exc))
            continue
        selectors.append(selector)
    return Selection(tuple(selectors)), problems


def unmatched(selection: Selection) -> list[str]:
    """Selectors that match no catalog event: kept (a library may raise such
    events with sys.audit), but worth telling the user about, since a typo looks the same."""
    return [
        s.text
        for s in selection.selectors
        if s.kind in ("name", "glob") and not any(s.mode_for(name) for name in CATALOG)
    ]


# --- one option: parse from the environment (warn, fall back) or a keyword (raise) ---------


class Option:
    __slots__ = ("field", "variable", "keyword", "from_env", "from_arg")

    def __init__(
        self,
        field: str,
        variable: str,
        keyword: str | None,
        from_env: Callable[[str, str, Any], Any],
        from_arg: Callable[[str, Any], Any],
    ) -> None:
        self.field = field  # the Config field
        self.variable = variable
        self.keyword = keyword  # the instrument() keyword; None: the environment only
        # (variable, value, default) -> the value, or the default after a warning
        self.from_env = from_env
        # (keyword, value) -> the value; raises ValueError
        self.from_arg = from_arg


# A process reads its environment a few times at most (instrument() again after
# uninstrument()); the same bad value is reported once, not at every re-arm.
_warned: set[tuple[str, str, str]] = set()


def _first_time(key: tuple[str, str, str]) -> bool:
    if key in _warned:
        return False
    _warned.add(key)
    return True


def _warn(variable: str, value: str, problem: str, fallback: str) -> None:
    if _first_time((variable, value, problem)):
        _config.warning("%s=%r: %s; using %s instead", variable, value, problem, fallback)


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def _split(value: str) -> list[str]:
    return [part for part in (p.strip() for p in value.split(",")) if part]


def _selectors(allow_empty: bool) -> tuple[Callable[..., Any], Callable[..., Any]]:
    def from_env(var: str, raw: str, default: Selection) -> Selection:
        items = _split(raw)
        fallback = repr(default.text)
        if not items:
            if not raw.strip() and allow_empty:
                return default
            _warn(var, raw, "no selector given", fallback)
            return default
        selection, problems = parse_selection(items)
        if not selection.selectors:
            _warn(var, raw, "; ".join(problems), fallback)
            return default
        if problems:
            _warn(var, raw, "; ".join(problems), repr(selection.text))
        for text in unmatched(selection):
            _warn(
                var,
                raw,
                f"{text!r} matches no event in the audit events table",
                "it as given, for events that libraries raise with sys.audit()",
            )
        return selection

    def from_arg(name: str, value: str | Iterable[str]) -> Selection:
        items = _split(value) if isinstance(value, str) else list(value)
        if not all(isinstance(item, str) for item in items):
            raise ValueError(f"{name}: every selector must be a str, got {items!r}")
        selection, problems = parse_selection(items)
        if problems:
            raise ValueError(f"{name}: " + "; ".join(problems))
        if not selection.selectors and not allow_empty:
            raise ValueError(f"{name}: no selector given (use '@none' to select nothing)")
        return selection

    return from_env, from_arg


def _number(text: str, integer: bool) -> float:
    """Parse a number; raise ValueError with a reason a user understands."""
    text = text.strip()
    value = float(int(text)) if integer else float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("not a finite number")
    return value


def _bounds(low: float, high: float | None) -> str:
    return f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"


def _bounded(
    low: float, integer: bool, high: float | None = None
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    cast = int if integer else float

    def from_env(var: str, raw: str, default: float) -> float:
        try:
            value = _number(raw, integer)
        except ValueError:
            _warn(var, raw, "not a whole number" if integer else "not a number", str(default))
            return default
        if value < low or (high is not None and value > high):
            _warn(var, raw, f"must be {_bounds(low, high)}", str(default))
            return default
        return cast(value)

    def from_arg(name: str, value: object) -> float:
        allowed = (int,) if integer else (int, float)
        if type(value) not in allowed:
            raise ValueError(f"{name} must be {'an int' if integer else 'a number'}, got {value!r}")
        number = float(value)  # type: ignore[arg-type]
        if number != number or number < low or (high is not None and number > high):
            raise ValueError(f"{name} must be {_bounds(low, high)}, got {value!r}")
        return cast(number)

    return from_env, from_arg


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
    pairs: list[tuple[Selector | None, float]] = []
    problems = []
    for item in items:
        selector_text, sep, ratio_text = item.rpartition("=")
        if not sep:
            problems.append(f"{item!r} is not selector=ratio")
            continue
        try:
            selector = parse_selector(selector_text)
            if selector.exclude:
                raise SelectorError(f"{selector_text!r}: '-' has no meaning here")
            ratio = _number(ratio_text, integer=False)
        except SelectorError as exc:
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


def _ratios_from_env(var: str, raw: str, default: SampleRatios) -> SampleRatios:
    if not _split(raw):
        _warn(var, raw, "no ratio given", "'1'")
        return default
    ratios, problems = _parse_ratios(raw)
    if problems:
        kept = ",".join(f"{s.text if s else ''}={r:g}".lstrip("=") for s, r in ratios) or "1"
        _warn(var, raw, "; ".join(problems), repr(kept))
    return ratios


def _ratios_from_arg(name: str, value: object) -> SampleRatios:
    if type(value) in (int, float):
        return ((None, _bounded(0.0, integer=False, high=1.0)[1](name, value)),)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a number or a str, got {value!r}")
    ratios, problems = _parse_ratios(value)
    if problems or not ratios:
        raise ValueError(f"{name}: " + ("; ".join(problems) or "nothing given"))
    return ratios


def _choice(*choices: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    def from_env(var: str, raw: str, default: str) -> str:
        value = raw.strip().lower()
        if value in choices:
            return value
        _warn(var, raw, f"must be one of {', '.join(choices)}", repr(default))
        return default

    def from_arg(name: str, value: object) -> str:
        if type(value) is not str or value not in choices:
            raise ValueError(f"{name} must be one of {choices}, got {value!r}")
        return value

    return from_env, from_arg


def _boolean(auto: bool) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """true/false (and with ``auto``, auto or empty: None)."""
    accepted = "true, false or auto" if auto else "true or false"

    def from_env(var: str, raw: str, default: bool | None) -> bool | None:
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE or (not value and not auto):
            return False
        if auto and value in ("", "auto"):
            return None
        _warn(var, raw, f"must be {accepted}", "auto" if default is None else str(default).lower())
        return default

    def from_arg(name: str, value: object) -> bool:
        if type(value) is not bool:
            raise ValueError(f"{name} must be a bool, got {value!r}")
        return value

    return from_env, from_arg


def _path() -> tuple[Callable[..., Any], Callable[..., Any]]:
    """A file's path; empty means none.  (Whether the file reads is found
    out where it is read, at instrument().)"""

    def from_env(var: str, raw: str, default: str | None) -> str | None:
        return raw.strip() or None

    def from_arg(name: str, value: object) -> str:
        if type(value) is not str or not value.strip():
            raise ValueError(f"{name} must be a non-empty str (a file's path), got {value!r}")
        return value.strip()

    return from_env, from_arg


def _option(
    field: str,
    variable: str,
    parsers: tuple[Callable[..., Any], Callable[..., Any]],
    keyword: str | None = "",
) -> Option:
    return Option(field, variable, field if keyword == "" else keyword, *parsers)


_DEFAULTS: dict[str, Any] = {name: getattr(_DEFAULT_CONFIG, name) for name in Config.__slots__}

OPTIONS: tuple[Option, ...] = (
    _option("selection", OTEL_PYTHON_AUDITHOOK_EVENTS, _selectors(allow_empty=False),
            keyword="events"),
    _option("sample_ratios", OTEL_PYTHON_AUDITHOOK_SAMPLE_RATIO,
            (_ratios_from_env, _ratios_from_arg), keyword="sample_ratio"),
    _option("rate_limit", OTEL_PYTHON_AUDITHOOK_RATE_LIMIT, _bounded(0, integer=False)),
    _option("repeat_window", OTEL_PYTHON_AUDITHOOK_REPEAT_WINDOW,
            _bounded(0, integer=False, high=86400)),
    _option("rate_limit_total", OTEL_PYTHON_AUDITHOOK_RATE_LIMIT_TOTAL,
            _bounded(0, integer=False)),
    _option("span_event_budget", OTEL_PYTHON_AUDITHOOK_SPAN_EVENT_BUDGET,
            _bounded(0, integer=True)),
    _option("max_value_length", OTEL_PYTHON_AUDITHOOK_MAX_VALUE_LENGTH,
            _bounded(1, integer=True)),
    _option("emit", OTEL_PYTHON_AUDITHOOK_EMIT, _choice(EMIT_SPAN_EVENT, EMIT_LOG)),
    _option("no_span", OTEL_PYTHON_AUDITHOOK_NO_SPAN, _choice(NO_SPAN_LOG, NO_SPAN_DROP)),
    _option("capture_raw", OTEL_PYTHON_AUDITHOOK_CAPTURE_RAW, _selectors(allow_empty=True)),
    _option("code_location", OTEL_PYTHON_AUDITHOOK_CODE_LOCATION, _boolean(auto=True)),
    _option("housekeeping", OTEL_PYTHON_AUDITHOOK_HOUSEKEEPING,
            _choice(HOUSEKEEPING_HIDE, HOUSEKEEPING_SHOW)),
    _option("baseline", OTEL_PYTHON_AUDITHOOK_BASELINE, _path()),
    # the hook is installed once per process: no keyword could change it later
    _option("pure_python", OTEL_PYTHON_AUDITHOOK_PURE_PYTHON, _boolean(auto=False),
            keyword=None),
)  # fmt: skip

KEYWORDS: dict[str, Option] = {o.keyword: o for o in OPTIONS if o.keyword is not None}
_VARIABLES = frozenset(o.variable for o in OPTIONS)


def parse(environ: Mapping[str, str], **kwargs: Any) -> Config:
    """Build the configuration: keyword arguments win over ``environ``."""
    unknown = set(kwargs) - set(KEYWORDS)
    if unknown:
        raise ValueError(f"unknown keyword argument(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for option in OPTIONS:
        keyword = option.keyword
        given = kwargs.get(keyword) if keyword is not None else None
        if keyword is not None and given is not None:
            values[option.field] = option.from_arg(keyword, given)
            continue
        raw = environ.get(option.variable)
        if raw is not None:
            values[option.field] = option.from_env(option.variable, raw, _DEFAULTS[option.field])
    for variable in sorted(k for k in environ if k.startswith(ENV_PREFIX) and k not in _VARIABLES):
        # a typo would otherwise leave its option at the default without a word
        if _first_time((variable, "", "unknown")):
            _config.warning(
                "%s is not a variable of this version (misspelt?); it is ignored. Known: %s",
                variable,
                ", ".join(sorted(_VARIABLES)),
            )
    return Config(**values)
