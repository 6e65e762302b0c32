"""``report.html``: a self-contained sign-off page (no external resources; images inline).

The first screen says the verdict and, when something failed, each root cause: what broke and
where, which backend left the oracle, how many findings follow from it, and the command that
reproduces it. Then the trained reconstructions against the ground truth, the metric table, the
loss curves, the findings grouped by root cause, diagnostics, environment and timings.

The page is inert: every value taken from the report document (strings, numbers, keys) is
HTML-escaped, attribute values included; only the page's own markup and the base64 PNGs drawn
here are written raw.
"""

from __future__ import annotations

import html
import json
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from parity.findings import VERDICTS
from parity.machine import describe_device
from parity.report.metrics import format_value

COLOURS = {
    "pass": "#1a7f37",
    "fail": "#cf222e",
    "known": "#9a6700",
    "xpass": "#0969da",
    "error": "#8250df",
    "skipped": "#6e7781",
}
UNKNOWN_COLOUR = "#57606a"
ORDER = {"error": 0, "fail": 1, "xpass": 2, "known": 3, "pass": 4, "skipped": 5}
SECTIONS = (
    ("summary", "Summary"),
    ("reconstructions", "Reconstructions against ground truth"),
    ("metrics", "Metrics"),
    ("curves", "Loss curves"),
    ("findings", "Findings"),
    ("diagnostics", "Diagnostics"),
    ("knobs", "Knob coverage"),
    ("environment", "Environment"),
    ("timings", "Timings (seconds)"),
    ("reproduce", "Reproduce"),
)
"""(id, title) of every section, in page order; each is always present."""

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1200px;
color:#1f2328;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #d0d7de;padding-bottom:.2em}
.banner{padding:1em 1.4em;border-radius:8px;color:white;font-size:1.3em;margin:1em 0}
.counts span{display:inline-block;margin-right:1em}
.root{border-left:6px solid #cf222e;background:#fff5f5;padding:.6em 1em;margin:.8em 0}
.root h3{margin:.1em 0 .4em 0}
table{border-collapse:collapse;width:100%;font-size:.85em}
th,td{border:1px solid #d0d7de;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f6f8fa;position:sticky;top:0}
td.v{font-weight:bold;color:white;text-align:center}
td.ev{font-family:ui-monospace,monospace;font-size:.9em;white-space:pre-wrap;max-width:520px;
overflow-wrap:anywhere}
tr.pass,tr.skipped{display:none}body.all tr.pass,body.all tr.skipped{display:table-row}
figure{margin:1.5em 0}figcaption{font-weight:bold;margin-bottom:.4em}
img{max-width:100%}code,pre{background:#f6f8fa;padding:.2em .4em;border-radius:4px}
pre{padding:.8em;overflow:auto;white-space:pre-wrap}
"""


def _e(x: Any) -> str:
    """Escaped text (quotes included, so it is also safe inside an attribute)."""
    return html.escape("" if x is None else str(x), quote=True)


def _num(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return _e(f"{x:.3g}")
    return _e(x)


def _colour(verdict: Any) -> str:
    return COLOURS.get(str(verdict), UNKNOWN_COLOUR)


def _css_class(verdict: Any) -> str:
    return str(verdict) if verdict in COLOURS else "other"


def _verdict_cell(verdict: Any) -> str:
    return f"<td class='v' style='background:{_colour(verdict)}'>{_e(verdict)}</td>"


def _section(ident: str, body: Sequence[str]) -> list[str]:
    title = dict(SECTIONS)[ident]
    return [f"<section id='{ident}'><h2>{_e(title)}</h2>", *body, "</section>"]


def render(data: dict[str, Any], directory: Path) -> str:
    """The HTML page of a report document; figures are drawn from the traces in ``directory``."""
    sc = data.get("scenario") or {}
    verdict = str(data.get("verdict", "?"))
    vs = _e(data.get("reference")) + (
        f" vs {_e(data['candidate'])}" if data.get("candidate") else ""
    )
    figures, figure_error = _figures(data, directory)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Parity {_e(sc.get('name'))}: {_e(verdict.upper())}</title>"
        f"<style>{CSS}</style></head><body>",
        f"<h1>Parity report: {_e(sc.get('name'))} ({vs})</h1>",
    ]
    parts += _section("summary", _summary(data, verdict))
    parts += _section("reconstructions", _figure_list(figures, "reconstruction", _no_recon(data)))
    parts += _section("metrics", _metric_table(data.get("metrics") or {}))
    parts += _section("curves", _figure_list(figures, "curves", "<p>No loss curves recorded.</p>"))
    parts += _section("findings", _findings(data))
    diag = _figure_list(figures, "diagnostics", "<p>No diagnostic figures.</p>")
    if figure_error:
        diag.insert(0, f"<pre>figures could not be drawn:\n{_e(figure_error)}</pre>")
    parts += _section("diagnostics", diag)
    parts += _section("knobs", knob_table(data.get("knobs") or []))
    parts += _section("environment", _environment(data))
    parts += _section("timings", _timings(data))
    parts += _section("reproduce", _reproduce(data, sc))
    parts.append("</body></html>")
    return "\n".join(parts)


def _figures(data: Mapping[str, Any], directory: Path) -> tuple[list[tuple[str, str, str]], str]:
    try:
        from parity.report.figures import build_sections

        return build_sections(dict(data), directory), ""
    except Exception:
        return [], traceback.format_exc()


def _no_recon(data: Mapping[str, Any]) -> str:
    checks = (data.get("scenario") or {}).get("checks") or []
    if "convergence" in checks:
        return "<p>No trained reconstruction: the traces are not beside this report.</p>"
    return (
        "<p>This scenario does not train to convergence, so there is no trained reconstruction "
        "to compare with the ground truth (the sign-off scenario has one).</p>"
    )


def _figure_list(figures: Sequence[tuple[str, str, str]], section: str, empty: str) -> list[str]:
    out = []
    for sec, caption, payload in figures:
        if sec != section:
            continue
        if payload.startswith("text:"):
            out.append(f"<p class='note'>{_e(caption)}: {_e(payload[5:])}</p>")
            continue
        out.append(
            f"<figure><figcaption>{_e(caption)}</figcaption>"
            f"<img alt='{_e(caption)}' src='data:image/png;base64,{_e(payload)}'></figure>"
        )
    return out or [empty]


def _summary(data: Mapping[str, Any], verdict: str) -> list[str]:
    c = data.get("counts") or {}
    out = [
        f"<div class='banner' style='background:{_colour('pass' if verdict == 'pass' else 'fail')}'>"
        f"Verdict: {_e(verdict.upper())}</div>",
        "<p class='counts'>"
        + "".join(
            f"<span style='color:{COLOURS[v]}'><b>{_e(c.get(v, 0))}</b> {v}</span>"
            for v in VERDICTS
        )
        + f"</p><p>Git revision <code>{_e(data.get('git_revision', 'unknown'))}</code></p>",
    ]
    roots = data.get("root_cause") or []
    for root in roots:
        follows = root.get("follows", 0)
        by_family = ", ".join(
            f"{_e(k)} {_e(v)}" for k, v in (root.get("follows_by_family") or {}).items()
        )
        commands = "\n".join(str(c) for c in root.get("reproduce") or [])
        out.append(
            "<div class='root'>"
            f"<h3>Root cause {_e(root.get('id'))}: {_e(root.get('where'))}</h3>"
            f"<p><b>{_e(root.get('check'))}</b> {_e(root.get('tensor'))} "
            f"[{_e(root.get('backend'))}]"
            + (f"; <b>{_e(root.get('oracle'))}</b>" if root.get("oracle") else "")
            + f"</p><p>{_e(root.get('summary'))}</p>"
            f"<p><b>{_e(follows)}</b> further failing finding(s) follow from it"
            + (f" ({by_family})" if by_family else "")
            + f".</p><pre>{_e(commands)}</pre></div>"
        )
    loc = data.get("localisation") or {}
    if loc.get("cumulative") or loc.get("single_step"):
        out.append(
            f"<p>First divergent stage: <b>{_e(loc.get('cumulative') or '-')}</b> (cumulative), "
            f"<b>{_e(loc.get('single_step') or '-')}</b> (single-step, re-fed the reference "
            "inputs).</p>"
        )
    if data.get("injected_defects"):
        injected = ", ".join(str(d) for d in data["injected_defects"])
        out.append(f"<p>Injected defects: <b>{_e(injected)}</b></p>")
    out.append(f"<p>{_e((data.get('scenario') or {}).get('description', ''))}</p>")
    return out


def _metric_table(table: Mapping[str, Any]) -> list[str]:
    rows = table.get("rows") or []
    if not rows:
        return ["<p>No reconstruction metrics against ground truth (no convergence section).</p>"]
    columns = [tuple(c) for c in table.get("columns") or []]
    verdicts = table.get("verdicts") or {}
    out = [
        "<p>Per backend and seed, after training: the stitched reconstruction against the "
        "ground truth after sub-pixel registration, phase-ramp and offset removal and amplitude "
        "scaling (docs/report.md). The flat object (constant amplitude, zero phase) is the "
        "trivial reconstruction, measured the same way: each backend's trained mean must beat "
        "it by two seed-to-seed SDs. The last row is the convergence test's verdict on each "
        "metric (equivalence of the two backends' distributions).</p>",
        "<table><tr><th>backend</th><th>seed</th>"
        + "".join(f"<th>{_e(label)}</th>" for _, label in columns)
        + "</tr>",
    ]
    for row in rows:
        values = row.get("values") or {}
        out.append(
            f"<tr><td>{_e(row.get('backend'))}</td><td>{_e(row.get('seed'))}</td>"
            + "".join(f"<td>{_e(format_value(values.get(name)))}</td>" for name, _ in columns)
            + "</tr>"
        )
    reference = table.get("reference") or {}
    if reference:
        out.append(
            "<tr><td>flat object</td><td>reference</td>"
            + "".join(f"<td>{_e(format_value(reference.get(name)))}</td>" for name, _ in columns)
            + "</tr>"
        )
    for backend, cells in (table.get("resemblance") or {}).items():
        out.append(
            f"<tr><th colspan='2'>{_e(backend)}: trained beats flat</th>"
            + _verdict_cells(cells, columns)
            + "</tr>"
        )
    out.append(
        "<tr><th colspan='2'>convergence verdict</th>"
        + _verdict_cells(verdicts, columns)
        + "</tr></table>"
    )
    return out


def _verdict_cells(verdicts: Mapping[str, Any], columns: list[tuple[str, ...]]) -> str:
    cells = []
    for name, *_ in columns:
        v = verdicts.get(name)
        if v is None:
            cells.append("<td></td>")
        else:
            cells.append(
                f"<td class='v' style='background:{_colour(v.get('verdict'))}' "
                f"title='{_e(v.get('evidence'))}'>{_e(v.get('verdict'))}</td>"
            )
    return "".join(cells)


def _finding_row(f: Mapping[str, Any]) -> str:
    v = f.get("verdict")
    return (
        f"<tr class='{_e(_css_class(v))}'>{_verdict_cell(v)}"
        f"<td>{_e(f.get('check'))}</td><td>{_e(f.get('tensor'))}</td>"
        f"<td>{_e(f.get('backend'))}</td><td>{_e(f.get('metric'))}</td>"
        f"<td>{_num(f.get('measured'))}</td><td>{_num(f.get('tolerance'))}</td>"
        f"<td>{_num(f.get('margin'))}</td><td class='ev'>{_e(f.get('evidence'))}</td></tr>"
    )


HEADER = (
    "<table><tr><th>verdict</th><th>check</th><th>tensor</th><th>backend</th><th>metric</th>"
    "<th>measured</th><th>tolerance</th><th>margin</th><th>evidence</th></tr>"
)


def _findings(data: Mapping[str, Any]) -> list[str]:
    findings = list(data.get("findings") or [])
    out: list[str] = []
    grouped: set[int] = set()
    for root in data.get("root_cause") or []:
        indices = [i for i in root.get("findings") or [] if isinstance(i, int)]
        indices = [i for i in indices if 0 <= i < len(findings)]
        grouped.update(indices)
        out.append(
            f"<h3>Root cause {_e(root.get('id'))}: {_e(root.get('where'))} and the "
            f"{_e(len(indices) - 1)} finding(s) that follow from it</h3>"
        )
        out.append(HEADER + "".join(_finding_row(findings[i]) for i in indices) + "</table>")
    rest = [f for i, f in enumerate(findings) if i not in grouped]
    if out:
        out.append("<h3>Every other finding</h3>")
    out.append(
        "<p><label><input type='checkbox' "
        "onchange=\"document.body.classList.toggle('all',this.checked)\"> show passing and "
        "skipped findings</label></p>"
    )
    rest.sort(key=lambda f: ORDER.get(str(f.get("verdict")), 9))
    out.append(HEADER + "".join(_finding_row(f) for f in rest) + "</table>")
    return out


def _environment(data: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for backend, env in (data.get("environment") or {}).items():
        env = env if isinstance(env, Mapping) else {}
        out.append(f"<h3>{_e(backend)}</h3><table>")
        raw_versions, raw_extra = env.get("versions"), env.get("environment")
        versions: Mapping[Any, Any] = raw_versions if isinstance(raw_versions, Mapping) else {}
        extra: Mapping[Any, Any] = raw_extra if isinstance(raw_extra, Mapping) else {}
        rows = {
            "device": describe_device(env.get("device_facts"), str(env.get("device", "?"))),
            "git revision": env.get("git_revision"),
            "data source": env.get("data_source"),
            **{f"version: {k}": v for k, v in sorted(versions.items(), key=lambda kv: str(kv[0]))},
            **{
                str(k): json.dumps(v, default=str)
                for k, v in sorted(extra.items(), key=lambda kv: str(kv[0]))
                if k != "versions"
            },
        }
        out += [f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows.items()]
        out.append("</table>")
    return out or ["<p>No environment recorded.</p>"]


def knob_table(knobs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each canonical config field: default, values used, whether a non-default value ran."""
    if not knobs:
        return ["<p>No knob coverage recorded.</p>"]
    used = sum(1 for k in knobs if k.get("exercised"))
    out = [
        f"<p>{used} of {len(knobs)} configuration fields ran with a non-default value; the "
        "others were compared at their default only.</p>",
        "<table><tr><th>field</th><th>section</th><th>default</th><th>values used</th>"
        "<th>non-default</th><th>note</th></tr>",
    ]
    for k in knobs:
        mark = "yes" if k.get("exercised") else "no"
        values = ", ".join(str(v) for v in k.get("values") or [])
        out.append(
            f"<tr><td>{_e(k.get('field'))}</td><td>{_e(k.get('section'))}</td>"
            f"<td>{_e(k.get('default'))}</td><td>{_e(values)}</td><td>{mark}</td>"
            f"<td>{_e(k.get('note'))}</td></tr>"
        )
    out.append("</table>")
    return out


def _timings(data: Mapping[str, Any]) -> list[str]:
    timings = data.get("timings") or {}
    if not timings:
        return ["<p>No timings recorded.</p>"]
    names = list(timings)
    out = ["<table><tr><th>section</th>" + "".join(f"<th>{_e(n)}</th>" for n in names) + "</tr>"]
    sections = sorted({str(s) for t in timings.values() if isinstance(t, Mapping) for s in t})
    for s in sections:
        out.append(
            f"<tr><td>{_e(s)}</td>"
            + "".join(
                f"<td>{_num((timings[n] if isinstance(timings[n], Mapping) else {}).get(s))}</td>"
                for n in names
            )
            + "</tr>"
        )
    out.append("</table>")
    return out


def _reproduce(data: Mapping[str, Any], sc: Mapping[str, Any]) -> list[str]:
    seconds = data.get("seconds")
    took = f"{seconds:.1f} s" if isinstance(seconds, (int, float)) else _e(seconds)
    return [
        f"<pre>{_e(data.get('reproduce'))}</pre>",
        f"<p>Scenario hash <code>{_e(data.get('scenario_hash'))}</code>; started "
        f"{_e(data.get('started'))}; {_e(took)}; command <code>{_e(data.get('command', ''))}</code>"
        "</p>",
        "<details><summary>Scenario</summary>",
        f"<pre>{_e(json.dumps(sc, indent=2, sort_keys=True, default=str))}</pre></details>",
    ]
