"""Semantic-convention attributes, added to an event's argument attributes.

``enricher_for(event)`` is the function that adds them for one event:
``file.path`` for file events, ``server.address``/``server.port`` and the
network attributes for connections, ``process.*`` for the commands a process
spawns, ``url.full`` and ``db.*``.  Enrichers that copy a value copy it from
the argument attributes, after their treatment: what was redacted stays so.

A value goes out once: where a semantic-convention attribute carries an
argument's value, the argument's own ``python.audit.arg.*`` attribute is left
out (``replaced()`` lists the pairs; README's "Attributes" shows them).

The table is made at the first event mapped, not at import: this module is
imported at every start-up, and most processes export few kinds of event.
"""

from __future__ import annotations

import _socket
from typing import TYPE_CHECKING, Any

from opentelemetry.semconv.attributes import (
    db_attributes,
    network_attributes,
    server_attributes,
    url_attributes,
)

from opentelemetry.instrumentation.audithook import _catalog, _redaction, _treatments, _values

if TYPE_CHECKING:
    from collections.abc import Callable

    from opentelemetry.instrumentation.audithook._values import Attributes

    Enricher = Callable[[tuple[Any, ...], Attributes, int], None]
    # event -> [(argument attribute, semantic-convention attribute)]: pairs where
    # the second may carry the first's value; each maker below adds its own.
    Replaced = dict[str, list[tuple[str, str]]]

# file.* and process.* exist only in semconv's incubating modules, whose
# import (enum classes included) took a sixth of this package's start-up;
# tests/test_mapping.py pins these names to theirs.
FILE_PATH = "file.path"
PROCESS_COMMAND_ARGS = "process.command_args"
PROCESS_COMMAND_LINE = "process.command_line"
PROCESS_EXECUTABLE_PATH = "process.executable.path"
PROCESS_WORKING_DIRECTORY = "process.working_directory"

_TRANSPORT = {_socket.SOCK_STREAM: "tcp", _socket.SOCK_DGRAM: "udp"}
_NETWORK_TYPE = {_socket.AF_INET: "ipv4", _socket.AF_INET6: "ipv6"}
_AF_UNIX = getattr(_socket, "AF_UNIX", None)


def _once(attrs: Attributes, arg: str, key: str) -> None:
    """Leave the argument out where the semantic-convention attribute has its value."""
    value = attrs.get(arg)
    if value is not None and attrs.get(key) == value:
        del attrs[arg]


def _arg(event: str, index: int) -> str:
    """The attribute of an event's argument, by position."""
    names = _catalog.CATALOG[event][0]
    return _treatments.ARG_PREFIX + (names[index] if index < len(names) else str(index))


def _set_path(attrs: Attributes, key: str, value: Any, limit: int) -> None:
    text = _values.path_of(value, limit)
    if text is not None:
        attrs[key] = text


def _file_path(replaced: Replaced, event: str, index: int) -> Enricher:
    arg = _arg(event, index)
    key = FILE_PATH
    replaced.setdefault(event, []).append((arg, key))

    def enrich(args: tuple[Any, ...], attrs: Attributes, limit: int) -> None:
        if len(args) > index:
            _set_path(attrs, key, args[index], limit)
            _once(attrs, arg, key)

    return enrich


def _host_port(
    replaced: Replaced, event: str, host_key: str, port_key: str, host_index: int
) -> Enricher:
    host_arg, port_arg = _arg(event, host_index), _arg(event, host_index + 1)
    replaced.setdefault(event, []).extend(((host_arg, host_key), (port_arg, port_key)))

    def enrich(args: tuple[Any, ...], attrs: Attributes, limit: int) -> None:
        _set_host_port(args, host_index, attrs, limit, host_key, port_key)
        _once(attrs, host_arg, host_key)
        _once(attrs, port_arg, port_key)

    return enrich


def _set_host_port(
    values: tuple[Any, ...], index: int, attrs: Attributes, limit: int, host_key: str, port_key: str
) -> None:
    if len(values) <= index:
        return
    host = _values.path_of(values[index], limit)
    if host:
        attrs[host_key] = _redaction.redact_host(host)
    if len(values) > index + 1:
        port = values[index + 1]
        if type(port) is int and 0 <= port <= 65535:
            attrs[port_key] = port
        elif type(port) is str and port.isascii() and port.isdigit() and int(port) <= 65535:
            attrs[port_key] = int(port)


def _address_once(
    attrs: Attributes, host_key: str, port_key: str, address: tuple[Any, ...]
) -> None:
    """A (host, port) address given as the two attributes: left out as a pair."""
    arg = _treatments.ARG_PREFIX + "address"
    value = attrs.get(arg)
    if (
        type(value) is tuple
        and len(value) == 2
        and len(address) == 2
        and attrs.get(host_key) == value[0]
        and str(attrs.get(port_key)) == value[1]
    ):
        del attrs[arg]


def _socket_address(replaced: Replaced, event: str, host_key: str, port_key: str) -> Enricher:
    """(self, address) events: the address and the socket's transport."""
    arg = _treatments.ARG_PREFIX + "address"
    # a (host, port) pair as both; a Unix socket's path as the host
    replaced.setdefault(event, []).extend(((arg, host_key), (arg, port_key)))

    def enrich(args: tuple[Any, ...], attrs: Attributes, limit: int) -> None:
        if len(args) < 2:
            return
        sock, address = args[0], args[1]
        family = None
        if issubclass(type(sock), _socket.socket):
            family = _values.sock_family(sock)
            kind = _values.sock_type(sock)
            transport = _TRANSPORT.get(kind)
            if family == _AF_UNIX:
                transport = "unix"
            if transport:
                attrs[network_attributes.NETWORK_TRANSPORT] = transport
            if family in _NETWORK_TYPE:
                attrs[network_attributes.NETWORK_TYPE] = _NETWORK_TYPE[family]
        if type(address) is tuple and len(address) >= 2:
            _set_host_port(address, 0, attrs, limit, host_key, port_key)
            _address_once(attrs, host_key, port_key, address)
        elif family == _AF_UNIX or family is None:
            _set_path(attrs, host_key, address, limit)
            _once(attrs, arg, host_key)

    return enrich


def _executable_and_args(
    replaced: Replaced, event: str, exe_name: str | None, args_name: str
) -> Enricher:
    """Process attributes, from argument values already masked by their treatment."""
    args_arg = _treatments.ARG_PREFIX + args_name
    exe_arg = _treatments.ARG_PREFIX + exe_name if exe_name is not None else None
    args_key = PROCESS_COMMAND_ARGS
    line_key = PROCESS_COMMAND_LINE
    exe_key = PROCESS_EXECUTABLE_PATH
    pairs = replaced.setdefault(event, [])
    pairs.extend(((args_arg, args_key), (args_arg, line_key)))
    if exe_arg is not None:
        pairs.append((exe_arg, exe_key))

    def enrich(args: tuple[Any, ...], attrs: Attributes, limit: int) -> None:
        argv = attrs.get(args_arg)
        exe = attrs.get(exe_arg) if exe_arg is not None else None
        if type(argv) is tuple and argv:
            attrs[args_key] = argv
            if exe is None and type(argv[0]) is str:
                exe = argv[0]
            _once(attrs, args_arg, args_key)
        elif type(argv) is str:
            attrs[line_key] = argv
            _once(attrs, args_arg, line_key)
        if type(exe) is str and exe:
            attrs[exe_key] = exe
            if exe_arg is not None:
                _once(attrs, exe_arg, exe_key)

    return enrich


def _popen(replaced: Replaced) -> Enricher:
    process = _executable_and_args(replaced, "subprocess.Popen", "executable", "args")
    cwd_arg = _treatments.ARG_PREFIX + "cwd"
    replaced["subprocess.Popen"].append((cwd_arg, PROCESS_WORKING_DIRECTORY))

    def enrich(args: tuple[Any, ...], attrs: Attributes, limit: int) -> None:
        process(args, attrs, limit)
        cwd = attrs.get(cwd_arg)
        if type(cwd) is str:
            attrs[PROCESS_WORKING_DIRECTORY] = cwd
            del attrs[cwd_arg]

    return enrich


def _copy(replaced: Replaced, event: str, name: str, key: str) -> Enricher:
    """A semantic-convention attribute equal to an argument's (treated) string
    value, which then goes out under that name only."""
    arg = _treatments.ARG_PREFIX + name
    replaced.setdefault(event, []).append((arg, key))

    def enrich(args: tuple[Any, ...], attrs: Attributes, limit: int) -> None:
        value = attrs.get(arg)
        if type(value) is str:
            attrs[key] = value
            del attrs[arg]

    return enrich


