"""Which rule each audit argument goes through: the treatments.

An argument's treatment is decided once per event name (``argument_keys``)
and applied to each value (``treated``): ``PLAIN`` and ``PATH`` convert
the value as it is; the others hide what an operator does not need
(``_redaction`` holds the rules).  Default deny: an argument listed in
``TREATMENTS`` is redacted whatever its value looks like.
``OTEL_PYTHON_AUDITHOOK_CAPTURE_RAW`` turns redaction off per event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry.instrumentation.audithook import _catalog, _redaction, _values

ARG_PREFIX = "python.audit.arg."

PLAIN = "plain"  # converted as is; bytes become their length
PATH = "path"  # converted as is; bytes are decoded with the filesystem encoding
REDACT = "redact"
URL = "url"
COMMAND = "command"
WINDOWS_COMMAND = "windows_command"
SQLITE_DATABASE = "sqlite_database"
HOST = "host"

# Arguments holding a host name, in any event: credentials can ride along.
HOST_ARGS = frozenset({"host", "hostname"})

TREATMENTS: dict[str, dict[str, str]] = {
    "os.putenv": {"value": REDACT},
    "subprocess.Popen": {"env": REDACT, "args": COMMAND},
    "os.exec": {"env": REDACT, "args": COMMAND},
    "os.posix_spawn": {"env": REDACT, "argv": COMMAND},
    "os.spawn": {"env": REDACT, "args": COMMAND},
    "os.system": {"command": COMMAND},
    "pty.spawn": {"argv": COMMAND},
    "_winapi.CreateProcess": {"command_line": WINDOWS_COMMAND},
    "urllib.Request": {"fullurl": URL, "data": REDACT, "headers": REDACT},
    "webbrowser.open": {"url": URL},
    "http.client.send": {"data": REDACT},
    "smtplib.send": {"data": REDACT},
    "imaplib.send": {"data": REDACT},
    "poplib.putline": {"line": REDACT},
    "nntplib.putline": {"line": REDACT},
    "ftplib.sendcmd": {"cmd": REDACT},
    "telnetlib.Telnet.write": {"buffer": REDACT},
    "builtins.input/result": {"result": REDACT},
    "compile": {"source": REDACT},
    "cpython.run_command": {"command": REDACT},
    # the exception object is described by its type already; the message never
    "sys.excepthook": {"value": REDACT, "traceback": REDACT},
    "sys.unraisablehook": {"unraisable": REDACT},
    "sqlite3.connect": {"database": SQLITE_DATABASE},
    "winreg.SetValue": {"value": REDACT},
    "winreg.ExpandEnvironmentStrings": {"str": REDACT},
}

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


if TYPE_CHECKING:
    ArgumentKeys = tuple[tuple[str, str], ...]


def argument_keys(event: str, raw: bool = False) -> ArgumentKeys:
    """(attribute key, treatment) for each argument the catalog names.

    ``raw`` turns redaction off for this event (OTEL_PYTHON_AUDITHOOK_CAPTURE_RAW)."""
    entry = _catalog.CATALOG.get(event)
    names = entry[0] if entry is not None else ()
    treatments = TREATMENTS.get(event, {})
    keys = []
    for name in names:
        if raw:
            # Raw capture exports the content: bytes are decoded, not measured.
            treatment = PATH if name in PATH_ARGS or name in treatments else PLAIN
        elif name in treatments:
            treatment = treatments[name]
        elif name in HOST_ARGS:
            treatment = HOST
        else:
            treatment = PATH if name in PATH_ARGS else PLAIN
        keys.append((ARG_PREFIX + name, treatment))
    return tuple(keys)


def treated(value: Any, treatment: str, limit: int) -> _values.AttrValue | None:
    if treatment == PLAIN:
        return _values.value_of(value, limit)
    if treatment == PATH:
        return _values.value_of(value, limit, path=True)
    if value is None:
        return None
    if treatment == REDACT:
        return _redaction.REDACTED
    converted = _values.value_of(value, limit, path=True)
    if type(converted) is str:
        if treatment == COMMAND:
            return _redaction.mask_shell(converted)
        if treatment == WINDOWS_COMMAND:
            return _redaction.mask_shell(converted, posix=False)
        if treatment == URL:
            return _redaction.redact_url(converted)
        if treatment == HOST:
            return _redaction.redact_host(converted)
        return _redaction.redact_sqlite_database(converted)
    if type(converted) is tuple:
        if treatment == COMMAND or treatment == WINDOWS_COMMAND:
            # items are exact str, int, float or bool here: str() runs no user code
            return _redaction.mask_argv(tuple(str(item) for item in converted))
        # a URL, host or database given as a list is no shape we know: hide it
        return _redaction.REDACTED
    return converted
