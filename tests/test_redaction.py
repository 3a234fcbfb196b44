"""Secrets never leave the process: a canary placed in the value positions of
URLs, argument vectors, shell strings, environments, sqlite URIs and code, by
real calls where the platform allows and by ``sys.audit`` with CPython's
argument shapes otherwise, in spans and outside them (log records), exported
and serialized by the real OTLP encoders, appears nowhere in the bytes; and
the structure an operator needs stays visible."""

from __future__ import annotations

import base64
import re
import shlex
import urllib.parse
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT, Runner
from opentelemetry.instrumentation.audithook import _mapping

CANARY = "Cq7ZxW2vK9"

CORPUS = r"""
import http.client, http.server, os, shlex, sqlite3, subprocess, sys, threading
import urllib.request, webbrowser

C = "Cq7ZxW2vK9"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0." + C
PEM = "-----BEGIN PRIVATE KEY-----\nMII" + C + "\n-----END PRIVATE KEY-----"

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", f"/landing?token={C}&next=/home")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_POST = do_GET
    def log_message(self, *a):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=server.serve_forever, daemon=True).start()
BASE = f"http://127.0.0.1:{server.server_address[1]}"

def get(url, **kw):
    try:
        urllib.request.urlopen(urllib.request.Request(url, **kw), timeout=5).read()
    except Exception:
        pass

def run(argv, **kw):
    subprocess.run(argv, check=False, **kw)

def shell(text):
    subprocess.run(text, shell=True, check=False, stderr=subprocess.DEVNULL)

class Fake:
    pass

TRUE = "/bin/true"
probes = [
    # URLs: every query value, the fragment and credentials
    ("urllib.Request", lambda: get(f"{BASE}/a?access_token={C}")),
    ("urllib.Request", lambda: get(f"{BASE}/a?api_key={C}&page=2")),
    ("urllib.Request", lambda: get(f"{BASE}/a?password={C}")),
    ("urllib.Request", lambda: get(f"{BASE}/a?client_secret={C}")),
    ("urllib.Request", lambda: get(f"{BASE}/a#token={C}")),
    ("urllib.Request", lambda: get(f"{BASE}/a?signature={C}")),
    ("urllib.Request", lambda: get(f"{BASE}/a?a=1;Signature={C}")),
    ("urllib.Request", lambda: get(f"{BASE}/a?Sig%6Eature={C}")),
    ("urllib.Request", lambda: get(f"{BASE}/a?{C}")),
    ("urllib.Request", lambda: get(f"{BASE}/a?X-Goog-Signature={C}&X-Goog-Credential={C}")),
    ("urllib.Request", lambda: get(f"{BASE}/redirect")),  # the redirect's ?token=
    ("urllib.Request", lambda: get(BASE.replace("//", f"//bob:{C}@") + "/creds")),
    ("urllib.Request", lambda: get(f"{BASE}/post", data=C.encode(), headers={"X-Key": C})),
    ("http.client.send", lambda: _post_raw()),
    ("webbrowser.open", lambda: sys.audit("webbrowser.open", f"https://x.invalid/s?sig={C}")),
    ("webbrowser.open", lambda: sys.audit("webbrowser.open", f"https://u:{C}@x.invalid/")),
    # argument vectors: option values, attached values, assignments, code
    ("subprocess.Popen", lambda: run([TRUE, "mysql", "-p" + C])),
    ("subprocess.Popen", lambda: run([TRUE, "mysql", "-p", C])),
    ("subprocess.Popen", lambda: run([TRUE, "curl", "-u", "user:" + C])),
    ("subprocess.Popen", lambda: run([TRUE, "redis-cli", "-a", C])),
    ("subprocess.Popen", lambda: run([TRUE, "--pw", C])),
    ("subprocess.Popen", lambda: run([TRUE, "--key", C])),
    ("subprocess.Popen", lambda: run([TRUE, "--token=" + C])),
    ("subprocess.Popen", lambda: run([sys.executable, "-c", f"auth=('u', '{C}')"])),
    ("subprocess.Popen", lambda: run([TRUE, f"https://s.invalid/o?X-Goog-Signature={C}"])),
    ("subprocess.Popen", lambda: run([TRUE, "PASSWORD=" + C])),
    ("subprocess.Popen", lambda: run([TRUE, "-e", "DB_PASSWORD=" + C, "image"])),
    ("subprocess.Popen", lambda: run([TRUE, "-H", "Authorization: Bearer " + C])),
    ("subprocess.Popen", lambda: run([TRUE, "--header=X-Api-Key: " + C])),
    ("subprocess.Popen", lambda: run([TRUE, "clone", f"https://tok:{C}@git.invalid/r.git"])),
    ("subprocess.Popen", lambda: run([TRUE, JWT])),
    ("subprocess.Popen", lambda: run([TRUE, PEM])),
    ("subprocess.Popen", lambda: run([TRUE, "AKIA" + C.upper() + "ABCDEF"])),
    ("subprocess.Popen", lambda: run([TRUE, "bob:" + C + "@db.invalid"])),
    ("subprocess.Popen", lambda: run([TRUE, "-o", "ProxyCommand=nc -X " + C])),
    ("subprocess.Popen", lambda: run([TRUE, "--", "-" + C])),
    ("subprocess.Popen", lambda: run(["/bin/sh", "-c", f"true --password {C}"])),
    ("subprocess.Popen", lambda: run(["/bin/bash", "-lc", f"true -p{C}"])),
    ("subprocess.Popen", lambda: run([TRUE], env={"SECRET": C, "PATH": "/usr/bin:/bin"})),
    # shell strings: quotes, assignments, pipes, substitutions
    ("subprocess.Popen", lambda: shell(f'true --password "{C}"')),
    ("subprocess.Popen", lambda: shell(f"true --token '{C}'")),
    ("subprocess.Popen", lambda: shell("true --secret " + shlex.quote(f"it's {C}"))),
    ("subprocess.Popen", lambda: shell(f"PASSWORD='correct horse {C}' true")),
    ("subprocess.Popen", lambda: shell(f"echo {C} | true login --password-stdin")),
    ("subprocess.Popen", lambda: shell(f"printf '%s' {C} | true")),
    ("subprocess.Popen", lambda: shell(f"true 'unbalanced {C}")),
    ("subprocess.Popen", lambda: shell(f"true --api-key {C} && true")),
    ("subprocess.Popen", lambda: shell(f'true "https://h.invalid/?token={C}"')),
    ("subprocess.Popen", lambda: shell(f"true $(echo {C}) `echo {C}`")),
    ("subprocess.Popen", lambda: shell(f"true <<EOF\n{C}\nEOF")),
    ("os.system", lambda: os.system(f"true --password {C} > /dev/null")),
    ("os.system", lambda: os.system(f"X={C} true")),
    # process creation by other means, and their environments
    ("os.posix_spawn", lambda: os.waitpid(
        os.posix_spawn(TRUE, ["true", "--secret", C], {"TOKEN": C}), 0)),
    # (os.spawnve is fork and exec on POSIX: os.spawn is raised on Windows)
    ("os.spawn", lambda: sys.audit("os.spawn", 0, TRUE, ["true", "-k" + C], {"K": C})),
    ("os.exec", lambda: sys.audit("os.exec", "/bin/sh", ["sh", "-c", "login -p " + C], {"P": C})),
    ("pty.spawn", lambda: sys.audit("pty.spawn", ["ssh", "-i", PEM, "host"])),
    ("_winapi.CreateProcess", lambda: sys.audit(
        "_winapi.CreateProcess", "cmd.exe", f"cmd /c set PASSWORD={C} && app.exe /p:{C}", "C:\\")),
    ("os.putenv", lambda: os.putenv("APP_SECRET", C)),
    ("os.putenv", lambda: os.environ.__setitem__("OTHER_SECRET", C)),
    # sqlite URIs
    ("sqlite3.connect", lambda: sqlite3.connect(f"file:a.db?mode=rwc&key={C}", uri=True).close()),
    ("sqlite3.connect", lambda: sqlite3.connect(f"file:b.db?cipher={C}", uri=True).close()),
    # code
    ("compile", lambda: compile(f"secret = '{C}'", "<cfg>", "exec")),
    ("exec", lambda: exec(f"token = '{C}'", {})),
    ("compile", lambda: eval(f"'{C}'")),
    ("cpython.run_command", lambda: sys.audit("cpython.run_command", f"print('{C}')")),
    ("builtins.input/result", lambda: sys.audit("builtins.input/result", C)),
    ("sys.excepthook", lambda: sys.audit(
        "sys.excepthook", sys.excepthook, ValueError, ValueError(C), None)),
    ("sys.unraisablehook", lambda: sys.audit("sys.unraisablehook", print, C)),
    # protocol payloads
    ("smtplib.send", lambda: sys.audit("smtplib.send", Fake(), b"AUTH PLAIN " + C.encode())),
    ("imaplib.send", lambda: sys.audit("imaplib.send", Fake(), b"a1 LOGIN bob " + C.encode())),
    ("poplib.putline", lambda: sys.audit("poplib.putline", Fake(), b"PASS " + C.encode())),
    ("nntplib.putline", lambda: sys.audit(
        "nntplib.putline", Fake(), b"AUTHINFO PASS " + C.encode())),
    ("ftplib.sendcmd", lambda: sys.audit("ftplib.sendcmd", Fake(), "PASS " + C)),
    ("telnetlib.Telnet.write", lambda: sys.audit("telnetlib.Telnet.write", Fake(), C.encode())),
    ("winreg.SetValue", lambda: sys.audit("winreg.SetValue", 1, "Software\\App", 1, C)),
    ("winreg.ExpandEnvironmentStrings", lambda: sys.audit(
        "winreg.ExpandEnvironmentStrings", "%" + C + "%")),
    # a data: URL carries its payload
    ("urllib.Request", lambda: get(f"data:text/plain,{C}")),
]

def _post_raw():
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
    conn.request("POST", "/", body=C.encode(), headers={"Cookie": C})
    conn.getresponse().read()
    conn.close()

for index, (_, probe) in enumerate(probes):
    with span(f"probe-{index}"):
        probe()
# outside any span: the same probes, as log records
for _, probe in probes:
    probe()
server.shutdown()
import base64
dump(otlp=base64.b64encode(otlp_bytes()).decode(), expected=[name for name, _ in probes])
"""

