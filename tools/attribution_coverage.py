"""How well attribution places files: ``_emit.owner_lookup()`` against the
RECORD of every installed distribution (the ground truth it may not read in
the hook), over their ``.py`` files.  Run it in the environment to measure:

    python tools/attribution_coverage.py
"""

from __future__ import annotations

import os
import re
import sys
import time
from importlib.metadata import distributions

from opentelemetry.instrumentation.audithook._emit import APPLICATION, owner_lookup


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main() -> None:
    started = time.perf_counter()
    owner = owner_lookup()
    owner(os.__file__)  # builds the index
    built = time.perf_counter() - started
    right = wrong = unplaced = 0
    misses: dict[str, set[str]] = {}
    for dist in distributions():
        name = _normalized(dist.metadata["Name"])
        for file in dist.files or ():
            relative = str(file)
            if not relative.endswith(".py") or relative.startswith(".."):
                continue
            found = owner(str(dist.locate_file(file)))
            if found is None or found[0] == APPLICATION:
                unplaced += 1
                misses.setdefault(name, set()).add(relative.split("/", 1)[0])
            elif found[0] == name:
                right += 1
            else:
                wrong += 1
                misses.setdefault(f"{name} (as {found[0]})", set()).add(relative.split("/", 1)[0])
    print(f"index built in {built * 1e3:.2f} ms (Python {sys.version.split()[0]})")
    print(f".py files: {right} right, {wrong} wrong, {unplaced} not placed")
    for key, tops in sorted(misses.items()):
        print(f"  {key}: {', '.join(sorted(tops)[:4])}")


if __name__ == "__main__":
    main()
