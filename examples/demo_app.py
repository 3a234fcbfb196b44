"""A small service that touches files, the network, a subprocess and sqlite.

It knows nothing of audit hooks: it only traces its own work with the
OpenTelemetry API, as any instrumented service does.  Run it under
``opentelemetry-instrument`` and the audit events it raises appear as span
events on its spans.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from opentelemetry import trace

tracer = trace.get_tracer("demo-app")

# Files the report writes in one span: more than the per-span budget of one
# event name (OTEL_PYTHON_AUDITHOOK_SPAN_EVENT_BUDGET, 16 by default).
REPORT_PAGES = 50


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        body = json.dumps({"status": "ok"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def handle_order(workdir: str, port: int) -> None:
    with tracer.start_as_current_span("handle-order"):
        path = os.path.join(workdir, "order.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"id": 42, "items": 3}, f)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/inventory", timeout=5) as resp:
            resp.read()
        db = sqlite3.connect(os.path.join(workdir, "orders.db"))
        db.execute("create table if not exists orders (id integer)")
        db.close()
        subprocess.run([sys.executable, "-c", "print('invoice rendered')"], check=True)
        os.remove(path)
    with tracer.start_as_current_span("render-report"):
        # A burst of small files: the span keeps a budget of them, the rest
        # are counted (python.audit.events.dropped, reason span_budget).
        for page in range(REPORT_PAGES):
            with open(os.path.join(workdir, f"page-{page}.txt"), "w", encoding="utf-8") as f:
                f.write(f"page {page}")


def main() -> None:
    # DEMO_ITERATIONS=0 runs until stopped (the docker-compose stack does).
    iterations = int(os.environ.get("DEMO_ITERATIONS", "1"))
    pause = float(os.environ.get("DEMO_PAUSE_SECONDS", "0"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    done = 0
    while iterations == 0 or done < iterations:
        with tempfile.TemporaryDirectory() as workdir:
            handle_order(workdir, server.server_address[1])
            with tracer.start_as_current_span("health-check"):
                socket.getaddrinfo("localhost", server.server_address[1])
        done += 1
        if pause:
            time.sleep(pause)
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
