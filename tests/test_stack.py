"""The docker-compose stack for real, without Docker: the demo under
opentelemetry-instrument -> the shipped collector config -> a real Jaeger v2,
a real Prometheus and a real VictoriaLogs, all built from Go modules and run
on loopback with the shipped configuration files. Then every dashboard query
and every data link runs the way Grafana runs them in the dashboard's default
state, and each must return data."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from _stack import (
    COLLECTOR_CONFIG,
    DEPLOY,
    Program,
    binary,
    compose,
    dashboard,
    free_port,
    get_json,
    get_lines,
    wait_http,
)
from conftest import ROOT, clean_env, run_instrumented

SERVICE = "audithook-demo"
# The dashboard's default time range is the last 30 minutes: Grafana sends
# $__range as 1800s, and for a range query a step of max(range / max data
# points (about 1,000), the data source's timeInterval of 5s) = 5s, so that
# $__rate_interval = max(step + 5s, 4 x 5s) = 20s.
RANGE_S = 1800
STEP_S = 5
RATE_INTERVAL = "20s"


@dataclass
class Stack:
    tmp: Any
    ports: dict[str, int]
    programs: dict[str, Program]
    start: float  # when the demo started (seconds since the epoch)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def window(self) -> tuple[float, float]:
        """The dashboard's time range, now."""
        now = time.time()
        return now - RANGE_S, now


def _compose_command(service: str, *replacements: str) -> list[str]:
    """The compose file's command line for a service (its feature flags above
    all), each ``-flag=value`` in ``replacements`` taking the place of the
    compose file's value for that flag (paths of this machine)."""
    by_flag = {r.split("=", 1)[0]: r for r in replacements}
    args = [by_flag.get(a.split("=", 1)[0], a) for a in compose()["services"][service]["command"]]
    assert set(by_flag.values()) <= set(args), (service, args)
    return args


