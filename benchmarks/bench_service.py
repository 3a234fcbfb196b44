"""A real service, with and without the audit hook: what a user would measure.

    pip install -e ".[bench]"
    python benchmarks/bench_service.py [--epochs 5] [--rounds 20] [--block 100] [--arms none,c]

A Flask app runs under ``opentelemetry-instrument`` with its framework's
instrumentation (opentelemetry-instrumentation-flask) in every arm, exporting
traces, metrics and logs over OTLP/HTTP to a sink in another process that
counts the bytes.  Each request reads a file, queries sqlite and calls an
upstream HTTP service (another process).  A client (this process) sends the
requests one after another over a kept-alive connection.

Arms, one server process each, all running at once (``--arms``; the first
is the baseline):

* ``none``: the audit hook disabled (``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS
  =audithook``), the framework's spans only;
* ``c``: the audit hook with its defaults, C hook;
* ``pure``: the same, pure-Python hook (``--arms none,c,pure``).

The run is made of epochs; each starts a fresh server for every arm (two
processes of the same program differ by a few percent, by memory layout and
hash seeds: more than the effect measured), and is made of rounds.  A round
sends a block of requests to each arm in turn (the order alternates from
round to round), so that every arm meets the same machine: on a shared VM
the speed of one process changes by a third from one minute to the next.
The servers share one core and the client, upstream and sink the others
(``--no-pin`` leaves placement to the kernel).  Server CPU is read per
thread from ``/proc/PID/task/*/schedstat`` (nanoseconds), over whole rounds,
so an arm's exporter threads are counted whenever they run.

Printed, for each arm against ``none``, median [min..max] over the epochs
(5 of 20 rounds of 100 requests per arm by default): throughput, p50 and p99
latency, and CPU per request; and the exported bytes per request (traces,
logs, metrics).  An epoch, not a round, is the unit: the SDK exports a batch
every 512 spans or 5 s, so one round holds a whole export or none.

The rate limits are per second of wall time, and each arm serves only its
share of the time (1/2 with two arms): per request it exports as many events
as a server busy all the time would at that many times the load.  What the
hook's exports cost per request, in CPU and bytes, is measured that much
higher than a busy server's: the figures err against the hook.
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


def _spawn(
    role: str,
    port_file: str,
    *args: str,
    env: dict[str, str] | None = None,
    cpus: set[int] | None = None,
) -> Any:
    """Start a role; with cpus, it runs (and its threads) on those CPUs only."""
    command = [sys.executable, HERE, "--role", role, port_file, *args]
    if role == "app":
        bindir = os.path.dirname(sys.executable)
        command = [os.path.join(bindir, "opentelemetry-instrument"), *command]
    log = open(port_file + ".log", "wb")  # noqa: SIM115 - the process's lifetime
    # a child inherits the CPUs of the thread that starts it
    mine = os.sched_getaffinity(0)
    if cpus is not None:
        os.sched_setaffinity(0, cpus)
    try:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    finally:
        os.sched_setaffinity(0, mine)
    deadline = time.monotonic() + 60
    while not os.path.exists(port_file):
        if proc.poll() is not None or time.monotonic() > deadline:
            with open(port_file + ".log", "rb") as f:
                raise SystemExit(f"{role} did not start: {f.read().decode()[-2000:]}")
        time.sleep(0.02)
    with open(port_file) as f:
        return proc, int(f.read())


def _cpu_seconds(pid: int) -> float:
    """User + system time of every thread of the process, to the nanosecond
    (schedstat), where clock ticks would round a block's CPU by a percent."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            continue  # a thread that just ended
    return total / 1e9


def _requests(conn: http.client.HTTPConnection, n: int, start: int) -> list[float]:
    latencies = []
    for i in range(start, start + n):
        t = time.perf_counter()
        conn.request("GET", f"/product/{i}")
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - t)
        if response.status != 200:
            raise SystemExit(f"request failed: {response.status}")
    return latencies


ARMS = {
    "none": {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "audithook"},
    "c": {"OTEL_PYTHON_AUDITHOOK_PURE_PYTHON": "false"},
    "pure": {"OTEL_PYTHON_AUDITHOOK_PURE_PYTHON": "true"},
}


class _Arm:
    """One arm: its server under opentelemetry-instrument (started anew for
    each epoch), and what was measured of it over every epoch."""

    def __init__(
        self, arm: str, tmp: str, sink_port: int, upstream_port: int, cpus: set[int] | None
    ) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(
            OTEL_SERVICE_NAME="shop",
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_METRICS_EXPORTER="otlp",
            OTEL_LOGS_EXPORTER="otlp",
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            # the sink counts each arm's bytes under its own path
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{sink_port}/{arm}",
            **ARMS[arm],
        )
        self.name = arm
        self._env, self._tmp, self._upstream, self._cpus = env, tmp, upstream_port, cpus
        self._epoch = 0
        self.proc: Any = None
        self.conn: http.client.HTTPConnection | None = None
        self.sent = 0  # measured requests
        self.served = 0  # and warm-up ones: what the exported bytes are of
        self.rounds: list[dict[str, float]] = []
        self.latencies: list[list[float]] = []

    def start(self, warmup: int) -> None:
        self._epoch += 1
        port_file = os.path.join(self._tmp, f"app-{self.name}-{self._epoch}.port")
        self.proc, port = _spawn(
            "app", port_file, str(self._upstream), self._tmp, env=self._env, cpus=self._cpus
        )
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        _requests(self.conn, warmup, 0)
        self.served += warmup

    def send(self, n: int) -> list[float]:
        assert self.conn is not None
        latencies = _requests(self.conn, n, self.sent)
        self.sent += n
        self.served += n
        return latencies

    def cpu(self) -> float:
        return _cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # atexit: the SDK flushes what it holds
            self.proc.wait(timeout=60)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _measure(arms: list[_Arm], rounds: int, block: int) -> None:
    cpu_at = {arm.name: arm.cpu() for arm in arms}
    for r in range(rounds):
        for arm in arms if r % 2 == 0 else arms[::-1]:
            start = time.perf_counter()
            latencies = arm.send(block)
            elapsed = time.perf_counter() - start
            arm.rounds.append({"elapsed": elapsed})
            arm.latencies.append(latencies)
        # CPU over the whole round: an arm's exporter also works while the
        # others serve
        for arm in arms:
            now = arm.cpu()
            arm.rounds[-1]["cpu"] = now - cpu_at[arm.name]
            cpu_at[arm.name] = now


