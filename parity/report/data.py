"""The report document: everything about a run as one JSON-able mapping."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from parity.findings import counts, exit_code, overall_verdict
from parity.knobs import scenario_coverage
from parity.report.metrics import metric_table
from parity.report.rootcause import root_causes

REPORT_FORMAT = "parity-report"
REPORT_VERSION = "1.0"


def reproduce_command(result: Any) -> str:
    """The command that reproduces the run."""
    scenario = result.scenario
    source = scenario.source
    builtin = Path(source).parent == Path(__file__).resolve().parent.parent / "scenarios"
    target = scenario.name if builtin or source in ("<memory>", "<trace>") else source
    parts = ["parity", "run", target, "--backends", ",".join(result.backends)]
    if getattr(result, "isolate", False):
        parts.append("--isolate")
    for name in result.inject:
        parts += ["--inject", name]
    return shlex.join(parts)


def report_data(result: Any, directory: Path) -> dict[str, Any]:
    """The document written as ``report.json``."""
    findings = result.findings
    names = result.names
    ref = names.get(result.backends[0], result.backends[0]) if result.backends else ""
    cand = names.get(result.backends[1], result.backends[1]) if len(result.backends) > 1 else ""
    traces = {}
    for spec, path in result.traces.items():
        p = Path(path)
        try:
            traces[names.get(spec, spec)] = str(p.relative_to(directory))
        except ValueError:
            traces[names.get(spec, spec)] = str(p.resolve())
    doc = {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "verdict": overall_verdict(findings),
        "exit_code": exit_code(findings),
        "counts": counts(findings),
        "scenario": result.scenario.to_dict(),
        "scenario_hash": result.scenario.hash,
        "backends": list(result.backends),
        "reference": ref,
        "candidate": cand,
        "started": result.started,
        "seconds": round(result.seconds, 3),
        "command": result.command,
        "reproduce": reproduce_command(result),
        "injected_defects": list(result.inject),
        "localisation": result.localisation(),
        "environment": result.environment,
        "timings": result.timings,
        "traces": traces,
        "findings": [f.to_json() for f in findings],
    }
    doc["knobs"] = scenario_coverage(result.scenario)
    doc["git_revision"] = git_revision(doc["environment"])
    doc["metrics"] = metric_table(doc, directory)
    doc["root_cause"] = root_causes(doc)
    return doc


def git_revision(environment: Mapping[str, Any]) -> str:
    """The git revision the backends were recorded at (one value, or each backend's)."""
    revisions = {
        name: str(env.get("git_revision"))
        for name, env in environment.items()
        if isinstance(env, Mapping) and env.get("git_revision")
    }
    unique = sorted(set(revisions.values()))
    if not unique:
        return "unknown"
    if len(unique) == 1:
        return unique[0]
    return ", ".join(f"{k} {v}" for k, v in sorted(revisions.items()))
