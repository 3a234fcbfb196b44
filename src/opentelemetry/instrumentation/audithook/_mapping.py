"""Audit arguments to OpenTelemetry attributes, without running user code.

Every conversion tests exact types (``type(x) is str``) or subclassing of a
builtin type (``issubclass(type(x), str)``, which consults only the MRO), and
reads values through the builtin type's own slots (``str.__str__(x)``,
``int.__index__(x)``), so no ``__repr__``, ``__str__``, ``__fspath__``,
``__class__`` property or ``__iter__`` of a user class ever runs, and nothing
is consumed (generators, files and request bodies are described by their type).
"""

from __future__ import annotations

import _socket
import os
import pathlib
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any, cast

from opentelemetry.semconv._incubating.attributes import (
    file_attributes,
    network_attributes,
    process_attributes,
)
from opentelemetry.semconv.attributes import (
    db_attributes,
    server_attributes,
    url_attributes,
)
from opentelemetry.semconv.attributes import (
    network_attributes as stable_network_attributes,
)

from opentelemetry.instrumentation.audithook import _catalog, _redaction

Scalar = str | bool | int | float
AttrValue = Scalar | Sequence[str] | Sequence[int] | Sequence[float] | Sequence[bool]
Attributes = dict[str, AttrValue]
Enricher = Callable[[tuple[Any, ...], Attributes, int], None]

EVENT_KEY = "python.audit.event"
CATEGORY_KEY = "python.audit.category"
ARG_PREFIX = "python.audit.arg."
MAX_ITEMS = 64

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_FS_ENCODING = sys.getfilesystemencoding()
_PATH_TYPES = (
    pathlib.PurePosixPath,
    pathlib.PureWindowsPath,
    pathlib.PosixPath,
    pathlib.WindowsPath,
)
_DIRENTRY = os.DirEntry

# Descriptors read straight from the builtin types: a metaclass or subclass
# cannot put a property in front of these.
_type_qualname = type.__dict__["__qualname__"].__get__
_type_module = type.__dict__["__module__"].__get__
_sock_family = _socket.socket.__dict__["family"].__get__
_sock_type = _socket.socket.__dict__["type"].__get__
_sock_fileno = _socket.socket.fileno

_FAMILIES = {int(v): k for k, v in vars(_socket).items() if k.startswith("AF_") and type(v) is int}
_FAMILIES[_socket.AF_INET] = "AF_INET"
_FAMILIES[_socket.AF_INET6] = "AF_INET6"
_KINDS = {int(v): k for k, v in vars(_socket).items() if k.startswith("SOCK_") and type(v) is int}
_TRANSPORT = {_socket.SOCK_STREAM: "tcp", _socket.SOCK_DGRAM: "udp"}
_NETWORK_TYPE = {_socket.AF_INET: "ipv4", _socket.AF_INET6: "ipv6"}
_AF_UNIX = getattr(_socket, "AF_UNIX", None)

# Arguments that hold a path or a command line: bytes there are decoded with
# the filesystem encoding instead of being reduced to their length.
PATH_ARGS = frozenset(
    {
        "file", "path", "src", "dst", "filename", "fullpath", "top", "base_name",
        "root_dir", "base_dir", "extract_dir", "pathname", "executable", "args",
        "argv", "cwd", "database", "file_name", "command", "name", "application_name",
        "command_line", "current_directory", "src_path", "dst_path",
        # os.truncate and friends name it fd, but pass a path when given one
        "fd",
        # os.putenv and os.unsetenv pass the variable's name as bytes on POSIX
        "key",
    }
)  # fmt: skip


def _is_path_type(cls: type) -> bool:
    # Identity, not ``cls in a_set``: hashing a class runs its metaclass's __hash__.
    for path_type in _PATH_TYPES:
        if cls is path_type:
            return True
    return False


def clean_text(value: str, limit: int) -> str:
    """Truncate, and make a str encodable as UTF-8 (OTLP strings must be)."""
    if len(value) > limit:
        value = value[:limit]
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # Lone surrogates (undecodable file names) become visible escapes,
            # six characters each: cut again so that the limit still holds.
            value = value.encode("utf-8", "backslashreplace").decode("utf-8")[:limit]
    return value


def text_of(value: Any, limit: int) -> str | None:
    """A str or str subclass as a clean str; None for anything else."""
    cls = type(value)
    if cls is not str:
        if not issubclass(cls, str):
            return None
        value = str.__str__(value)
    return clean_text(value, limit)


def type_name(value: Any) -> str:
    cls = type(value)
    name = _type_qualname(cls)
    module = _type_module(cls)
    if type(module) is str and module != "builtins":
        return f"{module}.{name}"
    return name if type(name) is str else "object"


