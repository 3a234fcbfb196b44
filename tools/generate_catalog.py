"""Regenerate ``_catalog.py`` from CPython's audit events tables.

Usage::

    python tools/generate_catalog.py [SEEDS_DIR] [--check]

``SEEDS_DIR`` defaults to ``tools/seeds`` (copies of the documents in
``../shared/seeds``).  ``--check`` exits 1 when the committed catalog differs
from what the seeds produce, without writing anything.

Two table formats are understood: the plain-text export of the current docs
(one cell per paragraph) and the 2021 hyperhelp export (a reST grid table whose
cells wrap across lines).  The catalog is their union; each event records which
table(s) list it, and where both list it with different arguments the current
table wins.

Neither table lists every event that CPython raises: ``OBSERVED`` adds the
ones seen raised by real calls on 3.11-3.13 (tests/test_catalog.py calls
each on the Python that runs it), with the version that first raises them.
"""

from __future__ import annotations

import fnmatch
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_SEEDS = ROOT / "tools" / "seeds"
TARGET = ROOT / "src" / "opentelemetry" / "instrumentation" / "audithook" / "_catalog.py"

# The seed files, by the table each holds.  The names are the file names in
# ../shared/seeds; the labels are what the catalog records as an event's source.
TABLES = {
    "current": "003_c70b35ac394f4f51.txt",
    "2021": "004_b9cd60046a364e71.txt",
}

# The oldest Python the package supports: SINCE lists only later versions.
OLDEST_PYTHON = "3.11"

# Events that CPython raises and neither table lists: name -> (argument names,
# first version that raises it).  Argument names follow CPython's source.
OBSERVED: dict[str, tuple[tuple[str, ...], str]] = {
    # The tables spell these "sys.set_asyncgen_hooks_*"; CPython raises
    # "sys.set_asyncgen_hook_*" (both names stay: a selection may use either).
    "sys.set_asyncgen_hook_firstiter": ((), OLDEST_PYTHON),
    "sys.set_asyncgen_hook_finalizer": ((), OLDEST_PYTHON),
    "pathlib.Path.walk": (("self", "on_error", "follow_symlinks"), "3.12"),
    "sys.monitoring.register_callback": (("func",), "3.12"),
    # threading.Thread.start goes through this one from 3.13 on.
    "_thread.start_joinable_thread": (("function", "daemon", "handle"), "3.13"),
    "time.sleep": (("secs",), "3.13"),
}

# Events the tables list that the oldest supported Python (3.11) does not
# raise yet: name -> first version that raises it, checked the same way.
LISTED_SINCE: dict[str, str] = {
    "_thread.start_new_thread": "3.12",
    "sys._getframemodulename": "3.12",
}

_NAME_RE = re.compile(r"^[A-Za-z_][\w.]*(/[\w.]+)?$")
_REFS_RE = re.compile(r"^(\[\d+\])+$")

