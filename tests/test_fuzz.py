"""Hostile arguments, fuzzed with hypothesis through the mapping and then the
real OTLP encoder: nothing raises, nothing runs, nothing is consumed, and
every exported value is valid OTLP."""

from __future__ import annotations

import io
import socket
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common._internal import _encode_attributes
from opentelemetry.proto.common.v1.common_pb2 import KeyValueList

from opentelemetry.instrumentation.audithook._catalog import CATALOG
from opentelemetry.instrumentation.audithook._mapping import argument_keys, map_arguments

SIDE_EFFECTS: list[str] = []


class Trap:
    """Every protocol a careless mapper might use records that it ran."""

    def __init__(self, tag: str) -> None:
        object.__setattr__(self, "tag", tag)

    def __repr__(self) -> str:
        SIDE_EFFECTS.append("repr")
        raise RuntimeError

    def __str__(self) -> str:
        SIDE_EFFECTS.append("str")
        return "leak"

    def __fspath__(self) -> str:
        SIDE_EFFECTS.append("fspath")
        return "/leak"

    def __len__(self) -> int:
        SIDE_EFFECTS.append("len")
        return 1

    def __iter__(self) -> Any:
        SIDE_EFFECTS.append("iter")
        return iter(())

    def __getattr__(self, name: str) -> Any:
        SIDE_EFFECTS.append(f"getattr {name}")
        raise AttributeError(name)

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # type: ignore[override]
        SIDE_EFFECTS.append("__class__")
        return str


class SneakyStr(str):
    def __str__(self) -> str:
        SIDE_EFFECTS.append("SneakyStr.__str__")
        return "leak"

    def __len__(self) -> int:
        SIDE_EFFECTS.append("SneakyStr.__len__")
        return 0


class SneakyBytes(bytes):
    def __len__(self) -> int:
        SIDE_EFFECTS.append("SneakyBytes.__len__")
        return 0

    def decode(self, *args: Any) -> str:  # type: ignore[override]
        SIDE_EFFECTS.append("SneakyBytes.decode")
        return "leak"


def _generator() -> Any:
    SIDE_EFFECTS.append("generator consumed")
    yield 1


def _closed_socket() -> socket.socket:
    s = socket.socket()
    s.close()
    return s


def _self_containing() -> list[Any]:
    loop: list[Any] = ["x"]
    loop.append(loop)
    return loop


# Strategies draw plain specs; the hostile objects are built inside the test,
# since hypothesis itself inspects what it draws (and would trip the traps).
BUILDERS: dict[str, Any] = {
    "trap": Trap,
    "sneaky_str": SneakyStr,
    "sneaky_bytes": lambda b: SneakyBytes(b.encode("utf-8", "surrogatepass")),
    "generator": lambda _: _generator(),
    "closed_socket": lambda _: _closed_socket(),
    "self_containing": lambda _: _self_containing(),
    "file": lambda b: io.BytesIO(b.encode("utf-8", "surrogatepass")),
}
scalars = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)),  # surrogates
    st.binary(),
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.just(b"\xff\xfe/not-utf8"),
    st.tuples(st.sampled_from(sorted(BUILDERS)), st.text(max_size=8)).map(lambda t: ("build", *t)),
)
specs = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5).map(lambda items: ("list", items)),
        st.lists(children, max_size=5).map(lambda items: ("tuple", items)),
        st.dictionaries(st.text(max_size=5), children, max_size=3).map(lambda d: ("dict", d)),
    ),
    max_leaves=12,
)


def build(spec: Any) -> Any:
    if type(spec) is tuple and spec and spec[0] == "build":
        return BUILDERS[spec[1]](spec[2])
    if type(spec) is tuple and spec and spec[0] in ("list", "tuple"):
        items = [build(item) for item in spec[1]]
        return items if spec[0] == "list" else tuple(items)
    if type(spec) is tuple and spec and spec[0] == "dict":
        return {k: build(v) for k, v in spec[1].items()}
    return spec


events = st.one_of(st.sampled_from(sorted(CATALOG)), st.text(min_size=1, max_size=20))


def _valid(value: Any) -> bool:
    if type(value) in (str, bool, float):
        return True if type(value) is not str else _utf8(value)
    if type(value) is int:
        return -(2**63) <= value < 2**63
    if type(value) is tuple:
        kinds = {type(v) for v in value}
        return len(kinds) <= 1 and all(_valid(v) for v in value)
    return False


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _scalar(value: Any) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return tuple(_scalar(v) for v in value.array_value.values)
    return getattr(value, which)


def _decoded(message: KeyValueList) -> dict[str, Any]:
    return {kv.key: _scalar(kv.value) for kv in message.values}


def _same_float(value: Any) -> Any:
    # NaN is never equal to itself: compare it by name
    return "nan" if type(value) is float and value != value else value


def _comparable(attrs: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in attrs.items():
        if type(value) is tuple:
            out[key] = tuple(_same_float(v) for v in value)
        else:
            out[key] = _same_float(value)
    return out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=events, arg_specs=st.lists(specs, max_size=6), limit=st.integers(1, 300))
def test_hostile_arguments_map_to_valid_otlp(event: str, arg_specs: list[Any], limit: int) -> None:
    args = [build(spec) for spec in arg_specs]
    # exact type checks: isinstance() would read a trap's __class__ property
    generators = [a for a in args if type(a).__name__ == "generator"]
    files = [a for a in args if type(a) is io.BytesIO]
    SIDE_EFFECTS.clear()
    attrs = map_arguments(event, argument_keys(event), tuple(args), limit)
    assert SIDE_EFFECTS == [], SIDE_EFFECTS
    for key, value in attrs.items():
        assert type(key) is str
        assert _valid(value), (key, value)
        if type(value) is str:
            assert len(value) <= max(limit, 64) or key.startswith(("process.", "url."))
    # the real OTLP encoder takes it, and the bytes parse back
    encoded = _encode_attributes(attrs)
    payload = KeyValueList(values=encoded).SerializeToString()
    # what a collector would read back is what the mapping made
    assert _comparable(_decoded(KeyValueList.FromString(payload))) == _comparable(attrs)
    # nothing consumed: generators still yield, files did not move
    for gen in generators:
        SIDE_EFFECTS.clear()
        assert next(gen) == 1
    for f in files:
        assert f.tell() == 0


def test_fifty_megabytes_of_str_and_bytes() -> None:
    big_str = "x" * (50 * 1024 * 1024)
    big_bytes = b"y" * (50 * 1024 * 1024)
    attrs = map_arguments("open", argument_keys("open"), (big_str, big_bytes, 0), 1024)
    assert attrs["file.path"] == "x" * 1024
    assert "python.audit.arg.file" not in attrs  # the same value, once
    assert attrs["python.audit.arg.mode"] == 50 * 1024 * 1024  # bytes: their length
    popen = map_arguments(
        "subprocess.Popen",
        argument_keys("subprocess.Popen"),
        (big_bytes, [big_str], None, None),
        64,
    )
    assert popen["process.executable.path"] == "y" * 64
    assert popen["process.command_args"] == ("x" * 64,)
    assert len(KeyValueList(values=_encode_attributes(popen)).SerializeToString()) < 2000
