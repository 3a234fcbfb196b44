"""The attributes of one audit event: its name, each argument, and semantic conventions.

Four parts, in this order: values (one argument to an attribute value,
without running user code), the redaction rules (what never leaves the
process unless the user opts in), treatments (which rule each argument goes
through) and enrichers (the semantic-convention attributes).
``map_arguments`` puts them together.

One module, not one per part: each module is a file to find, read and
unmarshal at every start-up under ``opentelemetry-instrument``.
"""

from __future__ import annotations

import _socket
import functools
import os
import pathlib
import re
import sys
import types
import urllib.parse
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from opentelemetry.semconv.attributes import (
    db_attributes,
    network_attributes,
    server_attributes,
    url_attributes,
)

from opentelemetry.instrumentation.audithook import _catalog

if TYPE_CHECKING:
    from collections.abc import Callable

    # Type aliases only: at run time each would build a generic alias at start-up.
    Scalar = str | bool | int | float
    AttrValue = Scalar | Sequence[str] | Sequence[int] | Sequence[float] | Sequence[bool]
    Attributes = dict[str, AttrValue]
    ArgumentKeys = tuple[tuple[str, str], ...]
    Enricher = Callable[[tuple[Any, ...], Attributes, int], None]
    # event -> [(argument attribute, semantic-convention attribute)]: pairs where
    # the second may carry the first's value; each maker below adds its own.
    Replaced = dict[str, list[tuple[str, str]]]

# ----------------------------------------------------------------------
# One audit argument to an OpenTelemetry attribute value, without running user code.
#
# Every conversion tests exact types (``type(x) is str``) or subclassing of a
# builtin type (``issubclass(type(x), str)``, which consults only the MRO), and
# reads values through the builtin type's own slots (``str.__str__(x)``,
# ``int.__index__(x)``), so no ``__repr__``, ``__str__``, ``__fspath__``,
# ``__class__`` property or ``__iter__`` of a user class ever runs, and nothing
# is consumed (generators, files and request bodies are described by their type).

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
sock_family = _socket.socket.__dict__["family"].__get__
sock_type = _socket.socket.__dict__["type"].__get__
_sock_fileno = _socket.socket.fileno

# (families, kinds): number -> constant name, built at the first socket shown
# (a tenth of this module's import otherwise, in processes that may show none);
# two threads building it at once build the same tables.
_socket_names: tuple[dict[int, str], dict[int, str]] | None = None


def _build_socket_names() -> tuple[dict[int, str], dict[int, str]]:
    global _socket_names
    constants = vars(_socket).items()
    families = {v: k for k, v in constants if k.startswith("AF_") and type(v) is int}
    # aliases share a number: the names people know win
    families[_socket.AF_INET] = "AF_INET"
    families[_socket.AF_INET6] = "AF_INET6"
    kinds = {v: k for k, v in constants if k.startswith("SOCK_") and type(v) is int}
    _socket_names = (families, kinds)
    return _socket_names


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
    families, kinds = _socket_names or _build_socket_names()
    family = sock_family(value)
    kind = sock_type(value)
    return f"{families.get(family, family)}/{kinds.get(kind, kind)}/fd={_sock_fileno(value)}"


def scalar(value: Any, limit: int, path: bool = False) -> Scalar | None:
    """One value as an attribute scalar; None means: leave the attribute out."""
    cls = type(value)
    if cls is str:
        return clean_text(value, limit)
    if cls is int:
        return _int_value(value, limit)
    if cls is bool or cls is float:
        return cast("Scalar", value)
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
        return cast("AttrValue", tuple(items))
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


# ----------------------------------------------------------------------
# The redaction rules: what never leaves the process unless the user opts in.
#
# The treatments (below) say which argument of which event goes through
# which rule; here are the rules themselves.
#
# Default deny. Recognising secrets by what they look like (``--password``,
# ``token=``, key formats) leaks every secret whose flag or parameter has a name
# nobody listed, so no value is shown unless it is structure an operator needs:
#
# * ``REDACT`` (no rule needed): the value is replaced by ``[REDACTED]`` (environment blocks,
#   request bodies and headers, protocol payloads, typed input, source code).
# * ``URL``: scheme, host, port and path stay; credentials, every query value
#   (keys stay) and the fragment are replaced by ``REDACTED`` (the word of the
#   ``url.full`` semantic convention, which keeps the URL parseable).
# * ``COMMAND``: an argument vector, or a shell string tokenized as a POSIX
#   shell would (quotes, escapes, operators): the program, flag names, subcommands and other
#   lower-case words, paths and URLs (with the URL rule) stay; the value of every
#   option, ``NAME=value`` assignments, interpreter code and any other word are
#   replaced. ``WINDOWS_COMMAND``: the same, for a Windows command line.
#
# Every rule runs in time linear in its input, and scans at most ``MAX_SCAN``
# characters (values are cut to the configured length before they get here).

