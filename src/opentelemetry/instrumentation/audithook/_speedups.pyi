# The twins' contract (_backend.Backend): every parameter is positional-only,
# as the C functions' are.
from collections.abc import Callable
from types import TracebackType
from typing import Any

FLAG_SELECTED: int
FLAG_NEED_SPAN: int
FLAG_NON_STDLIB: int
FLAG_OVERFLOW: int
FLAG_HANDLE_FIRST: int
COUNTS: tuple[str, ...]
PROBE_EVENT: str
WALK_IS_SILENT: bool

def install(
    resolve: Callable[[str], tuple[int, float]],
    handle: Callable[[str, tuple[Any, ...]], None],
    report: Callable[[str, Exception], None],
    /,
) -> bool | None: ...
def installed() -> bool: ...
def set_enabled(flag: bool, /) -> None: ...
def clear_cache() -> None: ...
def unsee() -> None: ...
def pin(name: str, flags: int, /) -> None: ...
def set_context(
    context_var: Any,
    suppress_keys: tuple[Any, ...],
    span_key: Any,
    non_recording: type | None,
    situation: Callable[[str], int],
    /,
) -> None: ...
def configure(
    rate_limit: float,
    rate_limit_total: float,
    stdlib: frozenset[str],
    burst_seconds: float,
    repeat_window: float,
    /,
) -> None: ...
def counts() -> dict[str | None, tuple[int, ...]]: ...
def reset_after_fork() -> None: ...
def caller_location(
    skip: dict[str, bool], classify: Callable[[str], bool], /
) -> tuple[str, int, str, str | None] | None: ...
def raised_by(tb: TracebackType | None, functions: tuple[Any, ...], /) -> bool: ...
def _install_bare_hook() -> None: ...
