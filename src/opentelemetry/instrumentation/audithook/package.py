# The audit hook instruments the interpreter itself, not a library: there is
# no distribution whose presence gates it.
_instruments: tuple[str, ...] = ()

_supports_metrics = True