def _groups(arm: _Arm, size: int) -> list[dict[str, float]]:
    """Throughput, CPU per request, p50 and p99 over groups of `size`
    consecutive rounds (an epoch's, or all of them)."""
    groups = []
    for i in range(0, len(arm.rounds) - size + 1, size):
        rounds = arm.rounds[i : i + size]
        latencies = [x for block in arm.latencies[i : i + size] for x in block]
        groups.append(
            {
                "throughput": len(latencies) / sum(r["elapsed"] for r in rounds),
                "cpu": sum(r["cpu"] for r in rounds) / len(latencies),
                "p50": _percentile(latencies, 0.5),
                "p99": _percentile(latencies, 0.99),
            }
        )
    return groups


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f}x [{min(values):.3f}..{max(values):.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=5, help="fresh server processes")
    parser.add_argument("--rounds", type=int, default=20, help="rounds per epoch")
    parser.add_argument("--block", type=int, default=100, help="requests per arm and round")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--arms", default="none,c")
    parser.add_argument("--no-pin", action="store_true", help="no CPU placement")
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
        args.epochs, args.rounds, args.block, args.warmup = 1, 2, 20, 10
    names = args.arms.split(",")
    if names[0] != "none":
        raise SystemExit("--arms: the first arm is the baseline, none")
    cpus = os.sched_getaffinity(0)
    servers = None
    if not args.no_pin and len(cpus) >= 2:
        servers = {min(cpus)}
        os.sched_setaffinity(0, cpus - servers)  # the client; the upstream and sink inherit it
    with tempfile.TemporaryDirectory() as tmp:
        _prepare(tmp)
        up, up_port = _spawn("upstream", os.path.join(tmp, "upstream.port"))
        sk, sink_port = _spawn("sink", os.path.join(tmp, "sink.port"))
        arms = [_Arm(name, tmp, sink_port, up_port, servers) for name in names]
        try:
            for epoch in range(args.epochs):
                try:
                    for arm in arms:
                        arm.start(args.warmup)
                    _measure(arms, args.rounds, args.block)
                finally:
                    for arm in arms:
                        arm.stop()
                print(f"epoch {epoch + 1}/{args.epochs}", file=sys.stderr, flush=True)
        finally:
            with urllib.request.urlopen(f"http://127.0.0.1:{sink_port}/take") as r:
                exported = json.loads(r.read())
            up.terminate()
            sk.terminate()
    _report(args, arms, exported, servers)


def _report(
    args: argparse.Namespace, arms: list[_Arm], exported: dict[str, int], pinned: Any
) -> None:
    placement = "servers on one core, the rest on the others" if pinned else "no CPU placement"
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores ({placement}), "
        f"{args.epochs} epochs of {args.rounds} rounds of {args.block} requests per arm "
        f"(+{args.warmup} warm-up), arms served in turn"
    )
    print(
        f"{'arm':<6}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/req':>12}"
        f"{'trace B/req':>13}{'log B/req':>11}{'metric B/req':>14}   (all rounds)"
    )
    per_request: dict[str, dict[str, float]] = {}
    for arm in arms:
        per_request[arm.name] = {
            signal_: exported.get(f"/{arm.name}/v1/{signal_}", 0) / arm.served
            for signal_ in ("traces", "logs", "metrics")
        }
        b = per_request[arm.name]
        (whole,) = _groups(arm, len(arm.rounds))
        print(
            f"{arm.name:<6}{whole['throughput']:>9.0f}"
            f"{whole['p50'] * 1e3:>9.2f}"
            f"{whole['p99'] * 1e3:>9.2f}"
            f"{whole['cpu'] * 1e3:>12.3f}"
            f"{b['traces']:>13.0f}{b['logs']:>11.0f}{b['metrics']:>14.0f}"
        )
    base = arms[0]
    print(
        f"\nratios to 'none' over the same epoch ({args.rounds * args.block} requests per arm"
        f" each): median [min..max] over {args.epochs} epochs"
    )
    framework = per_request["none"]["traces"]
    for arm in arms[1:]:
        pairs = list(zip(_groups(arm, args.rounds), _groups(base, args.rounds), strict=True))

        def ratios(key: str, pairs: list[Any] = pairs) -> str:
            return _spread([r[key] / b[key] for r, b in pairs])

        ours = per_request[arm.name]["traces"] + per_request[arm.name]["logs"]
        print(f"{arm.name}:")
        print(f"  throughput       {ratios('throughput')}")
        print(f"  p50 latency      {ratios('p50')}")
        print(f"  p99 latency      {ratios('p99')}")
        print(f"  CPU per request  {ratios('cpu')}")
        print(
            f"  exported trace+log bytes per request / framework's spans alone: "
            f"{ours / framework:.2f}x ({ours:.0f} B vs {framework:.0f} B)"
        )


if __name__ == "__main__":
    main()