REDACTED = "[REDACTED]"
# Inside a URL, the semantic conventions' word (url.full): brackets would make
# the URL unparseable ("[REDACTED]:[REDACTED]@host" reads as an IPv6 host).
URL_REDACTED = "REDACTED"


def _lazy(pattern: str, flags: int = 0) -> Callable[[], re.Pattern[str]]:
    """A pattern compiled on first use (then from ``re``'s cache): most
    processes never redact a command line or a URL, and compiling every
    pattern at import would cost each of them a millisecond of start-up."""
    return functools.partial(re.compile, pattern, flags)


# The most of one value any rule reads, whatever the configured length.
MAX_SCAN = 65_536

# --- URLs --------------------------------------------------------------------------------------

_URL_START = _lazy(r"[A-Za-z][A-Za-z0-9+.-]*://")
_QUERY_SEPARATORS = _lazy(r"([&;])")


def redact_url(url: str) -> str:
    """Scheme, host, port and path; no credentials, query values or fragment."""
    try:
        parts = urllib.parse.urlsplit(url[:MAX_SCAN])
    except ValueError:
        return REDACTED
    if parts.scheme.lower() == "data":
        # data:<media type>,<the data itself>
        media_type, comma, _ = url.partition(",")
        return media_type[:MAX_SCAN] + (f",{URL_REDACTED}" if comma else "")
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{URL_REDACTED}:{URL_REDACTED}@{netloc.rpartition('@')[2]}"
    query = parts.query
    if query:
        pieces = []
        for piece in _QUERY_SEPARATORS().split(query):
            if piece == "&" or piece == ";" or not piece:
                pieces.append(piece)
                continue
            key, sep, _ = piece.partition("=")
            # a piece with no "=" may be a bare token: it is a value too
            pieces.append(f"{key}={URL_REDACTED}" if sep else URL_REDACTED)
        query = "".join(pieces)
    fragment = URL_REDACTED if parts.fragment else ""
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def redact_host(host: str) -> str:
    """A host that still carries URL credentials (urllib passes ``user:pw@host`` on)."""
    if "@" in host:
        return f"{REDACTED}@{host.rpartition('@')[2]}"
    return host


def redact_sqlite_database(database: str) -> str:
    """A sqlite URI keeps its path; its query (which may carry a key) is redacted."""
    if database.startswith("file:") and "?" in database:
        return database.partition("?")[0] + "?" + REDACTED
    return database


# --- command lines -----------------------------------------------------------------------------

# A subcommand or a file name (commit, get, app.py, http.server): shown.
_WORD = _lazy(r"[a-z][a-z0-9._-]{0,63}")
_USER_AT_HOST = _lazy(r"[A-Za-z0-9._-]{1,64}@[A-Za-z0-9.-]{1,255}")
_ASSIGNMENT = _lazy(r"[A-Za-z_][A-Za-z0-9_]*=")
# A path: absolute, relative to ".", "..", or a home directory (~/, ~user/).
_PATH = _lazy(r"/|\.\.?/|~(?:[a-z_][a-z0-9_-]{0,31})?/|[A-Za-z]:[\\/]")
_PROGRAM = _lazy(r"[a-z_][a-z0-9._+-]{0,63}")
# What an option looks like: -x..., --name, --name=...; a token that merely
# starts with "-" ("-----BEGIN PRIVATE KEY-----") is no option.
_OPTION = _lazy(r"-[A-Za-z0-9]|--[A-Za-z0-9][A-Za-z0-9_.-]{0,63}(?:=|\Z)")
_WINDOWS_OPTION = _lazy(r"(/[^:=/\\]+)([:=]?)(.*)", re.S)
# Programs whose arguments are data: echo SECRET | docker login --password-stdin
_DATA_PROGRAMS = frozenset({"echo", "printf"})
# Shells: the script of -c is itself a command line, masked by the same rules.
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "busybox"})
_SHELL_SCRIPT_OPTION = _lazy(r"-[A-Za-z]*c")
# Python's -m names a module, which is structure, not a secret (in lower
# case, as module names are, like the words kept elsewhere).
_PYTHON = _lazy(r"python[0-9.]*(?:\.exe)?")
_MODULE = _lazy(r"[a-z_][a-z0-9_]{0,63}(?:\.[a-z_][a-z0-9_]{0,63}){0,7}")
_SHELL_OPERATOR_CHARS = frozenset("();<>|&")
_REDIRECTIONS = frozenset({"<", ">", ">>", "<<", "<<<", "<&", ">&", "<>", ">|", "&>", "&>>"})
_SAFE_UNQUOTED = _lazy(r"[\w@%+=:,./\[\]~-]+")