def _decode_path(value: bytes, limit: int) -> str:
    head = bytes.__getitem__(value, slice(0, limit * 4))
    return clean_text(bytes.decode(head, _FS_ENCODING, "surrogateescape"), limit)


def path_of(value: Any, limit: int) -> str | None:
    """A path argument as text: str, bytes, or a builtin path type; else None."""
    text = text_of(value, limit)
    if text is not None:
        return text
    cls = type(value)
    if _is_path_type(cls):
        return clean_text(str(value), limit)
    if cls is _DIRENTRY:
        return path_of(value.path, limit)
    if issubclass(cls, bytes):
        return _decode_path(value, limit)
    return None


def _int_value(value: int, limit: int) -> int | str:
    if _INT64_MIN <= value <= _INT64_MAX:
        return value
    # OTLP ints are 64-bit; addresses and big numbers keep their value as hex
    # (linear in the size, unlike decimal), cut to the length limit like text.
    return hex(value)[:limit]


def _code_text(code: types.CodeType, limit: int) -> str:
    name = text_of(code.co_qualname, limit) or "?"
    filename = text_of(code.co_filename, limit) or "?"
    return clean_text(f"{name} ({filename}:{code.co_firstlineno})", limit)


def _callable_text(value: Any, limit: int) -> str | None:
    cls = type(value)
    if cls is types.MethodType:
        value = value.__func__
        cls = type(value)
    if cls is types.FunctionType or cls is types.BuiltinFunctionType:
        name = text_of(value.__qualname__, limit) or "?"
        module = text_of(value.__module__, limit)
        return clean_text(f"{module}.{name}" if module else name, limit)
    if issubclass(cls, type):
        name = _type_qualname(value)
        module = _type_module(value)
        if type(name) is str and type(module) is str:
            return clean_text(f"{module}.{name}", limit)
        return "type"
    return None


def socket_text(value: Any) -> str:
    family = _sock_family(value)
    kind = _sock_type(value)
    return f"{_FAMILIES.get(family, family)}/{_KINDS.get(kind, kind)}/fd={_sock_fileno(value)}"


def scalar(value: Any, limit: int, path: bool = False) -> Scalar | None:
    """One value as an attribute scalar; None means: leave the attribute out."""
    cls = type(value)
    if cls is str:
        return clean_text(value, limit)
    if cls is int:
        return _int_value(value, limit)
    if cls is bool or cls is float:
        return cast(Scalar, value)
    if value is None:
        return None
    if path:
        text = path_of(value, limit)
        if text is not None:
            return text
    if cls is bytes or cls is bytearray:
        return len(value)
    if issubclass(cls, str):
        return text_of(value, limit)
    if issubclass(cls, bool):
        return bool.__bool__(value)
    if issubclass(cls, int):
        return _int_value(int.__index__(value), limit)
    if issubclass(cls, float):
        return float.__float__(value)
    if issubclass(cls, bytes):
        return bytes.__len__(value)
    if issubclass(cls, bytearray):
        return bytearray.__len__(value)
    if cls is memoryview:
        try:
            return cast(int, value.nbytes)
        except ValueError:  # released: it has no length any more, only its type
            return type_name(value)
    if cls is _DIRENTRY or _is_path_type(cls):
        return path_of(value, limit)
    if issubclass(cls, _socket.socket):
        return socket_text(value)
    if cls is types.CodeType:
        return _code_text(value, limit)
    text = _callable_text(value, limit)
    if text is not None:
        return text
    return type_name(value)


def _homogeneous(items: list[Scalar]) -> AttrValue:
    first = type(items[0])
    if all(type(item) is first for item in items):
        return cast(AttrValue, tuple(items))
    # Mixed types are not a valid attribute array: render the scalars as text.
    # repr() is safe here: every item is an exact str, int, float or bool.
    return tuple(item if type(item) is str else repr(item) for item in items)


def value_of(value: Any, limit: int, path: bool = False) -> AttrValue | None:
    """Any argument as an attribute value, arrays included."""
    cls = type(value)
    if cls is list or cls is tuple:
        items: list[Scalar] = []
        # Slicing an exact list or tuple copies it without calling user code,
        # and a copy cannot change under our feet if another thread mutates it.
        for item in value[:MAX_ITEMS]:
            if type(item) is list or type(item) is tuple:
                items.append(type_name(item))
                continue
            converted = scalar(item, limit, path)
            items.append("None" if converted is None else converted)
        return _homogeneous(items) if items else ()
    return scalar(value, limit, path)


# --- semantic-convention attributes ---------------------------------------------------------


def _set_path(attrs: Attributes, key: str, value: Any, limit: int) -> None:
    text = path_of(value, limit)
    if text is not None:
        attrs[key] = text


def _file_path(index: int) -> Enricher:
    def enrich(args: tuple[Any, ...], attrs: Attributes, limit: int) -> None:
        if len(args) > index:
            _set_path(attrs, file_attributes.FILE_PATH, args[index], limit)

    return enrich


def _host_port(host_key: str, port_key: str, host_index: int) -> Enricher:
    def enrich(args: tuple[Any, ...], attrs: Attributes, limit: int) -> None:
        if len(args) <= host_index:
            return
        host = path_of(args[host_index], limit)
        if host:
            attrs[host_key] = _redaction.redact_host(host)
        if len(args) > host_index + 1:
            port = args[host_index + 1]
            if type(port) is int and 0 <= port <= 65535:
                attrs[port_key] = port
            elif type(port) is str and port.isascii() and port.isdigit() and int(port) <= 65535:
                attrs[port_key] = int(port)

    return enrich


def _socket_address(host_key: str, port_key: str) -> Enricher:
    """(self, address) events: the address and the socket's transport."""
    address_host_port = _host_port(host_key, port_key, 0)

    def enrich(args: tuple[Any, ...], attrs: Attributes, limit: int) -> None:
        if len(args) < 2:
            return
        sock, address = args[0], args[1]
        family = None
        if issubclass(type(sock), _socket.socket):
            family = _sock_family(sock)
            kind = _sock_type(sock)
            transport = _TRANSPORT.get(kind)
            if family == _AF_UNIX:
                transport = "unix"
            if transport:
                attrs[stable_network_attributes.NETWORK_TRANSPORT] = transport
            if family in _NETWORK_TYPE:
                attrs[stable_network_attributes.NETWORK_TYPE] = _NETWORK_TYPE[family]
        if type(address) is tuple and len(address) >= 2:
            address_host_port(address, attrs, limit)
        elif family == _AF_UNIX or family is None:
            _set_path(attrs, host_key, address, limit)

    return enrich


def _executable_and_args(exe_name: str | None, args_name: str) -> Enricher:
    """Process attributes, from argument values already masked by their treatment."""

    def enrich(args: tuple[Any, ...], attrs: Attributes, limit: int) -> None:
        argv = attrs.get(ARG_PREFIX + args_name)
        exe = attrs.get(ARG_PREFIX + exe_name) if exe_name is not None else None
        if type(argv) is tuple and argv:
            attrs[process_attributes.PROCESS_COMMAND_ARGS] = argv
            if exe is None and type(argv[0]) is str:
                exe = argv[0]
        elif type(argv) is str:
            attrs[process_attributes.PROCESS_COMMAND_LINE] = argv
        if type(exe) is str and exe:
            attrs[process_attributes.PROCESS_EXECUTABLE_PATH] = exe

    return enrich


_popen_process = _executable_and_args("executable", "args")


def _popen(args: tuple[Any, ...], attrs: Attributes, limit: int) -> None:
    _popen_process(args, attrs, limit)
    cwd = attrs.get(ARG_PREFIX + "cwd")
    if type(cwd) is str:
        attrs[process_attributes.PROCESS_WORKING_DIRECTORY] = cwd


def _copy(name: str, key: str) -> Enricher:
    """A semantic-convention attribute equal to an argument's (treated) string value."""

    def enrich(args: tuple[Any, ...], attrs: Attributes, limit: int) -> None:
        value = attrs.get(ARG_PREFIX + name)
        if type(value) is str:
            attrs[key] = value

    return enrich


def _sqlite(args: tuple[Any, ...], attrs: Attributes, limit: int) -> None:
    attrs[db_attributes.DB_SYSTEM_NAME] = "sqlite"


_sqlite_namespace = _copy("database", db_attributes.DB_NAMESPACE)


def _sqlite_connect(args: tuple[Any, ...], attrs: Attributes, limit: int) -> None:
    _sqlite(args, attrs, limit)
    _sqlite_namespace(args, attrs, limit)


_SERVER = (server_attributes.SERVER_ADDRESS, server_attributes.SERVER_PORT)
_PEER = (network_attributes.NETWORK_PEER_ADDRESS, network_attributes.NETWORK_PEER_PORT)
_LOCAL = (network_attributes.NETWORK_LOCAL_ADDRESS, network_attributes.NETWORK_LOCAL_PORT)

ENRICHERS: dict[str, Enricher] = {
    "socket.connect": _socket_address(*_SERVER),
    "socket.bind": _socket_address(*_LOCAL),
    "socket.sendto": _socket_address(*_PEER),
    "socket.sendmsg": _socket_address(*_PEER),
    "socket.getaddrinfo": _host_port(*_SERVER, 0),
    "socket.gethostbyname": _host_port(*_SERVER, 0),
    "subprocess.Popen": _popen,
    "os.exec": _executable_and_args("path", "args"),
    "os.posix_spawn": _executable_and_args("path", "argv"),
    "os.spawn": _executable_and_args("path", "args"),
    "pty.spawn": _executable_and_args(None, "argv"),
    "os.system": _copy("command", process_attributes.PROCESS_COMMAND_LINE),
    "_winapi.CreateProcess": _executable_and_args("application_name", "command_line"),
    "os.startfile": _copy("path", process_attributes.PROCESS_EXECUTABLE_PATH),
    "urllib.Request": _copy("fullurl", url_attributes.URL_FULL),
    "webbrowser.open": _copy("url", url_attributes.URL_FULL),
    "sqlite3.connect": _sqlite_connect,
    "sqlite3.enable_load_extension": _sqlite,
}
for _name in ("http.client.connect", "ftplib.connect", "smtplib.connect", "imaplib.open",
              "nntplib.connect", "poplib.connect", "telnetlib.Telnet.open"):  # fmt: skip
    ENRICHERS[_name] = _host_port(*_SERVER, 1)
for _name, (_args, _category, _tables) in _catalog.CATALOG.items():
    if _category == "file" and _name not in ENRICHERS and _args and _args[0] in PATH_ARGS:
        ENRICHERS[_name] = _file_path(0)
_extension_path = _file_path(1)


def _sqlite_extension(args: tuple[Any, ...], attrs: Attributes, limit: int) -> None:
    _sqlite(args, attrs, limit)
    _extension_path(args, attrs, limit)


ENRICHERS["sqlite3.load_extension"] = _sqlite_extension
ENRICHERS["os.add_dll_directory"] = _file_path(0)


PLAIN = "plain"
PATH = "path"
ArgumentKeys = tuple[tuple[str, str], ...]


def argument_keys(event: str, raw: bool = False) -> ArgumentKeys:
    """(attribute key, treatment) for each argument the catalog names.

    ``raw`` turns redaction off for this event (OTEL_PYTHON_AUDITHOOK_CAPTURE_RAW)."""
    entry = _catalog.CATALOG.get(event)
    names = entry[0] if entry is not None else ()
    treatments = _redaction.TREATMENTS.get(event, {})
    keys = []
    for name in names:
        if raw:
            # Raw capture exports the content: bytes are decoded, not measured.
            treatment = PATH if name in PATH_ARGS or name in treatments else PLAIN
        elif name in treatments:
            treatment = treatments[name]
        elif name in _redaction.HOST_ARGS:
            treatment = _redaction.HOST
        else:
            treatment = PATH if name in PATH_ARGS else PLAIN
        keys.append((ARG_PREFIX + name, treatment))
    return tuple(keys)


def _treated(value: Any, treatment: str, limit: int) -> AttrValue | None:
    if treatment == PLAIN:
        return value_of(value, limit)
    if treatment == PATH:
        return value_of(value, limit, path=True)
    if value is None:
        return None
    if treatment == _redaction.REDACT:
        return _redaction.REDACTED
    converted = value_of(value, limit, path=True)
    if type(converted) is str:
        if treatment == _redaction.COMMAND:
            return _redaction.mask_shell(converted)
        if treatment == _redaction.WINDOWS_COMMAND:
            return _redaction.mask_shell(converted, posix=False)
        if treatment == _redaction.URL:
            return _redaction.redact_url(converted)
        if treatment == _redaction.HOST:
            return _redaction.redact_host(converted)
        return _redaction.redact_sqlite_database(converted)
    if type(converted) is tuple:
        if treatment == _redaction.COMMAND or treatment == _redaction.WINDOWS_COMMAND:
            # items are exact str, int, float or bool here: str() runs no user code
            return _redaction.mask_argv(tuple(str(item) for item in converted))
        # a URL, host or database given as a list is no shape we know: hide it
        return _redaction.REDACTED
    return converted


def map_arguments(event: str, keys: ArgumentKeys, args: tuple[Any, ...], limit: int) -> Attributes:
    """The attributes of one event: its name, each argument, and semantic conventions."""
    attrs: Attributes = {EVENT_KEY: event}
    known = len(keys)
    for index, value in enumerate(args):
        if index < known:
            key, treatment = keys[index]
        else:
            key, treatment = f"{ARG_PREFIX}{index}", PLAIN
        converted = _treated(value, treatment, limit)
        if converted is not None:
            attrs[key] = converted
    enrich = ENRICHERS.get(event)
    if enrich is not None:
        enrich(args, attrs, limit)
    return attrs
