"""Upstream-trained bundles, converted, reproduce upstream's own predictions on both backends.

The bundles and ``reference.npz`` (upstream's ``diffraction_to_obj.predict`` and
``reassemble_position`` on fixed inputs) are the shared upstream fixtures; the tests skip with
a reason where they are absent.
"""

from __future__ import annotations

import json
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.backends.upstream.opcodes import SHARED

pytestmark = [
    pytest.mark.both,
    pytest.mark.skipif(
        not (SHARED / "tf-N64-g1" / "wts.h5.zip").is_file(),
        reason=f"shared upstream fixtures absent ({SHARED})",
    ),
]

ROOT = Path(__file__).resolve().parents[3]
OBJECT_RTOL = 1e-5  # the bound: within 1e-5 of max|reference|
CASES = [(g, b) for g in (1, 2) for b in ("tensorflow", "pytorch")]


def _canvas_rtol() -> float:
    with open(ROOT / "parity" / "tolerances.toml", "rb") as handle:
        return float(tomllib.load(handle)["inference"]["canvas"]["rtol"])


def _relative(a: np.ndarray, reference: np.ndarray) -> float:
    a, reference = np.asarray(a), np.asarray(reference)
    assert a.shape == reference.shape
    return float(np.max(np.abs(a - reference)) / np.max(np.abs(reference)))


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[int, str], Path]:
    """Each fixture bundle imported once per backend (this project's format)."""
    from backends.bundle.upstream import convert_upstream_bundle

    out = {}
    for gridsize, backend in CASES:
        where = tmp_path_factory.mktemp(f"g{gridsize}-{backend}")
        out[gridsize, backend] = convert_upstream_bundle(
            SHARED / f"tf-N64-g{gridsize}", backend, where
        )
    return out


@pytest.mark.parametrize(("gridsize", "backend"), CASES)
def test_converted_bundle_reproduces_upstream_predictions(
    converted: dict[tuple[int, str], Path], gridsize: int, backend: str, record_property: Any
) -> None:
    import backends
    from backends.base import Batch

    ref = np.load(SHARED / f"tf-N64-g{gridsize}" / "reference.npz")
    impl = backends.get(backend)
    model, params = impl.load_bundle(converted[gridsize, backend])
    assert model.config.combine_mode == "legacy_rect"
    assert np.float32(params["intensity_scale"]) == np.frombuffer(b"\x8e\x0dwD", "<f4")[0]
    np.testing.assert_allclose(params["probe"], ref["probe"], rtol=0, atol=1e-6)

    # reference "input" is upstream's model input X * intensity_scale
    X = ref["input"] / np.float32(params["intensity_scale"])
    outputs = impl.forward(model, Batch(X=X, positions=ref["input_positions"])).outputs
    obj = _relative(outputs["trimmed_obj"], ref["trimmed_obj"])
    amp = _relative(outputs["pred_amp_scaled"], ref["ae_pred_amp_scaled"])
    assert obj <= OBJECT_RTOL
    assert amp <= OBJECT_RTOL

    stitched = np.asarray(impl.ops.stitch(outputs["trimmed_obj"], ref["global_offsets"], crop=20))
    canvas = _relative(stitched.reshape(ref["stitched"].shape), ref["stitched"])
    assert canvas <= _canvas_rtol()
    record_property("trimmed_obj_rel", obj)
    record_property("stitched_rel", canvas)


@pytest.mark.parametrize(("gridsize", "backend"), CASES[:2])
def test_converted_manifest_records_the_import(
    converted: dict[tuple[int, str], Path], gridsize: int, backend: str
) -> None:
    with zipfile.ZipFile(converted[gridsize, backend]) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        params = json.loads(zf.read("params.json"))
        assert not [n for n in zf.namelist() if n.endswith((".dill", ".pkl", ".keras"))]
    record = manifest["producer"]["imported_from"]
    assert record["combine_mode"] == "legacy_rect"
    assert record["upstream_version"] == "1.0"
    assert record["not_read"] == [
        "autoencoder/custom_objects.dill",
        "autoencoder/model.h5",
        "autoencoder/params.dill",
        "diffraction_to_obj/custom_objects.dill",
        "diffraction_to_obj/model.h5",
    ]
    assert manifest["backend"] == backend
    assert params["combine_mode"] == "legacy_rect"
    assert (params["gridsize"], params["N"], params["n_filters_scale"]) == (gridsize, 64, 2)


def test_cli_converts_infers_and_diffs_an_upstream_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from parity.cli import main

    upstream = SHARED / "tf-N64-g1"
    out = tmp_path / "converted"
    assert (
        main(["convert-bundle", str(upstream), "--to", "pytorch", "-o", str(out), "--no-progress"])
        == 0
    )
    text = capsys.readouterr().out
    assert "converted upstream" in text and (out / "wts.h5.zip").is_file()

    infer_dir = tmp_path / "infer"
    args = ["infer", "--model_path", str(upstream), "--test_data", "builtin:lines-64-small:test"]
    assert main([*args, "--output_dir", str(infer_dir), "--n_groups", "16", "--no-progress"]) == 0
    assert (infer_dir / "imported-model" / "wts.h5.zip").is_file()
    with np.load(infer_dir / "reconstruction.npz") as recon:
        assert recon["patches"].shape == (16, 64, 64, 1)

    assert main(["diff-bundles", str(upstream), str(out)]) == 0
    assert "imported for the pytorch backend" in capsys.readouterr().out
