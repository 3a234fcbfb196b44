"""End to end: the demo under the real opentelemetry-instrument, over real
OTLP (gRPC and HTTP), through a real OpenTelemetry Collector built from Go
modules, into a real Prometheus; and the docker-compose stack's files."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from _otlp_grpc_sink import OtlpGrpcSink

from _otlp_sink import OtlpSink
from conftest import ROOT, clean_env, run_instrumented

DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "python-audit-events.json"
COLLECTOR_CONFIG = DEPLOY / "collector" / "otelcol-config.yaml"
REQUIRED = os.environ.get("AUDITHOOK_REQUIRE_COLLECTOR") == "1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


def _attrs(kvs: Any) -> dict[str, Any]:
    out = {}
    for kv in kvs:
        which = kv.value.WhichOneof("value")
        value = getattr(kv.value, which) if which else None
        if which == "array_value":
            value = [getattr(v, v.WhichOneof("value")) for v in value.values]
        out[kv.key] = value
    return out


def _check_exported(spans: list[Any], metrics: list[Any], logs: list[Any]) -> None:
    """What the demo must have sent, whatever the transport."""
    by_name = {s.name: s for s in spans}
    order = by_name["handle-order"]
    events = {e.name: _attrs(e.attributes) for e in order.events}
    assert events["open"]["file.path"].endswith("order.json")
    assert events["socket.connect"]["server.address"] == "127.0.0.1"
    assert events["urllib.Request"]["url.full"].startswith("http://127.0.0.1:")
    assert events["sqlite3.connect"]["db.system.name"] == "sqlite"
    assert events["subprocess.Popen"]["process.executable.path"] == sys.executable
    assert events["open"]["code.file.path"].endswith("demo_app.py")
    report = by_name["render-report"]
    assert len(report.events) == 16  # the per-span budget of one event name
    assert _attrs(report.attributes)["python.audit.span_budget.dropped"] == 34
    names = {m.name: m for m in metrics}
    points = names["python.audit.events"].sum.data_points
    assert names["python.audit.events"].unit == "{event}"
    per_event = {_attrs(p.attributes)["python.audit.event"]: p.as_int for p in points}
    assert per_event["open"] >= 51
    assert per_event["subprocess.Popen"] == 1
    dropped = names["python.audit.events.dropped"].sum.data_points
    reasons = {_attrs(p.attributes)["python.audit.drop.reason"] for p in dropped}
    assert "span_budget" in reasons
    assert {r.event_name for r in logs} >= {"socket.bind"}  # the server, outside spans


def _spans(requests: list[Any]) -> list[Any]:
    return [
        s for r in requests for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans
    ]


def _metrics(requests: list[Any]) -> list[Any]:
    found: dict[str, Any] = {}
    for r in requests:  # the last export holds the final cumulative values
        for rm in r.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    found[m.name] = m
    return list(found.values())


def _logs(requests: list[Any]) -> list[Any]:
    return [
        lr
        for r in requests
        for rl in r.resource_logs
        for sl in rl.scope_logs
        for lr in sl.log_records
    ]


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
            _spans(sink.of("traces")), _metrics(sink.of("metrics")), _logs(sink.of("logs"))
        )
    finally:
        sink.close()


def test_demo_over_real_otlp_http() -> None:
    sink = OtlpSink()
    try:
        _run_demo({**OTLP_ENV, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                   "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint})  # fmt: skip
        with sink.lock:
            by_path: dict[str, list[Any]] = {}
            for _, path, request in sink.requests:
                by_path.setdefault(path, []).append(request)
        _check_exported(
            _spans(by_path["/v1/traces"]),
            _metrics(by_path["/v1/metrics"]),
            _logs(by_path["/v1/logs"]),
        )
    finally:
        sink.close()


# --- the stack's files ------------------------------------------------------------------------


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _provisioned_uids() -> set[str]:
    doc = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/datasources.yaml").read_text(encoding="utf-8")
    )
    return {ds["uid"] for ds in doc["datasources"]}


def test_dashboard_uids_and_datasources() -> None:
    dashboard = _dashboard()
    assert dashboard["title"] == "Python audit events"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    uids = _provisioned_uids()
    used = set()
    for panel in dashboard["panels"]:
        used.add(panel["datasource"]["uid"])
        used.update(t["datasource"]["uid"] for t in panel["targets"])
    for var in dashboard["templating"]["list"]:
        used.add(var["datasource"]["uid"])
    assert used <= uids, used - uids
    # every panel leads to the traces: a Jaeger panel, or a data link into Jaeger
    for panel in dashboard["panels"]:
        assert panel["datasource"]["type"] == "jaeger" or "localhost:16686" in json.dumps(panel)


def test_docker_compose_file() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"demo", "collector", "jaeger", "prometheus", "grafana"}
    for name, service in services.items():
        for dep in service.get("depends_on", []):
            assert dep in services, (name, dep)
        if "image" in service:
            image, _, tag = service["image"].rpartition(":")
            assert image and tag and tag != "latest", service["image"]
            assert re.match(r"^v?\d+\.\d+\.\d+$", tag), service["image"]
        for volume in service.get("volumes", []):
            host = volume.split(":")[0]
            assert (ROOT / host).exists(), volume
    build = services["demo"]["build"]
    assert (ROOT / build["context"] / build["dockerfile"]).exists()
    # the wiring agrees with the configs
    collector = yaml.safe_load(COLLECTOR_CONFIG.read_text(encoding="utf-8"))
    prom_endpoint = collector["exporters"]["prometheus"]["endpoint"]
    prom_port = prom_endpoint.rsplit(":", 1)[1].rstrip("}")
    prometheus = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text(encoding="utf-8"))
    targets = prometheus["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == [f"collector:{prom_port}"]
    assert services["demo"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector:4317"
    assert "jaeger:4317" in json.dumps(collector["exporters"]["otlp/jaeger"])
    # the collector-contrib image is the version the builder manifest builds
    manifest = yaml.safe_load(
        (DEPLOY / "collector/builder-config.yaml").read_text(encoding="utf-8")
    )
    assert services["collector"]["image"].endswith(":" + manifest["dist"]["version"])


# --- a real collector and a real Prometheus ----------------------------------------------------


def _collector_binary() -> str:
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build-collector.sh")],
        check=False,
        capture_output=True,
        text=True,
        timeout=3000,
    )
    if proc.returncode != 0:
        if REQUIRED:
            pytest.fail("the collector could not be built:\n" + proc.stderr[-3000:])
        pytest.skip("no collector: scripts/build-collector.sh failed (.ci/run builds it)")
    return proc.stdout.strip().splitlines()[-1]


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """collector (the shipped config, endpoints on loopback) + a stand-in
    Jaeger (a real OTLP/gRPC receiver) + a real Prometheus scraping it; the
    demo then runs against the collector."""
    binary = _collector_binary()
    tmp = tmp_path_factory.mktemp("stack")
    jaeger = OtlpGrpcSink()
    ports = {k: _free_port() for k in ("grpc", "http", "prom", "health", "prometheus")}
    env = clean_env(
        OTLP_GRPC_ENDPOINT=f"127.0.0.1:{ports['grpc']}",
        OTLP_HTTP_ENDPOINT=f"127.0.0.1:{ports['http']}",
        PROMETHEUS_EXPORTER_ENDPOINT=f"127.0.0.1:{ports['prom']}",
        HEALTH_CHECK_ENDPOINT=f"127.0.0.1:{ports['health']}",
        JAEGER_OTLP_ENDPOINT=f"127.0.0.1:{jaeger.port}",
        FILE_EXPORTER_PATH=str(tmp / "telemetry.jsonl"),
    )
    logs = [open(tmp / name, "w") for name in ("collector.log", "prometheus.log")]  # noqa: SIM115
    collector = subprocess.Popen(
        [binary, f"--config={COLLECTOR_CONFIG}"], env=env, stdout=logs[0], stderr=subprocess.STDOUT
    )
    prometheus = None
    try:
        _wait_http(f"http://127.0.0.1:{ports['health']}/")
        shipped = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text(encoding="utf-8"))
        shipped["global"]["scrape_interval"] = "1s"
        shipped["scrape_configs"][0]["static_configs"][0]["targets"] = [
            f"127.0.0.1:{ports['prom']}"
        ]
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(shipped), encoding="utf-8")
        prometheus_bin = shutil.which("prometheus")
        if prometheus_bin is not None:
            prometheus = subprocess.Popen(
                [
                    prometheus_bin,
                    f"--config.file={tmp / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
                ],  # fmt: skip
                stdout=logs[1],
                stderr=subprocess.STDOUT,
            )
            _wait_http(f"http://127.0.0.1:{ports['prometheus']}/-/ready")
        _run_demo(
            {**OTLP_ENV, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
             "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{ports['grpc']}",
             "DEMO_PAUSE_SECONDS": "1"},
            iterations=5,
        )  # fmt: skip
        time.sleep(3)  # one batch timeout and a few scrapes
        yield {"tmp": tmp, "ports": ports, "jaeger": jaeger, "prometheus": prometheus}
    finally:
        if prometheus is not None:
            prometheus.terminate()
            prometheus.wait(30)
        collector.terminate()
        collector.wait(30)
        jaeger.close()
        for log in logs:
            log.close()


def test_shipped_collector_config_validates() -> None:
    binary = _collector_binary()
    proc = subprocess.run(
        [binary, "validate", f"--config={COLLECTOR_CONFIG}"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_collector_writes_what_the_app_sent(stack: dict[str, Any]) -> None:
    lines = (stack["tmp"] / "telemetry.jsonl").read_text(encoding="utf-8").splitlines()
    text = "\n".join(lines)
    assert '"name":"handle-order"' in text
    assert '"name":"subprocess.Popen"' in text
    assert '"name":"python.audit.events"' in text
    assert '"eventName":"socket.bind"' in text or '"socket.bind"' in text
    # and forwarded the traces to Jaeger over OTLP
    spans = _spans(stack["jaeger"].of("traces"))
    assert {s.name for s in spans} >= {"handle-order", "render-report", "health-check"}


def test_collector_exposes_prometheus_metrics(stack: dict[str, Any]) -> None:
    url = f"http://127.0.0.1:{stack['ports']['prom']}/metrics"
    with urllib.request.urlopen(url, timeout=10) as resp:
        body = resp.read().decode()
    assert re.search(r'python_audit_events_total\{[^}]*python_audit_event="open"', body)
    assert 'python_audit_category="file"' in body
    assert re.search(
        r'python_audit_events_dropped_total\{[^}]*python_audit_drop_reason="span_budget"', body
    )
    assert 'service_name="audithook-demo"' in body


def _promql(expr: str) -> str:
    # Grafana's variables, as Grafana would fill them for "the last 5 minutes, all services"
    return (
        expr.replace("$__rate_interval", "1m").replace("$__range", "5m").replace("$service", ".*")
    )


def test_every_dashboard_query_returns_data_from_a_real_prometheus(stack: dict[str, Any]) -> None:
    if stack["prometheus"] is None:
        if REQUIRED:
            pytest.fail("prometheus is not installed (.ci/run installs Debian's package)")
        pytest.skip("prometheus is not installed (.ci/run installs Debian's package)")
    queries = [
        t["expr"]
        for p in _dashboard()["panels"]
        for t in p["targets"]
        if p["datasource"]["type"] == "prometheus"
    ]
    # the service variable's label_values(...) reads this series
    queries.append("python_audit_events_total")
    assert len(queries) >= 8
    base = f"http://127.0.0.1:{stack['ports']['prometheus']}/api/v1/query?query="
    deadline = time.monotonic() + 60
    pending = list(queries)
    while pending:
        still = []
        for expr in pending:
            with urllib.request.urlopen(base + urllib.parse.quote(_promql(expr)), timeout=10) as r:
                result = json.loads(r.read())
            assert result["status"] == "success", (expr, result)
            if not result["data"]["result"]:
                still.append(expr)
        pending = still
        if pending and time.monotonic() > deadline:
            pytest.fail(f"no data for: {pending}")
        if pending:
            time.sleep(1)