def _program_name(program: str) -> str:
    return program.replace("\\", "/").rpartition("/")[2].lower()


def _positional(token: str) -> str:
    """An argument that is no option's value: kept only when it is structure."""
    if _URL_START().match(token):
        return redact_url(token)
    if _PATH().match(token):
        # a path keeps its name, but not a query riding on it (//host/x?token=...)
        return redact_url(token) if "?" in token or "#" in token else token
    if _WORD().fullmatch(token) or _USER_AT_HOST().fullmatch(token):
        return token
    assignment = _ASSIGNMENT().match(token)
    if assignment:
        return assignment.group() + REDACTED
    return REDACTED


def _shell_program(word: str) -> str:
    """The first word of a shell line is whatever the line says: shown when it
    looks like a program (a path or a lower-case name)."""
    if _URL_START().match(word):
        return redact_url(word)
    return word if _PROGRAM().fullmatch(word) or _PATH().match(word) else _positional(word)


def _option_value(token: str) -> str:
    return redact_url(token) if _URL_START().match(token) else REDACTED


def _command(tokens: list[str], *, shell: bool, windows: bool = False) -> list[str]:
    """One simple command: the program and its arguments.

    Without the program's option table ``-l /tmp`` cannot be told from
    ``-p S3cret``, nor ``-la`` from ``-pS3cret``: the token after an option
    and the rest of a short option are always taken for its value."""
    out: list[str] = []
    index = 0
    if shell:
        # leading NAME=value assignments of a shell command
        while index < len(tokens):
            assignment = _ASSIGNMENT().match(tokens[index])
            if assignment is None:
                break
            out.append(assignment.group() + REDACTED)
            index += 1
    if index >= len(tokens):
        return out
    program = tokens[index]
    if shell and not windows:
        out.append(_shell_program(program))
    elif _URL_START().match(program):
        out.append(redact_url(program))
    else:
        out.append(program)
    name = _program_name(program)
    is_shell = name in _SHELLS
    is_python = _PYTHON().fullmatch(name) is not None
    data_only = name in _DATA_PROGRAMS
    pending: str | None = None  # the option whose value comes next
    options_done = False
    redirect_target = ""
    rest = tokens[index + 1 :]
    for position, token in enumerate(rest):
        if shell and token in _REDIRECTIONS:
            out.append(token)
            redirect_target = token
            continue
        if redirect_target:
            # 2>&1, <&- : file descriptors; else a file name
            duplicate = redirect_target in ("<&", ">&") and (token.isdigit() or token == "-")
            out.append(token if duplicate else _positional(token))
            redirect_target = ""
            continue
        following = rest[position + 1] if position + 1 < len(rest) else ""
        if shell and token.isdigit() and following in _REDIRECTIONS:
            out.append(token)  # the descriptor of 2>file
            continue
        end_of_options = token == "--" and not options_done
        option = not options_done and _OPTION().match(token) is not None
        if pending is not None and (option or end_of_options):
            pending = None  # an option that takes no value, followed by another option
        if pending is not None:
            if is_shell and _SHELL_SCRIPT_OPTION().fullmatch(pending):
                out.append(mask_shell(token))
            elif is_python and pending == "-m" and _MODULE().fullmatch(token):
                out.append(token)
            else:
                out.append(_option_value(token))
            pending = None
            continue
        windows_option = _WINDOWS_OPTION().fullmatch(token) if windows else None
        if windows_option is not None:
            # /flag, /name:value, /name=value
            name, separator, value = windows_option.groups()
            out.append(name + separator + _option_value(value) if separator else token)
            continue
        if end_of_options:
            options_done = True
            out.append(token)
            continue
        if option:
            if token.startswith("--"):
                flag, equals, value = token.partition("=")
                if equals:
                    out.append(f"{flag}={_option_value(value)}")
                else:
                    out.append(token)
                    pending = token
            elif len(token) == 2 or (is_shell and _SHELL_SCRIPT_OPTION().fullmatch(token)):
                out.append(token)
                pending = token
            else:
                out.append(token[:2] + REDACTED)  # an attached value: -pS3cret
            continue
        out.append(REDACTED if data_only else _positional(token))
    return out


