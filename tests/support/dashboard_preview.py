"""A preview of the shipped Grafana dashboard: each panel's own queries, evaluated by a real
Prometheus, drawn as SVG on the dashboard's grid (24 columns, 30 px per row unit). It is not
Grafana's rendering, and says so on the page: it shows that every panel has data and where it
sits, for the documentation's picture and the test artifacts."""

import html
import re
from typing import Any
from urllib.parse import urlencode

from tests.support.prometheus import Prometheus

COLOURS = ["#73bf69", "#f2cc0c", "#5794f2", "#ff780a", "#f2495c", "#b877d9", "#8ab8ff", "#fade2a"]
_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def _legend(target: dict[str, Any], metric: dict[str, str]) -> str:
    form = target.get("legendFormat") or ""
    if form:
        return _LABEL.sub(lambda m: metric.get(m.group(1), ""), form)
    return ", ".join(f"{k}={v}" for k, v in metric.items() if k != "__name__")


def _promql(expression: str, window_seconds: int) -> str:
    return expression.replace("$__rate_interval", "15s").replace("$__range", f"{window_seconds}s")


def _number(value: float) -> str:
    if value != value:  # NaN
        return "NaN"
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _mapped(panel: dict[str, Any], value: float) -> tuple[str, str | None]:
    for mapping in panel.get("fieldConfig", {}).get("defaults", {}).get("mappings", []):
        for key, shown in mapping.get("options", {}).items():
            if float(key) == value:
                return shown.get("text", key), shown.get("color")
    return _number(value), None


def _timeseries(
    series: list[tuple[str, list[tuple[float, float]]]], width: int, height: int
) -> str:
    points = [p for _, values in series for p in values]
    if not points:
        return '<p class="none">No data</p>'
    t0, t1 = min(p[0] for p in points), max(p[0] for p in points)
    top = max(max(p[1] for p in points), 1e-9)
    span = max(t1 - t0, 1)
    lines = []
    for index, (_, values) in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        path = " ".join(
            f"{(t - t0) / span * (width - 50) + 45:.1f},{height - 18 - v / top * (height - 28):.1f}"
            for t, v in values
        )
        lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
    grid = "".join(
        f'<line x1="45" x2="{width - 5}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
        f'<text x="40" y="{y + 4:.1f}" class="axis" text-anchor="end">{_number(top * f)}</text>'
        for f, y in ((f, height - 18 - f * (height - 28)) for f in (0, 0.5, 1))
    )
    legend = "".join(
        f'<span><i style="background:{COLOURS[i % len(COLOURS)]}"></i>{html.escape(name)}</span>'
        for i, (name, _) in enumerate(series)
    )
    return (
        f'<svg viewBox="0 0 {width} {height}" preserveAspectRatio="none">{grid}{"".join(lines)}'
        f'</svg><div class="legend">{legend}</div>'
    )


async def render(dashboard: dict[str, Any], server: Prometheus, start: float, end: float) -> str:
    """The preview page for the window [start, end] (Unix seconds)."""
    window = max(int(end - start), 1)
    cells = []
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        place = (
            f"grid-column:{grid['x'] + 1}/span {grid['w']};"
            f"grid-row:{grid['y'] + 1}/span {grid['h']}"
        )
        title = html.escape(panel["title"])
        if panel["type"] == "row":
            cells.append(f'<h2 class="row" style="{place}">{title}</h2>')
            continue
        width, height = grid["w"] * 50, grid["h"] * 30 - 60
        body = ""
        if panel["type"] == "timeseries":
            series = []
            for target in panel["targets"]:
                answer = await server.get(
                    "/api/v1/query_range?" + _query(_promql(target["expr"], window), start, end)
                )
                for result in answer["data"]["result"]:
                    values = [(float(t), float(v)) for t, v in result["values"]]
                    values = [(t, v) for t, v in values if v == v]  # NaN: no value, as Grafana
                    if values:
                        series.append((_legend(target, result["metric"]), values))
            body = _timeseries(series, width, max(height, 60))
        else:
            rows = []
            for target in panel["targets"]:
                answer = await server.query(_promql(target["expr"], window))
                for result in answer["data"]["result"]:
                    rows.append((_legend(target, result["metric"]), float(result["value"][1])))
            if panel["type"] == "bargauge":
                top = max([value for _, value in rows] + [1.0])
                body = "".join(
                    f'<div class="bar"><span>{html.escape(name)}</span><b style="width:'
                    f'{value / top * 100:.1f}%"></b><em>{_number(value)}</em></div>'
                    for name, value in rows
                )
            else:
                shown = []
                for name, value in rows:
                    text, colour = _mapped(panel, value)
                    style = f' style="color:{colour}"' if colour else ""
                    label = f"<small>{html.escape(name)}</small>" if name else ""
                    shown.append(f"<div{style}><strong>{html.escape(text)}</strong>{label}</div>")
                body = f'<div class="stat">{"".join(shown)}</div>'
            if not rows:
                body = '<p class="none">No data</p>'
        cells.append(f'<section style="{place}"><h3>{title}</h3>{body}</section>')
    return _PAGE.format(title=html.escape(dashboard["title"]), cells="".join(cells))


def _query(expression: str, start: float, end: float) -> str:
    step = max(1, int((end - start) / 120))
    return urlencode({"query": expression, "start": start, "end": end, "step": step})


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title><style>
body {{ margin: 0; background: #111217; color: #ccccdc; font: 13px/1.4 system-ui, sans-serif; }}
header {{ padding: 10px 16px; border-bottom: 1px solid #2c3235; }}
header b {{ font-size: 16px; color: #fff; }} header small {{ margin-left: 12px; color: #8e8e8e; }}
main {{ display: grid; grid-template-columns: repeat(24, 1fr); grid-auto-rows: 30px; gap: 8px;
  padding: 8px 16px; }}
section {{ background: #181b1f; border: 1px solid #2c3235; border-radius: 2px; padding: 6px 8px;
  overflow: hidden; display: flex; flex-direction: column; }}
h2.row {{ margin: 0; font-size: 15px; color: #fff; align-self: end; }}
h3 {{ margin: 0 0 4px; font-size: 13px; font-weight: 500; color: #d8d9da; }}
svg {{ flex: 1; width: 100%; min-height: 0; }} .grid {{ stroke: #2c3235; }}
.axis {{ fill: #8e8e8e; font-size: 10px; }}
.legend {{ display: flex; flex-wrap: wrap; gap: 2px 12px; font-size: 11px; }}
.legend i {{ display: inline-block; width: 12px; height: 3px; margin-right: 4px;
  vertical-align: middle; }}
.stat {{ display: flex; gap: 16px; flex-wrap: wrap; align-items: center; flex: 1; }}
.stat strong {{ font-size: 26px; color: #73bf69; display: block; }}
.stat div[style] strong {{ color: inherit; }} .stat small {{ color: #8e8e8e; }}
.bar {{ display: grid; grid-template-columns: 11em 1fr 4em; align-items: center; gap: 6px;
  margin: 3px 0; }}
.bar b {{ height: 14px; background: #73bf69; display: block; }} .bar em {{ font-style: normal; }}
.none {{ color: #8e8e8e; margin: auto; }}
</style></head><body><header><b>{title}</b><small>Preview: each panel's queries evaluated by
Prometheus on the service's samples, drawn on the dashboard's grid; not Grafana's
rendering.</small></header><main>{cells}</main></body></html>"""
