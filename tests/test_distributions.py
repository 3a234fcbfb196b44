"""Attribution against real installed distributions (issue 12).

A virtualenv of its own gets a small HTTP client from the package index
(urllib3, whose ``connection`` module makes the ``socket.connect``) and a
distribution built here that opens a socket while it is being imported; the
events they raise must carry their distribution's name and version, and the
import-time one the importing module, for both hook implementations.
"""

from __future__ import annotations

import http.server
import pathlib
import site
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from conftest import run_scenario

# what the index serves for this range is what the test asserts (read back from the venv)
URLLIB3 = "urllib3>=2.2,<3"
PHONEHOME_VERSION = "1.4.2"


def _pip(python: pathlib.Path, *args: str) -> None:
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
        check=True,
        timeout=600,
    )


def _connecting_distribution(
    root: pathlib.Path, name: str, version: str, package: str, port: int
) -> pathlib.Path:
    """The source of a distribution whose package connects to a port while
    it is being imported."""
    src = root / f"{package}-src"
    (src / package).mkdir(parents=True)
    (src / "pyproject.toml").write_text(
        "[build-system]\n"
        'requires = ["setuptools>=61"]\n'
        'build-backend = "setuptools.build_meta"\n'
        "[project]\n"
        f'name = "{name}"\nversion = "{version}"\n'
        "[tool.setuptools]\n"
        f'packages = ["{package}"]\n'
    )
    (src / package / "__init__.py").write_text(
        f"import socket\n_s = socket.socket()\n_s.connect_ex(('127.0.0.1', {port}))\n_s.close()\n"
    )
    return src


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A virtualenv with urllib3 from the index and phonehome built here; the
    running interpreter's packages (the SDK, this package) are visible through
    a .pth file after its own."""
    root = tmp_path_factory.mktemp("venv")
    env_dir = root / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (pathlib.Path(purelib) / "zz_parent.pth").write_text(
        "\n".join(site.getsitepackages() + [site.getusersitepackages()]) + "\n"
    )
    _pip(python, "--ignore-installed", "--no-deps", URLLIB3)
    # phonehome connects to the discard port: another destination than the
    # client's, so not a repeat of it; Odd.Name's import name is oddmod (as
    # PyYAML's is yaml)
    phonehome = _connecting_distribution(root, "phonehome", PHONEHOME_VERSION, "phonehome", 9)
    oddname = _connecting_distribution(root, "Odd.Name", "0.3", "oddmod", 7)
    _pip(python, "--no-deps", "--no-build-isolation", str(phonehome), str(oddname))
    return python


def _version(python: pathlib.Path, dist: str) -> str:
    return subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def server() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_events_carry_the_installed_distributions(
    venv: pathlib.Path, server: int, tmp_path: pathlib.Path, implementation: str
) -> None:
    t = run_scenario(
        f"""
import urllib3
with span("work"):
    import phonehome
    urllib3.PoolManager().request("GET", "http://127.0.0.1:{server}/")
    import oddmod
dump()
""",
        tmp_path,
        implementation=implementation,
        python=str(venv),
        kwargs={"events": "socket.connect", "code_location": True},
    )
    at_import, by_client, odd = t.events("work", "socket.connect")
    # the distribution built here, at import
    assert at_import["python.audit.package.name"] == "phonehome"
    assert at_import["python.audit.package.version"] == PHONEHOME_VERSION
    assert at_import["python.audit.import.module"] == "phonehome"
    assert at_import["code.file.path"].endswith("/phonehome/__init__.py")
    # urllib3 from the index: its connection module connects
    assert by_client["python.audit.package.name"] == "urllib3"
    assert by_client["python.audit.package.version"] == _version(venv, "urllib3")
    assert "/site-packages/urllib3/" in by_client["code.file.path"]
    assert str(venv.parent.parent) in by_client["code.file.path"]  # the venv's copy
    assert "python.audit.import.module" not in by_client
    assert by_client["server.port"] == server
    # the metric by distribution and category
    points = {
        p["attributes"]["python.audit.package.name"]: p["value"]
        for p in t.points("python.audit.package.events", **{"python.audit.category": "network"})
    }
    assert points == {"phonehome": 1, "urllib3": 1, "(unknown)": 1}
    # a distribution whose import name is not its name: not guessed at run time
    assert "python.audit.package.name" not in odd
    assert odd["python.audit.import.module"] == "oddmod"


def test_the_report_names_each_distribution(
    venv: pathlib.Path, server: int, tmp_path: pathlib.Path
) -> None:
    """The report on a real third-party command (pip, from the venv) and on
    a script using the distributions."""
    from conftest import clean_env

    script = tmp_path / "app.py"
    script.write_text(
        f"import urllib3, phonehome, oddmod\nurllib3.PoolManager().request('GET', 'http://127.0.0.1:{server}/')\n"
    )

    def report(*args: str) -> subprocess.CompletedProcess[str]:
        # the report of the venv's own copy of this package's CLI
        return subprocess.run(
            [str(venv), "-m", "opentelemetry.instrumentation.audithook", "report", *args],
            check=False,
            capture_output=True,
            text=True,
            env=clean_env(),
            cwd=tmp_path,
            timeout=120,
        )

    proc = report("--", str(venv), str(script))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    version = _version(venv, "urllib3")
    assert f"phonehome {PHONEHOME_VERSION}\n  hosts:\n    127.0.0.1:9\n" in out
    assert "  at import:\n    phonehome: hosts 127.0.0.1:9\n" in out
    assert f"urllib3 {version}\n" in out
    # at run time (unknown); the report places it from its metadata at exit
    assert "odd-name 0.3\n  hosts:\n    127.0.0.1:7\n" in out
    assert "(unknown)" not in out
    # pip itself: a real command, its own distribution's behaviour
    proc = report(
        "--json", str(tmp_path / "pip.json"), "--", str(venv), "-m", "pip", "list",
        "--disable-pip-version-check",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "urllib3" in proc.stdout and "phonehome" in proc.stdout  # pip list's own output
    from opentelemetry.instrumentation.audithook import _report

    packages = _report.read_report(str(tmp_path / "pip.json"))
    pip = packages["pip"]
    assert pip["version"] == _version(venv, "pip")
    # pip list reads the venv's dist-info directories
    # (the directories below the temporary directory, where this venv is, are
    # grouped as one: the file names say which)
    touched = [name for names in pip["files"].values() for name in names]
    assert any("/urllib3-" in name and ".dist-info" in name for name in touched), touched
