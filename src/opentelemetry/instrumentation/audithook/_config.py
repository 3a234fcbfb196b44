"""Configuration: the environment, parsed once into a frozen object.

``parse_config(environ, **kwargs)`` is pure apart from logging: tests patch
``os.environ`` (or pass a dict) and call it.  Every option is one row of
``OPTIONS``: its ``Config`` field, its keyword argument, its environment
variable, and how each form is parsed.  Environment values that do not parse
are logged once, as a warning naming the variable, the value and the
fallback; keyword arguments that do not parse raise ``ValueError``.

``Config.rules_for(event)`` is the configuration's whole answer for one event
name; ``_hook.Planner`` builds the hook's per-name plan from it.

The first part of the module is the selector grammar of
``OTEL_PYTHON_AUDITHOOK_EVENTS`` (and ``..._CAPTURE_RAW``).
"""

from __future__ import annotations

import fnmatch
import string
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from opentelemetry.instrumentation.audithook import _log, _mapping
from opentelemetry.instrumentation.audithook._catalog import CATALOG
from opentelemetry.instrumentation.audithook.environment_variables import (
    OTEL_PYTHON_AUDITHOOK_CAPTURE_RAW,
    OTEL_PYTHON_AUDITHOOK_CODE_LOCATION,
    OTEL_PYTHON_AUDITHOOK_EMIT,
    OTEL_PYTHON_AUDITHOOK_EVENTS,
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
    # (selector or None for "every event", ratio); the first match wins.
    SampleRatios = tuple[tuple["Selector | None", float], ...]

# ----------------------------------------------------------------------
# The event selector grammar of ``OTEL_PYTHON_AUDITHOOK_EVENTS``.
#
# A selection is resolved once per distinct event name (the hook caches the
# answer), so the cost of the grammar is paid once, not per event.

UNKNOWN_CATEGORY = "other"
# The documented categories (OTEL_PYTHON_AUDITHOOK_EVENTS); the catalog
# generator gives each event one of them, and a test holds it to this list.
CATEGORIES = frozenset(
    {"file", "network", "process", "code", "native", "os", "sqlite", "windows", "runtime"}
    | {UNKNOWN_CATEGORY}
)

# Selection modes: what the hook does with an event.
NOT_SELECTED = 0
SELECTED = 1
# Selected, except imports of standard-library modules (the @default preset's
# view of ``import``: stdlib imports are start-up noise, third-party ones are not).
SELECTED_NON_STDLIB = 2

# Left out of @default, and why.  Each is either raised at a rate that makes a
# span event per occurrence useless (and costly), or carries nothing a security
# or operations engineer acts on.
DEFAULT_EXCLUDED: dict[str, str] = {
    "builtins.id": "raised by every id() call; copy.deepcopy and pickle call it per object",
    "object.__getattr__": "raised for guarded attribute reads in the stdlib, very hot",
    "object.__setattr__": "raised for guarded attribute writes, very hot",
    "object.__delattr__": "raised for guarded attribute deletes, very hot",
    "sys._getframe": "logging, warnings, typing and traceback call it all the time",
    "sys._getframemodulename": "called by enum and typing on every class creation",
    "sys._current_frames": "profilers and APM samplers poll it many times a second",
    "sys._current_exceptions": "profilers and APM samplers poll it",
    "marshal.loads": "the import system unmarshals every .pyc through it",
    "marshal.load": "the import system and tooling, same as marshal.loads",
    "marshal.dumps": "written by every .pyc compile",
    "code.__new__": "code.replace() and tooling create code objects in bulk",
    "function.__new__": "serialisation libraries (cloudpickle) build functions in bulk",
    "array.__new__": "numeric code builds arrays in loops",
    "gc.get_objects": "debug tooling; no security meaning",
    "gc.get_referents": "debug tooling; no security meaning",
    "gc.get_referrers": "debug tooling; no security meaning",
    "cpython._PySys_ClearAuditHooks": "raised at finalization, when nothing can be exported",
    "sqlite3.connect/handle": "a raw pointer, paired with sqlite3.connect which is kept",
    "ctypes.addressof": "per-call ctypes plumbing; dlopen/dlsym show what was loaded",
    "ctypes.call_function": "every foreign call; dlopen/dlsym show what was loaded",
    "ctypes.cdata": "per-object ctypes plumbing",
    "ctypes.cdata/buffer": "per-object ctypes plumbing",
    "ctypes.create_string_buffer": "per-buffer ctypes plumbing",
    "ctypes.create_unicode_buffer": "per-buffer ctypes plumbing",
    "ctypes.string_at": "per-read ctypes plumbing",
    "ctypes.wstring_at": "per-read ctypes plumbing",
    "ctypes.get_errno": "per-call ctypes plumbing",
    "ctypes.set_errno": "per-call ctypes plumbing",
    "ctypes.get_last_error": "per-call ctypes plumbing",
    "ctypes.set_last_error": "per-call ctypes plumbing",
    "ctypes.set_exception": "per-call ctypes plumbing",
    "fcntl.fcntl": "every non-blocking socket and subprocess pipe set-up",
    "fcntl.ioctl": "terminal and device plumbing, frequent",
    "socket.sendto": "one per datagram: statsd-style clients send thousands a second",
    "socket.sendmsg": "one per message, same as socket.sendto",
    "http.client.send": "one per write of a request; http.client.connect shows the host",
    "smtplib.send": "one per SMTP command; smtplib.connect shows the host",
    "imaplib.send": "one per IMAP command; imaplib.open shows the host",
    "poplib.putline": "one per POP3 command; poplib.connect shows the host",
    "nntplib.putline": "one per NNTP command; nntplib.connect shows the host",
    "ftplib.sendcmd": "one per FTP command; ftplib.connect shows the host",
    "telnetlib.Telnet.write": "one per write; telnetlib.Telnet.open shows the host",
    "syslog.syslog": "one per log message",
    "time.sleep": "every sleep (3.13+): polling and retry loops call it many times a second",
    "sys.set_asyncgen_hook_firstiter": "set by asyncio each time an event loop runs",
    "sys.set_asyncgen_hook_finalizer": "set by asyncio each time an event loop runs",
    "sys.set_asyncgen_hooks_firstiter": "the tables' spelling of sys.set_asyncgen_hook_firstiter",
    "sys.set_asyncgen_hooks_finalizer": "the tables' spelling of sys.set_asyncgen_hook_finalizer",
}

DEFAULT_EVENTS = frozenset(CATALOG).difference(DEFAULT_EXCLUDED)

PRESETS = ("@default", "@all", "@none")

# a set, not a regular expression: compiling one was a tenth of this module's import
_NAME_CHARS = frozenset(string.ascii_letters + string.digits + "_.*?[]!/:-")


class SelectorError(ValueError):
    """A selector that cannot mean anything; the message says why."""


def category_of(name: str) -> str:
    entry = CATALOG.get(name)
    return entry[1] if entry is not None else UNKNOWN_CATEGORY


# Plain classes with __slots__, not NamedTuple: a NamedTuple costs about as
# much to define as a whole module takes to import (start-up, issue 15).
class Selector:
    __slots__ = ("text", "exclude", "kind", "value")

    def __init__(self, text: str, exclude: bool, kind: str, value: str) -> None:
        self.text = text
        self.exclude = exclude
        self.kind = kind  # "name", "glob", "category" or "preset"
        self.value = value

    def __repr__(self) -> str:
        return f"Selector({self.text!r})"

    def mode_for(self, name: str) -> int:
        """The mode this selector gives ``name``, or NOT_SELECTED if it does not match."""
        if self.kind == "name":
            return SELECTED if name == self.value else NOT_SELECTED
        if self.kind == "glob":
            return SELECTED if fnmatch.fnmatchcase(name, self.value) else NOT_SELECTED
        if self.kind == "category":
            return SELECTED if category_of(name) == self.value else NOT_SELECTED
        if self.value == "@all":
            return SELECTED
        if self.value == "@default" and name in DEFAULT_EVENTS:
            return SELECTED_NON_STDLIB if name == "import" else SELECTED
        return NOT_SELECTED

    def matches_catalog(self) -> bool:
        return any(self.mode_for(name) for name in CATALOG)


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


class Selection:
    """An ordered list of selectors, applied left to right."""

    __slots__ = ("selectors",)

    def __init__(self, selectors: tuple[Selector, ...]) -> None:
        self.selectors = selectors

    def __repr__(self) -> str:
        return f"Selection({self.text!r})"

    @property
    def text(self) -> str:
        return ",".join(s.text for s in self.selectors)

    def mode(self, name: str) -> int:
        mode = NOT_SELECTED
        for selector in self.selectors:
            matched = selector.mode_for(name)
            if matched:
                mode = NOT_SELECTED if selector.exclude else matched
        return mode

    def catalog_events(self) -> list[str]:
        """The catalog events this selection records (imports counted once)."""
        return [name for name in CATALOG if self.mode(name)]


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
        if s.kind in ("name", "glob") and not s.matches_catalog()
    ]


