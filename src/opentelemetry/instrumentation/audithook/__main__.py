"""``python -m opentelemetry.instrumentation.audithook``: see _cli."""

from __future__ import annotations

import os
import sys

from opentelemetry.instrumentation.audithook._cli import main

try:
    sys.exit(main())
except BrokenPipeError:
    # The reader (``| head``) went away: not an error worth a traceback.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(1)
