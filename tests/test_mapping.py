"""Argument mapping: valid attribute values, and no user code ever runs."""

from __future__ import annotations

import enum
import io
import os
import pathlib
import socket
from typing import Any

import pytest

from opentelemetry.instrumentation.audithook._mapping import (
    MAX_ITEMS,
    argument_keys,
    map_arguments,
    value_of,
)

CALLS: list[str] = []


class Booby:
    """Every hook a mapper might be tempted to call records that it ran and raises."""

    def __repr__(self) -> str:
        CALLS.append("repr")
        raise RuntimeError("repr ran")

    def __str__(self) -> str:
        CALLS.append("str")
        raise RuntimeError("str ran")

    def __fspath__(self) -> str:
        CALLS.append("fspath")
        raise RuntimeError("fspath ran")

    def __format__(self, spec: str) -> str:
        CALLS.append("format")
        raise RuntimeError("format ran")

    def __iter__(self) -> Any:
        CALLS.append("iter")
        raise RuntimeError("iter ran")

    def __len__(self) -> int:
        CALLS.append("len")
        raise RuntimeError("len ran")

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # type: ignore[override]
        CALLS.append("__class__")
        raise RuntimeError("__class__ ran")


class EvilStr(str):
    def __str__(self) -> str:
        CALLS.append("EvilStr.__str__")
        return "lie"

    def __getitem__(self, item: Any) -> str:  # type: ignore[override]
        CALLS.append("EvilStr.__getitem__")
        return "lie"

    def __len__(self) -> int:
        CALLS.append("EvilStr.__len__")
        return 0


class EvilInt(int):
    def __index__(self) -> int:
        CALLS.append("EvilInt.__index__")
        return 0

    def __int__(self) -> int:
        CALLS.append("EvilInt.__int__")
        return 0


class EvilBytes(bytes):
    def __len__(self) -> int:
        CALLS.append("EvilBytes.__len__")
        return 0

    def __getitem__(self, item: Any) -> Any:
        CALLS.append("EvilBytes.__getitem__")
        return b""


class EvilPath(pathlib.PurePosixPath):
    def __str__(self) -> str:
        CALLS.append("EvilPath.__str__")
        return "lie"

    def __fspath__(self) -> str:
        CALLS.append("EvilPath.__fspath__")
        return "lie"


class Meta(type):
    def __getattribute__(cls, name: str) -> Any:
        CALLS.append(f"Meta.__getattribute__({name})")
        return super().__getattribute__(name)

    def __hash__(cls) -> int:
        CALLS.append("Meta.__hash__")
        return 0

    def __eq__(cls, other: object) -> bool:
        CALLS.append("Meta.__eq__")
        return False


class WithMeta(metaclass=Meta):
    pass


class Color(enum.IntEnum):
    RED = 7


@pytest.fixture(autouse=True)
def _no_user_code() -> Any:
    CALLS.clear()
    yield
    assert CALLS == [], f"user code ran: {CALLS}"


def v(value: Any, path: bool = False, limit: int = 1024) -> Any:
    return value_of(value, limit, path)