def _sqlite(args: tuple[Any, ...], attrs: Attributes, limit: int) -> None:
    attrs[db_attributes.DB_SYSTEM_NAME] = "sqlite"


def _sqlite_connect(replaced: Replaced) -> Enricher:
    namespace = _copy(replaced, "sqlite3.connect", "database", db_attributes.DB_NAMESPACE)

    def enrich(args: tuple[Any, ...], attrs: Attributes, limit: int) -> None:
        _sqlite(args, attrs, limit)
        namespace(args, attrs, limit)

    return enrich


def _sqlite_extension(replaced: Replaced) -> Enricher:
    path = _file_path(replaced, "sqlite3.load_extension", 1)

    def enrich(args: tuple[Any, ...], attrs: Attributes, limit: int) -> None:
        _sqlite(args, attrs, limit)
        path(args, attrs, limit)

    return enrich


_SERVER = (server_attributes.SERVER_ADDRESS, server_attributes.SERVER_PORT)
_PEER = (network_attributes.NETWORK_PEER_ADDRESS, network_attributes.NETWORK_PEER_PORT)
_LOCAL = (network_attributes.NETWORK_LOCAL_ADDRESS, network_attributes.NETWORK_LOCAL_PORT)

# (self, host, port) events of the protocol clients
_CLIENT_CONNECTS = (
    "http.client.connect", "ftplib.connect", "smtplib.connect", "imaplib.open",
    "nntplib.connect", "poplib.connect", "telnetlib.Telnet.open",
)  # fmt: skip


def _build() -> tuple[dict[str, Enricher], Replaced]:
    r: Replaced = {}
    table = {
        # every file event whose first argument is a path, unless named below
        **{
            name: _file_path(r, name, 0)
            for name, (args, category, _) in _catalog.CATALOG.items()
            if category == "file" and args and args[0] in _treatments.PATH_ARGS
        },
        **{name: _host_port(r, name, *_SERVER, 1) for name in _CLIENT_CONNECTS},
        "socket.connect": _socket_address(r, "socket.connect", *_SERVER),
        "socket.bind": _socket_address(r, "socket.bind", *_LOCAL),
        "socket.sendto": _socket_address(r, "socket.sendto", *_PEER),
        "socket.sendmsg": _socket_address(r, "socket.sendmsg", *_PEER),
        "socket.getaddrinfo": _host_port(r, "socket.getaddrinfo", *_SERVER, 0),
        "socket.gethostbyname": _host_port(r, "socket.gethostbyname", *_SERVER, 0),
        "subprocess.Popen": _popen(r),
        "os.exec": _executable_and_args(r, "os.exec", "path", "args"),
        "os.posix_spawn": _executable_and_args(r, "os.posix_spawn", "path", "argv"),
        "os.spawn": _executable_and_args(r, "os.spawn", "path", "args"),
        "pty.spawn": _executable_and_args(r, "pty.spawn", None, "argv"),
        "os.system": _copy(r, "os.system", "command", PROCESS_COMMAND_LINE),
        "_winapi.CreateProcess": _executable_and_args(
            r, "_winapi.CreateProcess", "application_name", "command_line"
        ),
        "os.startfile": _copy(r, "os.startfile", "path", PROCESS_EXECUTABLE_PATH),
        "os.add_dll_directory": _file_path(r, "os.add_dll_directory", 0),
        "urllib.Request": _copy(r, "urllib.Request", "fullurl", url_attributes.URL_FULL),
        "webbrowser.open": _copy(r, "webbrowser.open", "url", url_attributes.URL_FULL),
        "sqlite3.connect": _sqlite_connect(r),
        "sqlite3.enable_load_extension": _sqlite,
        "sqlite3.load_extension": _sqlite_extension(r),
    }
    return table, r


# Made by the first call; two threads making it at once make equal tables,
# and the last one assigned wins whole.
_tables: tuple[dict[str, Enricher], Replaced] | None = None


def _made() -> tuple[dict[str, Enricher], Replaced]:
    global _tables
    tables = _tables
    if tables is None:
        tables = _tables = _build()
    return tables


def enricher_for(event: str) -> Enricher | None:
    """The function that adds the event's semantic-convention attributes."""
    return _made()[0].get(event)


def replaced() -> Replaced:
    """(argument attribute, semantic-convention attribute) per event: where
    the second carries the first's value, the first is left out."""
    return _made()[1]
