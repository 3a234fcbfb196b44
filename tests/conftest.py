from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

TESTS = pathlib.Path(__file__).resolve().parent
ROOT = TESTS.parent
SRC = ROOT / "src"
MARKER = "@@TELEMETRY@@"

# Variables of the developer's shell that would change what the scenarios do.
_SCRUB = ("OTEL_", "HARNESS_")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(SRC)])
    # The Flask instrumentation is installed for the service benchmark; loaded
    # by every opentelemetry-instrument run, it would import Flask there and
    # spend the open event's rate limit on .pyc files.
    env["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] = "flask"
    env.update(extra)
    return env


@dataclass
class Telemetry:
    returncode: int
    stdout: str
    stderr: str
    spans: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    logs: list[dict[str, Any]] = field(default_factory=list)
    implementation: str = ""

    def span(self, name: str) -> dict[str, Any]:
        found = [s for s in self.spans if s["name"] == name]
        assert len(found) == 1, f"expected one span {name!r}, got {[s['name'] for s in self.spans]}"
        return found[0]

    def events(self, span_name: str, event: str | None = None) -> list[dict[str, Any]]:
        return [
            e["attributes"]
            for e in self.span(span_name)["events"]
            if event is None or e["name"] == event
        ]

    def event(self, span_name: str, event: str) -> dict[str, Any]:
        found = self.events(span_name, event)
        names = [e["name"] for e in self.span(span_name)["events"]]
        assert found, f"no {event!r} event in span {span_name!r}; it has {names}"
        return found[0]

    def all_events(self, event: str) -> list[dict[str, Any]]:
        return [e["attributes"] for s in self.spans for e in s["events"] if e["name"] == event]

    def points(self, metric: str, **attrs: str) -> list[dict[str, Any]]:
        return [
            p
            for p in self.metrics.get(metric, [])
            if all(p["attributes"].get(k) == v for k, v in attrs.items())
        ]

    def count(self, event: str) -> int:
        return sum(
            p["value"] for p in self.points("python.audit.events", **{"python.audit.event": event})
        )

    def dropped(self, event: str, reason: str) -> int:
        attrs = {"python.audit.event": event, "python.audit.drop.reason": reason}
        return sum(p["value"] for p in self.points("python.audit.events.dropped", **attrs))


Runner = Callable[..., Telemetry]

# A scenario prefix that counts the events that reach the Python handler.
COUNT_HANDLER_CALLS = """
import sys
from opentelemetry.instrumentation.audithook._hook import STATE
handled = []
_handle = STATE.emitter.handle
def counting(event, args):
    handled.append(event)
    _handle(event, args)
STATE.emitter.handle = counting
"""


def run_instrumented(
    script: pathlib.Path, *, cwd: pathlib.Path | None = None, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run a script under the real ``opentelemetry-instrument`` (the entry point, the distro)."""
    bindir = os.path.dirname(sys.executable)
    full = clean_env(**env)
    full["PATH"] = bindir + os.pathsep + full.get("PATH", "")
    return subprocess.run(
        [os.path.join(bindir, "opentelemetry-instrument"), sys.executable, str(script)],
        check=False,
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


IMPLEMENTATIONS = ["c", "pure"]


def _c_loads() -> bool:
    if os.environ.get("AUDITHOOK_PRETEND_NO_C") == "1":  # the skip's own test
        return False
    try:
        from opentelemetry.instrumentation.audithook import _speedups  # noqa: F401
    except ImportError:
        return False
    return True


C_LOADS = _c_loads()
# .ci/run sets it: there a compiler exists, and a C case that cannot run is a failure.
C_REQUIRED = os.environ.get("AUDITHOOK_REQUIRE_C") == "1"


def need_c() -> None:
    """Skip a C case where the accelerator was not built (no compiler)."""
    if C_LOADS:
        return
    message = "the C accelerator is not built here (no C compiler when it was installed?)"
    if C_REQUIRED:
        pytest.fail(message + "; AUDITHOOK_REQUIRE_C=1 requires it")
    pytest.skip(message)


def implementation_env(implementation: str) -> dict[str, str]:
    return {"OTEL_PYTHON_AUDITHOOK_PURE_PYTHON": "true" if implementation == "pure" else "false"}


def run_scenario(
    body: str,
    tmp_path: pathlib.Path,
    *,
    implementation: str = "c",
    kwargs: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    check: bool = True,
    python: str | None = None,
) -> Telemetry:
    if implementation == "c":
        need_c()
    script = tmp_path / "scenario.py"
    script.write_text(
        "from _harness import *\n" + textwrap.dedent(body).strip() + "\n", encoding="utf-8"
    )
    run_env = clean_env(
        HARNESS_KWARGS=json.dumps(kwargs or {}),
        **implementation_env(implementation),
        **(env or {}),
    )
    proc = subprocess.run(
        [python or sys.executable, str(script)],
        check=False,
        cwd=tmp_path,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    result = Telemetry(proc.returncode, proc.stdout, proc.stderr)
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            payload = json.loads(line[len(MARKER) :])
            result.spans = payload["spans"]
            result.metrics = payload["metrics"]
            result.extra = payload["extra"]
            result.logs = payload["logs"]
            result.implementation = payload["implementation"]
    if check:
        assert proc.returncode == 0, f"scenario failed:\n{proc.stdout}\n{proc.stderr}"
        if MARKER in proc.stdout:
            # the implementation asked for is the one that ran
            assert result.implementation == implementation, result.implementation
    return result


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("AUDITHOOK_ANOTHER_PYTHON") == "1":
        once = pytest.mark.skip(reason="the same on every Python: run once, on the first")
        for item in items:
            if "any_python" in item.keywords:
                item.add_marker(once)
    if os.environ.get("AUDITHOOK_SLOW_TESTS") == "1" or config.getoption("-m"):
        return
    skip = pytest.mark.skip(reason="slow tier: set AUDITHOOK_SLOW_TESTS=1 (as .ci/run does)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=IMPLEMENTATIONS)
def implementation(request: pytest.FixtureRequest) -> str:
    """Every behavioural test runs against the C hook and its pure-Python twin."""
    if request.param == "c":
        need_c()
    return str(request.param)


@pytest.fixture
def run(tmp_path: pathlib.Path, implementation: str) -> Runner:
    def runner(body: str, **options: Any) -> Telemetry:
        return run_scenario(body, tmp_path, implementation=implementation, **options)

    return runner
