"""Check a configuration before deploying it.

``python -m opentelemetry.instrumentation.audithook report [--json P] [--baseline P] -- cmd``
runs a command and prints what each distribution did (``_report``);
``python -m opentelemetry.instrumentation.audithook events [--category C] [--select S]``
lists the audit event catalog; ``... config`` prints what the current
environment selects, samples, limits and redacts, with the warnings a bad
value would log at start-up.  ``--json`` makes either machine-readable.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

from opentelemetry.instrumentation.audithook import (
    _catalog,
    _config,
    _hook,
    _mapping,
    _options,
)
from opentelemetry.instrumentation.audithook._catalog import CATALOG, OLDEST_PYTHON, SINCE
from opentelemetry.instrumentation.audithook._config import Config, parse_config
from opentelemetry.instrumentation.audithook.version import __version__


def _event_rows(category: str | None, select: str | None) -> list[dict[str, Any]]:
    selection = None
    if select is not None:
        selection, problems = _options.parse_selection(select.split(","))
        if problems:
            raise SystemExit("--select: " + "; ".join(problems))
    rows = []
    for name in CATALOG:
        args, cat, tables = _catalog.entry(name) or ((), "", ())
        if category is not None and cat != category:
            continue
        if selection is not None and not selection.mode(name):
            continue
        rows.append(
            {
                "event": name,
                "category": cat,
                "arguments": list(args),
                "tables": list(tables),
                "since": SINCE.get(name, OLDEST_PYTHON),
                "default": _config.in_default(name),
                "redacted": sorted(_mapping.TREATMENTS.get(name, {})),
            }
        )
    return rows


def _describe_hook(pure_python: bool) -> str:
    """Which hook ``_hook.choose`` picks, and why, for people."""
    if pure_python:
        return "pure Python (OTEL_PYTHON_AUDITHOOK_PURE_PYTHON=true)"
    c, problem = _hook.load_c()
    if c is None:
        return f"pure Python (the C accelerator does not load: {problem})"
    return "C accelerator"


def _config_report(config: Config) -> dict[str, Any]:
    rules = {name: config.rules_for(name) for name in CATALOG}
    selected = {name: r for name, r in rules.items() if r is not None}
    import_rules = selected.get("import")
    return {
        "events": config.selection.text,
        "selected": list(selected),
        "selected_count": len(selected),
        "uncatalogued_selectors": _options.unmatched(config.selection),
        "import_of_stdlib_modules": import_rules is not None
        and import_rules.selected == _config.SELECTED,
        "hook": _describe_hook(config.pure_python),
        "emit": config.emit,
        "sample_ratio": {n: r.sample_ratio for n, r in selected.items() if r.sample_ratio < 1.0},
        "rate_limit_per_second": config.rate_limit or None,
        "rate_limit_total_per_second": config.rate_limit_total or None,
        "span_event_budget": config.span_event_budget or None,
        "no_span": config.no_span,
        "code_location": config.code_location,
        "max_value_length": config.max_value_length,
        "redacted": {
            name: {arg: how for arg, how in sorted(treat.items())}
            for name, treat in sorted(_mapping.TREATMENTS.items())
            if name in selected and not selected[name].raw
        },
        "captured_raw": [name for name, r in selected.items() if r.raw],
    }


def _print_events(rows: list[dict[str, Any]]) -> None:
    width = max((len(r["event"]) for r in rows), default=10)
    for r in rows:
        flags = ("default" if r["default"] else "") + (
            " redacts:" + ",".join(r["redacted"]) if r["redacted"] else ""
        )
        if r["since"] != OLDEST_PYTHON:
            flags += f" python>={r['since']}"
        print(f"{r['event']:<{width}}  {r['category']:<8}  ({', '.join(r['arguments'])})  {flags}")
    print(f"{len(rows)} events")


def _print_config(report: dict[str, Any], warnings: list[str]) -> None:
    print(f"opentelemetry-instrumentation-audithook {__version__}")
    print(f"hook:              {report['hook']}")
    print(f"emitted as:        {report['emit']}")
    print(f"events:            {report['events']}")
    print(f"selected:          {report['selected_count']} events of the audit events table")
    if report["uncatalogued_selectors"]:
        print("not in the table:  " + ", ".join(report["uncatalogued_selectors"]))
    print(f"stdlib imports:    {'recorded' if report['import_of_stdlib_modules'] else 'left out'}")
    if report["sample_ratio"]:
        ratios = ", ".join(f"{k}={v:g}" for k, v in report["sample_ratio"].items())
        print(f"sampled:           {ratios}")
    else:
        print("sampled:           every selected event is kept (ratio 1)")
    rate = report["rate_limit_per_second"]
    print(f"rate limit:        {f'{rate:g} per second per event name' if rate else 'none'}")
    total = report["rate_limit_total_per_second"]
    print(f"total rate limit:  {f'{total:g} per second for the process' if total else 'none'}")
    budget = report["span_event_budget"]
    print(f"span budget:       {budget or 'no per-name budget'} events per name per span")
    print(f"no recording span: {report['no_span']}")
    location = report["code_location"]
    if location is None:
        print("code location:     auto (on with the C hook, off with the pure-Python one)")
    else:
        print(f"code location:     {'on' if location else 'off'}")
    print(f"max value length:  {report['max_value_length']}")
    print("redacted:")
    for name, treat in report["redacted"].items():
        print(f"  {name}: " + ", ".join(f"{arg} ({how})" for arg, how in treat.items()))
    if report["captured_raw"]:
        print("captured raw (NOT redacted): " + ", ".join(report["captured_raw"]))
    print("selected events:")
    for name in report["selected"]:
        print(f"  {name}")
    for warning in warnings:
        print(f"warning: {warning}")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # printed under our own heading: the package's name would only repeat it
        self.messages.append(record.getMessage().removeprefix(_config.PREFIX))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["report"]:
        # its own parser: everything after -- is the command's
        from opentelemetry.instrumentation.audithook import _report

        return _report.run(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m opentelemetry.instrumentation.audithook",
        description="Inspect the audit event catalog and the configuration in effect;"
        " 'report -- command ...' runs a command and prints what each installed"
        " distribution did.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("report", help="run a command and report what each distribution does")
    events = sub.add_parser("events", help="list the audit event catalog")
    events.add_argument("--category", choices=sorted(_config.CATEGORIES))
    events.add_argument("--select", help="only events these selectors select, e.g. '@default'")
    events.add_argument("--json", action="store_true")
    config = sub.add_parser("config", help="print the configuration the environment gives")
    config.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    if args.command == "events":
        rows = _event_rows(args.category, args.select)
        if args.json:
            json.dump(rows, sys.stdout, indent=2)
            print()
        else:
            _print_events(rows)
        return 0

    collect = _Collect()
    logger = _config.logger
    logger.addHandler(collect)
    logger.propagate = False
    try:
        report = _config_report(parse_config(os.environ))
    finally:
        logger.removeHandler(collect)
        logger.propagate = True
    if args.json:
        report["warnings"] = collect.messages
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        _print_config(report, collect.messages)
    return 0