DEFAULT_SELECTION = parse_selection(["@default"])[0]
EMPTY_SELECTION = Selection(())
EMIT_SPAN_EVENT = "span_event"
EMIT_LOG = "log"
NO_SPAN_LOG = "log"
NO_SPAN_DROP = "drop"

# A rate limit's token bucket holds this many seconds of its rate: a burst
# (start-up, a cold cache) passes whole, a steady load exports the rate.
BURST_SECONDS = 20.0

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")

# The records here are plain classes with __slots__: a NamedTuple costs
# about as much to define as a whole module takes to import, and this
# module is imported at every start-up under opentelemetry-instrument.


class Rules:
    """What the configuration says about one selected event name."""

    __slots__ = ("event", "selected", "sample_ratio", "raw")

    def __init__(self, event: str, selected: int, sample_ratio: float, raw: bool) -> None:
        self.event = event
        # SELECTED, or SELECTED_NON_STDLIB (``import`` in @default)
        self.selected = selected
        self.sample_ratio = sample_ratio
        # exported without redaction (OTEL_PYTHON_AUDITHOOK_CAPTURE_RAW)
        self.raw = raw

    def argument_keys(self) -> _mapping.ArgumentKeys:
        """(attribute key, treatment) for each argument the catalog names
        (``Plan`` makes them when the name's first event is exported: most
        names are resolved, few exported)."""
        return _mapping.argument_keys(self.event, raw=self.raw)


