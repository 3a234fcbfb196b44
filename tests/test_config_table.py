"""Every variable against every kind of bad value: one warning naming the
variable, the value and the fallback, and a configuration that works."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from conftest import Runner
from opentelemetry.instrumentation.audithook import _config, _options, environment_variables
from opentelemetry.instrumentation.audithook._config import parse_config

BAD_VALUES = ["", "abc", "-1", "2", "nan", "no.such.event", "zz*", "[", "ünïcode"]

# For each variable, the values it accepts from BAD_VALUES (no warning), and
# the fallback its warning names.  Every other value must warn.
VARIABLES: dict[str, tuple[set[str], str]] = {
    "OTEL_PYTHON_AUDITHOOK_EVENTS": (set(), "'@default'"),
    "OTEL_PYTHON_AUDITHOOK_SAMPLE_RATIO": (set(), "'1'"),
    "OTEL_PYTHON_AUDITHOOK_RATE_LIMIT": ({"2"}, "5.0"),
    "OTEL_PYTHON_AUDITHOOK_RATE_LIMIT_TOTAL": ({"2"}, "100.0"),
    "OTEL_PYTHON_AUDITHOOK_REPEAT_WINDOW": ({"2"}, "60.0"),
    "OTEL_PYTHON_AUDITHOOK_MAX_VALUE_LENGTH": ({"2"}, "1024"),
    "OTEL_PYTHON_AUDITHOOK_SPAN_EVENT_BUDGET": ({"2"}, "16"),
    "OTEL_PYTHON_AUDITHOOK_NO_SPAN": (set(), "'log'"),
    "OTEL_PYTHON_AUDITHOOK_CAPTURE_RAW": ({""}, "''"),
    "OTEL_PYTHON_AUDITHOOK_CODE_LOCATION": ({""}, "auto"),
    "OTEL_PYTHON_AUDITHOOK_EMIT": (set(), "'span_event'"),
    "OTEL_PYTHON_AUDITHOOK_PURE_PYTHON": ({""}, "false"),
    "OTEL_PYTHON_AUDITHOOK_HOUSEKEEPING": (set(), "'hide'"),
    # any text is a path: whether the file reads is found out, and warned
    # about, at instrument() (tests/test_report.py)
    "OTEL_PYTHON_AUDITHOOK_BASELINE": (set(BAD_VALUES), "none"),
}


def test_the_table_covers_every_variable_and_every_option() -> None:
    documented = {
        name for name in vars(environment_variables) if name.startswith("OTEL_PYTHON_AUDITHOOK_")
    }
    assert set(VARIABLES) == documented
    assert {option.variable for option in _options.OPTIONS} == documented
    # each option fills its own Config field
    assert sorted(option.field for option in _options.OPTIONS) == sorted(_config.Config.__slots__)


# Selector variables keep a selector that matches nothing in the catalog (a
# library may raise such events) but still warn about it, naming it as kept.
KEPT_AS_GIVEN = "it as given, for events that libraries raise with sys.audit()"


def _ratio(config: _config.Config, event: str) -> float:
    rules = config.rules_for(event)
    assert rules is not None, event
    return rules.sample_ratio


def _cases() -> list[tuple[str, str]]:
    return [(var, value) for var in VARIABLES for value in BAD_VALUES]


@pytest.fixture(autouse=True)
def _fresh_warnings() -> None:
    _options._warned.clear()


@pytest.mark.parametrize(("variable", "value"), _cases())
def test_each_variable_with_each_bad_value(
    caplog: pytest.LogCaptureFixture, variable: str, value: str
) -> None:
    accepted, fallback = VARIABLES[variable]
    with caplog.at_level(logging.WARNING, logger="opentelemetry.instrumentation.audithook"):
        config = parse_config({variable: value})
        parse_config({variable: value})  # the same value twice: still one warning
    messages = [r.getMessage() for r in caplog.records]
    if value in accepted:
        assert messages == []
        return
    assert len(messages) == 1, messages
    (message,) = messages
    # the package's name first: most applications print no logger name
    assert message.startswith(f"opentelemetry-instrumentation-audithook: {variable}={value!r}: ")
    selector_kept = KEPT_AS_GIVEN in message
    if selector_kept:
        assert variable in ("OTEL_PYTHON_AUDITHOOK_EVENTS", "OTEL_PYTHON_AUDITHOOK_CAPTURE_RAW")
    else:
        assert f"using {fallback} instead" in message
    # the configuration is whole and usable
    assert config.selection.selectors
    assert config.max_value_length > 0
    assert config.rate_limit >= 0
    assert config.no_span in ("log", "drop")
    assert config.emit in ("span_event", "log")
    assert all(0.0 <= ratio <= 1.0 for _, ratio in config.sample_ratios)


@pytest.mark.parametrize(
    ("value", "ratios"),
    [
        ("0.25", {"open": 0.25, "x.y": 0.25}),
        ("0", {"open": 0.0}),
        ("1", {"open": 1.0}),
        ("open=0.01,socket.*=1", {"open": 0.01, "socket.connect": 1.0, "os.remove": 1.0}),
        ("@file=0.5,open=0.1", {"open": 0.5, "os.remove": 0.5, "socket.bind": 1.0}),
    ],
)
def test_sample_ratio_grammar(value: str, ratios: dict[str, float]) -> None:
    config = parse_config(
        {"OTEL_PYTHON_AUDITHOOK_SAMPLE_RATIO": value, "OTEL_PYTHON_AUDITHOOK_EVENTS": "@all"}
    )
    for event, ratio in ratios.items():
        rules = config.rules_for(event)
        assert rules is not None and rules.sample_ratio == ratio, event


def test_sample_ratio_keeps_the_good_pairs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        config = parse_config({"OTEL_PYTHON_AUDITHOOK_SAMPLE_RATIO": "open=0.5,x=abc,-y=1,z=7"})
    assert _ratio(config, "open") == 0.5
    (record,) = caplog.records
    message = record.getMessage()
    assert "'abc' is not a number" in message
    assert "'-y'" in message
    assert "'7' is not a ratio" in message
    assert "using 'open=0.5' instead" in message


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sample_ratio": 2},
        {"sample_ratio": "abc"},
        {"sample_ratio": float("nan")},
        {"sample_ratio": [0.5]},
        {"rate_limit": -1},
        {"rate_limit": "10"},
        {"rate_limit": float("nan")},
        {"span_event_budget": -1},
        {"span_event_budget": 1.5},
        {"no_span": "keep"},
        {"capture_raw": "@bogus"},
        {"code_location": "yes"},
    ],
)
def test_bad_keyword_arguments_raise(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        parse_config({}, **kwargs)


def test_good_keyword_arguments() -> None:
    config = parse_config(
        {},
        sample_ratio="open=0.5",
        rate_limit=0,
        span_event_budget=0,
        no_span="drop",
        capture_raw=["os.putenv"],
        code_location=False,
    )
    assert _ratio(config, "open") == 0.5
    assert config.rate_limit == 0
    assert config.span_event_budget == 0
    assert config.no_span == "drop"
    putenv, compile_ = config.rules_for("os.putenv"), config.rules_for("compile")
    assert putenv is not None and putenv.raw
    assert compile_ is not None and not compile_.raw
    # raw: the value is no longer redacted
    assert dict(putenv.argument_keys())["python.audit.arg.value"] == "path"
    assert dict(compile_.argument_keys())["python.audit.arg.source"] == "redact"
    assert config.code_location is False


def test_all_variables_bad_at_once_still_instrument(run: Runner) -> None:
    # (the implementation's own variable is set by the fixture; its bad
    # value is the CLI test's)
    env = {v: "[" for v in VARIABLES if v != "OTEL_PYTHON_AUDITHOOK_PURE_PYTHON"}
    t = run(
        """
with span("work"):
    open("f.txt", "w").close()
dump()
""",
        env=env,
    )
    assert t.event("work", "open")["file.path"] == "f.txt"
    for variable in env:
        assert t.stderr.count(f"{variable}='['") == 1, variable
