"""Render the Prometheus panels of the Grafana dashboard to a PNG, from a live
Prometheus: what the dashboard shows, for the README (no Grafana needed).

    python scripts/render_dashboard_preview.py PROMETHEUS_URL docs/dashboard-preview.png [SERVICE]

SERVICE is the dashboard's $service variable (default: audithook-demo).

Needs matplotlib (``pip install -e ".[docs]"``).
"""

from __future__ import annotations

import json
import pathlib
import sys
import time
import urllib.parse
import urllib.request
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "python-audit-events.json"


def _query(
    base: str, expr: str, service: str, start: float | None = None, end: float | None = None
) -> Any:
    expr = (
        expr.replace("$__rate_interval", "20s")
        .replace("$__range", "10m")
        .replace("$service", service)
    )
    if start is None:
        url = f"{base}/api/v1/query?query={urllib.parse.quote(expr)}"
    else:
        url = (
            f"{base}/api/v1/query_range?query={urllib.parse.quote(expr)}"
            f"&start={start}&end={end}&step=5"
        )
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())["data"]["result"]


def _label(metric: dict[str, str], fmt: str | None) -> str:
    if not fmt:
        return ",".join(f"{v}" for k, v in metric.items() if k != "__name__") or "total"
    out = fmt
    for key, value in metric.items():
        out = out.replace("{{" + key + "}}", value)
    return out


def main(base: str, out: str, service: str = "audithook-demo") -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    panels = [p for p in dashboard["panels"] if p["datasource"]["type"] == "prometheus"]
    end = time.time()
    start = end - 600
    fig, axes = plt.subplots(4, 3, figsize=(18, 16))
    fig.suptitle(dashboard["title"] + " (rendered from Prometheus)", fontsize=16)
    for ax, panel in zip(axes.flat, panels, strict=False):
        target = panel["targets"][0]
        ax.set_title(panel["title"], fontsize=11)
        if panel["type"] == "timeseries":
            for series in _query(base, target["expr"], service, start, end)[:12]:
                xs = [float(t) - end for t, _ in series["values"]]
                ys = [float(v) for _, v in series["values"]]
                ax.plot(xs, ys, label=_label(series["metric"], target.get("legendFormat")))
            ax.set_xlabel("seconds ago")
            ax.legend(fontsize=7, loc="upper left")
        elif panel["type"] == "table":
            # as Grafana's table: one row per series, its labels and value
            result = _query(base, target["expr"], service)
            result.sort(key=lambda r: -float(r["value"][1]))
            rows = [
                [v for k, v in r["metric"].items() if k != "__name__"]
                + [f"{float(r['value'][1]):.0f}"]
                for r in result[:12]
            ]
            ax.axis("off")
            if rows:
                table = ax.table(cellText=rows, loc="upper center", cellLoc="left")
                table.auto_set_font_size(False)
                table.set_fontsize(8)
                table.auto_set_column_width(list(range(len(rows[0]))))
        else:
            result = _query(base, target["expr"], service)
            result.sort(key=lambda r: float(r["value"][1]))
            labels = [_label(r["metric"], target.get("legendFormat")) for r in result][-12:]
            values = [float(r["value"][1]) for r in result][-12:]
            ax.barh(labels, values, color="#5794f2")
            for i, v in enumerate(values):
                ax.text(v, i, f" {v:.0f}", va="center", fontsize=8)
            ax.tick_params(axis="y", labelsize=8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
