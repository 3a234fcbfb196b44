"""Attribution (issue 12, work in progress): the distribution that owns the
application's frame, and the module whose import raised the event."""

from __future__ import annotations

import pathlib
import sys
from importlib.machinery import FileFinder, SourceFileLoader

from conftest import Runner
from opentelemetry.instrumentation.audithook._emit import APPLICATION, owner_lookup


def _site(root: pathlib.Path) -> pathlib.Path:
    """A directory laid out as pip lays out site-packages."""
    site = root / "site"
    for dist, files in {
        "phonehome-1.4.2": ["phonehome/__init__.py", "phonehome/net.py"],
        "opentelemetry_instrumentation_demo-0.9b0": [
            "opentelemetry/instrumentation/demo/__init__.py"
        ],
        "PyYAMLish-6.0": ["yamlish/__init__.py"],
    }.items():
        (site / f"{dist}.dist-info").mkdir(parents=True)
        for name in files:
            (site / name).parent.mkdir(parents=True, exist_ok=True)
            (site / name).write_text("")
    return site


def _listed(site: pathlib.Path) -> dict[str, FileFinder]:
    finder = FileFinder(str(site), (SourceFileLoader, [".py"]))
    finder.find_spec("phonehome")  # what an import does: the directory is listed
    return {str(site): finder}


def test_a_file_belongs_to_the_distribution_of_its_import_path(tmp_path: pathlib.Path) -> None:
    site = _site(tmp_path)
    owner = owner_lookup(_listed(site))
    assert owner(str(site / "phonehome/net.py")) == ("phonehome", "1.4.2")
    assert owner(str(site / "opentelemetry/instrumentation/demo/__init__.py")) == (
        "opentelemetry-instrumentation-demo",
        "0.9b0",
    )
    # an import name that is not the distribution's name: not guessed
    assert owner(str(site / "yamlish/__init__.py")) is None
    assert owner(str(tmp_path / "app.py")) == (APPLICATION, None)


def test_a_directory_not_listed_yet_is_looked_at_again(tmp_path: pathlib.Path) -> None:
    site = _site(tmp_path)
    finder = FileFinder(str(site), (SourceFileLoader, [".py"]))
    finders = {str(site): finder}
    owner = owner_lookup(finders)
    assert owner(str(site / "phonehome/a.py")) == (APPLICATION, None)  # not listed yet
    finder.find_spec("phonehome")
    assert owner(str(site / "phonehome/net.py")) == ("phonehome", "1.4.2")


def test_a_users_finder_is_never_read(tmp_path: pathlib.Path) -> None:
    class Finder:
        @property
        def _path_cache(self) -> set[str]:
            raise AssertionError("user code ran")

    owner = owner_lookup({str(tmp_path): Finder()})
    assert owner(str(tmp_path / "x.py")) == (APPLICATION, None)


def test_events_carry_the_package_and_the_importing_module(
    run: Runner, tmp_path: pathlib.Path
) -> None:
    site = _site(tmp_path)
    # a distribution that connects at import time
    (site / "phonehome/__init__.py").write_text(
        "import socket\ns = socket.socket()\ns.connect_ex(('127.0.0.1', 9))\ns.close()\n"
    )
    t = run(
        f"""
import socket, sys
sys.path.insert(0, {str(site)!r})
with span("work"):
    import phonehome
    s = socket.socket()
    s.connect_ex(("127.0.0.1", 7))  # another port: not a repeat of the first
    s.close()
dump()
""",
        kwargs={"events": "socket.connect", "code_location": True},
    )
    at_import, by_app = t.events("work", "socket.connect")
    assert at_import["python.audit.package.name"] == "phonehome"
    assert at_import["python.audit.package.version"] == "1.4.2"
    assert at_import["python.audit.import.module"] == "phonehome"
    assert by_app["python.audit.package.name"] == APPLICATION
    assert "python.audit.package.version" not in by_app
    assert "python.audit.import.module" not in by_app


def test_the_walk_twins_agree_on_the_importing_module(tmp_path: pathlib.Path) -> None:
    (tmp_path / "walked.py").write_text(
        "from opentelemetry.instrumentation.audithook import _purehook\n"
        "PURE = _purehook.caller_location({}, lambda f: False)\n"
        "try:\n"
        "    from opentelemetry.instrumentation.audithook import _speedups\n"
        "except ImportError:\n"
        "    C = None\n"
        "else:\n"
        "    C = _speedups.caller_location({}, lambda f: False)\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        import walked  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("walked", None)
    assert walked.PURE[3] == "walked"
    if walked.C is not None:
        assert walked.C[3] == "walked"
        assert walked.C[0] == walked.PURE[0]
