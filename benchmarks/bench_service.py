"""A real service, with and without the audit hook: what a user would measure.

    pip install -e ".[bench]"
    python benchmarks/bench_service.py [--rounds 10] [--requests 2000] [--quick]

A Flask app runs under ``opentelemetry-instrument`` with its framework's
instrumentation (opentelemetry-instrumentation-flask) in every arm, exporting
traces, metrics and logs over OTLP/HTTP to a sink in another process that
counts the bytes.  Each request reads a file, queries sqlite and calls an
upstream HTTP service (another process).  A client (this process) sends the
requests one after another over a kept-alive connection.

Arms, interleaved in every round (the order alternates):

* ``none``: the audit hook disabled (``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS
  =audithook``), the framework's spans only;
* ``c``: the audit hook with its defaults, C hook;
* ``pure``: the same, pure-Python hook.

Printed: throughput, p50 and p99 latency and server CPU per request (user +
system, from /proc, exporter threads included) of each arm as ratios to
``none`` taken in the same round, median and [min..max] over the rounds; and
the exported bytes per request (traces, logs, metrics).
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import os
import signal
import socketserver
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from typing import Any

HERE = os.path.abspath(__file__)
TICK = os.sysconf("SC_CLK_TCK")


# --- the upstream service and the OTLP sink (each its own process) ------------------------------


class _Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, body: bytes, kind: str = "application/json") -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def upstream(port_file: str) -> None:
    class Handler(_Quiet):
        def do_GET(self) -> None:
            self._reply(b'{"price": 42}')

    _serve(Handler, port_file)


def sink(port_file: str) -> None:
    """Counts the bytes of every OTLP/HTTP request by path; GET /take reads and resets."""
    counts: dict[str, int] = {}
    lock = threading.Lock()

    class Handler(_Quiet):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                counts[self.path] = counts.get(self.path, 0) + len(body)
            self._reply(b"", "application/x-protobuf")

        def do_GET(self) -> None:
            with lock:
                taken = dict(counts)
                counts.clear()
            self._reply(json.dumps(taken).encode())

    _serve(Handler, port_file)


def _serve(handler: Any, port_file: str) -> None:
    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

    server = Server(("127.0.0.1", 0), handler)
    _write_port(port_file, server.server_address[1])
    server.serve_forever()


def _write_port(port_file: str, port: int) -> None:
    with open(port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.replace(port_file + ".tmp", port_file)


# --- the app (run under opentelemetry-instrument) -----------------------------------------------


def app(port_file: str, upstream_port: int, workdir: str) -> None:
    from flask import Flask, jsonify
    from werkzeug.serving import WSGIRequestHandler, make_server

    data = os.path.join(workdir, "catalog.json")
    database = os.path.join(workdir, "shop.db")
    flask_app = Flask("shop")

    @flask_app.route("/product/<int:pid>")
    def product(pid: int) -> Any:
        with open(data) as f:
            catalog = json.load(f)
        db = sqlite3.connect(database)
        try:
            row = db.execute("SELECT name, stock FROM product WHERE id = ?", (pid % 50,)).fetchone()
        finally:
            db.close()
        with urllib.request.urlopen(f"http://127.0.0.1:{upstream_port}/price/{pid}") as r:
            price = json.loads(r.read())["price"]
        return jsonify(name=row[0], stock=row[1], price=price, currency=catalog["currency"])

    WSGIRequestHandler.protocol_version = "HTTP/1.1"  # keep-alive, as a real client gets
    server = make_server("127.0.0.1", 0, flask_app, threaded=False)

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)  # atexit: the SDK flushes what it holds

    signal.signal(signal.SIGTERM, stop)
    _write_port(port_file, server.server_port)
    server.serve_forever()


def _prepare(workdir: str) -> None:
    with open(os.path.join(workdir, "catalog.json"), "w") as f:
        json.dump({"currency": "EUR", "items": list(range(200))}, f)
    db = sqlite3.connect(os.path.join(workdir, "shop.db"))
    db.execute("CREATE TABLE product (id INTEGER PRIMARY KEY, name TEXT, stock INTEGER)")
    db.executemany("INSERT INTO product VALUES (?, ?, ?)", [(i, f"p{i}", i) for i in range(50)])
    db.commit()
    db.close()


# --- the driver (the client) --------------------------------------------------------------------


def _spawn(role: str, port_file: str, *args: str, env: dict[str, str] | None = None) -> Any:
    command = [sys.executable, HERE, "--role", role, port_file, *args]
    if role == "app":
        bindir = os.path.dirname(sys.executable)
        command = [os.path.join(bindir, "opentelemetry-instrument"), *command]
    log = open(port_file + ".log", "wb")  # noqa: SIM115 - the process's lifetime
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not os.path.exists(port_file):
        if proc.poll() is not None or time.monotonic() > deadline:
            with open(port_file + ".log", "rb") as f:
                raise SystemExit(f"{role} did not start: {f.read().decode()[-2000:]}")
        time.sleep(0.02)
    with open(port_file) as f:
        return proc, int(f.read())


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _requests(port: int, n: int, start: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies = []
    for i in range(start, start + n):
        t = time.perf_counter()
        conn.request("GET", f"/product/{i}")
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - t)
        if response.status != 200:
            raise SystemExit(f"request failed: {response.status}")
    conn.close()
    return latencies


ARMS = {
    "none": {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "audithook"},
    "c": {"OTEL_PYTHON_AUDITHOOK_PURE_PYTHON": "false"},
    "pure": {"OTEL_PYTHON_AUDITHOOK_PURE_PYTHON": "true"},
}


def _round(
    arm: str, tmp: str, sink_port: int, upstream_port: int, n: int, warmup: int
) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        OTEL_SERVICE_NAME="shop",
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_METRICS_EXPORTER="otlp",
        OTEL_LOGS_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{sink_port}",
        **ARMS[arm],
    )
    port_file = os.path.join(tmp, f"app-{arm}-{time.monotonic_ns()}.port")
    proc, port = _spawn("app", port_file, str(upstream_port), tmp, env=env)
    try:
        print(f"round: {arm}", file=sys.stderr, flush=True)
        _requests(port, warmup, 0)
        cpu = _cpu_seconds(proc.pid)
        start = time.perf_counter()
        latencies = _requests(port, n, warmup)
        elapsed = time.perf_counter() - start
        cpu = _cpu_seconds(proc.pid) - cpu
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    with urllib.request.urlopen(f"http://127.0.0.1:{sink_port}/take") as r:
        exported = json.loads(r.read())
    latencies.sort()
    total = warmup + n
    return {
        "throughput": n / elapsed,
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "cpu": cpu / n,
        "traces_bytes": exported.get("/v1/traces", 0) / total,
        "logs_bytes": exported.get("/v1/logs", 0) / total,
        "metrics_bytes": exported.get("/v1/metrics", 0) / total,
    }


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f}x [{min(values):.3f}..{max(values):.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--arms", default="none,c,pure")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    parser.add_argument("--role", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        role, port_file, *rest = args.role
        if role == "upstream":
            upstream(port_file)
        elif role == "sink":
            sink(port_file)
        else:
            app(port_file, int(rest[0]), rest[1])
        return
    if args.quick:
        args.rounds, args.requests, args.warmup = 1, 50, 10
    arms = args.arms.split(",")
    results: dict[str, list[dict[str, float]]] = {arm: [] for arm in arms}
    with tempfile.TemporaryDirectory() as tmp:
        _prepare(tmp)
        up, up_port = _spawn("upstream", os.path.join(tmp, "upstream.port"))
        sk, sink_port = _spawn("sink", os.path.join(tmp, "sink.port"))
        try:
            for r in range(args.rounds):
                order = arms if r % 2 == 0 else arms[::-1]
                for arm in order:
                    results[arm].append(
                        _round(arm, tmp, sink_port, up_port, args.requests, args.warmup)
                    )
        finally:
            up.terminate()
            sk.terminate()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {args.rounds} rounds of "
        f"{args.requests} requests (+{args.warmup} warm-up), arms interleaved"
    )
    base = results.get("none")
    print(
        f"{'arm':<6}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/req':>12}"
        f"{'trace B/req':>13}{'log B/req':>11}{'metric B/req':>14}"
    )
    for arm in arms:

        def med(key: str, rows: list[dict[str, float]] = results[arm]) -> float:
            return statistics.median(row[key] for row in rows)

        print(
            f"{arm:<6}{med('throughput'):>9.0f}{med('p50') * 1e3:>9.2f}{med('p99') * 1e3:>9.2f}"
            f"{med('cpu') * 1e3:>12.3f}{med('traces_bytes'):>13.0f}{med('logs_bytes'):>11.0f}"
            f"{med('metrics_bytes'):>14.0f}"
        )
    if base is None:
        return
    print("\nratios to 'none' in the same round: median [min..max]")
    for arm in arms:
        if arm == "none":
            continue
        rows = results[arm]
        pairs = list(zip(rows, base, strict=True))
        framework = statistics.median(b["traces_bytes"] for b in base)
        ours = statistics.median(r["traces_bytes"] + r["logs_bytes"] for r in rows)
        print(f"{arm}:")
        print(
            f"  throughput       {_spread([r['throughput'] / b['throughput'] for r, b in pairs])}"
        )
        print(f"  p50 latency      {_spread([r['p50'] / b['p50'] for r, b in pairs])}")
        print(f"  p99 latency      {_spread([r['p99'] / b['p99'] for r, b in pairs])}")
        print(f"  CPU per request  {_spread([r['cpu'] / b['cpu'] for r, b in pairs])}")
        print(
            f"  exported trace+log bytes per request / framework's spans alone: "
            f"{ours / framework:.2f}x ({ours:.0f} B vs {framework:.0f} B)"
        )


if __name__ == "__main__":
    main()
