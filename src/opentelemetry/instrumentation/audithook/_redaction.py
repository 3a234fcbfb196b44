"""What never leaves the process unless the user opts in: secrets in audit arguments.

Three treatments, chosen per (event, argument name):

* ``REDACT``: the value is replaced by ``[REDACTED]`` (environment blocks,
  request bodies and headers, protocol payloads, typed input, source code);
* ``URL``: credentials and signed query values are replaced, the rest kept
  (the ``url.full`` rules of the semantic conventions);
* ``COMMAND``: command lines and argument vectors are kept, but values that
  look like secrets are masked (``--password=...``, bearer tokens, AWS keys,
  JWTs, PEM blocks, URL credentials).

``OTEL_PYTHON_AUDITHOOK_CAPTURE_RAW`` lists events exported unredacted.
"""

from __future__ import annotations

import re
import urllib.parse

REDACTED = "[REDACTED]"

REDACT = "redact"
URL = "url"
COMMAND = "command"
SQLITE_DATABASE = "sqlite_database"
HOST = "host"

# Arguments holding a host name, in any event: credentials can ride along.
HOST_ARGS = frozenset({"host", "hostname"})

TREATMENTS: dict[str, dict[str, str]] = {
    "os.putenv": {"value": REDACT},
    "subprocess.Popen": {"env": REDACT, "args": COMMAND, "executable": COMMAND},
    "os.exec": {"env": REDACT, "args": COMMAND},
    "os.posix_spawn": {"env": REDACT, "argv": COMMAND},
    "os.spawn": {"env": REDACT, "args": COMMAND},
    "os.system": {"command": COMMAND},
    "pty.spawn": {"argv": COMMAND},
    "_winapi.CreateProcess": {"command_line": COMMAND},
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

# Query keys whose values the semantic conventions redact in url.full.
SENSITIVE_QUERY_KEYS = frozenset({"AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature"})

_SECRET_WORDS = (
    r"pass(?:word|wd|phrase)?|pwd|secret|token|api[-_]?key|access[-_]?key|private[-_]?key"
    r"|auth(?:orization)?|credentials?|client[-_]?secret|session[-_]?id|cookie"
)
# --password=x, PASSWORD=x, token: x, "api_key": "x" (but "Authorization: Bearer x"
# is left to the scheme rule, which masks the token rather than the word Bearer)
_ASSIGNMENT = re.compile(
    rf"(?i)(?P<key>[\w.-]*(?:{_SECRET_WORDS})[\w.-]*[\"']?\s*[=:]\s*[\"']?)"
    r"(?!(?:bearer|basic|token)\s)(?!\[REDACTED\])(?P<value>[^\s\"'&,;]+)"
)
# --password x inside one command string
_FLAG_IN_TEXT = re.compile(
    rf"(?i)(?P<key>(?:^|\s)-{{1,2}}[\w.-]*(?:{_SECRET_WORDS})[\w.-]*\s+)(?!-)(?P<value>[^\s\"']+)"
)
# --password x (the secret is the next argument)
_FLAG = re.compile(rf"(?i)^-{{1,2}}[\w.-]*(?:{_SECRET_WORDS})[\w.-]*$")
_PATTERNS = (
    re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9\-._~+/]+=*"),
    re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|$)", re.S),
    re.compile(
        r"\b(?:ghp|gho|ghu|ghs|ghr|github_pat|glpat|xox[abpr]|sk|sk_live|rk_live)[-_][A-Za-z0-9_]{16,}"
    ),
)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@")


def _mask_auth(match: re.Match[str]) -> str:
    return f"{match.group(1)} {REDACTED}"


def mask_secrets(text: str) -> str:
    """Mask what looks like a secret inside free text (a command line, an argument)."""
    if text.startswith(("-----BEGIN",)) or "-----BEGIN" in text:
        text = _PATTERNS[3].sub(REDACTED, text)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{REDACTED}:{REDACTED}@", text)
    text = _PATTERNS[0].sub(_mask_auth, text)
    text = _ASSIGNMENT.sub(lambda m: f"{m.group('key')}{REDACTED}", text)
    text = _FLAG_IN_TEXT.sub(lambda m: f"{m.group('key')}{REDACTED}", text)
    for pattern in _PATTERNS[1:3] + _PATTERNS[4:]:
        text = pattern.sub(REDACTED, text)
    return text


def mask_argv(argv: tuple[str, ...]) -> tuple[str, ...]:
    """Mask secrets in an argument vector, including ``--password VALUE`` pairs."""
    out = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        if _FLAG.match(arg):
            hide_next = True
            out.append(arg)
            continue
        out.append(mask_secrets(arg))
    return tuple(out)


def redact_url(url: str) -> str:
    """The url.full rules: no credentials, no signature-like query values."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}:{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pieces = []
        for piece in query.split("&"):
            key, sep, _ = piece.partition("=")
            pieces.append(f"{key}={REDACTED}" if sep and key in SENSITIVE_QUERY_KEYS else piece)
        query = "&".join(pieces)
    if netloc == parts.netloc and query == parts.query:
        return url
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_host(host: str) -> str:
    """A host that still carries URL credentials (urllib passes ``user:pw@host`` on)."""
    if "@" in host:
        return f"{REDACTED}@{host.rsplit('@', 1)[1]}"
    return host


def redact_sqlite_database(database: str) -> str:
    """A sqlite URI keeps its path; its query (which may carry a key) is redacted."""
    if database.startswith("file:") and "?" in database:
        return database.split("?", 1)[0] + "?" + REDACTED
    return database
