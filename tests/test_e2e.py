"""End to end: the demo under the real opentelemetry-instrument, over real
OTLP (gRPC and HTTP) to real receivers; the docker-compose stack's files; and
the stack's programs built from Go modules from empty caches (slow tier).
The stack itself, run for real, is tests/test_stack.py."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time
from typing import Any

import pytest
import yaml

from _otlp_grpc_sink import OtlpGrpcSink
from _otlp_sink import OtlpSink, attributes, logs_of, metrics_of, spans_of
from _stack import COLLECTOR_CONFIG, DEPLOY, binary, compose, dashboard
from conftest import ROOT, run_instrumented
from opentelemetry.instrumentation.audithook._config import Config

_spec = importlib.util.spec_from_file_location("demo_app", ROOT / "examples" / "demo_app.py")
assert _spec is not None and _spec.loader is not None
DEMO = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(DEMO)


def _run_demo(env: dict[str, str], iterations: int = 1) -> subprocess.CompletedProcess[str]:
    proc = run_instrumented(
        ROOT / "examples" / "demo_app.py",
        timeout=180,
        OTEL_SERVICE_NAME="audithook-demo",
        DEMO_ITERATIONS=str(iterations),
        OTEL_METRIC_EXPORT_INTERVAL="1000",
        **env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _check_exported(spans: list[Any], metrics: list[Any], logs: list[Any]) -> None:
    """What the demo must have sent, whatever the transport."""
    by_name = {s.name: s for s in spans}
    order = by_name["handle-order"]
    events = {e.name: attributes(e.attributes) for e in order.events}
    assert events["open"]["file.path"].endswith("order.json")
    assert events["socket.connect"]["server.address"] == "127.0.0.1"
    assert events["urllib.Request"]["url.full"].startswith("http://127.0.0.1:")
    assert events["sqlite3.connect"]["db.system.name"] == "sqlite"
    assert events["subprocess.Popen"]["process.executable.path"] == sys.executable
    assert events["open"]["code.file.path"].endswith("demo_app.py")
    report = by_name["render-report"]
    pages, budget = DEMO.REPORT_PAGES, Config().span_event_budget
    assert pages > budget  # else the demo would not show the budget at work
    assert len(report.events) == budget  # the per-span budget of one event name
    assert attributes(report.attributes)["python.audit.span_budget.dropped"] == pages - budget
    names = {m.name: m for m in metrics}
    points = names["python.audit.events"].sum.data_points
    assert names["python.audit.events"].unit == "{event}"
    per_event = {attributes(p.attributes)["python.audit.event"]: p.as_int for p in points}
    assert per_event["open"] >= pages + 1  # the order, the pages, and any import
    assert per_event["subprocess.Popen"] == 1
    dropped = names["python.audit.events.dropped"].sum.data_points
    reasons = {attributes(p.attributes)["python.audit.drop.reason"] for p in dropped}
    assert "span_budget" in reasons
    assert {r.event_name for r in logs} >= {"socket.bind"}  # the server, outside spans


OTLP_ENV = {
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_METRICS_EXPORTER": "otlp",
    "OTEL_LOGS_EXPORTER": "otlp",
}


def test_demo_over_real_otlp_grpc() -> None:
    sink = OtlpGrpcSink()
    try:
        _run_demo({**OTLP_ENV, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                   "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint})  # fmt: skip
        _check_exported(
            spans_of(sink.of("traces")), metrics_of(sink.of("metrics")), logs_of(sink.of("logs"))
        )
    finally:
        sink.close()


def test_demo_over_real_otlp_http() -> None:
    sink = OtlpSink()
    try:
        _run_demo({**OTLP_ENV, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                   "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint})  # fmt: skip
        _check_exported(
            spans_of(sink.of("traces")), metrics_of(sink.of("metrics")), logs_of(sink.of("logs"))
        )
    finally:
        sink.close()


# --- the stack's files ------------------------------------------------------------------------


def _provisioned_uids() -> set[str]:
    doc = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/datasources.yaml").read_text(encoding="utf-8")
    )
    return {ds["uid"] for ds in doc["datasources"]}


def test_dashboard_uids_and_datasources() -> None:
    board = dashboard()
    assert board["title"] == "Python audit events"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    uids = _provisioned_uids()
    used = set()
    for panel in board["panels"]:
        used.add(panel["datasource"]["uid"])
        used.update(t["datasource"]["uid"] for t in panel["targets"])
    for var in board["templating"]["list"]:
        used.add(var["datasource"]["uid"])
    assert used <= uids, used - uids
    # every panel leads to the traces (tests/test_stack.py follows each link)
    for panel in board["panels"]:
        assert "localhost:16686" in json.dumps(panel), panel["title"]


def _versions() -> dict[str, str]:
    lines = (DEPLOY / "versions.env").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def _env_default(value: str) -> str:
    """The default of a ``${env:NAME:-default}`` reference in a config file."""
    match = re.fullmatch(r"\$\{env:\w+:-(.*)\}", value)
    assert match, value
    return match.group(1)


def test_docker_compose_file() -> None:
    stack = compose()
    services = stack["services"]
    assert set(services) == {"demo", "collector", "jaeger", "prometheus", "victorialogs",
                             "grafana"}  # fmt: skip
    # images with no shell and no wget: nothing to run a health check with
    distroless = {"victorialogs"}
    for name, service in services.items():
        if name not in distroless | {"demo"}:
            test = service["healthcheck"]["test"]
            assert test[0] in ("CMD", "CMD-SHELL") and "wget" in " ".join(test), (name, test)
        # started only once what it talks to is up (healthy, where it can tell)
        for dep, condition in service.get("depends_on", {}).items():
            wanted = "service_started" if dep in distroless else "service_healthy"
            assert condition == {"condition": wanted}, (name, dep)
            assert dep in distroless or "healthcheck" in services[dep], (name, dep)
        if "image" in service and "build" not in service:
            image, _, tag = service["image"].rpartition(":")
            assert image and tag and tag != "latest", service["image"]
            assert re.match(r"^v?\d+\.\d+\.\d+$", tag), service["image"]
        for volume in service.get("volumes", []):
            host = volume.split(":")[0]
            assert host in stack.get("volumes", {}) or (ROOT / host).exists(), volume
        if "build" in service:
            build = service["build"]
            assert (ROOT / build["context"] / build["dockerfile"]).exists()
    assert services["demo"]["depends_on"] == {"collector": {"condition": "service_healthy"}}
    assert set(services["grafana"]["depends_on"]) == {"prometheus", "jaeger", "victorialogs"}
    # the wiring agrees with the configs
    collector = yaml.safe_load(COLLECTOR_CONFIG.read_text(encoding="utf-8"))
    exporters = collector["exporters"]
    prom_port = _env_default(exporters["prometheus"]["endpoint"]).rsplit(":", 1)[1]
    prometheus = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text(encoding="utf-8"))
    targets = prometheus["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == [f"collector:{prom_port}"]
    assert services["demo"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector:4317"
    env = services["collector"]["environment"]
    assert env["JAEGER_OTLP_ENDPOINT"] == _env_default(exporters["otlp/jaeger"]["endpoint"])
    assert env["VICTORIALOGS_OTLP_LOGS_ENDPOINT"] == _env_default(
        exporters["otlphttp/victorialogs"]["logs_endpoint"]
    )
    assert env["FILE_EXPORTER_PATH"] == _env_default(exporters["file"]["path"])
    jaeger = yaml.safe_load((DEPLOY / "jaeger/config.yaml").read_text(encoding="utf-8"))
    jaeger_grpc = _env_default(jaeger["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"])
    assert env["JAEGER_OTLP_ENDPOINT"] == "jaeger:" + jaeger_grpc.rsplit(":", 1)[1]
    # counters of short-lived processes count from zero only with this flag
    assert "--enable-feature=created-timestamp-zero-ingestion" in services["prometheus"]["command"]
    assert "PrometheusProto" in prometheus["scrape_configs"][0]["scrape_protocols"]


def test_compose_file_follows_the_compose_specification() -> None:
    """What ``docker compose config`` checks, without Docker: the file against
    the JSON schema of the Compose Specification (compose-go's, the library
    docker compose is built on)."""
    import jsonschema

    schema = json.loads(pathlib.Path(binary("compose-schema")).read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    stack = compose()
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(stack)]
    assert errors == []
    # the check has teeth: a condition compose does not know is refused
    stack["services"]["demo"]["depends_on"]["collector"]["condition"] = "service_ready"
    assert list(validator.iter_errors(stack))


def test_versions_agree() -> None:
    """One release of each program: the one built from Go modules and tested,
    and the one docker compose runs."""
    versions = _versions()
    services = compose()["services"]
    manifest = yaml.safe_load(
        (DEPLOY / "collector/builder-config.yaml").read_text(encoding="utf-8")
    )
    otelcol = versions["OTELCOL_VERSION"]
    assert manifest["dist"]["version"] == otelcol
    for kind in ("receivers", "processors", "exporters", "connectors", "extensions"):
        for component in manifest[kind]:
            assert component["gomod"].endswith(f" v{otelcol}"), component
    assert services["collector"]["build"]["args"]["OTELCOL_VERSION"] == otelcol
    assert services["collector"]["image"].endswith(":" + otelcol)
    dockerfile = (DEPLOY / "collector/Dockerfile").read_text(encoding="utf-8")
    assert f"ARG OTELCOL_VERSION={otelcol}" in dockerfile
    assert services["jaeger"]["image"] == f"jaegertracing/jaeger:{versions['JAEGER_VERSION']}"
    assert services["prometheus"]["image"] == f"prom/prometheus:v{versions['PROMETHEUS_VERSION']}"
    # a Prometheus 3.x release is module v0.3xx.y
    major, minor, patch = versions["PROMETHEUS_VERSION"].split(".")
    assert versions["PROMETHEUS_MODULE_VERSION"] == f"0.{int(major) * 100 + int(minor)}.{patch}"
    assert services["victorialogs"]["image"] == (
        f"victoriametrics/victoria-logs:v{versions['VICTORIALOGS_VERSION']}"
    )
    assert services["grafana"]["image"] == f"grafana/grafana:{versions['GRAFANA_VERSION']}"


@pytest.mark.slow
@pytest.mark.any_python
def test_collector_builds_from_empty_caches(tmp_path: pathlib.Path) -> None:
    """What a fresh machine does: the build cache, GOMODCACHE and GOCACHE all
    empty. The built collector validates the shipped config."""
    if shutil.which("go") is None:
        pytest.fail("go is not installed")
    env = {
        **os.environ,
        "AUDITHOOK_CACHE": str(tmp_path / "cache"),
        "GOMODCACHE": str(tmp_path / "gomodcache"),
        "GOCACHE": str(tmp_path / "gocache"),
        "GOFLAGS": "-modcacherw",  # so that the test can remove it
    }
    env.pop("AUDITHOOK_CACHED_ONLY", None)
    started = time.monotonic()
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts/build-backend.sh"), "collector"],
        env=env, capture_output=True, text=True, timeout=2400, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    built = proc.stdout.strip().splitlines()[-1]
    assert built.startswith(str(tmp_path / "cache"))
    print(f"collector built from empty caches in {time.monotonic() - started:.0f} s")
    version = subprocess.run([built, "--version"], capture_output=True, text=True, check=True)
    assert _versions()["OTELCOL_VERSION"] in version.stdout
    valid = subprocess.run(
        [built, "validate", f"--config={COLLECTOR_CONFIG}"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert valid.returncode == 0, valid.stdout + valid.stderr
    # a second run is the cache
    again = subprocess.run(
        ["bash", str(ROOT / "scripts/build-backend.sh"), "collector"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert again.stdout.strip() == built
