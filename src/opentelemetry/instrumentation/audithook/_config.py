"""Configuration: the environment, parsed once into a frozen object.

``parse_config(environ, **kwargs)`` is pure apart from logging: tests patch
``os.environ`` (or pass a dict) and call it.  With no
``OTEL_PYTHON_AUDITHOOK_*`` variable and no keyword (what most processes
have) it returns the defaults without parsing anything; otherwise
``_options`` parses each option, warning about environment values that do
not parse and raising ``ValueError`` for keyword arguments that do not.

``Config.rules_for(event)`` is the configuration's whole answer for one event
name; ``_hook.Planner`` builds the hook's per-name plan from it.  The first
part of the module is the selection model of ``OTEL_PYTHON_AUDITHOOK_EVENTS``
(its grammar is in ``_options``).
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from opentelemetry.instrumentation.audithook import _catalog, _mapping
from opentelemetry.instrumentation.audithook._catalog import CATALOG

if TYPE_CHECKING:
    # (selector or None for "every event", ratio); the first match wins.
    SampleRatios = tuple[tuple["Selector | None", float], ...]

# Our warnings: one logger, and every message names the package.  Python's
# last-resort handler prints only the message, and most applications print no
# logger name: without the prefix, a warning about an audit hook or an
# environment variable would not say where it came from.  (Here rather than in
# a module of its own: each module is a file to find, read and unmarshal at
# every instrumented start-up, issue 15.)
LOGGER_NAME = "opentelemetry.instrumentation.audithook"
PREFIX = "opentelemetry-instrumentation-audithook: "
logger = logging.getLogger(LOGGER_NAME)


def warning(message: str, *args: object, exc_info: BaseException | bool | None = None) -> None:
    logger.warning(PREFIX + message, *args, exc_info=exc_info)


# ----------------------------------------------------------------------
# The event selection of ``OTEL_PYTHON_AUDITHOOK_EVENTS`` (its grammar is in
# ``_options``).
#
# A selection is resolved once per distinct event name (the hook caches the
# answer), so the cost of matching is paid once, not per event.

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


def in_default(name: str) -> bool:
    """Whether the @default preset selects a name: a catalog event not left out.
    (Two lookups per name resolved, where a set of the 147 names cost every
    start-up its construction.)"""
    return name in CATALOG and name not in DEFAULT_EXCLUDED


PRESETS = ("@default", "@all", "@none")


def category_of(name: str) -> str:
    return _catalog.category(name) or UNKNOWN_CATEGORY


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
        if self.value == "@default" and in_default(name):
            return SELECTED_NON_STDLIB if name == "import" else SELECTED
        return NOT_SELECTED


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


DEFAULT_SELECTION = Selection((Selector("@default", False, "preset", "@default"),))
EMPTY_SELECTION = Selection(())
EMIT_SPAN_EVENT = "span_event"
EMIT_LOG = "log"
NO_SPAN_LOG = "log"
NO_SPAN_DROP = "drop"
# Events with no frame outside the standard library and this package: the
# interpreter's own work (OTEL_PYTHON_AUDITHOOK_HOUSEKEEPING).
HOUSEKEEPING_HIDE = "hide"
HOUSEKEEPING_SHOW = "show"

# A rate limit's token bucket holds this many seconds of its rate: a burst
# (start-up, a cold cache) passes whole, a steady load exports the rate.
BURST_SECONDS = 20.0

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
        "housekeeping",
        "baseline",
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
        housekeeping: str = HOUSEKEEPING_HIDE,
        # a report's JSON file: exported events outside it also raise an alert
        baseline: str | None = None,
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
    housekeeping: str
    baseline: str | None
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


_DEFAULT_CONFIG = Config()
# every variable of this package starts with it (environment_variables.py)
ENV_PREFIX = "OTEL_PYTHON_AUDITHOOK_"


def parse_config(environ: Mapping[str, str], **kwargs: Any) -> Config:
    """Build the configuration: keyword arguments win over ``environ``."""
    if not kwargs:
        # a plain loop: any() over a generator took twice as long
        for name in environ:
            if name.startswith(ENV_PREFIX):
                break
        else:
            return _DEFAULT_CONFIG
    from opentelemetry.instrumentation.audithook import _options

    return _options.parse(environ, **kwargs)
