"""``junit.xml``: one test suite per check family, one test case per finding.

``time`` attributes: the whole run's wall time on ``testsuites``; on each ``testsuite`` the
seconds its recording sections took, summed over the backends (``timings`` of the report); the
harness times sections, not single comparisons, so each ``testcase`` carries an even share of
its suite's time."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any


def render(data: dict[str, Any]) -> str:
    """JUnit XML of a report document (CI systems display it natively)."""
    suites = ET.Element("testsuites", name=f"parity {data['scenario']['name']}")
    by_family: dict[str, list[dict[str, Any]]] = {}
    for f in data["findings"]:
        by_family.setdefault(f["check"].split(".", 1)[0], []).append(f)
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    section_seconds: dict[str, float] = {}
    for per_backend in (data.get("timings") or {}).values():
        if not isinstance(per_backend, dict):
            continue
        for section, seconds in per_backend.items():
            try:
                value = float(seconds)
            except (TypeError, ValueError):
                continue
            family = str(section).split(":", 1)[0].split(".", 1)[0]
            section_seconds[family] = section_seconds.get(family, 0.0) + value
    for family, findings in by_family.items():
        counts = {
            "tests": len(findings),
            "failures": sum(f["verdict"] == "fail" for f in findings),
            "errors": sum(f["verdict"] == "error" for f in findings),
            "skipped": sum(f["verdict"] == "skipped" for f in findings),
        }
        for k in total:
            total[k] += counts[k]
        seconds = section_seconds.get(family, 0.0)
        attrib = {
            "name": family,
            **{k: str(v) for k, v in counts.items()},
            "time": f"{seconds:.3f}",
        }
        suite = ET.SubElement(suites, "testsuite", attrib)
        share = f"{seconds / max(len(findings), 1):.3f}"
        for f in findings:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"parity.{data['scenario']['name']}.{f['check']}",
                name=f"{f['tensor']} [{f['backend']}]",
                time=share,
            )
            message = f"{f['metric']}: measured {f['measured']}, tolerance {f['tolerance']}"
            if f["verdict"] == "fail":
                ET.SubElement(case, "failure", message=message).text = f["evidence"]
            elif f["verdict"] == "error":
                ET.SubElement(case, "error", message="error").text = f["evidence"]
            elif f["verdict"] == "skipped":
                ET.SubElement(case, "skipped", message=f["evidence"][:200])
            elif f["verdict"] in ("known", "xpass"):
                ET.SubElement(case, "system-out").text = f"{f['verdict']}: {f['evidence']}"
    for k, v in total.items():
        suites.set(k, str(v))
    try:
        suites.set("time", f"{float(data.get('seconds') or 0.0):.3f}")
    except (TypeError, ValueError):
        suites.set("time", "0.000")
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )
