"""The event selector grammar of ``OTEL_PYTHON_AUDITHOOK_EVENTS``.

A selection is resolved once per distinct event name (the hook caches the
answer), so the cost of the grammar is paid once, not per event.
"""

from __future__ import annotations

import fnmatch
import string
from collections.abc import Iterable

from opentelemetry.instrumentation.audithook._catalog import CATALOG

# the event's attributes on every signal
EVENT_KEY = "python.audit.event"
CATEGORY_KEY = "python.audit.category"

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

DEFAULT_EVENTS = frozenset(name for name in CATALOG if name not in DEFAULT_EXCLUDED)

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