# Category rules: the first glob that matches an event name gives its category.
# Order matters: specific names before the broad prefixes they would also match.
CATEGORY_RULES: tuple[tuple[str, str], ...] = (
    ("sqlite3.*", "sqlite"),
    ("winreg.*", "windows"),
    ("msvcrt.*", "windows"),
    ("_winapi.CreateFile", "windows"),
    ("_winapi.CreateJunction", "windows"),
    ("_winapi.CreateNamedPipe", "windows"),
    ("_winapi.CreatePipe", "windows"),
    ("_winapi.*", "process"),
    ("os.add_dll_directory", "native"),
    ("os.listdrives", "windows"),
    ("os.listmounts", "windows"),
    ("os.listvolumes", "windows"),
    ("os.startfile*", "process"),
    ("os.exec", "process"),
    ("os.fork", "process"),
    ("os.forkpty", "process"),
    ("os.kill", "process"),
    ("os.killpg", "process"),
    ("os.posix_spawn", "process"),
    ("os.spawn", "process"),
    ("os.system", "process"),
    ("os.putenv", "os"),
    ("os.unsetenv", "os"),
    ("os.*", "file"),
    ("open", "file"),
    ("glob.*", "file"),
    ("pathlib.*", "file"),
    ("shutil.*", "file"),
    ("tempfile.*", "file"),
    ("fcntl.*", "file"),
    ("subprocess.*", "process"),
    ("pty.spawn", "process"),
    ("signal.*", "process"),
    ("socket.*", "network"),
    ("http.client.*", "network"),
    ("urllib.*", "network"),
    ("ftplib.*", "network"),
    ("smtplib.*", "network"),
    ("imaplib.*", "network"),
    ("poplib.*", "network"),
    ("nntplib.*", "network"),
    ("telnetlib.*", "network"),
    ("webbrowser.*", "network"),
    ("ctypes.*", "native"),
    ("mmap.*", "native"),
    ("compile", "code"),
    ("exec", "code"),
    ("import", "code"),
    ("marshal.*", "code"),
    ("pickle.*", "code"),
    ("code.__new__", "code"),
    ("function.__new__", "code"),
    ("cpython.run_*", "code"),
    ("setopencodehook", "code"),
    ("ensurepip.*", "code"),
    ("resource.*", "os"),
    ("syslog.*", "os"),
    ("builtins.input*", "os"),
    ("time.*", "os"),
    ("*", "runtime"),
)


def _category(name: str) -> str:
    for pattern, category in CATEGORY_RULES:
        if fnmatch.fnmatchcase(name, pattern):
            return category
    raise AssertionError("the last rule matches everything")


def _split_args(text: str) -> tuple[str, ...]:
    # Wrapped cells split a name across lines; names never contain blanks.
    return tuple(re.sub(r"\s+", "", a) for a in text.split(",") if a.strip())


def parse_plain(text: str) -> dict[str, tuple[str, ...]]:
    """The plain-text export: every cell is one paragraph."""
    paragraphs = [p.strip() for p in text.splitlines() if p.strip()]
    events: dict[str, tuple[str, ...]] = {}
    try:
        start = paragraphs.index("References") + 1
    except ValueError:
        raise ValueError("no 'References' header: not the plain audit table") from None
    pending: list[str] = []
    internal = False
    for para in paragraphs[start:]:
        if para.startswith("The following events are raised internally"):
            internal = True
            continue
        if internal and para in ("Audit event", "Arguments"):
            continue
        if not internal:
            if _REFS_RE.match(para):
                name, *rest = pending
                events[name] = _split_args(rest[0]) if rest else ()
                pending = []
            else:
                pending.append(para)
            continue
        # The internal table has no reference column: a name has a dot and no
        # blank, an argument list has neither a dot-only token nor a name shape.
        if "." in para and " " not in para and "," not in para:
            events[para] = ()
            pending = [para]
        elif pending:
            events[pending[0]] = _split_args(para)
            pending = []
    if pending and not internal:
        raise ValueError(f"trailing cells with no references: {pending}")
    return events


def parse_grid(text: str) -> dict[str, tuple[str, ...]]:
    """The hyperhelp export: reST grid tables, cells cut at fixed columns."""
    events: dict[str, tuple[str, ...]] = {}
    cols: list[int] | None = None
    row: list[list[str]] = []

    def flush() -> None:
        if not row or cols is None:
            return
        name = "".join(part.strip() for part in row[0])
        if name and name != "Audit event":
            args = " ".join(part.strip() for part in row[1])
            events[name] = _split_args(args.replace('"', ","))
        row.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if stripped and set(stripped) <= set("+-=|") and ("--" in stripped or "==" in stripped):
            flush()
            cols = [i for i, ch in enumerate(line) if ch == "+"]
            row.extend([] for _ in range(len(cols) - 1))
            continue
        if cols is None or not line.startswith("|"):
            if not line.strip():
                cols = None
            continue
        for i in range(min(2, len(cols) - 1)):
            row[i].append(line[cols[i] + 1 : cols[i + 1]])
    flush()
    return events


