"""The hook implementation: its contract, and which twin runs.

The C accelerator (``_speedups``) and its pure-Python twin (``_purehook``)
are interchangeable modules: ``Backend`` is the contract both satisfy.  mypy
checks it (``choose`` returns either module as a ``Backend``), and the tests
run ``mypy.stubtest`` on both against ``_speedups.pyi``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol

from opentelemetry.instrumentation.audithook import _purehook

Resolve = Callable[[str], int]
Handle = Callable[[str, tuple[Any, ...]], None]


class Backend(Protocol):
    """One process-wide audit hook, armed and disarmed from Python."""

    FLAG_SELECTED: int
    """The name is selected: the hook calls ``handle``."""
    FLAG_FAST: int
    """With no span in the context, the hook may count the event as
    ``no_span`` by itself (``set_fast_path``) instead of calling ``handle``."""
    FLAG_OVERFLOW: int
    """Counted in the overflow series, not under its name."""
    PROBE_EVENT: str
    """The event ``install`` raises to see whether the hook was added."""
    WALK_IS_SILENT: bool
    """Whether ``caller_location`` runs without raising audit events."""

    def install(self, resolve: Resolve, handle: Handle, /) -> bool | None:
        """Install the hook once: True, False if another hook refused it,
        None if another hook refused the probe event that would tell."""

    def installed(self) -> bool: ...

    def set_enabled(self, flag: bool, /) -> None: ...

    def clear_cache(self) -> None:
        """Forget every resolved name but the pinned ones."""

    def pin(self, name: str, flags: int, /) -> None:
        """Resolve a name ahead of its first event, for good."""

    def set_fast_path(
        self, context_var: Any, suppress_keys: tuple[Any, ...], span_key: Any, /
    ) -> None:
        """Where the current span is (``_sdk.Seam.fast_path_args``)."""

    def counts(self) -> dict[str | None, tuple[int, int, int]]:
        """(selected, no_span, other interpreter) counted by the hook itself."""

    def reset_after_fork(self) -> None: ...

    def caller_location(
        self, skip: dict[str, bool], classify: Callable[[str], bool], /
    ) -> tuple[str, int, str] | None:
        """(file, line, function) of the first frame whose file is not skipped."""

    def raised_by(self, tb: TracebackType | None, functions: tuple[Any, ...], /) -> bool:
        """Whether a frame of the traceback runs one of the functions' code."""


def _load_c() -> tuple[Backend | None, str]:
    try:
        from opentelemetry.instrumentation.audithook import _speedups
    except ImportError as exc:
        return None, str(exc) or type(exc).__name__
    return _speedups, ""


def choose(pure_python: bool) -> Backend:
    """The C hook where it loads, unless the pure one is asked for."""
    if not pure_python:
        c, _ = _load_c()
        if c is not None:
            return c
    return _purehook


def describe(pure_python: bool) -> str:
    """Which hook ``choose`` picks, and why, for people."""
    if pure_python:
        return "pure Python (OTEL_PYTHON_AUDITHOOK_PURE_PYTHON=true)"
    c, problem = _load_c()
    if c is None:
        return f"pure Python (the C accelerator does not load: {problem})"
    return "C accelerator"


def name(module: Backend) -> str:
    return "pure" if module is _purehook else "c"
