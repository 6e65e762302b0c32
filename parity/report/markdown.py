"""``report.md``: verdict, git revision, root causes (what broke, where, who left the oracle,
how many findings follow, how to reproduce), the metric table against ground truth, what
failed grouped by root cause, per-family counts, environment, reproduce command. Short enough
for a pull-request comment or a CI step summary.

Every value from the report document is written as inert text: in table cells the characters
that would break a row (``|``, newlines) or start markup (``<``, ``>``, ``&``, backticks,
``[``, ``]``) are escaped; inline code spans use a fence longer than any backtick run inside.
"""

from __future__ import annotations

from typing import Any

from parity.findings import VERDICTS
from parity.machine import describe_device

ICON = {"pass": "✅", "fail": "❌", "known": "🟡", "xpass": "🔵", "error": "💥", "skipped": "⏭️"}


_ESCAPES = {
    "\\": "\\\\",
    "|": "\\|",
    "<": "&lt;",
    ">": "&gt;",
    "&": "&amp;",
    "`": "\\`",
    "[": "\\[",
    "]": "\\]",
}


def _text(text: Any) -> str:
    """Inert one-line Markdown text."""
    s = " ".join(("" if text is None else str(text)).split())
    return "".join(_ESCAPES.get(ch, ch) for ch in s)


def _cell(text: Any, limit: int = 160) -> str:
    s = " ".join(("" if text is None else str(text)).split())
    s = s if len(s) <= limit else s[: limit - 1] + "…"
    return _text(s)