EVENTS = (
    "@all,-object.*,-builtins.id,-sys._getframe,-sys._getframemodulename,-marshal.*,"
    "-import,-code.__new__,-function.__new__"
)


def _run(run: Runner, **kwargs: Any) -> Any:
    return run(
        CORPUS,
        kwargs={
            "events": EVENTS,
            "rate_limit": 0,
            "repeat_window": 0,
            "span_event_budget": 0,
            **kwargs,
        },
        env={"OTEL_SPAN_EVENT_COUNT_LIMIT": "2000"},
        timeout=240,
    )


@pytest.fixture(scope="module")
def corpus_runs() -> dict[str, Any]:
    return {}


def _corpus(run: Runner, implementation: str, cache: dict[str, Any]) -> Any:
    # one run of the corpus per implementation serves the tests below
    if implementation not in cache:
        cache[implementation] = _run(run)
    return cache[implementation]


def test_canary_appears_in_no_exported_byte(
    run: Runner, implementation: str, corpus_runs: dict[str, Any]
) -> None:
    t = _corpus(run, implementation, corpus_runs)
    expected = t.extra["expected"]
    assert len(expected) >= 60
    otlp = base64.b64decode(t.extra["otlp"])
    assert len(otlp) > 50_000
    assert CANARY.lower().encode() not in otlp.lower()
    # ... and every probe really was exported, in its span and as a log record
    logged = {r["event_name"] for r in t.logs}
    for index, name in enumerate(expected):
        names = {e["name"] for e in t.span(f"probe-{index}")["events"]}
        assert name in names, (index, name, names)
        assert name in logged, name