def mask_argv(argv: tuple[str, ...]) -> tuple[str, ...]:
    """An argument vector (``subprocess.Popen``, ``os.exec``), masked."""
    scanned = 0
    tokens = []
    for arg in argv:
        scanned += len(arg)
        if scanned > MAX_SCAN:
            tokens.append(REDACTED)
            break
        tokens.append(arg)
    return tuple(_command(tokens, shell=False))


def _is_operator(token: str) -> bool:
    return bool(token) and all(c in _SHELL_OPERATOR_CHARS for c in token)


def _quote(token: str) -> str:
    if not token or _is_operator(token) or _SAFE_UNQUOTED().fullmatch(token):
        return token
    # shlex.quote's own rule for an unsafe token (single quotes, each ' as
    # '"'"'), without importing shlex, whose import compiles a regular
    # expression at every start-up
    return "'" + token.replace("'", "'\"'\"'") + "'"


def _program_only(text: str) -> str:
    words = text[:MAX_SCAN].split(None, 1)
    if not words:
        return ""
    return _shell_program(words[0]) + (" " + REDACTED if len(words) > 1 else "")


# POSIX shell tokens, at C speed and in linear time (possessive quantifiers
# never backtrack): blanks, control and redirection operators, and words made
# of unquoted characters, '...', "..." and backslash escapes.
_SHELL_TOKEN = _lazy(
    r"""(?P<blank>\s++)"""
    r"""|(?P<op>&>>|&&|\|\||;;|>>|<<<|<<|<&|>&|<>|>\||&>|\|&|[();<>|&])"""
    r"""|(?P<word>(?:[^\s'"\\();<>|&]++|'[^']*+'|"(?:[^"\\]++|\\.)*+"|\\.)++)""",
    re.S,
)
_WORD_PIECE = _lazy(r"""'([^']*+)'|"((?:[^"\\]++|\\.)*+)"|\\(.)|([^'"\\]++)""", re.S)
_DOUBLE_QUOTED_ESCAPE = _lazy(r"""\\([$`"\\\n])""")


def _unquote(word: str) -> str:
    pieces = []
    for single, double, escaped, plain in _WORD_PIECE().findall(word):
        if double:
            pieces.append(_DOUBLE_QUOTED_ESCAPE().sub(r"\1", double))
        else:
            pieces.append(single or escaped or plain)
    return "".join(pieces)


def _shell_tokens(text: str, posix: bool) -> list[str] | None:
    """The shell's words (quotes removed where ``posix``) and operators; None
    when the text does not tokenize (an unbalanced quote)."""
    tokens = []
    position = 0
    for match in _SHELL_TOKEN().finditer(text):
        if match.start() != position:
            return None
        position = match.end()
        kind = match.lastgroup
        if kind == "op":
            tokens.append(match.group())
        elif kind == "word":
            tokens.append(_unquote(match.group()) if posix else match.group())
    return tokens if position == len(text) else None


def mask_shell(text: str, posix: bool = True) -> str:
    """A shell command line (``os.system``, ``sh -c``), tokenized as the shell
    would, each simple command masked as an argument vector. A line that
    cannot be tokenized keeps only its program name."""
    tokens = _shell_tokens(text[:MAX_SCAN], posix)
    if tokens is None:
        return _program_only(text)
    out: list[str] = []
    command: list[str] = []
    for token in tokens:
        if _is_operator(token) and token not in _REDIRECTIONS:
            out.extend(_command(command, shell=True, windows=not posix))
            out.append(token)
            command = []
        else:
            command.append(token)
    out.extend(_command(command, shell=True, windows=not posix))
    if len(text) > MAX_SCAN:
        out.append(REDACTED)
    if not posix:
        return " ".join(out)  # Windows tokens keep their own quotes
    return " ".join(_quote(token) for token in out)


# ----------------------------------------------------------------------
# Which rule each audit argument goes through: the treatments.
#
# An argument's treatment is decided once per event name (``argument_keys``)
# and applied to each value (``treated``): ``PLAIN`` and ``PATH`` convert
# the value as it is; the others hide what an operator does not need
# (the redaction rules above).  Default deny: an argument listed in
# ``TREATMENTS`` is redacted whatever its value looks like.
# ``OTEL_PYTHON_AUDITHOOK_CAPTURE_RAW`` turns redaction off per event.

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


