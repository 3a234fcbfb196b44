from __future__ import annotations

import filecmp
import pathlib
import subprocess
import sys

import pytest

from conftest import ROOT
from opentelemetry.instrumentation.audithook._catalog import CATALOG
from opentelemetry.instrumentation.audithook._selection import CATEGORIES

SHARED_SEEDS = ROOT.parent / "shared" / "seeds"
VENDORED = ROOT / "tools" / "seeds"


def check_catalog(seeds: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "tools/generate_catalog.py", str(seeds), "--check"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def test_committed_catalog_matches_the_seed_tables() -> None:
    proc = check_catalog(VENDORED)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.skipif(not SHARED_SEEDS.is_dir(), reason="no ../shared/seeds beside the checkout")
def test_vendored_seeds_are_the_shared_ones() -> None:
    for name in [p.name for p in VENDORED.iterdir()]:
        assert filecmp.cmp(VENDORED / name, SHARED_SEEDS / name, shallow=False), name


def test_check_fails_when_catalog_and_seeds_disagree(tmp_path: pathlib.Path) -> None:
    # A seed table that gains an event must make --check fail.
    for path in VENDORED.iterdir():
        text = path.read_text(encoding="utf-8")
        if path.name.startswith("003"):
            text = text.replace(
                "webbrowser.open\n", "webbrowser.open\n\nurl\n\n[1]\n\nzz.new_event\n", 1
            )
        (tmp_path / path.name).write_text(text, encoding="utf-8")
    proc = check_catalog(tmp_path)
    assert proc.returncode == 1
    assert "out of date" in proc.stdout


def test_union_of_both_tables_with_sources() -> None:
    assert len(CATALOG) == 190
    assert CATALOG["open"] == (("file", "mode", "flags"), "file", ("current", "2021"))
    # only in the current table
    assert CATALOG["sqlite3.load_extension"][2] == ("current",)
    assert CATALOG["_thread.start_new_thread"][0] == ("function", "args", "kwargs")
    # only in the 2021 table
    assert CATALOG["ctypes.seh_exception"][2] == ("2021",)
    # wrapped cells of the grid table are joined
    assert CATALOG["cpython.PyInterpreterState_Clear"] == ((), "runtime", ("current", "2021"))
    assert CATALOG["_winapi.CreateFile"][0][-1] == "flags_and_attributes"
    # where the tables disagree, the current one wins
    assert CATALOG["shutil.rmtree"][0] == ("path", "dir_fd")
    # internal events, listed after the main table
    assert CATALOG["ctypes.PyObj_FromPtr"] == (("obj",), "native", ("current", "2021"))


def test_every_event_has_a_known_category() -> None:
    assert {cat for _, cat, _ in CATALOG.values()} <= CATEGORIES
    for category in ("file", "network", "process", "code", "native", "os", "sqlite", "windows"):
        assert any(cat == category for _, cat, _ in CATALOG.values()), category
