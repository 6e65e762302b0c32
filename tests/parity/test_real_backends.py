"""The harness on the real backends: the smoke scenario through TensorFlow and PyTorch, with the
explicit bundle conversion, then ``parity diff-bundles --load`` on the bundles it saved."""

from __future__ import annotations

import dataclasses
import io
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from parity import scenario
from parity.cli import main
from parity.engine import run_scenario


@pytest.mark.both
@pytest.mark.slow
def test_smoke_scenario_passes_on_both_backends(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    pytest.importorskip("torch")
    smoke = scenario.load("smoke")
    sc = dataclasses.replace(smoke, run=dataclasses.replace(smoke.run, convert_bundles=True))
    result = run_scenario(sc, ["tensorflow", "pytorch"], out_root=tmp_path)
    failing = [
        (f.check, f.tensor, f.evidence[:200])
        for f in result.findings
        if f.verdict in ("fail", "error")
    ]
    assert not failing, failing
    families = {f.family for f in result.findings if f.verdict == "pass"}
    assert {
        "params",
        "data",
        "ops",
        "forward",
        "gradients",
        "training",
        "bundles",
        "inference",
    } <= families
    assert any(f.check == "bundles.conversion" and f.verdict == "pass" for f in result.findings)
    assert result.localisation() == {"cumulative": None, "single_step": None}
    assert result.report_dir is not None and (result.report_dir / "report.html").exists()
    check_diff_bundles_load(result.report_dir / "bundles", tmp_path)


def check_diff_bundles_load(bundles: Path, tmp_path: Path) -> None:
    """Both backends' bundles of one run hold the same weights: ``diff-bundles --load`` loads
    each with its own backend and passes; one perturbed kernel fails, named by canonical name."""
    import backends
    from backends.workflows import training_config_from_params

    tf_dir, pt_dir = bundles / "0-tensorflow", bundles / "1-pytorch"
    assert main(["diff-bundles", "--load", str(tf_dir), str(pt_dir)]) == 0
    assert main(["diff-bundles", "--load", str(tf_dir), str(bundles / "converted")]) == 0

    torch_backend = backends.get("pytorch")
    model, params = torch_backend.load_bundle(pt_dir / "wts.h5.zip")
    weights = torch_backend.export_weights(model)
    name = sorted(k for k in weights if k.endswith("kernel"))[0]
    weights[name] = np.asarray(weights[name]) * np.float32(1.01)
    torch_backend.import_weights(model, weights)
    config = training_config_from_params(params, "pytorch")
    torch_backend.save_bundle(model, tmp_path / "perturbed", config)
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["diff-bundles", "--load", "--all", str(pt_dir), str(tmp_path / "perturbed")])
    assert code == 1
    failing = [line for line in out.getvalue().splitlines() if "FAIL" in line.upper()]
    assert any(name in line for line in failing), out.getvalue()