# Values are built inside the test: collecting a parametrized test inspects its
# arguments (isinstance for ids), which would trip the booby traps.
CASES: dict[str, tuple[Any, Any]] = {
    "str": (lambda: "text", "text"),
    "int": (lambda: 7, 7),
    "bool": (lambda: True, True),
    "float": (lambda: 1.5, 1.5),
    "None": (lambda: None, None),
    "bytes": (lambda: b"abcd", 4),
    "bytearray": (lambda: bytearray(b"ab"), 2),
    "memoryview": (lambda: memoryview(b"abc"), 3),
    "int beyond 64 bits": (lambda: 2**64, hex(2**64)),
    "int64 min": (lambda: -(2**63), -(2**63)),
    "IntEnum": (lambda: Color.RED, 7),
    "str subclass": (lambda: EvilStr("truth"), "truth"),
    "int subclass": (lambda: EvilInt(5), 5),
    "bytes subclass": (lambda: EvilBytes(b"xyz"), 3),
    "list of str": (lambda: ["a", "b"], ("a", "b")),
    "mixed tuple": (lambda: ("a", 1), ("a", "1")),
    "list of int": (lambda: [1, 2], (1, 2)),
    "empty list": (lambda: [], ()),
    "dict": (lambda: {"k": "secret"}, "dict"),
    "booby-trapped object": (Booby, "test_mapping.Booby"),
    "class with hostile metaclass": (WithMeta, "test_mapping.WithMeta"),
    "builtin function": (lambda: len, "builtins.len"),
    "function": (lambda: v, "test_mapping.v"),
    "pure path": (lambda: pathlib.PurePosixPath("/a/b"), "/a/b"),
    "path subclass": (lambda: EvilPath("/a"), "test_mapping.EvilPath"),
    "file object": (lambda: io.BytesIO(b"body"), "_io.BytesIO"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_values(case: str) -> None:
    make, expected = CASES[case]
    assert v(make()) == expected


def test_paths_in_path_arguments() -> None:
    assert v(b"/tmp/x", path=True) == "/tmp/x"
    assert v(EvilBytes(b"/tmp/y"), path=True) == "/tmp/y"
    assert v([b"ls", pathlib.Path("/etc")], path=True) == ("ls", "/etc")
    # undecodable bytes survive as visible escapes, valid UTF-8 for OTLP
    assert v(b"/tmp/\xff", path=True) == "/tmp/\\udcff"
    assert v("/tmp/\udcff") == "/tmp/\\udcff"
    with os.scandir(os.path.dirname(os.__file__)) as it:
        entry = next(iter(it))
        assert v(entry) == entry.path


def test_generators_and_files_are_not_consumed() -> None:
    gen = (x for x in range(3))
    assert v(gen) == "generator"
    assert list(gen) == [0, 1, 2]
    body = io.BytesIO(b"body")
    assert v(body) == "_io.BytesIO"
    assert body.tell() == 0


def test_truncation_and_limits() -> None:
    big = "x" * (50 * 1024 * 1024)
    assert v(big, limit=16) == "x" * 16
    assert v(EvilStr(big), limit=8) == "x" * 8
    assert v(b"/" + b"y" * 10_000, path=True, limit=5) == "/yyyy"
    assert v(b"z" * (50 * 1024 * 1024)) == 50 * 1024 * 1024
    assert len(v(list(range(1000)))) == MAX_ITEMS
    # an 8,000-digit int: hex, cut like text (decimal would be quadratic)
    assert v(10**8000, limit=16) == hex(10**8000)[:16]
    assert v(["cmd", 10**8000], limit=16) == ("cmd", hex(10**8000)[:16])
    # escaping lone surrogates lengthens a string: the limit still holds
    assert v("\udcff" * 10, limit=8) == "\\udcff\\u"


def test_self_containing_list() -> None:
    loop: list[Any] = ["a"]
    loop.append(loop)
    assert v(loop) == ("a", "list")


def test_sockets_open_and_closed() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        assert v(s) == f"AF_INET/SOCK_DGRAM/fd={s.fileno()}"
    assert v(s) == "AF_INET/SOCK_DGRAM/fd=-1"


def test_code_objects() -> None:
    code = compile("pass", "<x>", "exec")
    assert v(code) == "<module> (<x>:1)"


def test_released_memoryview_is_described_not_raised() -> None:
    m = memoryview(b"abc")
    m.release()
    assert v(m) == "memoryview"
    attrs = map_arguments("open", argument_keys("open"), (m, "r", 0), 1024)
    assert attrs["python.audit.arg.file"] == "memoryview"


@pytest.mark.parametrize("port", ["²", "٣", "①", "99999", "-1", "80a"])
def test_port_strings_that_are_not_ascii_port_numbers(port: str) -> None:
    attrs = map_arguments(
        "socket.getaddrinfo", argument_keys("socket.getaddrinfo"), ("h", port, 0, 0, 0), 1024
    )
    assert attrs["server.address"] == "h"
    assert "server.port" not in attrs


def test_port_strings_that_are_port_numbers() -> None:
    attrs = map_arguments(
        "socket.getaddrinfo", argument_keys("socket.getaddrinfo"), ("h", "8080", 0, 0, 0), 1024
    )
    assert attrs["server.port"] == 8080


def test_map_arguments_names_and_positions() -> None:
    attrs = map_arguments("open", argument_keys("open"), ("/f", "r", 0, "extra"), 1024)
    # the path goes out once: as file.path
    assert attrs == {
        "python.audit.event": "open",
        "python.audit.arg.mode": "r",
        "python.audit.arg.flags": 0,
        "python.audit.arg.3": "extra",
        "file.path": "/f",
    }
    unknown = map_arguments("lib.thing", argument_keys("lib.thing"), (1, None, Booby()), 1024)
    assert unknown == {
        "python.audit.event": "lib.thing",
        "python.audit.arg.0": 1,
        "python.audit.arg.2": "test_mapping.Booby",
    }


def test_an_argument_goes_out_once_under_its_semantic_convention_name() -> None:
    from opentelemetry.instrumentation.audithook._mapping import enricher_for, replaced

    # every event whose enricher copies an argument names the pair
    assert all(enricher_for(event) is not None for event in replaced())
    cases = {
        "socket.connect": ((None, ("10.0.0.1", 443)), {"server.address", "server.port"}),
        "http.client.connect": ((None, "example.com", 80), {"server.address", "server.port"}),
        "sqlite3.connect": (("/db.sqlite",), {"db.namespace"}),
        "urllib.Request": (("https://example.com/", None, {}, "GET"), {"url.full"}),
        "os.system": (("ls",), {"process.command_line"}),
    }
    for event, (args, semconv) in cases.items():
        attrs = map_arguments(event, argument_keys(event), args, 1024)
        assert semconv <= set(attrs), (event, attrs)
        args_out = {arg for arg, _ in replaced()[event]}
        assert not args_out & set(attrs), (event, attrs)
    # an IPv6 address's flow info and scope are not in server.*: the address stays
    six = map_arguments(
        "socket.connect", argument_keys("socket.connect"), (None, ("::1", 443, 0, 0)), 1024
    )
    assert six["server.address"] == "::1"
    assert "python.audit.arg.address" in six
    # a value the semantic-convention attribute does not carry stays as the argument
    truncated = map_arguments("os.truncate", argument_keys("os.truncate"), (7, 0), 1024)
    assert truncated["python.audit.arg.fd"] == 7
    assert "file.path" not in truncated


def test_open_by_descriptor_has_no_file_path() -> None:
    attrs = map_arguments("open", argument_keys("open"), (3, "rb", 0), 1024)
    assert attrs["python.audit.arg.file"] == 3
    assert "file.path" not in attrs


def test_semantic_conventions_for_processes_and_urls() -> None:
    popen = map_arguments(
        "subprocess.Popen",
        argument_keys("subprocess.Popen"),
        (None, "ls -l | wc", None, None),
        1024,
    )
    assert popen["process.command_line"] == "ls -l | wc"
    assert "process.executable.path" not in popen
    spawn = map_arguments("os.spawn", argument_keys("os.spawn"), (0, "/bin/ls", ["ls"], {}), 1024)
    assert spawn["process.executable.path"] == "/bin/ls"
    assert spawn["process.command_args"] == ("ls",)
    conn = map_arguments(
        "smtplib.connect", argument_keys("smtplib.connect"), (object(), "mx.example", 25), 1024
    )
    assert conn["server.address"] == "mx.example"
    assert conn["server.port"] == 25


def test_incubating_names_are_semconvs() -> None:
    """The enrichers spell file.* and process.* out (semconv's incubating
    modules cost start-up); they must stay the convention's names."""
    from opentelemetry.semconv._incubating.attributes import file_attributes, process_attributes

    from opentelemetry.instrumentation.audithook import _mapping

    assert _mapping.FILE_PATH == file_attributes.FILE_PATH
    for name in (
        "PROCESS_COMMAND_ARGS",
        "PROCESS_COMMAND_LINE",
        "PROCESS_EXECUTABLE_PATH",
        "PROCESS_WORKING_DIRECTORY",
    ):
        assert getattr(_mapping, name) == getattr(process_attributes, name)
