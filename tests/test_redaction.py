"""Secrets never leave the process: a canary passed through every
secret-bearing audit event, exported and serialized by the real OTLP encoders,
appears nowhere in the bytes."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import Runner
from opentelemetry.instrumentation.audithook import _redaction

CANARY = "CANARYX7Q2"

SCENARIO = r"""
import http.client, http.server, os, sqlite3, subprocess, sys, threading, urllib.request

C = "CANARYX7Q2"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0." + C
PEM = "-----BEGIN PRIVATE KEY-----\nMII" + C + "\n-----END PRIVATE KEY-----"
AWS = "AKIA" + C + "ABCDEF"

class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass

server = http.server.HTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=server.serve_forever, daemon=True).start()
port = server.server_address[1]

class Fake:
    pass

with span("real"):
    os.putenv("APP_SECRET", C)
    subprocess.run(
        ["/bin/true", "--password=" + C, "--token", C, "Authorization: Bearer " + C,
         AWS, JWT, PEM, "https://bob:" + C + "@example.invalid/", "PASSWORD=" + C, "keep-me"],
        env={"SECRET": C, "PATH": "/usr/bin:/bin"},
        check=True,
    )
    subprocess.run("true --api-key " + C + " && echo api_key=" + C, shell=True, check=True)
    pid = os.posix_spawn("/bin/true", ["true", "--secret=" + C], {"TOKEN": C})
    os.waitpid(pid, 0)
    os.spawnve(os.P_WAIT, "/bin/true", ["true", "--client-secret", C], {"K": C})
    os.system("true --password " + C)
    req = urllib.request.Request(
        f"http://u:{C}@127.0.0.1:{port}/p?X-Goog-Signature={C}&sig={C}&Signature={C}&AWSAccessKeyId={C}&ok=1",
        data=("body=" + C).encode(),
        headers={"Authorization": "Bearer " + C, "X-Api-Key": C},
        method="POST",
    )
    try:
        urllib.request.urlopen(req, timeout=5).read()
    except Exception:
        pass
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("POST", "/", body=C.encode(), headers={"Cookie": C})
    conn.getresponse().read()
    conn.close()
    compile("secret = '" + C + "'", "<cfg>", "exec")
    db = sqlite3.connect(f"file:canary.db?mode=rwc&key={C}", uri=True)
    db.close()

# events this platform cannot raise for real, raised with the arguments CPython passes
synthetic = [
    ("os.exec", ("/bin/sh", ["sh", "-c", "login --password " + C], {"PW": C})),
    ("pty.spawn", (["ssh", "-i", PEM, "host"],)),
    ("_winapi.CreateProcess", ("cmd.exe", "cmd /c set PASSWORD=" + C, "C:\\")),
    ("webbrowser.open", (f"https://x:{C}@example.invalid/?sig={C}",)),
    ("smtplib.send", (Fake(), b"AUTH PLAIN " + C.encode())),
    ("imaplib.send", (Fake(), b"a1 LOGIN bob " + C.encode())),
    ("poplib.putline", (Fake(), b"PASS " + C.encode())),
    ("nntplib.putline", (Fake(), b"AUTHINFO PASS " + C.encode())),
    ("ftplib.sendcmd", (Fake(), "PASS " + C)),
    ("telnetlib.Telnet.write", (Fake(), C.encode())),
    ("http.client.send", (Fake(), C)),
    ("builtins.input/result", (C,)),
    ("cpython.run_command", ("print('" + C + "')",)),
    ("sys.unraisablehook", (print, C)),
    ("sys.excepthook", (sys.excepthook, ValueError, ValueError(C), None)),
    ("winreg.SetValue", (1, "Software\\App", 1, C)),
    ("winreg.ExpandEnvironmentStrings", ("%" + C + "%",)),
]
with span("synthetic"):
    for name, args in synthetic:
        sys.audit(name, *args)
# outside a span: the same events go out as log records
for name, args in synthetic:
    sys.audit(name, *args)
os.putenv("APP_SECRET", C)

