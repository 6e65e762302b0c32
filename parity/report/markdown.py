"""``report.md``: verdict, localisation, what failed, per-family counts, environment, reproduce
command. Short enough for a pull-request comment or a CI step summary."""

from __future__ import annotations

from typing import Any

from parity.findings import VERDICTS

ICON = {"pass": "✅", "fail": "❌", "known": "🟡", "xpass": "🔵", "error": "💥", "skipped": "⏭️"}


def _cell(text: Any, limit: int = 160) -> str:
    s = "" if text is None else str(text)
    s = s.replace("|", "\\|").replace("\n", " ")
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _num(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, str):
        return x
    return f"{x:.3g}"


def render(data: dict[str, Any]) -> str:
    """The markdown text of a report document."""
    sc = data["scenario"]
    verdict = data["verdict"].upper()
    c = data["counts"]
    vs = data["reference"] + (f" vs {data['candidate']}" if data["candidate"] else "")
    lines = [
        f"# Parity report: {sc['name']} ({vs})",
        "",
        f"**Verdict: {ICON[data['verdict']]} {verdict}** — "
        + ", ".join(f"{c[v]} {v}" for v in VERDICTS if c.get(v)),
        "",
    ]
    if data.get("injected_defects"):
        lines += [f"Injected defects: {', '.join(data['injected_defects'])}", ""]
    loc = data.get("localisation")
    if loc and (loc.get("cumulative") or loc.get("single_step")):
        lines += [
            f"First divergent stage: **{loc.get('cumulative') or '-'}** (cumulative), "
            f"**{loc.get('single_step') or '-'}** (single-step)",
            "",
        ]
    lines += [f"{sc.get('description', '')}", ""]
    bad = [f for f in data["findings"] if f["verdict"] not in ("pass", "skipped")]
    if bad:
        lines += [
            "## Findings needing attention",
            "",
            "| verdict | check | tensor | backend | measured | tolerance | evidence |",
            "|---|---|---|---|---|---|---|",
        ]
        for f in bad:
            lines.append(
                f"| {ICON[f['verdict']]} {f['verdict']} | {_cell(f['check'])} | {_cell(f['tensor'])} "
                f"| {_cell(f['backend'])} | {_num(f['measured'])} | {_num(f['tolerance'])} "
                f"| {_cell(f['evidence'])} |"
            )
        lines.append("")
    families: dict[str, dict[str, int]] = {}
    for f in data["findings"]:
        fam = f["check"].split(".", 1)[0]
        families.setdefault(fam, dict.fromkeys(VERDICTS, 0))[f["verdict"]] += 1
    lines += [
        "## Checks",
        "",
        "| family | " + " | ".join(VERDICTS) + " |",
        "|---" * (len(VERDICTS) + 1) + "|",
    ]
    for fam, cnt in families.items():
        lines.append(f"| {fam} | " + " | ".join(str(cnt[v]) for v in VERDICTS) + " |")
    lines += ["", "## Environment", ""]
    for backend, env in data.get("environment", {}).items():
        versions = env.get("versions", {})
        shown = ", ".join(f"{k} {v}" for k, v in sorted(versions.items()) if k != "platform")
        lines.append(f"- **{backend}**: device {env.get('device', '?')}; {shown}")
    lines += [
        "",
        f"Scenario hash `{data['scenario_hash']}`, started {data['started']}, "
        f"{data['seconds']:.1f} s.",
        "",
        "Reproduce:",
        "",
        "```",
        data["reproduce"],
        "```",
        "",
    ]
    return "\n".join(lines)
