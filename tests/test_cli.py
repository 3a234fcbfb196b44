from __future__ import annotations

import json
import subprocess
import sys

from conftest import clean_env
from opentelemetry.instrumentation.audithook._catalog import CATALOG


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opentelemetry.instrumentation.audithook", *args],
        check=False,
        capture_output=True,
        text=True,
        env=clean_env(**env),
        timeout=60,
    )


def test_events_lists_the_whole_catalog() -> None:
    proc = cli("events")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith(f"{len(CATALOG)} events")
    assert "socket.connect" in proc.stdout


def test_events_by_category_and_selector() -> None:
    rows = json.loads(cli("events", "--category", "network", "--json").stdout)
    assert rows and all(r["category"] == "network" for r in rows)
    rows = json.loads(cli("events", "--select", "@default,-@file", "--json").stdout)
    names = {r["event"] for r in rows}
    assert "open" not in names and "socket.connect" in names and "builtins.id" not in names
    popen = json.loads(cli("events", "--select", "subprocess.Popen", "--json").stdout)[0]
    assert popen["arguments"] == ["executable", "args", "cwd", "env"]
    assert popen["redacted"] == ["args", "env"]  # the executable is a path: shown
    assert popen["since"] == "3.11"
    sleep = json.loads(cli("events", "--select", "time.sleep", "--json").stdout)[0]
    assert (sleep["since"], sleep["tables"], sleep["default"]) == ("3.13", ["observed"], False)
    assert "python>=3.13" in cli("events", "--select", "time.sleep").stdout


def test_config_reports_the_effective_configuration() -> None:
    proc = cli(
        "config",
        "--json",
        OTEL_PYTHON_AUDITHOOK_EVENTS="@network,open,-socket.gethostname",
        OTEL_PYTHON_AUDITHOOK_SAMPLE_RATIO="open=0.1",
        OTEL_PYTHON_AUDITHOOK_RATE_LIMIT="abc",
        OTEL_PYTHON_AUDITHOOK_CAPTURE_RAW="urllib.Request",
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert "open" in report["selected"] and "socket.gethostname" not in report["selected"]
    assert report["sample_ratio"] == {"open": 0.1}
    assert report["rate_limit_per_second"] == 5.0
    assert report["captured_raw"] == ["urllib.Request"]
    assert "urllib.Request" not in report["redacted"]
    assert report["redacted"]["http.client.send"] == {"data": "redact"}
    (warning,) = report["warnings"]
    assert warning.startswith("OTEL_PYTHON_AUDITHOOK_RATE_LIMIT='abc'")


def test_config_text_output() -> None:
    proc = cli("config", OTEL_PYTHON_AUDITHOOK_NO_SPAN="bogus")
    assert proc.returncode == 0
    assert "no recording span: log" in proc.stdout
    assert "total rate limit:  100 per second for the process" in proc.stdout
    assert "code location:     auto (on with the C hook, off with the pure-Python one)" in (
        proc.stdout
    )
    off = cli("config", OTEL_PYTHON_AUDITHOOK_CODE_LOCATION="false").stdout
    assert "code location:     off" in off
    assert "warning: OTEL_PYTHON_AUDITHOOK_NO_SPAN='bogus'" in proc.stdout
    assert "subprocess.Popen: args (command), env (redact)" in proc.stdout


def test_config_lists_only_the_selectors_that_match_nothing_in_the_table() -> None:
    # `open` and `socket.*` are in the table: only the typo is worth a word
    proc = cli("config", "--json", OTEL_PYTHON_AUDITHOOK_EVENTS="open,socket.*,opne,zz.*")
    report = json.loads(proc.stdout)
    assert report["uncatalogued_selectors"] == ["opne", "zz.*"]
    text = cli("config", OTEL_PYTHON_AUDITHOOK_EVENTS="open,opne").stdout
    assert "not in the table:  opne\n" in text


def test_config_says_which_hook_runs_and_reports_a_bad_pure_python_value() -> None:
    c = json.loads(cli("config", "--json").stdout)
    assert c["hook"] == "C accelerator"
    forced = json.loads(cli("config", "--json", OTEL_PYTHON_AUDITHOOK_PURE_PYTHON="true").stdout)
    assert forced["hook"] == "pure Python (OTEL_PYTHON_AUDITHOOK_PURE_PYTHON=true)"
    assert forced["warnings"] == []
    bad = json.loads(cli("config", "--json", OTEL_PYTHON_AUDITHOOK_PURE_PYTHON="maybe").stdout)
    assert bad["hook"] == "C accelerator"
    assert bad["warnings"] == [
        "OTEL_PYTHON_AUDITHOOK_PURE_PYTHON='maybe': must be true or false; using false instead"
    ]
    text = cli("config", OTEL_PYTHON_AUDITHOOK_PURE_PYTHON="true").stdout
    assert "hook:              pure Python (OTEL_PYTHON_AUDITHOOK_PURE_PYTHON=true)\n" in text


def test_config_says_why_the_c_hook_does_not_load() -> None:
    # the import fails, as a missing or broken build's would
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.modules['opentelemetry.instrumentation.audithook._speedups'] = None;"
            "from opentelemetry.instrumentation.audithook._cli import main;"
            "sys.exit(main(['config', '--json']))",
        ],
        check=False,
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    report = json.loads(proc.stdout)
    assert report["hook"].startswith("pure Python (the C accelerator does not load: "), report


def test_warnings_name_the_package_wherever_they_are_printed() -> None:
    # No logging configured: Python's last-resort handler prints the bare message.
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from opentelemetry.instrumentation.audithook import AuditHookInstrumentor;"
            "AuditHookInstrumentor().instrument()",
        ],
        check=False,
        capture_output=True,
        text=True,
        env=clean_env(OTEL_PYTHON_AUDITHOOK_PURE_PYTHON="maybe"),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "opentelemetry-instrumentation-audithook: OTEL_PYTHON_AUDITHOOK_PURE_PYTHON='maybe':"
        " must be true or false; using false instead"
    ]
