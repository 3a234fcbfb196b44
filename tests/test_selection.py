from __future__ import annotations

import pytest

from opentelemetry.instrumentation.audithook._catalog import CATALOG
from opentelemetry.instrumentation.audithook._config import (
    DEFAULT_EXCLUDED,
    NOT_SELECTED,
    SELECTED,
    SELECTED_NON_STDLIB,
)
from opentelemetry.instrumentation.audithook._options import (
    SelectorError,
    parse_selection,
    parse_selector,
)


def mode(spec: str, name: str) -> int:
    selection, problems = parse_selection(spec.split(","))
    assert problems == []
    return selection.mode(name)


@pytest.mark.parametrize(
    ("spec", "name", "expected"),
    [
        ("open", "open", SELECTED),
        ("open", "os.remove", NOT_SELECTED),
        ("socket.*", "socket.connect", SELECTED),
        ("socket.*", "socketserver.x", NOT_SELECTED),
        ("@network", "http.client.connect", SELECTED),
        ("@network", "open", NOT_SELECTED),
        ("@all", "builtins.id", SELECTED),
        ("@all", "thirdparty.event", SELECTED),
        ("@none", "open", NOT_SELECTED),
        ("@default", "open", SELECTED),
        ("@default", "builtins.id", NOT_SELECTED),
        ("@default", "import", SELECTED_NON_STDLIB),
        ("@default", "thirdparty.event", NOT_SELECTED),
        ("@default,import", "import", SELECTED),
        ("@code", "import", SELECTED),
        ("@all,-@runtime", "builtins.id", NOT_SELECTED),
        ("@all,-@runtime", "open", SELECTED),
        # left to right: a later selector overrides an earlier one
        ("-open,open", "open", SELECTED),
        ("open,-open", "open", NOT_SELECTED),
        ("@file,-os.*,os.remove", "os.remove", SELECTED),
        ("@file,-os.*,os.remove", "os.rename", NOT_SELECTED),
        ("@other", "thirdparty.event", SELECTED),
        ("@other", "open", NOT_SELECTED),
        ("ctypes.dl[os]*", "ctypes.dlopen", SELECTED),
        ("ctypes.dl[os]*", "ctypes.dlsym", SELECTED),
        ("  open , ", "open", SELECTED),
    ],
)
def test_grammar(spec: str, name: str, expected: int) -> None:
    assert mode(spec, name) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("@nope", "unknown category or preset '@nope'"),
        ("-", "empty selector"),
        ("op en", "is not an event name or glob"),
        ("ópen", "is not an event name or glob"),
        ("socket.[", "unclosed '['"),
    ],
)
def test_bad_selectors(text: str, message: str) -> None:
    with pytest.raises(SelectorError, match=message.replace("[", r"\[")):
        parse_selector(text)


def test_default_leaves_out_the_hot_events_on_purpose() -> None:
    selection, _ = parse_selection(["@default"])
    for name in ("builtins.id", "sys._getframe", "object.__getattr__", "marshal.loads"):
        assert name in DEFAULT_EXCLUDED
        assert selection.mode(name) == NOT_SELECTED
    assert set(DEFAULT_EXCLUDED) <= set(CATALOG), "every exclusion names a real event"
    wanted = ("open", "socket.connect", "subprocess.Popen", "ctypes.dlopen", "exec", "compile")
    wanted += ("pickle.find_class", "sqlite3.connect", "os.system", "urllib.Request")
    for name in wanted:
        assert selection.mode(name) == SELECTED, name
