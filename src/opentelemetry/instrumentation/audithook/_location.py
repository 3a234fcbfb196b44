"""The application's line behind an audit event.

Walks the stack from the hook outwards to the first frame that is neither the
standard library nor this package.  ``sys._getframe`` raises its own audit
event; the hook ignores it (it is not selected by default, and the per-thread
guard drops it when it is), so the walk never records itself.
"""

from __future__ import annotations

import os
import sys
import sysconfig

from opentelemetry.semconv.attributes import code_attributes

FILE_KEY = code_attributes.CODE_FILE_PATH
LINE_KEY = code_attributes.CODE_LINE_NUMBER
FUNCTION_KEY = code_attributes.CODE_FUNCTION_NAME

_CACHE_LIMIT = 4096


def _prefixes(*names: str) -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple(
        sorted({os.path.join(os.path.realpath(paths[n]), "") for n in names if n in paths})
    )


_STDLIB = _prefixes("stdlib", "platstdlib")
_SITE = _prefixes("purelib", "platlib")
_OURS = os.path.join(os.path.dirname(os.path.realpath(__file__)), "")

_skip: dict[str, bool] = {}


def _should_skip(filename: str) -> bool:
    if filename.startswith("<frozen "):
        return True
    path = os.path.realpath(filename) if os.path.isabs(filename) else filename
    if path.startswith(_OURS):
        return True
    return path.startswith(_STDLIB) and not path.startswith(_SITE)


def caller_location() -> tuple[str, int, str] | None:
    """(file, line, qualified function name) of the application's frame, if any."""
    frame = sys._getframe(1)
    skip = _skip
    while frame is not None:
        code = frame.f_code
        filename = code.co_filename
        skipped = skip.get(filename)
        if skipped is None:
            if len(skip) >= _CACHE_LIMIT:
                # Generated code can mint file names without end; stay bounded.
                skip.clear()
            skipped = skip[filename] = _should_skip(filename)
        if not skipped:
            return filename, frame.f_lineno, code.co_qualname
        frame = frame.f_back  # type: ignore[assignment]
    return None
