"""The optional C accelerator.  Everything else is in pyproject.toml.

``optional=True``: when the extension cannot be compiled (no compiler, no
Python headers), setuptools prints a warning and installs the pure-Python
package, which behaves the same.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "opentelemetry.instrumentation.audithook._speedups",
            sources=["src/opentelemetry/instrumentation/audithook/_speedups.c"],
            optional=True,
        )
    ]
)
