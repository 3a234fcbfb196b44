"""Real audit events raised by real standard-library calls, exported through
the SDK: each operation runs in its own span and leaves its span event there."""

from __future__ import annotations

import pathlib
import sys
from typing import Any

import pytest

from conftest import IMPLEMENTATIONS, Telemetry, run_scenario

SCENARIO = r"""
import ctypes, ctypes.util, glob, http.client, marshal, mmap, os, pickle, shutil
import socket, sqlite3, subprocess, sys, tempfile, threading, urllib.request

here = os.getcwd()
src = os.path.join(here, "data.txt")

with span("open"):
    with open(src, "w") as f:
        f.write("hello")
with span("os.mkdir"):
    os.mkdir(os.path.join(here, "d"), 0o750)
with span("os.listdir"):
    os.listdir(here)
with span("os.scandir"):
    with os.scandir(here) as it:
        list(it)
with span("os.rename"):
    os.rename(src, os.path.join(here, "moved.txt"))
with span("shutil.copyfile"):
    shutil.copyfile(os.path.join(here, "moved.txt"), os.path.join(here, "copy.txt"))
with span("os.chmod"):
    os.chmod(os.path.join(here, "copy.txt"), 0o600)
with span("os.symlink"):
    os.symlink(os.path.join(here, "copy.txt"), os.path.join(here, "link"))
with span("os.truncate"):
    os.truncate(os.path.join(here, "copy.txt"), 2)
with span("os.remove"):
    os.remove(os.path.join(here, "copy.txt"))
with span("os.rmdir"):
    os.rmdir(os.path.join(here, "d"))
with span("tempfile.mkstemp"):
    fd, temp = tempfile.mkstemp(dir=here, suffix=".tmp")
    os.close(fd)
with span("tempfile.mkdtemp"):
    tdir = tempfile.mkdtemp(dir=here)
with span("shutil.rmtree"):
    shutil.rmtree(tdir)
with span("glob.glob"):
    glob.glob(os.path.join(here, "*.txt"))

listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(8)
port = listener.getsockname()[1]
with span("socket.__new__"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
with span("socket.bind"):
    s.bind(("127.0.0.1", 0))
with span("socket.connect"):
    s.connect(("127.0.0.1", port))
s.close()
with span("socket.getaddrinfo"):
    socket.getaddrinfo("localhost", 8080)
with span("socket.gethostname"):
    socket.gethostname()
with span("socket.gethostbyname"):
    socket.gethostbyname("localhost")
with span("http.client.connect"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.connect()
    conn.close()
with span("urllib.Request"):
    # the event is raised when the request is opened; a data: URL needs no network
    req = urllib.request.Request("data:text/plain;q=1,hello", data=b"body", method="POST")
    urllib.request.urlopen(req).read()

with span("subprocess.Popen"):
    subprocess.run([sys.executable, "-c", "pass"], check=True, cwd=here)
with span("os.system"):
    os.system("true")
with span("os.posix_spawn"):
    pid = os.posix_spawn("/bin/true", ["true", "--flag"], {})
    os.waitpid(pid, 0)
with span("os.kill"):
    os.kill(os.getpid(), 0)

with span("compile"):
    code = compile("x = 1 + 1", "<scenario>", "exec")
with span("exec"):
    exec(code, {})
with open(os.path.join(here, "thirdparty_mod.py"), "w") as f:
    f.write("VALUE = 42\n")
sys.path.insert(0, here)
with span("import"):
    import thirdparty_mod
with span("marshal.loads"):
    marshal.loads(marshal.dumps(1))
with span("pickle.find_class"):
    pickle.loads(pickle.dumps(pathlib_path := __import__("collections").OrderedDict()))
with span("builtins.id"):
    id(here)
with span("code.__new__"):
    code.replace(co_name="renamed")

libc = ctypes.util.find_library("c")
with span("ctypes.dlopen"):
    lib = ctypes.CDLL(libc)
with span("ctypes.dlsym"):
    lib.getpid
with span("mmap.__new__"):
    with open(os.path.join(here, "moved.txt"), "r+b") as f:
        mmap.mmap(f.fileno(), 0).close()

with span("sqlite3.connect"):
    sqlite3.connect(os.path.join(here, "db.sqlite")).close()

with span("sys.addaudithook"):
    sys.addaudithook(lambda event, args: None)
with span("sys.audit.custom"):
    sys.audit("myapp.login", "alice", 3, b"xyz")

listener.close()
dump(here=here, port=port, libc=libc, pid=os.getpid())
"""

