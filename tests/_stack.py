"""The stack's programs for the end-to-end tier: the OpenTelemetry Collector,
Jaeger, Prometheus and VictoriaLogs, built from Go modules
(``scripts/build-backend.sh``), each started on loopback with the shipped
configuration, and the HTTP calls Grafana makes to them."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from typing import Any

import pytest
import yaml

from conftest import ROOT, clean_env

DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "python-audit-events.json"
COLLECTOR_CONFIG = DEPLOY / "collector" / "otelcol-config.yaml"

# .ci/run builds every program and sets this: a missing one is then a failure.
REQUIRED = os.environ.get("AUDITHOOK_REQUIRE_BACKENDS") == "1"


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8")))


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text(encoding="utf-8")))


def binary(name: str) -> str:
    """The built program: a path from AUDITHOOK_<NAME>_BIN, else the build cache."""
    path = os.environ.get(f"AUDITHOOK_{name.upper().replace('-', '_')}_BIN")
    if path:
        return path
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build-backend.sh"), name],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "AUDITHOOK_CACHED_ONLY": "1"},
        timeout=60,
    )
    if proc.returncode == 0:
        return proc.stdout.strip().splitlines()[-1]
    reason = f"{name} is not built: run scripts/build-backend.sh {name} (.ci/run builds it)"
    if REQUIRED:
        pytest.fail(reason + "\n" + proc.stderr[-2000:])
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def get_json(url: str, **params: Any) -> Any:
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


def get_lines(url: str, **params: Any) -> list[dict[str, Any]]:
    """VictoriaLogs answers log queries as JSON lines."""
    with urllib.request.urlopen(url + "?" + urllib.parse.urlencode(params), timeout=30) as resp:
        body = resp.read().decode()
    rows = []
    # split on "\n" only: a value may hold other line separators (U+2028, \x85)
    for line in body.split("\n"):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise AssertionError(f"not a JSON line from {url}: {line[:500]!r}") from exc
    return rows


class Program:
    """One program of the stack, with its output kept in a log file."""

    def __init__(self, name: str, args: list[str], log_dir: pathlib.Path, **env: str) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            args, env=clean_env(**env), stdout=self._log, stderr=subprocess.STDOUT, cwd=log_dir
        )

    def wait_ready(self, url: str, timeout: float = 90) -> None:
        try:
            wait_http(url, timeout, self.proc)
        except (OSError, RuntimeError) as exc:
            raise RuntimeError(f"{self.name} did not start: {exc}\n{self.log()}") from exc

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
