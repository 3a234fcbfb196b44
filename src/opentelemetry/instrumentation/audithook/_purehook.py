"""The audit hook in pure Python: the twin of ``_speedups`` (C).

Same functions, same behaviour; used where the C extension could not be
built, or when ``OTEL_PYTHON_AUDITHOOK_PURE_PYTHON=true``.  The hot path is one
dict lookup: each event name maps to its mode (0 when it is not selected or
the hook is disarmed), so an unselected event costs one ``dict.get`` and one
truth test.
"""

from __future__ import annotations

import sys
from _thread import get_ident
from collections.abc import Callable
from typing import Any

MODE_FAST = 4
PROBE_EVENT = "opentelemetry.instrumentation.audithook.probe"

Resolve = Callable[[str], int]
Handle = Callable[[str, tuple[Any, ...]], None]

# Never rebound: the hook holds direct references to these.
_cache: dict[str, int] = {}
_busy: set[int] = set()


class _Flags:
    enabled = False
    installed = False
    probe_seen = False
    resolve: Resolve | None = None
    handle: Handle | None = None


def _make_hook() -> Callable[[str, tuple[Any, ...]], None]:
    get_mode = _cache.get
    busy = _busy
    flags = _Flags

    def audit_hook(event: str, args: tuple[Any, ...]) -> None:
        mode = get_mode(event)
        if mode == 0:
            return
        if mode is None and not flags.enabled:
            if event == PROBE_EVENT:
                flags.probe_seen = True
            return
        thread = get_ident()
        if thread in busy:
            return  # an event raised by our own work
        busy.add(thread)
        try:
            if mode is None:
                # First sight of this name: ask once.
                mode = flags.resolve(event)  # type: ignore[misc]
                if flags.enabled:
                    _cache[event] = mode
                if not mode:
                    return
            flags.handle(event, args)  # type: ignore[misc]
        except Exception:  # noqa: S110 - the handler reports its own errors; never the app's problem
            pass
        finally:
            busy.discard(thread)

    return audit_hook


def install(resolve: Resolve, handle: Handle) -> bool:
    """Install the hook once; False if an existing hook vetoed it."""
    _Flags.resolve = resolve
    _Flags.handle = handle
    if _Flags.installed:
        return True
    sys.addaudithook(_make_hook())
    # An existing hook may veto ours (sys.addaudithook then adds nothing and
    # says nothing): raise a probe event and see whether it arrives.
    _Flags.probe_seen = False
    sys.audit(PROBE_EVENT)
    _Flags.installed = _Flags.probe_seen
    return _Flags.installed


def installed() -> bool:
    return _Flags.installed


def set_enabled(flag: bool) -> None:
    _Flags.enabled = bool(flag) and _Flags.installed


def clear_cache() -> None:
    _cache.clear()


def set_fast_path(context_var: Any, suppress_keys: tuple[Any, ...], span_key: Any) -> None:
    """Only the C hook counts without calling Python; here the handler counts."""


def counts() -> dict[str, tuple[int, int]]:
    return {}


def reset_after_fork() -> None:
    _busy.clear()


def _install_bare_hook() -> None:
    sys.addaudithook(lambda event, args: None)