def _event(t: Any, index: int, name: str) -> dict[str, Any]:
    return t.event(f"probe-{index}", name)


def test_the_structure_stays_visible(
    run: Runner, implementation: str, corpus_runs: dict[str, Any]
) -> None:
    t = _corpus(run, implementation, corpus_runs)
    r = "[REDACTED]"
    # URLs: scheme, host, port, path and query keys
    first = _event(t, 1, "urllib.Request")["url.full"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/a\?api_key=REDACTED&page=REDACTED", first)
    redirected = [
        e["url.full"] for e in t.events("probe-10", "urllib.Request") if "/landing" in e["url.full"]
    ]
    assert redirected and redirected[0].endswith("/landing?token=REDACTED&next=REDACTED")
    creds = _event(t, 11, "urllib.Request")["url.full"]
    assert re.fullmatch(r"http://REDACTED:REDACTED@127\.0\.0\.1:\d+/creds", creds)
    # argument vectors: the program, subcommands, flag names, paths, URL hosts and paths
    assert _event(t, 16, "subprocess.Popen")["process.command_args"] == [
        "/bin/true", "mysql", "-p" + r,
    ]  # fmt: skip
    assert _event(t, 17, "subprocess.Popen")["process.command_args"][1:] == ["mysql", "-p", r]
    assert _event(t, 18, "subprocess.Popen")["process.command_args"][1:] == ["curl", "-u", r]
    assert _event(t, 24, "subprocess.Popen")["process.command_args"][1] == (
        "https://s.invalid/o?X-Goog-Signature=REDACTED"
    )
    assert _event(t, 25, "subprocess.Popen")["process.command_args"][1] == "PASSWORD=" + r
    assert _event(t, 29, "subprocess.Popen")["process.command_args"][1:] == [
        "clone", "https://REDACTED:REDACTED@git.invalid/r.git",
    ]  # fmt: skip
    popen = _event(t, 38, "subprocess.Popen")
    assert popen["process.command_args"] == ["/bin/true"]
    assert popen["python.audit.arg.env"] == r
    assert popen["process.executable.path"] == "/bin/true"
    # a shell script: tokenized, its own structure kept
    assert _event(t, 36, "subprocess.Popen")["process.command_args"] == [
        "/bin/sh", "-c", f"true --password {r}",
    ]  # fmt: skip
    assert _event(t, 43, "subprocess.Popen")["process.command_args"][2] == (
        f"echo {r} | true login --password-stdin"
    )
    assert _event(t, 45, "subprocess.Popen")["process.command_args"][2] == f"true {r}"
    system = _event(t, 50, "os.system")
    assert system["process.command_line"] == f"true --password {r} > /dev/null"
    assert _event(t, 51, "os.system")["process.command_line"] == f"X={r} true"
    spawn = _event(t, 52, "os.posix_spawn")
    assert spawn["process.command_args"] == ["true", "--secret", r]
    assert spawn["process.executable.path"] == "/bin/true"
    assert _event(t, 56, "_winapi.CreateProcess")["process.command_line"] == (
        f"cmd /c set PASSWORD={r} && app.exe /p:{r}"
    )
    # the environment variable's name, the database's path, the code's origin
    assert _event(t, 57, "os.putenv")["python.audit.arg.key"] == "APP_SECRET"
    assert _event(t, 59, "sqlite3.connect")["db.namespace"] == f"file:a.db?{r}"
    assert _event(t, 61, "compile")["python.audit.arg.filename"] == "<cfg>"
    assert _event(t, 62, "exec")["python.audit.arg.code_object"].startswith("<module> (<string>:")


def test_raw_capture_is_opt_in_per_event(run: Runner) -> None:
    t = _run(run, capture_raw="os.putenv")
    assert t.event("probe-57", "os.putenv")["python.audit.arg.value"] == CANARY
    # only that event: the rest stays redacted
    assert t.event("probe-61", "compile")["python.audit.arg.source"] == "[REDACTED]"
    otlp = base64.b64decode(t.extra["otlp"])
    # two putenv probes, each as a span event and a log record
    assert otlp.count(CANARY.encode()) == 4


# --- the rules, as README documents them -------------------------------------------------------


def _readme_rules() -> list[tuple[str, str, str]]:
    """(kind, example, exported as) from README's table of redaction rules."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index("| value | rule | example | exported as |") :]
    rows = []
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        # a "|" inside a cell is written "\|"
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        codes = re.findall(r"`([^`]*)`", cells[2]), re.findall(r"`([^`]*)`", cells[3])
        rows.append((cells[0], codes[0][0], codes[1][0]))
    return rows


def _mask(kind: str, example: str) -> str:
    if kind.startswith("URL"):
        return _mapping.redact_url(example)
    if kind.startswith("argument vector"):
        return " ".join(_mapping.mask_argv(tuple(shlex.split(example))))
    if kind.startswith("Windows"):
        return _mapping.mask_shell(example, posix=False)
    assert kind.startswith("shell string"), kind
    return _mapping.mask_shell(example)


def test_readme_examples_hold() -> None:
    rows = _readme_rules()
    assert len(rows) >= 15
    for kind, example, expected in rows:
        assert _mask(kind, example) == expected, (kind, example)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/a/b", "https://example.com/a/b"),
        ("http://[::1", "[REDACTED]"),
        ("https://h/p?", "https://h/p"),
        ("https://h/p?a=1&&b=", "https://h/p?a=REDACTED&&b=REDACTED"),
        ("data:text/plain;base64,c2VjcmV0", "data:text/plain;base64,REDACTED"),
        ("DATA:,secret", "DATA:,REDACTED"),
    ],
)
def test_redact_url_edges(url: str, expected: str) -> None:
    assert _mapping.redact_url(url) == expected


def test_a_line_that_does_not_tokenize_shows_its_program_by_the_same_rule() -> None:
    assert _mapping.mask_shell("deploy --token 'Q9secret") == "deploy [REDACTED]"
    assert _mapping.mask_shell("Q9secret 'x") == "[REDACTED] [REDACTED]"
    assert _mapping.mask_shell("/opt/app/run 'x") == "/opt/app/run [REDACTED]"


def test_values_past_the_scan_cap_are_hidden() -> None:
    long = "x" * (_mapping.MAX_SCAN + 10)
    assert _mapping.mask_shell("true " + long).endswith(" [REDACTED]")
    # what is past the cap is one [REDACTED]
    assert _mapping.mask_argv(("true", "a" * _mapping.MAX_SCAN, "b")) == ("true", "[REDACTED]")


# --- generated secrets --------------------------------------------------------------------------

# A secret starts with "Q9": nothing generated as structure contains a "Q".
_secret = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~-"),
    min_size=6,
    max_size=24,
).map(lambda s: "Q9" + s)
_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=10)
_path = st.lists(_word, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))


@st.composite
def _urls(draw: st.DrawFn) -> tuple[str, str]:
    secret = draw(_secret)
    scheme = draw(st.sampled_from(["http", "https", "ftp", "s3", "postgres"]))
    host = ".".join(draw(st.lists(_word, min_size=1, max_size=3)))
    port = draw(st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}")))
    creds = draw(st.sampled_from(["", f"user:{secret}@", f"{secret}@"]))
    path = draw(_path)
    keys = draw(st.lists(_word, max_size=4))
    separator = draw(st.sampled_from(["&", ";"]))
    query = separator.join(
        f"{key}={urllib.parse.quote(secret)}" if draw(st.booleans()) else secret for key in keys
    )
    fragment = draw(st.sampled_from(["", f"#{secret}", f"#token={secret}"]))
    url = f"{scheme}://{creds}{host}{port}{path}" + (f"?{query}" if query else "") + fragment
    return url, secret


@given(_urls())
@settings(max_examples=300, deadline=None)
def test_no_generated_secret_survives_a_url(case: tuple[str, str]) -> None:
    url, secret = case
    masked = _mapping.redact_url(url)
    assert secret not in masked
    assert urllib.parse.quote(secret) not in masked
    assert _mapping.redact_url(masked) == masked
    # the host and the path stay
    parts = urllib.parse.urlsplit(url)
    assert parts.path in masked and (parts.hostname or "") in masked


@st.composite
def _argvs(draw: st.DrawFn) -> tuple[tuple[str, ...], str]:
    secret = draw(_secret)
    argv = [draw(st.sampled_from(["prog", "/usr/bin/tool", "docker", "python3", "sh"]))]
    for _ in range(draw(st.integers(1, 6))):
        flag = draw(_word)
        letter = draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz"))
        url, url_secret = draw(_urls())
        argv += draw(
            st.sampled_from(
                [
                    [f"--{flag}={secret}"],
                    [f"--{flag}", secret],
                    [f"-{letter}", secret],
                    [f"-{letter}{secret}"],
                    [f"{flag.upper()}={secret}"],
                    [f"user:{secret}@{flag}.example"],
                    ["-c", f"{flag} --password {secret}"],
                    [draw(_word)],
                    [draw(_path)],
                    [url.replace(url_secret, secret)],
                    [f"-----BEGIN KEY----- {secret}"],
                    [f"--{flag}", f"-{secret}"],
                ]
            )
        )
    return tuple(argv), secret


@given(_argvs())
@settings(max_examples=300, deadline=None)
def test_no_generated_secret_survives_a_command_line(case: tuple[tuple[str, ...], str]) -> None:
    argv, secret = case
    masked = _mapping.mask_argv(argv)
    assert not any(secret in token for token in masked), masked
    assert _mapping.mask_argv(masked) == masked
    assert masked[0] == argv[0]
    line = shlex.join(argv)
    shell = _mapping.mask_shell(line)
    assert secret not in shell, shell
    assert _mapping.mask_shell(shell) == shell


@given(st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_quoting_is_shlex_quote(token: str) -> None:
    # _quote inlines shlex.quote's rule (importing shlex costs start-up);
    # it may leave more tokens bare, never quote one differently
    quoted = _mapping._quote(token)
    assert quoted in (token, shlex.quote(token))
    if token and not _mapping._is_operator(token):
        assert shlex.split(quoted) == [token]
