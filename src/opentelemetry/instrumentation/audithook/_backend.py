"""The contract both hook implementations satisfy, for mypy only.

``_hook.choose`` returns the C accelerator (``_speedups``) or its pure-Python
twin (``_purehook``) as a ``Backend``; the tests run ``mypy.stubtest`` on
both against ``_speedups.pyi``.  Nothing imports this module at run time
(``if TYPE_CHECKING``): defining a Protocol class, even unmarshalling one,
costs every instrumented start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol

Resolve = Callable[[str], tuple[int, float]]
Handle = Callable[[str, tuple[Any, ...]], None]
Report = Callable[[str, Exception], None]
Situation = Callable[[str], int]


class Backend(Protocol):
    """One process-wide audit hook, armed and disarmed from Python.

    For a selected name, the hook makes every decision that needs no span
    object itself, in this order, counting each drop (``counts``): an import
    of a standard-library module (``FLAG_NON_STDLIB``: neither recorded nor
    counted), suppression (not counted), then counted as selected, sampled
    out, no span (``FLAG_NEED_SPAN``), a repeat of an event exported within
    the repeat window, the name's rate limit, the process's
    rate limit.  Only the rest reach ``handle``."""

    __name__: str
    FLAG_SELECTED: int
    """The name is selected."""
    FLAG_NEED_SPAN: int
    """With no recording span, the event is dropped as ``no_span``."""
    FLAG_NON_STDLIB: int
    """An import event: imports of ``configure``'s standard-library modules
    are left out."""
    FLAG_OVERFLOW: int
    """Counted in the overflow series, not under its name."""
    FLAG_HANDLE_FIRST: int
    """The first argument is a handle (a socket, a connection): a repeat is
    told by its type, not its value."""
    COUNTS: tuple[str, ...]
    """What ``counts`` reports per name, in order: ``selected`` then the
    drop reasons."""
    PROBE_EVENT: str
    """The event ``install`` raises to see whether the hook was added."""
    WALK_IS_SILENT: bool
    """Whether ``caller_location`` runs without raising audit events."""

    def install(self, resolve: Resolve, handle: Handle, report: Report, /) -> bool | None:
        """Install the hook once: True, False if another hook refused it,
        None if another hook refused the probe event that would tell.
        ``resolve`` gives a name's (flags, sample ratio), once per name;
        ``report`` is told of an error in the hook's own Python code (the
        pure hook's decisions), and raises what is not ours."""

    def installed(self) -> bool: ...

    def set_enabled(self, flag: bool, /) -> None: ...

    def clear_cache(self) -> None:
        """Forget every resolved name but the pinned ones (counts stay)."""

    def unsee(self) -> None:
        """The event being handled was not exported after all (dropped by
        the handler): its repeats are not repeats of an exported event."""

    def pin(self, name: str, flags: int, /) -> None:
        """Resolve a name ahead of its first event, for good."""

    def set_context(
        self,
        context_var: Any,
        suppress_keys: tuple[Any, ...],
        span_key: Any,
        non_recording: type | None,
        situation: Situation,
        /,
    ) -> None:
        """Where suppression and the span are (``_emit.Seam.context_args``);
        with ``context_var`` None, the hook asks ``situation(event)``."""

    def configure(
        self,
        rate_limit: float,
        rate_limit_total: float,
        stdlib: frozenset[str],
        burst_seconds: float,
        repeat_window: float,
        /,
    ) -> None:
        """The rate limits in events per second (0: none), the standard-library
        module names, how many seconds of its rate each token bucket holds
        (at least one event), and for how many seconds an exported event
        makes its repeats drop (0: never); the buckets start full again and
        no repeat is remembered."""

    def counts(self) -> dict[str | None, tuple[int, ...]]:
        """Per name (None: the overflow series), the counts named by
        ``COUNTS``."""

    def reset_after_fork(self) -> None:
        """The child's counts start at zero and its rate limits full."""

    def caller_location(
        self, skip: dict[str, bool], classify: Callable[[str], bool], /
    ) -> tuple[str, int, str, str | None] | None:
        """(file, line, function) of the first frame whose file is not
        skipped, and the module whose import is running it (or None)."""

    def raised_by(self, tb: TracebackType | None, functions: tuple[Any, ...], /) -> bool:
        """Whether a frame of the traceback runs one of the functions' code."""
