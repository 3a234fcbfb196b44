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
from typing import TYPE_CHECKING

from opentelemetry.semconv.attributes import code_attributes

FILE_KEY = code_attributes.CODE_FILE_PATH
LINE_KEY = code_attributes.CODE_LINE_NUMBER
FUNCTION_KEY = code_attributes.CODE_FUNCTION_NAME

_CACHE_LIMIT = 4096

if TYPE_CHECKING:
    Walk = Callable[[dict[str, bool], Callable[[str], bool]], tuple[str, int, str] | None]


# The standard library is the directory of ``os``; its ``site-packages`` (or
# Debian's ``dist-packages``), where a Python without a virtualenv installs
# third-party code, is not.  (``sysconfig.get_paths()`` says the same but
# costs a process a millisecond of start-up to import its build data.)
# Found at the first walk, not at import (realpath reads every directory on
# the way): (ours, the standard library, its site-packages directories).
_places: tuple[str, str, tuple[str, ...]] | None = None


def _find_places() -> tuple[str, str, tuple[str, ...]]:
    global _places
    stdlib = os.path.join(os.path.dirname(os.path.realpath(os.__file__)), "")
    site = tuple(os.path.join(stdlib, name, "") for name in ("site-packages", "dist-packages"))
    ours = os.path.join(os.path.dirname(os.path.realpath(__file__)), "")
    _places = (ours, stdlib, site)
    return _places


_skip: dict[str, bool] = {}


def _should_skip(filename: str) -> bool:
    if filename.startswith("<frozen "):
        return True
    ours, stdlib, site = _places or _find_places()
    path = os.path.realpath(filename) if os.path.isabs(filename) else filename
    if path.startswith(ours):
        return True
    return path.startswith(stdlib) and not path.startswith(site)


def caller_location(walk: Walk) -> tuple[str, int, str] | None:
    """(file, line, qualified function name) of the application's frame, if any."""
    if len(_skip) >= _CACHE_LIMIT:
        # Generated code can mint file names without end; stay bounded.
        _skip.clear()
    return walk(_skip, _should_skip)