server.shutdown()
import base64
dump(otlp=base64.b64encode(otlp_bytes()).decode())
"""

EVENTS = (
    "@all,-object.*,-builtins.id,-sys._getframe,-sys._getframemodulename,-marshal.*,"
    "-import,-code.__new__,-function.__new__"
)


def _run(run: Runner, **kwargs: Any) -> Any:
    # @all fills a span fast: room for every event, so none is left out by the cap
    return run(
        SCENARIO,
        kwargs={"events": EVENTS, "rate_limit": 0, **kwargs},
        env={"OTEL_SPAN_EVENT_COUNT_LIMIT": "2000"},
    )


def test_canary_appears_nowhere_in_the_otlp_bytes(run: Runner) -> None:
    import base64

    t = _run(run)
    otlp = base64.b64decode(t.extra["otlp"])
    assert len(otlp) > 10_000
    assert CANARY.lower().encode() not in otlp.lower()
    # ... and the events really were exported
    real = {e["name"] for e in t.span("real")["events"]}
    # (os.spawnve is fork and exec on POSIX: its os.exec event is the child's)
    for name in ("os.putenv", "subprocess.Popen", "os.posix_spawn", "os.fork", "os.system",
                 "urllib.Request", "http.client.send", "compile", "sqlite3.connect"):  # fmt: skip
        assert name in real, name
    synthetic = {e["name"] for e in t.span("synthetic")["events"]}
    assert len(synthetic) == 17
    logged = {r["event_name"] for r in t.logs}
    assert synthetic | {"os.putenv"} <= logged


def test_what_redaction_keeps(run: Runner) -> None:
    t = _run(run)
    popen = [e for e in t.events("real", "subprocess.Popen") if "process.command_args" in e][0]
    argv = popen["process.command_args"]
    assert argv[0] == "/bin/true"
    assert argv[1] == "--password=[REDACTED]"
    assert argv[2:4] == ["--token", "[REDACTED]"]
    assert argv[4] == "Authorization: Bearer [REDACTED]"
    assert argv[5:8] == ["[REDACTED]"] * 3  # AWS key, JWT, PEM
    assert argv[8] == "https://[REDACTED]:[REDACTED]@example.invalid/"
    assert argv[9] == "PASSWORD=[REDACTED]"
    assert argv[10] == "keep-me"
    assert popen["python.audit.arg.args"] == argv
    assert popen["python.audit.arg.env"] == "[REDACTED]"
    request = t.event("real", "urllib.Request")
    assert request["url.full"] == (
        "http://[REDACTED]:[REDACTED]@127.0.0.1:"
        + request["url.full"].split("@127.0.0.1:")[1].split("/")[0]
        + "/p?X-Goog-Signature=[REDACTED]&sig=[REDACTED]&Signature=[REDACTED]"
        "&AWSAccessKeyId=[REDACTED]&ok=1"
    )
    assert request["python.audit.arg.data"] == "[REDACTED]"
    assert request["python.audit.arg.headers"] == "[REDACTED]"
    assert request["python.audit.arg.method"] == "POST"
    putenv = t.event("real", "os.putenv")
    assert putenv["python.audit.arg.key"] == "APP_SECRET"
    assert putenv["python.audit.arg.value"] == "[REDACTED]"
    sqlite = t.event("real", "sqlite3.connect")
    assert sqlite["db.namespace"] == "file:canary.db?[REDACTED]"
    compiled = t.event("real", "compile")
    assert compiled["python.audit.arg.source"] == "[REDACTED]"
    assert compiled["python.audit.arg.filename"] == "<cfg>"


def test_raw_capture_is_opt_in_per_event(run: Runner) -> None:
    import base64

    t = _run(run, capture_raw="os.putenv")
    assert t.event("real", "os.putenv")["python.audit.arg.value"] == CANARY
    # only that event: the rest stays redacted
    assert t.event("real", "compile")["python.audit.arg.source"] == "[REDACTED]"
    otlp = base64.b64decode(t.extra["otlp"])
    assert otlp.count(CANARY.encode()) == 2  # the span event and the log record


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("--password=hunter2", "--password=[REDACTED]"),
        ("DB_PASSWORD=x y", "DB_PASSWORD=[REDACTED] y"),
        ('{"api_key": "abc"}', '{"api_key": "[REDACTED]"}'),
        ("curl -H 'Authorization: Bearer abc.def'", "curl -H 'Authorization: Bearer [REDACTED]'"),
        ("aws AKIAIOSFODNN7EXAMPLE", "aws [REDACTED]"),
        ("postgres://u:p@db/x", "postgres://[REDACTED]:[REDACTED]@db/x"),
        ("ls -la /tmp", "ls -la /tmp"),
        ("login --password hunter2 --user bob", "login --password [REDACTED] --user bob"),
        ("mysql -u root --password -h db", "mysql -u root --password -h db"),
        ("git commit -m 'fix the tokenizer'", "git commit -m 'fix the tokenizer'"),
    ],
)
def test_mask_secrets(text: str, expected: str) -> None:
    assert _redaction.mask_secrets(text) == expected


def test_redact_url_leaves_clean_urls_alone() -> None:
    assert _redaction.redact_url("https://example.com/a?b=1#c") == "https://example.com/a?b=1#c"
    assert _redaction.redact_url("http://[::1") == "[REDACTED]"
