"""Prototype (issue 12): file path -> installed distribution, without reading files."""
from __future__ import annotations

import os
import re
import sys

_SEPARATORS = re.compile(r"[-_.]+")


def normalize(name: str) -> str:
    return _SEPARATORS.sub("_", name).lower()


class Packages:
    """(name, version) of the distribution that owns a file, from the names
    the import system's FileFinders already listed: no file is read, no audit
    event raised."""

    def __init__(self, limit: int = 4096) -> None:
        self._roots: list[tuple[str, dict[str, tuple[str, str]]]] = []
        self._known: set[str] = set()
        self._files: dict[str, tuple[str, str] | None] = {}
        self._limit = limit

    def _refresh(self) -> None:
        for entry, finder in list(sys.path_importer_cache.items()):
            if entry in self._known or finder is None:
                continue
            names = getattr(finder, "_path_cache", None)
            if type(names) is not set or not names:
                continue
            self._known.add(entry)
            dists = {}
            for name in names:
                if type(name) is str and name.endswith(".dist-info"):
                    dist, _, version = name[:-10].partition("-")
                    dists[normalize(dist)] = (dist, version)
            if dists:
                self._roots.append((os.path.join(entry, ""), dists))
        self._roots.sort(key=lambda r: -len(r[0]))

    def owner(self, filename: str) -> tuple[str, str] | None:
        hit = self._files.get(filename, ())
        if hit != ():
            return hit  # type: ignore[return-value]
        if len(self._files) >= self._limit:
            self._files.clear()
        result = self._find(filename)
        if result is None and len(self._known) < len(sys.path_importer_cache):
            self._refresh()
            result = self._find(filename)
        self._files[filename] = result
        return result

    def _find(self, filename: str) -> tuple[str, str] | None:
        for root, dists in self._roots:
            if filename.startswith(root):
                parts = filename[len(root):].split(os.sep)
                last = parts[-1]
                parts[-1] = last.partition(".")[0]
                for k in range(len(parts), 0, -1):
                    hit = dists.get(normalize("_".join(parts[:k])))
                    if hit is not None:
                        return hit
                return None
        return None
