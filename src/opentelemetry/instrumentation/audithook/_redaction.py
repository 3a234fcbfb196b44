"""The redaction rules: what never leaves the process unless the user opts in.

The treatments (in ``_mapping``) say which argument of which event goes
through which rule; here are the rules themselves.

Default deny. Recognising secrets by what they look like (``--password``,
``token=``, key formats) leaks every secret whose flag or parameter has a name
nobody listed, so no value is shown unless it is structure an operator needs:

* ``REDACT`` (no rule needed): the value is replaced by ``[REDACTED]`` (environment blocks,
  request bodies and headers, protocol payloads, typed input, source code).
* ``URL``: scheme, host, port and path stay; credentials, every query value
  (keys stay) and the fragment are replaced by ``REDACTED`` (the word of the
  ``url.full`` semantic convention, which keeps the URL parseable).
* ``COMMAND``: an argument vector, or a shell string tokenized as a POSIX
  shell would (quotes, escapes, operators): the program, flag names, subcommands and other
  lower-case words, paths and URLs (with the URL rule) stay; the value of every
  option, ``NAME=value`` assignments, interpreter code and any other word are
  replaced. ``WINDOWS_COMMAND``: the same, for a Windows command line.

Every rule runs in time linear in its input, and scans at most ``MAX_SCAN``
characters (values are cut to the configured length before they get here).
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from collections.abc import Callable

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
