"""The application's line behind an audit event.

Walks the stack from the hook outwards to the first frame that is neither the
standard library nor this package.  The walk itself is the hook
implementation's ``caller_location``: in C it reads frames through the C API
and raises no audit event; in pure Python it needs ``sys._getframe`` and
``frame.f_code``, which raise ``sys._getframe`` and ``object.__getattr__``
events that other hooks see (so code location is off by default there).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from opentelemetry.semconv.attributes import code_attributes

FILE_KEY = code_attributes.CODE_FILE_PATH
LINE_KEY = code_attributes.CODE_LINE_NUMBER
FUNCTION_KEY = code_attributes.CODE_FUNCTION_NAME

_CACHE_LIMIT = 4096

Walk = Callable[[dict[str, bool], Callable[[str], bool]], "tuple[str, int, str] | None"]


# The standard library is the directory of ``os``; its ``site-packages`` (or
# Debian's ``dist-packages``), where a Python without a virtualenv installs
# third-party code, is not.  (``sysconfig.get_paths()`` says the same but
# costs a process a millisecond of start-up to import its build data.)
_STDLIB = os.path.join(os.path.dirname(os.path.realpath(os.__file__)), "")
_SITE = tuple(os.path.join(_STDLIB, name, "") for name in ("site-packages", "dist-packages"))
_OURS = os.path.join(os.path.dirname(os.path.realpath(__file__)), "")

_skip: dict[str, bool] = {}


def _should_skip(filename: str) -> bool:
    if filename.startswith("<frozen "):
        return True
    path = os.path.realpath(filename) if os.path.isabs(filename) else filename
    if path.startswith(_OURS):
        return True
    return path.startswith(_STDLIB) and not path.startswith(_SITE)


def caller_location(walk: Walk) -> tuple[str, int, str] | None:
    """(file, line, qualified function name) of the application's frame, if any."""
    if len(_skip) >= _CACHE_LIMIT:
        # Generated code can mint file names without end; stay bounded.
        _skip.clear()
    return walk(_skip, _should_skip)