EVENTS = "@default,marshal.loads,code.__new__,builtins.id,import,myapp.*,-object.*,-sys._getframe"


@pytest.fixture(scope="module", params=IMPLEMENTATIONS)
def telemetry(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Telemetry:
    tmp = tmp_path_factory.mktemp("real")
    return run_scenario(
        SCENARIO,
        tmp,
        implementation=request.param,
        # each span checks its own event's mapping, repeat or not
        kwargs={"events": EVENTS, "code_location": True, "repeat_window": 0},
    )


def _here(t: Telemetry, *parts: str) -> str:
    return str(pathlib.Path(t.extra["here"], *parts))


def test_open(telemetry: Telemetry) -> None:
    ev = telemetry.event("open", "open")
    assert ev["python.audit.event"] == "open"
    assert ev["python.audit.arg.mode"] == "w"
    assert isinstance(ev["python.audit.arg.flags"], int)
    # the path goes out once, under its semantic-convention name
    assert ev["file.path"] == _here(telemetry, "data.txt")
    assert "python.audit.arg.file" not in ev


@pytest.mark.parametrize(
    ("span_name", "expected"),
    [
        ("os.mkdir", {"file.path": ("d",), "python.audit.arg.mode": 0o750}),
        ("os.listdir", {"file.path": ()}),
        ("os.scandir", {"file.path": ()}),
        ("os.remove", {"file.path": ("copy.txt",)}),
        ("os.rmdir", {"file.path": ("d",)}),
        ("os.chmod", {"file.path": ("copy.txt",), "python.audit.arg.mode": 0o600}),
        # the table names os.truncate's first argument "fd", whatever is passed there
        ("os.truncate", {"file.path": ("copy.txt",), "python.audit.arg.length": 2}),
    ],
)
def test_single_path_events(telemetry: Telemetry, span_name: str, expected: dict[str, Any]) -> None:
    ev = telemetry.event(span_name, span_name)
    for key, value in expected.items():
        want = _here(telemetry, *value) if isinstance(value, tuple) else value
        assert ev[key] == want, key
    # the path argument goes out as file.path only
    path_key = "python.audit.arg.fd" if span_name == "os.truncate" else "python.audit.arg.path"
    assert path_key not in ev


@pytest.mark.parametrize(
    ("span_name", "src", "dst"),
    [
        ("os.rename", "data.txt", "moved.txt"),
        ("shutil.copyfile", "moved.txt", "copy.txt"),
        ("os.symlink", "copy.txt", "link"),
    ],
)
def test_two_path_events(telemetry: Telemetry, span_name: str, src: str, dst: str) -> None:
    ev = telemetry.event(span_name, span_name)
    assert "python.audit.arg.src" not in ev  # it is file.path
    assert ev["python.audit.arg.dst"] == _here(telemetry, dst)
    assert ev["file.path"] == _here(telemetry, src)


def test_tempfile_and_rmtree(telemetry: Telemetry) -> None:
    mkstemp = telemetry.event("tempfile.mkstemp", "tempfile.mkstemp")
    assert mkstemp["file.path"].endswith(".tmp")
    assert mkstemp["file.path"].startswith(telemetry.extra["here"])
    mkdtemp = telemetry.event("tempfile.mkdtemp", "tempfile.mkdtemp")
    rmtree = telemetry.event("shutil.rmtree", "shutil.rmtree")
    assert rmtree["file.path"] == mkdtemp["file.path"]
    assert "python.audit.arg.path" not in rmtree
    assert "python.audit.arg.fullpath" not in mkdtemp


def test_glob(telemetry: Telemetry) -> None:
    events = telemetry.events("glob.glob")
    pathnames = [e["file.path"] for e in events if "glob.glob" in e.values()]
    assert _here(telemetry, "*.txt") in pathnames


def test_socket_lifecycle(telemetry: Telemetry) -> None:
    new = telemetry.event("socket.__new__", "socket.__new__")
    assert new["python.audit.arg.family"] == 2  # AF_INET
    assert new["python.audit.arg.type"] == 1  # SOCK_STREAM
    bind = telemetry.event("socket.bind", "socket.bind")
    assert bind["python.audit.arg.self"].startswith("AF_INET/SOCK_STREAM/fd=")
    # the (host, port) pair goes out as the two attributes only
    assert "python.audit.arg.address" not in bind
    assert bind["network.local.address"] == "127.0.0.1"
    assert bind["network.local.port"] == 0
    connect = telemetry.event("socket.connect", "socket.connect")
    assert connect["server.address"] == "127.0.0.1"
    assert connect["server.port"] == telemetry.extra["port"]
    assert connect["network.transport"] == "tcp"
    assert connect["network.type"] == "ipv4"
    assert "python.audit.arg.address" not in connect


def test_name_resolution(telemetry: Telemetry) -> None:
    gai = telemetry.event("socket.getaddrinfo", "socket.getaddrinfo")
    assert "python.audit.arg.host" not in gai
    assert "python.audit.arg.port" not in gai
    assert gai["server.address"] == "localhost"
    assert gai["server.port"] == 8080
    telemetry.event("socket.gethostname", "socket.gethostname")
    byname = telemetry.event("socket.gethostbyname", "socket.gethostbyname")
    assert "python.audit.arg.hostname" not in byname
    assert byname["server.address"] == "localhost"


def test_http_client_connect(telemetry: Telemetry) -> None:
    ev = telemetry.event("http.client.connect", "http.client.connect")
    assert ev["python.audit.arg.self"] == "http.client.HTTPConnection"
    assert "python.audit.arg.host" not in ev
    assert "python.audit.arg.port" not in ev
    assert ev["server.address"] == "127.0.0.1"
    assert ev["server.port"] == telemetry.extra["port"]
    # the connect() underneath is in the same span
    assert (
        telemetry.event("http.client.connect", "socket.connect")["server.port"] == ev["server.port"]
    )


def test_urllib_request(telemetry: Telemetry) -> None:
    ev = telemetry.event("urllib.Request", "urllib.Request")
    # a data: URL's data is its payload: only the media type stays
    assert "python.audit.arg.fullurl" not in ev
    assert ev["python.audit.arg.method"] == "POST"
    assert ev["url.full"] == "data:text/plain;q=1,REDACTED"


def test_subprocess_popen(telemetry: Telemetry) -> None:
    ev = telemetry.event("subprocess.Popen", "subprocess.Popen")
    assert "python.audit.arg.executable" not in ev
    assert "python.audit.arg.args" not in ev
    assert "python.audit.arg.cwd" not in ev
    assert ev["process.executable.path"] == sys.executable
    # interpreter code is a value: hidden by default
    assert ev["process.command_args"] == [sys.executable, "-c", "[REDACTED]"]
    assert ev["process.working_directory"] == telemetry.extra["here"]


def test_os_system_and_spawn(telemetry: Telemetry) -> None:
    system = telemetry.event("os.system", "os.system")
    assert "python.audit.arg.command" not in system
    assert system["process.command_line"] == "true"
    spawn = telemetry.event("os.posix_spawn", "os.posix_spawn")
    assert spawn["process.executable.path"] == "/bin/true"
    assert spawn["process.command_args"] == ["true", "--flag"]
    kill = telemetry.event("os.kill", "os.kill")
    assert kill["python.audit.arg.pid"] == telemetry.extra["pid"]
    assert kill["python.audit.arg.sig"] == 0


def test_compile_exec(telemetry: Telemetry) -> None:
    comp = telemetry.event("compile", "compile")
    assert comp["python.audit.arg.filename"] == "<scenario>"
    ex = telemetry.event("exec", "exec")
    assert ex["python.audit.arg.code_object"] == "<module> (<scenario>:1)"


def test_import_and_marshal(telemetry: Telemetry) -> None:
    imp = telemetry.event("import", "import")
    assert imp["python.audit.arg.module"] == "thirdparty_mod"
    assert isinstance(imp["python.audit.arg.sys.path"], list)
    assert imp["python.audit.arg.sys.path"][0] == telemetry.extra["here"]
    # finders are described by their type, never called or printed
    assert "_frozen_importlib_external.PathFinder" in imp["python.audit.arg.sys.meta_path"]
    ml = telemetry.event("marshal.loads", "marshal.loads")
    assert ml["python.audit.arg.bytes"] == 5  # bytes become their length


def test_pickle_find_class(telemetry: Telemetry) -> None:
    ev = telemetry.event("pickle.find_class", "pickle.find_class")
    assert ev["python.audit.arg.module"] == "collections"
    assert ev["python.audit.arg.name"] == "OrderedDict"


def test_runtime_events_selected_explicitly(telemetry: Telemetry) -> None:
    assert isinstance(telemetry.event("builtins.id", "builtins.id")["python.audit.arg.id"], int)
    code = telemetry.event("code.__new__", "code.__new__")
    assert code["python.audit.arg.name"] == "renamed"
    assert code["python.audit.arg.filename"] == "<scenario>"


def test_native(telemetry: Telemetry) -> None:
    dl = telemetry.event("ctypes.dlopen", "ctypes.dlopen")
    assert dl["python.audit.arg.name"] == telemetry.extra["libc"]
    sym = telemetry.event("ctypes.dlsym", "ctypes.dlsym")
    assert sym["python.audit.arg.name"] == "getpid"
    assert sym["python.audit.arg.library"] == "ctypes.CDLL"
    mm = telemetry.event("mmap.__new__", "mmap.__new__")
    assert mm["python.audit.arg.length"] == 0
    assert isinstance(mm["python.audit.arg.fileno"], int)


def test_sqlite(telemetry: Telemetry) -> None:
    ev = telemetry.event("sqlite3.connect", "sqlite3.connect")
    assert "python.audit.arg.database" not in ev
    assert ev["db.system.name"] == "sqlite"
    assert ev["db.namespace"] == _here(telemetry, "db.sqlite")


def test_another_hook_added(telemetry: Telemetry) -> None:
    ev = telemetry.event("sys.addaudithook", "sys.addaudithook")
    assert ev["python.audit.event"] == "sys.addaudithook"
    assert not [k for k in ev if k.startswith("python.audit.arg.")]


def _scenario_line(text: str) -> int:
    return SCENARIO.lstrip("\n").splitlines().index(text) + 2  # +1: the harness import line


def test_code_location_is_the_applications_line(telemetry: Telemetry) -> None:
    # shutil.copyfile opens both files from inside the standard library: the
    # location is the scenario's line that called it, not shutil.py.
    for span_name, line in [
        (
            "shutil.copyfile",
            '    shutil.copyfile(os.path.join(here, "moved.txt"), os.path.join(here, "copy.txt"))',
        ),
        ("open", '    with open(src, "w") as f:'),
    ]:
        for ev in telemetry.events(span_name):
            assert ev["code.file.path"] == _here(telemetry, "scenario.py")
            assert ev["code.line.number"] == _scenario_line(line)
            assert ev["code.function.name"] == "<module>"


def test_uncatalogued_event_by_position(telemetry: Telemetry) -> None:
    ev = telemetry.event("sys.audit.custom", "myapp.login")
    assert ev["python.audit.arg.0"] == "alice"
    assert ev["python.audit.arg.1"] == 3
    assert ev["python.audit.arg.2"] == 3
    assert telemetry.points(
        "python.audit.events",
        **{"python.audit.event": "myapp.login", "python.audit.category": "other"},
    )


def test_at_least_25_distinct_events_exported(telemetry: Telemetry) -> None:
    names = {e["name"] for s in telemetry.spans for e in s["events"]}
    assert len(names) >= 25, sorted(names)


def test_counter_counts_each_selected_event(telemetry: Telemetry) -> None:
    # the scenario's rename, and any .pyc an import wrote (os.replace) on a fresh checkout
    exported = len(telemetry.all_events("os.rename")) + sum(
        1 for r in telemetry.logs if r["event_name"] == "os.rename"
    )
    assert len(telemetry.events("os.rename", "os.rename")) == 1
    assert telemetry.count("os.rename") == exported
    assert telemetry.count("socket.connect") >= 2
    (point,) = telemetry.points("python.audit.events", **{"python.audit.event": "os.rename"})
    assert point["attributes"]["python.audit.category"] == "file"
    assert point["unit"] == "{event}"
    assert point["scope"] == "opentelemetry.instrumentation.audithook"
    # events outside any span (the listener) become log records
    binds = [r for r in telemetry.logs if r["event_name"] == "socket.bind"]
    assert len(binds) == 1
    assert binds[0]["attributes"]["network.local.address"] == "127.0.0.1"
    assert telemetry.dropped("socket.bind", "no_span") == 0


def test_no_stray_output(telemetry: Telemetry) -> None:
    assert telemetry.stderr == ""
