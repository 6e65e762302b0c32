"""``report.html``: a self-contained sign-off page (no external resources; images inline)."""

from __future__ import annotations

import html
import json
import traceback
from pathlib import Path
from typing import Any

from parity.findings import VERDICTS

COLOURS = {
    "pass": "#1a7f37",
    "fail": "#cf222e",
    "known": "#9a6700",
    "xpass": "#0969da",
    "error": "#8250df",
    "skipped": "#6e7781",
}
ORDER = {"error": 0, "fail": 1, "xpass": 2, "known": 3, "pass": 4, "skipped": 5}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1200px;
color:#1f2328;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #d0d7de;padding-bottom:.2em}
.banner{padding:1em 1.4em;border-radius:8px;color:white;font-size:1.3em;margin:1em 0}
.counts span{display:inline-block;margin-right:1em}
table{border-collapse:collapse;width:100%;font-size:.85em}
th,td{border:1px solid #d0d7de;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f6f8fa;position:sticky;top:0}
td.v{font-weight:bold;color:white;text-align:center}
td.ev{font-family:ui-monospace,monospace;font-size:.9em;white-space:pre-wrap;max-width:520px;
overflow-wrap:anywhere}
tr.pass,tr.skipped{display:none}body.all tr.pass,body.all tr.skipped{display:table-row}
figure{margin:1.5em 0}figcaption{font-weight:bold;margin-bottom:.4em}
img{max-width:100%}code,pre{background:#f6f8fa;padding:.2em .4em;border-radius:4px}
pre{padding:.8em;overflow:auto}
"""


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _num(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, str):
        return x
    return f"{x:.3g}"


def render(data: dict[str, Any], directory: Path) -> str:
    """The HTML page of a report document; figures are drawn from the traces in ``directory``."""
    sc = data["scenario"]
    verdict = data["verdict"]
    c = data["counts"]
    vs = _e(data["reference"]) + (f" vs {_e(data['candidate'])}" if data["candidate"] else "")
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Parity {_e(sc['name'])}: {verdict.upper()}</title><style>{CSS}</style></head><body>",
        f"<h1>Parity report: {_e(sc['name'])} ({vs})</h1>",
        f"<div class='banner' style='background:{COLOURS['pass' if verdict == 'pass' else 'fail']}'>"
        f"Verdict: {verdict.upper()}</div>",
        "<p class='counts'>"
        + "".join(
            f"<span style='color:{COLOURS[v]}'><b>{c.get(v, 0)}</b> {v}</span>" for v in VERDICTS
        )
        + "</p>",
    ]
    loc = data.get("localisation") or {}
    if loc.get("cumulative") or loc.get("single_step"):
        parts.append(
            f"<p>First divergent stage: <b>{_e(loc.get('cumulative') or '-')}</b> (cumulative), "
            f"<b>{_e(loc.get('single_step') or '-')}</b> (single-step, re-fed the reference "
            "inputs).</p>"
        )
    if data.get("injected_defects"):
        parts.append(f"<p>Injected defects: <b>{_e(', '.join(data['injected_defects']))}</b></p>")
    parts.append(f"<p>{_e(sc.get('description', ''))}</p>")
    parts.append(
        "<h2>Findings</h2><p><label><input type='checkbox' "
        "onchange=\"document.body.classList.toggle('all',this.checked)\"> show passing and "
        "skipped findings</label></p>"
    )
    parts.append(
        "<table><tr><th>verdict</th><th>check</th><th>tensor</th><th>backend</th><th>metric</th>"
        "<th>measured</th><th>tolerance</th><th>margin</th><th>evidence</th></tr>"
    )
    for f in sorted(data["findings"], key=lambda f: ORDER.get(f["verdict"], 9)):
        v = f["verdict"]
        parts.append(
            f"<tr class='{v}'><td class='v' style='background:{COLOURS[v]}'>{v}</td>"
            f"<td>{_e(f['check'])}</td><td>{_e(f['tensor'])}</td><td>{_e(f['backend'])}</td>"
            f"<td>{_e(f['metric'])}</td><td>{_num(f['measured'])}</td>"
            f"<td>{_num(f['tolerance'])}</td><td>{_num(f['margin'])}</td>"
            f"<td class='ev'>{_e(f['evidence'])}</td></tr>"
        )
    parts.append("</table>")
    parts.append("<h2>Figures</h2>")
    try:
        from parity.report.figures import build

        figures = build(data, directory)
    except Exception:
        figures = {}
        parts.append(f"<pre>figures could not be drawn:\n{_e(traceback.format_exc())}</pre>")
    if not figures:
        parts.append("<p>No figures: the traces are not beside this report.</p>")
    for caption, png in figures.items():
        parts.append(
            f"<figure><figcaption>{_e(caption)}</figcaption>"
            f"<img alt='{_e(caption)}' src='data:image/png;base64,{png}'></figure>"
        )
    parts.append("<h2>Environment</h2>")
    for backend, env in data.get("environment", {}).items():
        parts.append(f"<h3>{_e(backend)}</h3><table>")
        rows = {
            "device": env.get("device"),
            "git revision": env.get("git_revision"),
            "data source": env.get("data_source"),
            **{f"version: {k}": v for k, v in sorted(env.get("versions", {}).items())},
            **{
                k: json.dumps(v)
                for k, v in sorted(env.get("environment", {}).items())
                if k != "versions"
            },
        }
        parts += [f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows.items()]
        parts.append("</table>")
    timings = data.get("timings", {})
    if timings:
        parts.append("<h2>Timings (seconds)</h2><table><tr><th>section</th>")
        names = list(timings)
        parts += [f"<th>{_e(n)}</th>" for n in names]
        parts.append("</tr>")
        sections = sorted({s for t in timings.values() for s in t})
        for s in sections:
            parts.append(
                f"<tr><td>{_e(s)}</td>"
                + "".join(f"<td>{_num(timings[n].get(s))}</td>" for n in names)
                + "</tr>"
            )
        parts.append("</table>")
    parts += [
        "<h2>Reproduce</h2>",
        f"<pre>{_e(data['reproduce'])}</pre>",
        f"<p>Scenario hash <code>{_e(data['scenario_hash'])}</code>; started {_e(data['started'])}; "
        f"{data['seconds']:.1f} s; command <code>{_e(data.get('command', ''))}</code></p>",
        "<details><summary>Scenario</summary>",
        f"<pre>{_e(json.dumps(sc, indent=2, sort_keys=True, default=str))}</pre></details>",
        "</body></html>",
    ]
    return "\n".join(parts)