def argument_keys(event: str, raw: bool = False) -> ArgumentKeys:
    """(attribute key, treatment) for each argument the catalog names.

    ``raw`` turns redaction off for this event (OTEL_PYTHON_AUDITHOOK_CAPTURE_RAW)."""
    entry = _catalog.entry(event)
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


def treated(value: Any, treatment: str, limit: int) -> AttrValue | None:
    if treatment == PLAIN:
        return value_of(value, limit)
    if treatment == PATH:
        return value_of(value, limit, path=True)
    if value is None:
        return None
    if treatment == REDACT:
        return REDACTED
    converted = value_of(value, limit, path=True)
    if type(converted) is str:
        if treatment == COMMAND:
            return mask_shell(converted)
        if treatment == WINDOWS_COMMAND:
            return mask_shell(converted, posix=False)
        if treatment == URL:
            return redact_url(converted)
        if treatment == HOST:
            return redact_host(converted)
        return redact_sqlite_database(converted)
    if type(converted) is tuple:
        if treatment == COMMAND or treatment == WINDOWS_COMMAND:
            # items are exact str, int, float or bool here: str() runs no user code
            return mask_argv(tuple(str(item) for item in converted))
        # a URL, host or database given as a list is no shape we know: hide it
        return REDACTED
    return converted


# ----------------------------------------------------------------------
# Semantic-convention attributes, added to an event's argument attributes.
#
# ``enricher_for(event)`` is the function that adds them for one event:
# ``file.path`` for file events, ``server.address``/``server.port`` and the
# network attributes for connections, ``process.*`` for the commands a process
# spawns, ``url.full`` and ``db.*``.  Enrichers that copy a value copy it from
# the argument attributes, after their treatment: what was redacted stays so.
#
# A value goes out once: where a semantic-convention attribute carries an
# argument's value, the argument's own ``python.audit.arg.*`` attribute is left
# out (``replaced()`` lists the pairs; README's "Attributes" shows them).
#
# The table is made at the first event mapped, not at import: this module is
# imported at every start-up, and most processes export few kinds of event.

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
    entry = _catalog.entry(event)
    names = entry[0] if entry is not None else ()
    return ARG_PREFIX + (names[index] if index < len(names) else str(index))


def _set_path(attrs: Attributes, key: str, value: Any, limit: int) -> None:
    text = path_of(value, limit)
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
    host = path_of(values[index], limit)
    if host:
        attrs[host_key] = redact_host(host)
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
    arg = ARG_PREFIX + "address"
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
    arg = ARG_PREFIX + "address"
    # a (host, port) pair as both; a Unix socket's path as the host
    replaced.setdefault(event, []).extend(((arg, host_key), (arg, port_key)))

    def enrich(args: tuple[Any, ...], attrs: Attributes, limit: int) -> None:
        if len(args) < 2:
            return
        sock, address = args[0], args[1]
        family = None
        if issubclass(type(sock), _socket.socket):
            family = sock_family(sock)
            kind = sock_type(sock)
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
    args_arg = ARG_PREFIX + args_name
    exe_arg = ARG_PREFIX + exe_name if exe_name is not None else None
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
    cwd_arg = ARG_PREFIX + "cwd"
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
    arg = ARG_PREFIX + name
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


def _first_arg(event: str) -> str | None:
    entry = _catalog.entry(event)
    return entry[0][0] if entry is not None and entry[0] else None


def _build() -> tuple[dict[str, Enricher], Replaced]:
    r: Replaced = {}
    table = {
        # every file event whose first argument is a path, unless named below
        **{
            name: _file_path(r, name, 0)
            for name in _catalog.CATALOG
            if _catalog.category(name) == "file" and _first_arg(name) in PATH_ARGS
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


# the event's attributes on every signal
EVENT_KEY = "python.audit.event"
CATEGORY_KEY = "python.audit.category"


def map_arguments(event: str, keys: ArgumentKeys, args: tuple[Any, ...], limit: int) -> Attributes:
    """The attributes of one event; ``keys`` are its ``argument_keys``."""
    attrs: Attributes = {EVENT_KEY: event}
    known = len(keys)
    for index, value in enumerate(args):
        if index < known:
            key, treatment = keys[index]
        else:
            key, treatment = f"{ARG_PREFIX}{index}", PLAIN
        converted = treated(value, treatment, limit)
        if converted is not None:
            attrs[key] = converted
    enrich = enricher_for(event)
    if enrich is not None:
        enrich(args, attrs, limit)
    return attrs
