"""The attributes of one audit event: its name, each argument, and semantic conventions.

Three jobs, one module each: ``_values`` converts a value without running
user code, ``_treatments`` says which rule each argument goes through (and
``_redaction`` holds the rules), ``_enrichers`` adds the semantic-convention
attributes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry.instrumentation.audithook import _enrichers, _treatments
from opentelemetry.instrumentation.audithook._selection import CATEGORY_KEY, EVENT_KEY

__all__ = ["CATEGORY_KEY", "EVENT_KEY", "map_arguments"]

if TYPE_CHECKING:
    from opentelemetry.instrumentation.audithook._values import Attributes


def map_arguments(
    event: str, keys: _treatments.ArgumentKeys, args: tuple[Any, ...], limit: int
) -> Attributes:
    """The attributes of one event; ``keys`` are its ``_treatments.argument_keys``."""
    attrs: Attributes = {EVENT_KEY: event}
    known = len(keys)
    treated = _treatments.treated
    for index, value in enumerate(args):
        if index < known:
            key, treatment = keys[index]
        else:
            key, treatment = f"{_treatments.ARG_PREFIX}{index}", _treatments.PLAIN
        converted = treated(value, treatment, limit)
        if converted is not None:
            attrs[key] = converted
    enrich = _enrichers.enricher_for(event)
    if enrich is not None:
        enrich(args, attrs, limit)
    return attrs
