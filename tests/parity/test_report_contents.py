"""What the reports say: root causes first (JSON, Markdown, HTML alike), git revision, junit
times, and reports that stay inert whatever the report document holds."""

from __future__ import annotations

import html.parser
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from parity import engine
from parity.report import write_from_data
from parity.report.rootcause import root_causes
from tests.parity.helpers import CAND, ORACLE, REF, fake_scenario

CHECKS = ["params", "ops", "forward", "inference", "training"]


@pytest.fixture(scope="module")
def injected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report directory of a fake run with the FFT shift dropped from the candidate."""
    out = tmp_path_factory.mktemp("injected")
    result = engine.run_scenario(
        fake_scenario(checks=CHECKS),
        [REF, CAND],
        out_root=out,
        oracle=ORACLE,
        inject=["fftshift-dropped"],
    )
    assert result.exit_code == 1 and result.report_dir is not None
    return result.report_dir


def test_an_injected_defect_shows_one_root_cause(injected: Path) -> None:
    data = json.loads((injected / "report.json").read_text())
    failing = [i for i, f in enumerate(data["findings"]) if f["verdict"] in ("fail", "error")]
    assert len(failing) > 5  # a flat list would be long
    (root,) = data["root_cause"]
    assert (root["family"], root["check"], root["tensor"]) == ("ops", "ops.oracle", "diffract")
    assert root["where"] == "op diffract"
    assert root["backend"] == "fake-candidate"
    assert root["oracle"].startswith("fake-candidate departs from the oracle")
    assert sorted(root["findings"]) == failing  # every failure is grouped under it
    assert root["follows"] == len(failing) - 1
    assert root["follows_by_family"]["forward"] >= 1
    assert "--inject fftshift-dropped" in root["reproduce"][0]
    assert "--checks ops" in root["reproduce"][1]


def test_markdown_and_html_carry_the_same_grouping(injected: Path) -> None:
    data = json.loads((injected / "report.json").read_text())
    (root,) = data["root_cause"]
    md = (injected / "report.md").read_text()
    section = md.split("## Root causes", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| 1 ")]
    assert len(rows) == 1 and "op diffract" in rows[0] and f"| {root['follows']} (" in rows[0]
    assert md.index("## Root causes") < md.index("## Findings needing attention")
    assert f"Git revision ` {data['git_revision']} `" in md
    page = (injected / "report.html").read_text()
    summary = page.split("<section id='summary'>", 1)[1].split("</section>", 1)[0]
    assert "Root cause 1: op diffract" in summary
    assert f"<b>{root['follows']}</b> further failing finding(s)" in summary
    assert "--inject fftshift-dropped" in summary
    assert "fake-candidate departs from the oracle" in summary
    findings = page.split("<section id='findings'>", 1)[1]
    assert findings.index("Root cause 1: op diffract and the") < findings.index("Every other")


def test_junit_carries_times(injected: Path) -> None:
    data = json.loads((injected / "report.json").read_text())
    root = ET.parse(injected / "junit.xml").getroot()
    assert float(root.get("time")) == pytest.approx(data["seconds"], abs=1e-3)
    suites = root.findall("testsuite")
    assert suites and all(float(s.get("time")) >= 0 for s in suites)
    ops = next(s for s in suites if s.get("name") == "ops")
    recorded = sum(t.get("ops", 0.0) for t in data["timings"].values())
    assert float(ops.get("time")) == pytest.approx(recorded, abs=2e-3) and recorded > 0
    assert all(c.get("time") is not None for c in root.iter("testcase"))


def _f(check: str, verdict: str = "fail", tensor: str = "t", backend: str = "both") -> dict:
    return {"check": check, "tensor": tensor, "verdict": verdict, "backend": backend}


def test_grouping_follows_the_pipeline() -> None:
    # a configuration error spoils the forward pass: one root
    doc = {"findings": [_f("forward.activation"), _f("params.legacy", tensor="object.big")]}
    (root,) = root_causes(doc)
    assert root["where"] == "configuration key object.big" and root["findings"] == [1, 0]
    # bundles and convergence are independent: two roots
    doc = {"findings": [_f("bundles.params"), _f("convergence", tensor="phase.psnr")]}
    assert [r["family"] for r in root_causes(doc)] == ["bundles", "convergence"]
    # a forward divergence is named by its first divergent stage
    loc = _f("forward.localisation", tensor="enc1")
    loc["details"] = {"cumulative": "enc1", "single_step": "enc1"}
    doc = {"findings": [_f("gradients.grad"), _f("forward.activation", tensor="dec"), loc]}
    (root,) = root_causes(doc)
    assert root["where"] == "forward stage enc1" and root["findings"][0] == 2
    assert root["follows_by_family"] == {"gradients": 1, "forward": 1}
    # passing, known and skipped findings are never grouped
    assert root_causes({"findings": [_f("ops.oracle", "known"), _f("ops.oracle", "pass")]}) == []


PAYLOADS = (
    "<img src=x onerror=alert(1)>",
    "\"'><script>alert(2)</script>",
    "' onmouseover='alert(3)' x='",
    "a|b\n| --- |\n`code` [link](javascript:alert(4)) & <b>",
)
OWN_TAGS = {
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "section", "div", "p",
    "span", "b", "code", "pre", "table", "tr", "th", "td", "details", "summary", "label",
    "input", "figure", "figcaption", "img",
}  # fmt: skip


def _hostile(value: Any, n: list[int]) -> Any:
    """Every string and number of a document replaced by markup (keys of mappings too)."""
    if isinstance(value, dict):
        return {_hostile(k, n) if k not in KEEP else k: _hostile(v, n) for k, v in value.items()}
    if isinstance(value, list):
        return [_hostile(v, n) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    n[0] += 1
    return PAYLOADS[n[0] % len(PAYLOADS)]


KEEP = {
    "findings", "scenario", "counts", "verdict", "reference", "candidate", "root_cause",
    "metrics", "rows", "columns", "values", "verdicts", "environment", "timings", "traces",
    "check", "tensor", "backend", "metric", "measured", "tolerance", "margin", "evidence",
    "details", "name", "description", "reproduce", "command", "seconds", "started",
    "scenario_hash", "git_revision", "localisation", "cumulative", "single_step",
    "injected_defects", "where", "oracle", "summary", "follows", "follows_by_family", "id",
    "family", "seed", "versions", "device", "data_source", "resemblance",
}  # fmt: skip
"""Keys the renderers look up, kept so that the hostile values reach every output field."""


class _Collector(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def test_reports_are_inert(injected: Path, tmp_path: Path) -> None:
    data = json.loads((injected / "report.json").read_text())
    data["metrics"]["rows"] = [{"backend": "b", "seed": "0", "values": {"phase.psnr": 1.0}}]
    data["metrics"]["verdicts"] = {"phase.psnr": {"verdict": "pass", "evidence": "e"}}
    data["metrics"]["reference"] = {"phase.psnr": 2.0}
    data["metrics"]["resemblance"] = {"b": {"phase.psnr": {"verdict": "fail", "evidence": "e"}}}
    count = [0]
    hostile = _hostile(data, count)
    assert count[0] > 500
    written = write_from_data(hostile, tmp_path, ["html", "md"])
    page = written["html"].read_text()
    parser = _Collector()
    parser.feed(page)
    tags = {t for t, _ in parser.tags}
    assert tags <= OWN_TAGS, tags - OWN_TAGS
    handlers = [(t, a) for t, attrs in parser.tags for a, _ in attrs if a.startswith("on")]
    assert handlers == [("input", "onchange")]  # the page's own checkbox, nothing else
    for tag, attrs in parser.tags:
        if tag == "img":
            assert dict(attrs)["src"].startswith("data:image/png;base64,")
        assert not any(a in ("src", "href") and tag != "img" for a, _ in attrs)
    assert "<script" not in page and "<img src=x" not in page
    md = written["md"].read_text()
    # fenced blocks are code (inert by definition); everything else must hold no markup
    md = re.sub(r"^(`{3,})\n.*?\n\1$", "", md, flags=re.S | re.M)
    md = re.sub(r"(?<![`\\])(`+) .*? \1(?!`)", "CODE", md)  # inline code spans likewise
    assert "<img" not in md and "<script" not in md and "<b>" not in md
    # every table row keeps its column count: no unescaped pipe from the payloads
    table = None
    for line in md.splitlines():
        if not line.startswith("|"):
            table = None
            continue
        cells = len(re.findall(r"(?<!\\)\|", line.replace("\\\\", "")))
        table = cells if table is None else table
        assert cells == table, line


def test_a_curve_of_fewer_than_three_points_is_stated_not_drawn() -> None:
    import numpy as np

    from parity.report.figures import curve_or_text

    two = curve_or_text({"tf": [("total", np.array([2.0, 1.5]))]}, "t", "loss", "step")
    assert two.startswith("text:2 step(s) only") and "[2, 1.5]" in two
    three = {"tf": [("s0", np.array([3.0, 2.0, 1.0])), ("s1", np.array([3.1, 2.2, 1.1]))]}
    drawn = curve_or_text(three, "t", "loss", "epoch")
    assert not drawn.startswith("text:")
    import base64

    assert base64.b64decode(drawn)[:8] == b"\x89PNG\r\n\x1a\n"


def test_metric_table_shows_the_flat_object_and_each_backends_resemblance(tmp_path: Path) -> None:
    from parity.report.metrics import metric_table
    from parity.trace import TraceWriter

    sc = fake_scenario(checks=["convergence"])
    traces = {}
    for backend, psnr in (("tf", [20.0, 21.0]), ("pt", [20.5, 20.7])):
        with TraceWriter(tmp_path / f"{backend}.h5", backend, sc) as w:
            runs = {str(i): {"metrics": {"amplitude.psnr": v}} for i, v in enumerate(psnr)}
            w.put_json("params", "convergence", runs)
            w.put_json("params", "convergence_reference", {"flat object": {"amplitude.psnr": 14.3}})
            w.record_section("convergence", status="ok", seconds=0.0)
        traces[backend] = f"{backend}.h5"
    findings = [
        {"check": "convergence.trained", "tensor": "amplitude.psnr", "backend": "pt",
         "verdict": "fail", "evidence": "worse"},
        {"check": "convergence", "tensor": "amplitude.psnr", "backend": "both",
         "verdict": "pass", "evidence": "equivalent"},
    ]  # fmt: skip
    table = metric_table({"traces": traces, "findings": findings}, tmp_path)
    assert [(r["backend"], r["seed"]) for r in table["rows"]] == [
        ("tf", "0"), ("tf", "1"), ("pt", "0"), ("pt", "1"),
    ]  # fmt: skip
    assert table["reference"]["amplitude.psnr"] == 14.3
    assert table["resemblance"] == {
        "pt": {"amplitude.psnr": {"verdict": "fail", "evidence": "worse"}}
    }
    written = write_from_data({"metrics": table, "findings": findings}, tmp_path, ["md", "html"])
    md = written["md"].read_text()
    assert "| flat object | reference | 14.3 |" in md
    assert re.search(r"\| \*\*pt: trained beats flat\*\* \| \| \S* ?fail \|", md)
    page = written["html"].read_text()
    assert "<td>flat object</td><td>reference</td><td>14.3</td>" in page
    assert "pt: trained beats flat" in page
