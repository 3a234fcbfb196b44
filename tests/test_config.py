"""Configuration: environment values warn once and fall back, keyword arguments raise."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from unittest import mock

import pytest

from opentelemetry.instrumentation.audithook import _options
from opentelemetry.instrumentation.audithook._config import SELECTED, parse_config


@pytest.fixture(autouse=True)
def _fresh_warnings() -> None:
    _options._warned.clear()


def test_defaults() -> None:
    with mock.patch.dict("os.environ", {}, clear=True):
        config = parse_config(os.environ)
    assert config.selection.text == "@default"
    assert config.max_value_length == 1024


def test_environment() -> None:
    env = {
        "OTEL_PYTHON_AUDITHOOK_EVENTS": "@network,open",
        "OTEL_PYTHON_AUDITHOOK_MAX_VALUE_LENGTH": "64",
    }
    config = parse_config(env)
    assert config.selection.mode("socket.connect") == SELECTED
    assert config.selection.mode("open") == SELECTED
    assert not config.selection.mode("os.remove")
    assert config.max_value_length == 64


def test_keyword_arguments_win() -> None:
    env = {"OTEL_PYTHON_AUDITHOOK_EVENTS": "open", "OTEL_PYTHON_AUDITHOOK_MAX_VALUE_LENGTH": "9"}
    config = parse_config(env, events=["socket.*"], max_value_length=12)
    assert not config.selection.mode("open")
    assert config.selection.mode("socket.bind") == SELECTED
    assert config.max_value_length == 12


@pytest.mark.parametrize(
    ("variable", "value", "fallback"),
    [
        ("OTEL_PYTHON_AUDITHOOK_EVENTS", "", "'@default'"),
        ("OTEL_PYTHON_AUDITHOOK_EVENTS", " , ", "'@default'"),
        ("OTEL_PYTHON_AUDITHOOK_EVENTS", "@bogus", "'@default'"),
        ("OTEL_PYTHON_AUDITHOOK_EVENTS", "[", "'@default'"),
        ("OTEL_PYTHON_AUDITHOOK_EVENTS", "ópen", "'@default'"),
        ("OTEL_PYTHON_AUDITHOOK_MAX_VALUE_LENGTH", "abc", "1024"),
        ("OTEL_PYTHON_AUDITHOOK_MAX_VALUE_LENGTH", "-1", "1024"),
        ("OTEL_PYTHON_AUDITHOOK_MAX_VALUE_LENGTH", "0", "1024"),
        ("OTEL_PYTHON_AUDITHOOK_MAX_VALUE_LENGTH", "nan", "1024"),
        ("OTEL_PYTHON_AUDITHOOK_MAX_VALUE_LENGTH", "", "1024"),
    ],
)
def test_bad_environment_values_warn_and_fall_back(
    caplog: pytest.LogCaptureFixture, variable: str, value: str, fallback: str
) -> None:
    with caplog.at_level(logging.WARNING, logger="opentelemetry.instrumentation.audithook"):
        config = parse_config({variable: value})
        parse_config({variable: value})  # the same value again: no second warning
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, warnings
    assert variable in warnings[0]
    assert repr(value) in warnings[0]
    assert f"using {fallback}" in warnings[0]
    assert config.selection.text == "@default"
    assert config.max_value_length == 1024


def test_partly_bad_selection_keeps_the_good_selectors(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        config = parse_config({"OTEL_PYTHON_AUDITHOOK_EVENTS": "open,@bogus,socket.*"})
    assert config.selection.text == "open,socket.*"
    (record,) = caplog.records
    assert "'@bogus'" in record.getMessage()
    assert "using 'open,socket.*' instead" in record.getMessage()


@pytest.mark.parametrize("value", ["no.such.event", "zz*"])
def test_selectors_matching_nothing_warn_but_are_kept(
    caplog: pytest.LogCaptureFixture, value: str
) -> None:
    with caplog.at_level(logging.WARNING):
        config = parse_config({"OTEL_PYTHON_AUDITHOOK_EVENTS": value})
    assert config.selection.text == value
    (record,) = caplog.records
    assert "matches no event in the audit events table" in record.getMessage()


def test_a_misspelt_variable_warns_once_and_changes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = {"OTEL_PYTHON_AUDITHOOK_EVENT": "open", "OTEL_PYTHON_AUDITHOOK_RATE_LIMIT": "7"}
    with caplog.at_level(logging.WARNING, logger="opentelemetry.instrumentation.audithook"):
        config = parse_config(env)
        parse_config(env)  # again: no second warning
    (record,) = caplog.records
    message = record.getMessage()
    assert message.startswith("opentelemetry-instrumentation-audithook: ")
    assert "OTEL_PYTHON_AUDITHOOK_EVENT is not a variable" in message
    assert "OTEL_PYTHON_AUDITHOOK_EVENTS" in message  # the known ones are listed
    assert config.selection.text == "@default"
    assert config.rate_limit == 7.0  # the real variable beside it still counts


def test_the_defaults_need_no_parsing() -> None:
    """With no variable and no keyword (most processes), instrument() imports
    neither the parsers nor the variables' module: a module is a file to find,
    read and unmarshal at every instrumented start-up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_PYTHON_AUDITHOOK_")}
    code = (
        "import sys\n"
        "from opentelemetry.instrumentation.audithook import AuditHookInstrumentor\n"
        # as opentelemetry-instrument calls it, after its own dependency check
        "AuditHookInstrumentor().instrument(skip_dep_check=True)\n"
        "print(' '.join(sorted(m.rsplit('.', 1)[1] for m in sys.modules\n"
        "    if m.startswith('opentelemetry.instrumentation.audithook.'))))\n"
    )
    loaded = set(_run(code, env).split())
    assert loaded, "the package was not imported"
    assert not loaded & {"_options", "environment_variables", "_backend", "package", "_report"}, (
        loaded
    )
    env["OTEL_PYTHON_AUDITHOOK_RATE_LIMIT"] = "3"
    assert "_options" in _run(code, env).split()


def _run(code: str, env: dict[str, str]) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return proc.stdout


@pytest.mark.parametrize(
    "kwargs",
    [
        {"events": "@bogus"},
        {"events": ""},
        {"events": [1]},
        {"events": ["open", "["]},
        {"max_value_length": 0},
        {"max_value_length": "10"},
        {"max_value_length": True},
        {"unknown_option": 1},
    ],
)
def test_bad_keyword_arguments_raise(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        parse_config({}, **kwargs)


def test_config_is_frozen() -> None:
    config = parse_config({})
    with pytest.raises(AttributeError):
        config.max_value_length = 3  # type: ignore[misc]


def test_no_library_gates_the_instrumentation() -> None:
    # the interpreter is what is instrumented: no distribution must be present
    from opentelemetry.instrumentation.audithook import AuditHookInstrumentor

    assert tuple(AuditHookInstrumentor().instrumentation_dependencies()) == ()
