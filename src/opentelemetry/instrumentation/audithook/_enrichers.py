"""Semantic-convention attributes, added to an event's argument attributes.

``ENRICHERS`` maps an event name to the function that adds them:
``file.path`` for file events, ``server.address``/``server.port`` and the
network attributes for connections, ``process.*`` for the commands a process
spawns, ``url.full`` and ``db.*``.  Enrichers that copy a value copy it from
the argument attributes, after their treatment: what was redacted stays so.
"""

from __future__ import annotations

import _socket
from collections.abc import Callable
from typing import Any

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

from opentelemetry.instrumentation.audithook import _catalog, _redaction, _treatments, _values

Attributes = _values.Attributes
Enricher = Callable[[tuple[Any, ...], Attributes, int], None]

_TRANSPORT = {_socket.SOCK_STREAM: "tcp", _socket.SOCK_DGRAM: "udp"}
_NETWORK_TYPE = {_socket.AF_INET: "ipv4", _socket.AF_INET6: "ipv6"}
_AF_UNIX = getattr(_socket, "AF_UNIX", None)


def _set_path(attrs: Attributes, key: str, value: Any, limit: int) -> None:
    text = _values.path_of(value, limit)
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
        host = _values.path_of(args[host_index], limit)
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
            family = _values.sock_family(sock)
            kind = _values.sock_type(sock)
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
        argv = attrs.get(_treatments.ARG_PREFIX + args_name)
        exe = attrs.get(_treatments.ARG_PREFIX + exe_name) if exe_name is not None else None
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
    cwd = attrs.get(_treatments.ARG_PREFIX + "cwd")
    if type(cwd) is str:
        attrs[process_attributes.PROCESS_WORKING_DIRECTORY] = cwd


def _copy(name: str, key: str) -> Enricher:
    """A semantic-convention attribute equal to an argument's (treated) string value."""

    def enrich(args: tuple[Any, ...], attrs: Attributes, limit: int) -> None:
        value = attrs.get(_treatments.ARG_PREFIX + name)
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

# (self, host, port) events of the protocol clients
_CLIENT_CONNECTS = (
    "http.client.connect", "ftplib.connect", "smtplib.connect", "imaplib.open",
    "nntplib.connect", "poplib.connect", "telnetlib.Telnet.open",
)  # fmt: skip


_extension_path = _file_path(1)


def _sqlite_extension(args: tuple[Any, ...], attrs: Attributes, limit: int) -> None:
    _sqlite(args, attrs, limit)
    _extension_path(args, attrs, limit)


ENRICHERS: dict[str, Enricher] = {
    # every file event whose first argument is a path, unless named below
    **{
        name: _file_path(0)
        for name, (args, category, _) in _catalog.CATALOG.items()
        if category == "file" and args and args[0] in _treatments.PATH_ARGS
    },
    **{name: _host_port(*_SERVER, 1) for name in _CLIENT_CONNECTS},
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
    "os.add_dll_directory": _file_path(0),
    "urllib.Request": _copy("fullurl", url_attributes.URL_FULL),
    "webbrowser.open": _copy("url", url_attributes.URL_FULL),
    "sqlite3.connect": _sqlite_connect,
    "sqlite3.enable_load_extension": _sqlite,
    "sqlite3.load_extension": _sqlite_extension,
}
