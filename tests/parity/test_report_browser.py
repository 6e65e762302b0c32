"""The HTML report rendered by a real headless browser (Debian's ``chromium``): every image
decodes and every section is present."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from parity import engine
from parity import scenario as sc
from parity.report.html import SECTIONS
from tests.parity.helpers import BASE, CAND, ORACLE, REF

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no headless browser: install Debian's chromium (apt-get install chromium) to "
    "render the HTML report",
)

PROBE = """<script>
window.addEventListener('load', function () {
  var images = [].slice.call(document.images);
  var broken = images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  var ids = [].slice.call(document.querySelectorAll('section[id]')).map(function (s) {
    return s.id + ':' + (s.querySelector('h2') ? s.querySelector('h2').textContent : '');
  });
  var out = document.createElement('pre');
  out.id = 'probe-result';
  out.textContent = JSON.stringify({images: images.length, broken: broken.length,
                                    sections: ids});
  document.body.appendChild(out);
});
</script>"""


def signoff_like(out: Path) -> Path:
    """A report directory of the fake backends with trained convergence runs."""
    raw = copy.deepcopy(BASE)
    raw["checks"] = ["params", "ops", "forward", "training", "inference", "convergence"]
    raw["convergence"] = {"seeds": [0, 1, 2], "epochs": 4, "n_groups": 8, "test_groups": 6}
    scenario = sc.from_dict(raw, source="<test>")
    result = engine.run_scenario(scenario, [REF, CAND], out_root=out, oracle=ORACLE)
    assert result.report_dir is not None
    return result.report_dir


def render_in_browser(page: Path, tmp_path: Path) -> dict:
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    assert CHROMIUM is not None
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=10000",
            "--dump-dom",
            probed.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    match = re.search(r'<pre id="probe-result">([^<]*)</pre>', dom)
    assert match, "the page did not finish loading in the browser"
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))


@pytest.mark.slow
def test_every_image_loads_and_every_section_is_present(tmp_path: Path) -> None:
    report = signoff_like(tmp_path / "reports")
    seen = render_in_browser(report / "report.html", tmp_path)
    assert seen["broken"] == 0
    # two trained reconstructions and the FRC, three convergence curves, untrained outputs,
    # the stage profile and histograms
    assert seen["images"] >= 7
    assert seen["sections"] == [f"{ident}:{title}" for ident, title in SECTIONS]
    page = (report / "report.html").read_text()
    assert "trained reconstruction (seed0) against the ground truth" in page
    assert "untrained networks" in page  # untrained outputs are labelled as such
    assert "convergence verdict" in page