def _start_backends(tmp: Any) -> tuple[dict[str, int], dict[str, Program]]:
    names = ("grpc", "http", "prom_exporter", "health", "prometheus", "victorialogs",
             "jaeger_otlp", "jaeger_otlp_http", "jaeger_query", "jaeger_query_grpc",
             "jaeger_health")  # fmt: skip
    ports = {name: free_port() for name in names}
    loop = "127.0.0.1:{}".format
    programs: dict[str, Program] = {}
    try:
        programs["jaeger"] = Program(
            "jaeger",
            [binary("jaeger"), f"--config={DEPLOY / 'jaeger' / 'config.yaml'}"],
            tmp,
            JAEGER_OTLP_GRPC_ENDPOINT=loop(ports["jaeger_otlp"]),
            JAEGER_OTLP_HTTP_ENDPOINT=loop(ports["jaeger_otlp_http"]),
            JAEGER_QUERY_HTTP_ENDPOINT=loop(ports["jaeger_query"]),
            JAEGER_QUERY_GRPC_ENDPOINT=loop(ports["jaeger_query_grpc"]),
            JAEGER_HEALTH_CHECK_ENDPOINT=loop(ports["jaeger_health"]),
        )
        programs["victorialogs"] = Program(
            "victorialogs",
            [binary("victorialogs"), f"-httpListenAddr={loop(ports['victorialogs'])}",
             *_compose_command("victorialogs", f"-storageDataPath={tmp / 'vl-data'}")],
            tmp,
        )  # fmt: skip
        programs["jaeger"].wait_ready(f"http://{loop(ports['jaeger_health'])}/status")
        programs["victorialogs"].wait_ready(f"http://{loop(ports['victorialogs'])}/health")
        programs["collector"] = Program(
            "collector",
            [binary("collector"), f"--config={COLLECTOR_CONFIG}"],
            tmp,
            OTLP_GRPC_ENDPOINT=loop(ports["grpc"]),
            OTLP_HTTP_ENDPOINT=loop(ports["http"]),
            PROMETHEUS_EXPORTER_ENDPOINT=loop(ports["prom_exporter"]),
            HEALTH_CHECK_ENDPOINT=loop(ports["health"]),
            JAEGER_OTLP_ENDPOINT=loop(ports["jaeger_otlp"]),
            VICTORIALOGS_OTLP_LOGS_ENDPOINT=(
                f"http://{loop(ports['victorialogs'])}/insert/opentelemetry/v1/logs"
            ),
            FILE_EXPORTER_PATH=str(tmp / "telemetry.jsonl"),
        )
        programs["collector"].wait_ready(f"http://{loop(ports['health'])}/")
        shipped = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text("utf-8"))
        shipped["scrape_configs"][0]["static_configs"][0]["targets"] = [
            loop(ports["prom_exporter"])
        ]
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(shipped), encoding="utf-8")
        programs["prometheus"] = Program(
            "prometheus",
            [binary("prometheus"), f"--storage.tsdb.path={tmp / 'tsdb'}",
             f"--web.listen-address={loop(ports['prometheus'])}",
             *_compose_command("prometheus", f"--config.file={tmp / 'prometheus.yml'}")],
            tmp,
        )  # fmt: skip
        programs["prometheus"].wait_ready(f"http://{loop(ports['prometheus'])}/-/ready")
    except BaseException:
        for program in programs.values():
            program.stop()
        raise
    return ports, programs


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("stack")
    ports, programs = _start_backends(tmp)
    try:
        start = time.time()
        proc = run_instrumented(
            ROOT / "examples" / "demo_app.py",
            timeout=240,
            OTEL_SERVICE_NAME=SERVICE,
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_METRICS_EXPORTER="otlp",
            OTEL_LOGS_EXPORTER="otlp",
            OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{ports['grpc']}",
            OTEL_METRIC_EXPORT_INTERVAL="1000",
            DEMO_ITERATIONS="5",
            DEMO_PAUSE_SECONDS="1",
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        yield Stack(tmp, ports, programs, start)
    finally:
        for program in programs.values():
            program.stop()


def _eventually(check: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    """Backends take a batch timeout and a scrape or two to show the data."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"no data for {what}")
        time.sleep(1)


# --- what reached each backend --------------------------------------------------------------


def test_collector_file_exporter_has_everything(stack: Stack) -> None:
    def text() -> str:
        path = stack.tmp / "telemetry.jsonl"
        content = path.read_text(encoding="utf-8") if path.exists() else ""
        return content if '"socket.bind"' in content and "python.audit.events" in content else ""

    content = _eventually(text, "the file exporter")
    assert '"name":"handle-order"' in content
    assert '"name":"subprocess.Popen"' in content


def _jaeger_traces(stack: Stack, **params: Any) -> list[dict[str, Any]]:
    start, end = stack.window()
    query = {"service": SERVICE, "limit": 20, "lookback": "custom",
             "start": int(start * 1e6), "end": int(end * 1e6), **params}  # fmt: skip
    return list(get_json(stack.url("jaeger_query") + "/api/traces", **query)["data"])


def _span_logs(trace: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {f["key"]: f["value"] for f in log["fields"]}
        for span in trace["spans"]
        for log in span.get("logs", [])
    ]


def test_jaeger_holds_the_spans_with_their_audit_events(stack: Stack) -> None:
    wanted = {"handle-order", "render-report", "health-check"}

    def spans() -> list[dict[str, Any]]:
        found = [s for t in _jaeger_traces(stack, limit=100) for s in t["spans"]]
        return found if {s["operationName"] for s in found} >= wanted else []

    found = _eventually(spans, "Jaeger's traces")
    popen = [
        {f["key"]: f["value"] for f in log["fields"]}
        for span in found
        for log in span.get("logs", [])
        if {"key": "event", "type": "string", "value": "subprocess.Popen"} in log["fields"]
    ]
    assert popen, "no subprocess.Popen span event in Jaeger"
    assert popen[0]["python.audit.event"] == "subprocess.Popen"
    assert popen[0]["process.executable.path"]


def test_jaeger_tag_search_matches_span_event_attributes(stack: Stack) -> None:
    """What the dashboard's tables and links rely on: Jaeger 2.x memory storage
    finds traces by the attributes of their span events."""
    _eventually(lambda: _jaeger_traces(stack), "Jaeger's traces")
    paths = {
        f["file.path"]
        for t in _jaeger_traces(stack)
        for f in _span_logs(t)
        if f.get("event") == "open" and f.get("file.path", "").endswith("order.json")
    }
    assert paths
    path = sorted(paths)[0]
    found = _jaeger_traces(stack, tags=json.dumps({"file.path": path}))
    assert found and all(any(f.get("file.path") == path for f in _span_logs(t)) for t in found), (
        "the tag search returned traces without that file"
    )
    assert _jaeger_traces(stack, tags=json.dumps({"file.path": path + ".absent"})) == []


def test_victorialogs_holds_the_log_records(stack: Stack) -> None:
    start, end = stack.window()

    def rows() -> list[dict[str, Any]]:
        return get_lines(stack.url("victorialogs") + "/select/logsql/query",
                         query=f'"service.name":="{SERVICE}"', limit=1000,
                         start=int(start), end=int(end) + 1)  # fmt: skip

    found = _eventually(rows, "VictoriaLogs")
    events = {r.get("python.audit.event") for r in found}
    assert "socket.bind" in events  # the demo's server thread, outside any span
    bind = next(r for r in found if r.get("python.audit.event") == "socket.bind")
    assert bind["_msg"] == "socket.bind"


# --- the dashboard, queried as Grafana queries it ---------------------------------------------


def _service_variable(stack: Stack) -> str:
    """Grafana fills a single-valued query variable with no saved value with
    the first of its values, sorted as the variable says."""
    (variable,) = dashboard()["templating"]["list"]
    assert variable["name"] == "service" and not variable["multi"] and not variable["includeAll"]
    assert not variable.get("current"), "a saved value would pin a service that may not exist"
    match = re.fullmatch(r"label_values\((\w+), *(\w+)\)", variable["query"]["query"])
    assert match, variable["query"]
    metric, label = match.groups()
    start, end = stack.window()

    def values() -> list[str]:
        url = stack.url("prometheus") + f"/api/v1/label/{label}/values"
        return list(get_json(url, **{"match[]": metric, "start": start, "end": end})["data"])

    found = _eventually(values, "the service variable")
    assert variable["sort"] == 1  # alphabetical, ascending
    return sorted(found)[0]


def _fill(text: str, service: str) -> str:
    return (
        text.replace("$__rate_interval", RATE_INTERVAL)
        .replace("$__range", f"{RANGE_S}s")
        .replace("${service}", service)
        .replace("$service", service)
    )


def _prometheus(stack: Stack, target: dict[str, Any], service: str) -> list[dict[str, Any]]:
    expr = _fill(target["expr"], service)
    start, end = stack.window()
    base = stack.url("prometheus") + "/api/v1/"
    if target.get("instant"):
        data = get_json(base + "query", query=expr, time=end)
    else:
        data = get_json(base + "query_range", query=expr, start=start, end=end, step=STEP_S)
    assert data["status"] == "success", (expr, data)
    return list(data["data"]["result"])


def _has_positive_value(result: list[dict[str, Any]]) -> bool:
    values = [s["value"] for s in result if "value" in s]
    values += [v for s in result for v in s.get("values", [])]
    return any(float(v[1]) > 0 for v in values)


def _jaeger_target(stack: Stack, target: dict[str, Any], service: str) -> list[dict[str, Any]]:
    """Grafana's Jaeger search: logfmt tags become a JSON object, the dashboard's
    time range goes as start/end in microseconds with lookback=custom."""
    tags = dict(pair.split("=", 1) for pair in target.get("tags", "").split())
    assert _fill(target["service"], service) == service
    return _jaeger_traces(stack, tags=json.dumps(tags), limit=target.get("limit", 20))


def _logsql(stack: Stack, target: dict[str, Any], service: str) -> list[dict[str, Any]]:
    """The VictoriaLogs plugin: a logs query to /select/logsql/query with the
    time range in seconds; a stats query to /select/logsql/stats_query with a
    _time filter for the range and the range's end as time."""
    expr = _fill(target["expr"], service)
    start, end = stack.window()
    base = stack.url("victorialogs") + "/select/logsql/"
    if target["queryType"] == "stats":
        first, _, pipes = expr.partition("|")
        ranged = f"_time:[{int(start)}, {int(end) + 1}] {first}" + (f"| {pipes}" if pipes else "")
        data = get_json(base + "stats_query", query=ranged, time=int(end) + 1)
        assert data["status"] == "success", (expr, data)
        return list(data["data"]["result"])
    return get_lines(base + "query", query=expr, limit=target.get("maxLines", 1000),
                     start=int(start), end=int(end) + 1)  # fmt: skip


def _run_target(stack: Stack, panel: dict[str, Any], target: dict[str, Any], service: str) -> Any:
    kind = target["datasource"]["type"]
    if kind == "prometheus":
        result = _prometheus(stack, target, service)
        return result if _has_positive_value(result) else []
    if kind == "jaeger":
        return _jaeger_target(stack, target, service)
    assert kind == "victoriametrics-logs-datasource", kind
    return _logsql(stack, target, service)


def test_every_panel_shows_data(stack: Stack) -> None:
    service = _service_variable(stack)
    assert service == SERVICE
    panels = dashboard()["panels"]
    assert len(panels) >= 12
    for panel in panels:
        for target in panel["targets"]:
            _eventually(
                lambda p=panel, t=target: _run_target(stack, p, t, service),
                f"panel {panel['title']!r}",
            )


def test_the_per_package_panel_names_the_demos_code(stack: Stack) -> None:
    """Issue 12's panel: the demo's own code, by category, from Prometheus."""
    service = _service_variable(stack)
    (panel,) = [p for p in dashboard()["panels"] if p["title"] == "What each dependency does"]
    (target,) = panel["targets"]

    def rows() -> list[dict[str, Any]]:
        result = _prometheus(stack, target, service)
        found = {
            (s["metric"].get("python_audit_package_name"), s["metric"].get("python_audit_category"))
            for s in result
            if float(s["value"][1]) > 0
        }
        return result if {("(application)", "file"), ("(application)", "network")} <= found else []

    _eventually(rows, "the per-package panel")


def test_short_lived_processes_are_counted(stack: Stack) -> None:
    """The demo's subprocess exports its counters once, at exit: Prometheus must
    count its events from zero (start timestamps), not see a flat series."""
    service = _service_variable(stack)

    def per_process() -> list[dict[str, Any]]:
        expr = (f'sum by (service_instance_id) (increase(python_audit_events_total'
                f'{{service_name="{service}"}}[{RANGE_S}s]))')  # fmt: skip
        result = _prometheus(stack, {"expr": expr, "instant": True}, service)
        return result if len(result) >= 2 and all(float(s["value"][1]) > 0 for s in result) else []

    series = _eventually(per_process, "each process's increase()")
    assert len(series) >= 2  # the demo and its subprocesses, each counted


# --- data links, followed as a user clicks them ------------------------------------------------


def _links(panel: dict[str, Any]) -> list[str]:
    field = panel.get("fieldConfig", {})
    urls = [link["url"] for link in field.get("defaults", {}).get("links", [])]
    urls += [link["url"] for link in panel.get("links", [])]
    for override in field.get("overrides", []):
        for prop in override["properties"]:
            if prop["id"] == "links":
                urls += [link["url"] for link in prop["value"]]
    return urls


def _jaeger_api(stack: Stack, ui_url: str) -> Any:
    """The Jaeger UI's search and trace pages call the same parameters on /api."""
    parsed = urllib.parse.urlsplit(ui_url)
    assert parsed.netloc == "localhost:16686", ui_url
    base = stack.url("jaeger_query")
    if parsed.path == "/search":
        params = urllib.parse.parse_qs(parsed.query)
        if "tags" in params:
            json.loads(params["tags"][0])  # the UI needs valid JSON
        return get_json(base + "/api/traces?" + parsed.query)["data"]
    match = re.fullmatch(r"/trace/([0-9a-f]{16,32})", parsed.path)
    assert match, ui_url
    return get_json(base + f"/api/traces/{match.group(1)}")["data"]


def _link_values(stack: Stack, panel: dict[str, Any], service: str) -> list[dict[str, str]]:
    """What Grafana substitutes in a link, for each row or series the panel shows."""
    (target,) = panel["targets"]
    kind = target["datasource"]["type"]
    if kind == "jaeger":
        return [{"__value.raw": t["traceID"]} for t in _jaeger_target(stack, target, service)]
    if kind == "prometheus":
        rows = []
        for series in _prometheus(stack, target, service):
            labels = series["metric"]
            row = {f"__field.labels.{k}": v for k, v in labels.items()}
            row.update({f"__data.fields.{k}": v for k, v in labels.items()})
            rows.append(row)
        return rows
    return [{}]


def test_every_data_link_leads_to_traces(stack: Stack) -> None:
    service = _service_variable(stack)
    start, end = stack.window()
    checked = 0
    for panel in dashboard()["panels"]:
        urls = _links(panel)
        assert urls, f"panel {panel['title']!r} has no link"
        rows = _eventually(lambda p=panel: _link_values(stack, p, service), panel["title"])
        for url in urls:
            needed = set(re.findall(r"\$\{([^}]+)\}", url)) - {"service", "__from", "__to"}
            candidates = [r for r in rows if needed <= set(r)]
            assert candidates, (panel["title"], url, needed)
            # a row leads to traces when its events were on spans; the table's
            # other rows may come from log records (events outside spans)
            found = False
            for row in candidates:
                filled = url.replace("${service}", urllib.parse.quote(service))
                filled = filled.replace("${__from}", str(int(start * 1000)))
                filled = filled.replace("${__to}", str(int(end * 1000) + 1000))
                for key, value in row.items():
                    filled = filled.replace("${" + key + "}", urllib.parse.quote(value, safe=""))
                if _jaeger_api(stack, filled):
                    found = True
                    break
            assert found, f"panel {panel['title']!r}: no trace behind {url}"
            checked += 1
    assert checked >= 12


# --- the collector as the compose file runs it ---------------------------------------------


def test_collector_runs_unprivileged_with_the_images_file_system(
    request: pytest.FixtureRequest,
) -> None:
    """The collector image runs as 10001 and can write only to the volume the
    compose file mounts; the shipped config with the compose file's
    environment must start there, and writes its file into that volume."""
    service = compose()["services"]["collector"]
    dockerfile = (DEPLOY / "collector" / "Dockerfile").read_text(encoding="utf-8")
    user = re.search(r"^USER (\d+):(\d+)$", dockerfile, re.M)
    assert user, "the collector image must run as an unprivileged user"
    uid, gid = user.groups()
    file_path = service["environment"]["FILE_EXPORTER_PATH"]
    volume_dir = os.path.dirname(file_path)
    assert any(v.split(":")[1] == volume_dir for v in service["volumes"]), service["volumes"]
    assert f"chown {uid}:{gid} {volume_dir}" in dockerfile
    # A directory outside root's private ones, as the image's root file system
    # is to the user: the binary, a volume owned by the user, and a directory
    # the user cannot write.
    root = pathlib.Path(tempfile.mkdtemp(prefix="audithook-image-"))
    request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))
    root.chmod(0o755)
    collector = str(root / "otelcol")
    shutil.copy2(binary("collector"), collector)
    volume = root / "volume"
    volume.mkdir()
    os.chown(volume, int(uid), int(gid))
    denied = root / "not-writable"
    denied.mkdir()
    ports = {name: free_port() for name in ("grpc", "http", "prom", "health")}

    def start(path: str, output: Any = subprocess.PIPE) -> subprocess.Popen[bytes]:
        env = clean_env(
            **{k: str(v) for k, v in service["environment"].items()},
            OTLP_GRPC_ENDPOINT=f"127.0.0.1:{ports['grpc']}",
            OTLP_HTTP_ENDPOINT=f"127.0.0.1:{ports['http']}",
            PROMETHEUS_EXPORTER_ENDPOINT=f"127.0.0.1:{ports['prom']}",
            HEALTH_CHECK_ENDPOINT=f"127.0.0.1:{ports['health']}",
        )
        env["FILE_EXPORTER_PATH"] = path
        env.pop("HOME", None)
        return subprocess.Popen(
            ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", collector,
             f"--config={COLLECTOR_CONFIG}"],
            env=env, cwd="/", stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip

    # a path the user cannot write (the old /tmp in a scratch image): no start
    bad = start(str(denied / "telemetry.jsonl"))
    try:
        out, _ = bad.communicate(timeout=60)
    finally:
        bad.kill()
    assert bad.returncode != 0 and b"file" in out, out[-2000:]
    # the volume: it starts and writes what it receives
    good = start(str(volume / "telemetry.jsonl"), subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{ports['health']}/", 60, good)
        body = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [
            {"body": {"stringValue": "written-by-10001"}}]}]}]}).encode()  # fmt: skip
        request = urllib.request.Request(
            f"http://127.0.0.1:{ports['http']}/v1/logs",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10):
            pass
        written = volume / "telemetry.jsonl"
        _eventually(
            lambda: written.exists() and "written-by-10001" in written.read_text("utf-8"),
            "the file exporter's output in the volume",
            timeout=30,
        )
        assert written.stat().st_uid == int(uid)
    finally:
        good.terminate()
        good.wait(30)