def _code(text: Any, in_table: bool = False) -> str:
    """An inline code span that no backtick inside can close (pipes escaped in a table)."""
    s = " ".join(("" if text is None else str(text)).split())
    if in_table:
        s = s.replace("|", "\\|")
    longest = max((len(run) for run in _runs(s)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {s} {fence}"


def _runs(s: str) -> list[str]:
    import re

    return re.findall(r"`+", s)


def _fence(text: Any) -> list[str]:
    """A fenced block whose fence is longer than any backtick run inside."""
    s = "" if text is None else str(text)
    fence = "`" * max(3, max((len(r) for r in _runs(s)), default=0) + 1)
    return [fence, s, fence]


def _num(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return f"{x:.3g}"
    return _cell(x, 40)


def render(data: dict[str, Any]) -> str:
    """The markdown text of a report document."""
    sc = data.get("scenario") or {}
    verdict = str(data.get("verdict", "?"))
    c = data.get("counts") or {}
    vs = _text(data.get("reference")) + (
        f" vs {_text(data['candidate'])}" if data.get("candidate") else ""
    )
    lines = [
        f"# Parity report: {_text(sc.get('name'))} ({vs})",
        "",
        f"**Verdict: {ICON.get(verdict, '?')} {_text(verdict.upper())}** — "
        + ", ".join(f"{_text(c[v])} {v}" for v in VERDICTS if c.get(v)),
        "",
        f"Git revision {_code(data.get('git_revision', 'unknown'))}",
        "",
    ]
    if data.get("injected_defects"):
        lines += [f"Injected defects: {_text(', '.join(map(str, data['injected_defects'])))}", ""]
    loc = data.get("localisation")
    if loc and (loc.get("cumulative") or loc.get("single_step")):
        lines += [
            f"First divergent stage: **{_text(loc.get('cumulative') or '-')}** (cumulative), "
            f"**{_text(loc.get('single_step') or '-')}** (single-step)",
            "",
        ]
    lines += [_text(sc.get("description", "")), ""]
    lines += _root_causes(data)
    lines += _metric_table(data.get("metrics") or {})
    lines += _bad_findings(data)
    families: dict[str, dict[str, int]] = {}
    for f in data.get("findings") or []:
        fam = str(f.get("check", "?")).split(".", 1)[0]
        cnt = families.setdefault(fam, dict.fromkeys(VERDICTS, 0))
        if f.get("verdict") in cnt:
            cnt[f["verdict"]] += 1
    lines += [
        "## Checks",
        "",
        "| family | " + " | ".join(VERDICTS) + " |",
        "|---" * (len(VERDICTS) + 1) + "|",
    ]
    for fam, cnt in families.items():
        lines.append(f"| {_cell(fam)} | " + " | ".join(str(cnt[v]) for v in VERDICTS) + " |")
    knobs = data.get("knobs") or []
    if knobs:
        varied = [f"{k['field']}={k['values'][-1]}" for k in knobs if k.get("exercised")]
        lines += [
            "",
            "## Knob coverage",
            "",
            f"{len(varied)} of {len(knobs)} configuration fields at a non-default value: "
            + _text(", ".join(varied) or "none"),
        ]
    lines += ["", "## Environment", ""]
    for backend, env in (data.get("environment") or {}).items():
        env = env if isinstance(env, dict) else {}
        raw_versions = env.get("versions")
        versions: dict[Any, Any] = raw_versions if isinstance(raw_versions, dict) else {}
        shown = ", ".join(
            f"{k} {v}"
            for k, v in sorted(versions.items(), key=lambda kv: str(kv[0]))
            if k != "platform"
        )
        device = describe_device(env.get("device_facts"), str(env.get("device", "?")))
        lines.append(
            f"- **{_text(backend)}**: device {_text(device)}; {_text(shown)}; "
            f"git {_text(env.get('git_revision', 'unknown'))}"
        )
    seconds = data.get("seconds")
    took = f"{seconds:.1f} s" if isinstance(seconds, (int, float)) else _text(seconds)
    lines += [
        "",
        f"Scenario hash {_code(data.get('scenario_hash'))}, started "
        f"{_text(data.get('started'))}, {took}.",
        "",
        "Reproduce:",
        "",
        *_fence(data.get("reproduce")),
        "",
    ]
    return "\n".join(lines)


def _root_causes(data: dict[str, Any]) -> list[str]:
    roots = data.get("root_cause") or []
    if not roots:
        return []
    lines = [
        "## Root causes",
        "",
        "| # | what broke, where | oracle | follows | reproduce |",
        "|---|---|---|---|---|",
    ]
    for r in roots:
        by_family = ", ".join(f"{k} {v}" for k, v in (r.get("follows_by_family") or {}).items())
        follows = f"{r.get('follows', 0)}" + (f" ({by_family})" if by_family else "")
        commands = [str(cmd).split("   #")[0] for cmd in r.get("reproduce") or []]
        lines.append(
            f"| {_cell(r.get('id'))} | **{_cell(r.get('where'))}**: {_cell(r.get('check'))} "
            f"{_cell(r.get('tensor'))} [{_cell(r.get('backend'))}]; {_cell(r.get('summary'))} "
            f"| {_cell(r.get('oracle') or '-')} | {_cell(follows)} | "
            + "<br>".join(_code(cmd, in_table=True) for cmd in commands)
            + " |"
        )
    return [*lines, ""]


def _metric_table(table: dict[str, Any]) -> list[str]:
    from parity.report.metrics import format_value

    rows = table.get("rows") or []
    if not rows:
        return []
    columns = [tuple(col) for col in table.get("columns") or []]
    verdicts = table.get("verdicts") or {}
    lines = [
        "## Reconstruction against ground truth (trained, per seed)",
        "",
        "| backend | seed | " + " | ".join(_cell(label) for _, label in columns) + " |",
        "|---" * (len(columns) + 2) + "|",
    ]
    for row in rows:
        values = row.get("values") or {}
        lines.append(
            f"| {_cell(row.get('backend'))} | {_cell(row.get('seed'))} | "
            + " | ".join(_cell(format_value(values.get(n))) for n, _ in columns)
            + " |"
        )
    reference = table.get("reference") or {}
    if reference:
        lines.append(
            "| flat object | reference | "
            + " | ".join(_cell(format_value(reference.get(n))) for n, _ in columns)
            + " |"
        )
    for backend, cells in (table.get("resemblance") or {}).items():
        lines.append(
            f"| **{_cell(backend)}: trained beats flat** | | "
            + _verdict_cells(cells, columns)
            + " |"
        )
    lines.append("| **convergence verdict** | | " + _verdict_cells(verdicts, columns) + " |")
    return [*lines, ""]


def _verdict_cells(verdicts: dict[str, Any], columns: list[tuple[str, ...]]) -> str:
    return " | ".join(
        _cell(
            ICON.get(str((verdicts.get(n) or {}).get("verdict")), "")
            + " "
            + str((verdicts.get(n) or {}).get("verdict", ""))
        )
        for n, *_ in columns
    )


def _bad_findings(data: dict[str, Any]) -> list[str]:
    findings = list(data.get("findings") or [])
    bad = [i for i, f in enumerate(findings) if f.get("verdict") not in ("pass", "skipped")]
    if not bad:
        return []
    root_of: dict[int, Any] = {}
    rank: dict[int, int] = {}
    for r in data.get("root_cause") or []:
        for i in r.get("findings") or []:
            if isinstance(i, int) and i not in root_of:
                root_of[i] = r.get("id")
                rank[i] = len(rank)
    bad = sorted(bad, key=lambda i: rank.get(i, len(findings) + i))
    lines = [
        "## Findings needing attention (by root cause)",
        "",
        "| root cause | verdict | check | tensor | backend | measured | tolerance | evidence |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i in bad:
        f = findings[i]
        v = str(f.get("verdict"))
        lines.append(
            f"| {_cell(root_of.get(i, '-'))} | {ICON.get(v, '')} {_cell(v)} | {_cell(f.get('check'))} "
            f"| {_cell(f.get('tensor'))} | {_cell(f.get('backend'))} | {_num(f.get('measured'))} "
            f"| {_num(f.get('tolerance'))} | {_cell(f.get('evidence'))} |"
        )
    return [*lines, ""]