class Config:
    """Everything the hook needs to know, fixed at instrument() time; frozen.

    The defaults here are the documented defaults of the variables."""

    __slots__ = (
        "selection",
        "max_value_length",
        "sample_ratios",
        "rate_limit",
        "rate_limit_total",
        "repeat_window",
        "span_event_budget",
        "no_span",
        "emit",
        "capture_raw",
        "code_location",
        "pure_python",
    )

    def __init__(
        self,
        selection: Selection = DEFAULT_SELECTION,
        max_value_length: int = 1024,
        sample_ratios: SampleRatios = (),
        rate_limit: float = 5.0,
        rate_limit_total: float = 100.0,
        repeat_window: float = 60.0,
        span_event_budget: int = 16,
        no_span: str = NO_SPAN_LOG,
        emit: str = EMIT_SPAN_EVENT,
        capture_raw: Selection = EMPTY_SELECTION,
        # None: on with the C hook, off with the pure one (whose frame walk
        # other audit hooks would see)
        code_location: bool | None = None,
        # read when the hook is installed, the first instrument() of the process
        pure_python: bool = False,
    ) -> None:
        given = locals()
        for name in Config.__slots__:
            object.__setattr__(self, name, given[name])

    selection: Selection
    max_value_length: int
    sample_ratios: SampleRatios
    rate_limit: float
    rate_limit_total: float
    repeat_window: float
    span_event_budget: int
    no_span: str
    emit: str
    capture_raw: Selection
    code_location: bool | None
    pure_python: bool

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"Config is frozen: {name!r} cannot be set")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"Config is frozen: {name!r} cannot be deleted")

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in Config.__slots__)
        return f"Config({fields})"

    def rules_for(self, event: str) -> Rules | None:
        """The rules for one event name; None when it is not selected."""
        selected = self.selection.mode(event)
        if not selected:
            return None
        ratio = 1.0
        for selector, value in self.sample_ratios:
            if selector is None or selector.mode_for(event):
                ratio = value
                break
        raw = bool(self.capture_raw.mode(event))
        return Rules(event, selected, ratio, raw)


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


def _warn(variable: str, value: str, problem: str, fallback: str) -> None:
    key = (variable, value, problem)
    if key in _warned:
        return
    _warned.add(key)
    _log.warning("%s=%r: %s; using %s instead", variable, value, problem, fallback)


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


def _option(
    field: str,
    variable: str,
    parsers: tuple[Callable[..., Any], Callable[..., Any]],
    keyword: str | None = "",
) -> Option:
    return Option(field, variable, field if keyword == "" else keyword, *parsers)


_DEFAULT_CONFIG = Config()
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
    # the hook is installed once per process: no keyword could change it later
    _option("pure_python", OTEL_PYTHON_AUDITHOOK_PURE_PYTHON, _boolean(auto=False),
            keyword=None),
)  # fmt: skip

KEYWORDS: dict[str, Option] = {o.keyword: o for o in OPTIONS if o.keyword is not None}


def parse_config(environ: Mapping[str, str], **kwargs: Any) -> Config:
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
    return Config(**values)
