"""``index.html`` of a sweep: a heatmap of cells × check families, the worst findings, the knob
coverage and a link to each cell's report. Self-contained and inert: every value is escaped."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from parity.report.html import COLOURS, UNKNOWN_COLOUR, _e, knob_table

ORDER = {"error": 0, "invalid": 1, "fail": 2, "xpass": 3, "known": 4, "pass": 5, "skipped": 6}
CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1400px;color:#1f2328;padding:0 1em}
table{border-collapse:collapse;font-size:.85em}th,td{border:1px solid #d0d7de;padding:3px 6px}
th{background:#f6f8fa}td.h{color:white;text-align:center;min-width:4.5em}
td.ev{font-family:ui-monospace,monospace;max-width:520px;overflow-wrap:anywhere}
.legend span{display:inline-block;padding:2px 8px;color:white;margin-right:4px;border-radius:4px}
"""


def _colour(verdict: str, margin: float | None) -> str:
    """The verdict's colour; passing cells lighter the closer their margin is to the limit."""
    base = COLOURS.get(verdict, "#cf222e" if verdict == "invalid" else UNKNOWN_COLOUR)
    if verdict != "pass" or margin is None or math.isnan(margin):
        return base
    # margin 1 (no difference) full colour; margin 0 (at the tolerance) faded
    alpha = 0.45 + 0.55 * max(0.0, min(1.0, margin))
    r, g, b = (int(base[i : i + 2], 16) for i in (1, 3, 5))
    mix = [round(255 - (255 - c) * alpha) for c in (r, g, b)]
    return "#" + "".join(f"{c:02x}" for c in mix)


def _cell_summary(group: Any) -> tuple[str, float | None]:
    verdict = min(group["verdict"].astype(str), key=lambda v: ORDER.get(v, 9))
    margins = group["worst_margin"].dropna()
    return verdict, (float(margins.min()) if len(margins) else None)


def heatmap(table: Any) -> list[str]:
    """Rows: cells; columns: check families; colour: worst verdict, shade: worst margin."""
    if table.empty:
        return ["<p>No finished cells yet.</p>"]
    families = [f for f in dict.fromkeys(table["family"]) if f != "-"]
    out = [
        "<table><tr><th>cell</th><th>configuration</th><th>verdict</th>"
        + "".join(f"<th>{_e(f)}</th>" for f in families)
        + "<th>seconds</th></tr>"
    ]
    for ident, group in table.groupby("cell", sort=False):
        first = group.iloc[0]
        report = str(first["report"])
        link = f"<a href='{_e(report)}'>{_e(ident)}</a>" if report else _e(ident)
        verdict = str(first["cell_verdict"])
        row = [
            f"<tr><td>{link}</td><td>{_e(first['label'])}</td>",
            f"<td class='h' style='background:{_colour(verdict, None)}'>{_e(verdict)}</td>",
        ]
        for fam in families:
            part = group[group["family"] == fam]
            if part.empty:
                row.append("<td></td>")
                continue
            v, margin = _cell_summary(part)
            shown = "" if margin is None else f"{margin:.2f}"
            title = f"{fam}: {v}, worst margin {shown or '-'}"
            row.append(
                f"<td class='h' title='{_e(title)}' style='background:{_colour(v, margin)}'>"
                f"{_e(v)}<br><small>{_e(shown)}</small></td>"
            )
        row.append(f"<td>{float(first['cell_seconds']):.1f}</td></tr>")
        out.append("".join(row))
    out.append("</table>")
    return out


def worst_rows(table: Any) -> list[str]:
    """The failing, erroring and invalid rows, worst margin first."""
    from parity.sweep.aggregate import worst

    bad = worst(table)
    if bad.empty:
        return ["<p>Nothing failed.</p>"]
    out = [
        "<table><tr><th>cell</th><th>configuration</th><th>check</th><th>tensor</th>"
        "<th>verdict</th><th>margin</th><th>first divergent</th><th>evidence</th></tr>"
    ]
    for _, r in bad.iterrows():
        margin = "" if r["worst_margin"] != r["worst_margin"] else f"{r['worst_margin']:.3g}"
        out.append(
            f"<tr><td>{_e(r['cell'])}</td><td>{_e(r['label'])}</td><td>{_e(r['check'])}</td>"
            f"<td>{_e(r['tensor'])}</td><td>{_e(r['verdict'])}</td><td>{_e(margin)}</td>"
            f"<td>{_e(r['first_divergent'])}</td><td class='ev'>{_e(r['evidence'])}</td></tr>"
        )
    out.append("</table>")
    return out


def render(table: Any, knobs: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> str:
    """The whole page."""
    name = meta.get("name", "sweep")
    verdicts = table.drop_duplicates("cell")["cell_verdict"].value_counts().to_dict()
    total = len(meta.get("cells") or []) or len(verdicts)
    finished = sum(verdicts.values())
    counts = ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items()))
    legend = "".join(
        f"<span style='background:{_colour(v, None)}'>{_e(v)}</span>"
        for v in ("pass", "fail", "error", "invalid", "known", "skipped")
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Sweep {_e(name)}</title><style>{CSS}</style></head><body>",
        f"<h1>Sweep {_e(name)}</h1>",
        f"<p>{_e(meta.get('description', ''))}</p>",
        f"<p>Base scenario <code>{_e(meta.get('base_scenario', ''))}</code>; backends "
        f"{_e(', '.join(meta.get('backends') or []))}; {finished} of {total} cells finished"
        f" ({_e(counts or 'none')}).</p>",
        f"<p><code>{_e(meta.get('command', ''))}</code></p>",
        "<h2>Cells × check families</h2>",
        f"<p class='legend'>{legend} Shade of a passing family: its worst margin (pale: close "
        "to the tolerance). Click a cell id for its report.</p>",
        *heatmap(table),
        "<h2>Worst findings</h2>",
        *worst_rows(table),
        "<h2>Knob coverage</h2>",
        *knob_table(knobs),
        "</body></html>",
    ]
    return "\n".join(parts)