def build(seeds: pathlib.Path) -> dict[str, tuple[tuple[str, ...], str, tuple[str, ...]]]:
    tables = {
        "current": parse_plain((seeds / TABLES["current"]).read_text(encoding="utf-8")),
        "2021": parse_grid((seeds / TABLES["2021"]).read_text(encoding="utf-8")),
    }
    catalog = {}
    for name in sorted(set().union(*tables.values(), OBSERVED)):
        sources = tuple(label for label, table in tables.items() if name in table)
        if sources:
            args = tables[sources[0]][name]
        else:
            args, sources = OBSERVED[name][0], ("observed",)
        if not _NAME_RE.match(name):
            raise ValueError(f"not an event name: {name!r}")
        catalog[name] = (args, _category(name), sources)
    return catalog


_PACKED_SEPARATORS = ("|", ",")


def _packed(args: tuple[str, ...], category: str, sources: tuple[str, ...]) -> str:
    for part in (*args, category, *sources):
        if not part or any(sep in part for sep in _PACKED_SEPARATORS):
            raise ValueError(f"cannot pack {part!r}: empty, or holds a separator")
    return "|".join((category, ",".join(args), ",".join(sources)))


def render(catalog: dict[str, tuple[tuple[str, ...], str, tuple[str, ...]]]) -> str:
    out = [
        "# ruff: noqa: E501",
        '"""The audit event catalog: generated by tools/generate_catalog.py; do not edit.',
        "",
        "``entry(name)`` gives (argument names, category, tables that list it).",
        '"current" is the plain-text export of the current audit events table,',
        '"2021" the hyperhelp export dated 2021-07-11, "observed" an event that',
        "CPython raises and neither table lists.  SINCE: the first Python version",
        "that raises an event, for those that OLDEST_PYTHON does not raise.",
        "",
        "Each entry is stored as one string, ``category|argument,...|table,...``,",
        "and split when it is first asked for: as nested tuples, the catalog took",
        "3.7 times as long to unmarshal (72 against 20 us), at every instrumented",
        "start-up, and most names are never asked for (issue 15).",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import TYPE_CHECKING",
        "",
        "if TYPE_CHECKING:",
        "    # (argument names, category, tables that list it)",
        "    Entry = tuple[tuple[str, ...], str, tuple[str, ...]]",
        "",
        "CATALOG: dict[str, str] = {",
    ]
    for name, (args, category, sources) in catalog.items():
        out.append(f"    {name!r}: {_packed(args, category, sources)!r},")
    out.append("}")
    since = {name: v for name, (_, v) in OBSERVED.items() if v != OLDEST_PYTHON} | LISTED_SINCE
    out += ["", f"OLDEST_PYTHON = {OLDEST_PYTHON!r}", "", "SINCE: dict[str, str] = {"]
    for name in sorted(since):
        if name not in catalog:
            raise ValueError(f"LISTED_SINCE names an event no table lists: {name!r}")
        out.append(f"    {name!r}: {since[name]!r},")
    out.append("}")
    out += [
        "",
        "_entries: dict[str, Entry] = {}",
        "",
        "",
        "def _split(text: str) -> tuple[str, ...]:",
        '    return tuple(text.split(",")) if text else ()',
        "",
        "",
        "def entry(name: str) -> Entry | None:",
        '    """The catalog\'s entry for an event name; None if it has none."""',
        "    found = _entries.get(name)",
        "    if found is None:",
        "        packed = CATALOG.get(name)",
        "        if packed is None:",
        "            return None",
        '        category, args, tables = packed.split("|")',
        "        # two threads may split the same entry: equal tuples, either kept",
        "        found = _entries[name] = (_split(args), category, _split(tables))",
        "    return found",
        "",
        "",
        "def category(name: str) -> str | None:",
        '    """The event\'s category, without splitting the rest of its entry."""',
        "    packed = CATALOG.get(name)",
        '    return packed[: packed.index("|")] if packed is not None else None',
    ]
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    rest = [a for a in argv if a != "--check"]
    seeds = pathlib.Path(rest[0]) if rest else DEFAULT_SEEDS
    text = render(build(seeds))
    if check:
        if TARGET.read_text(encoding="utf-8") != text:
            print(f"{TARGET} is out of date with {seeds}; run tools/generate_catalog.py")
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
