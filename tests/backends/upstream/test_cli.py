"""Upstream habits on the command line: a poisoned upstream bundle is refused by name with no
traceback and nothing run; upstream's flag spellings and YAML layouts configure training."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from tests.backends.upstream.opcodes import EMPTY_DICT, FIXTURES, SETITEM, call, stream, text


def _installed_backend() -> str:
    import backends

    return backends.available()[0]


def _poisoned_bundle(where: Path, marker: Path, qualname: str) -> Path:
    module, name = qualname.rsplit(".", 1)
    params = stream(EMPTY_DICT + text("N") + call(module, name, text(f"touch {marker}")) + SETITEM)
    keras = io.BytesIO()
    with zipfile.ZipFile(keras, "w") as zf:
        zf.writestr("config.json", "{}")
    where.mkdir()
    with zipfile.ZipFile(where / "wts.h5.zip", "w") as zf:
        zf.writestr("manifest.dill", (FIXTURES / "manifest.dill").read_bytes())
        zf.writestr("diffraction_to_obj/custom_objects.dill", call("os", "system", text("x")))
        zf.writestr("diffraction_to_obj/model.keras", keras.getvalue())
        zf.writestr("diffraction_to_obj/params.dill", params)
    return where


@pytest.mark.parametrize("qualname", ["os.system", "builtins.eval", "ptycho.model.negloglik"])
@pytest.mark.parametrize("command", ["convert-bundle", "infer", "diff-bundles"])
def test_poisoned_upstream_bundle_is_refused_by_name_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], qualname: str, command: str
) -> None:
    from parity.cli import main

    marker = tmp_path / "marker"
    bundle = str(_poisoned_bundle(tmp_path / "up", marker, qualname))
    out = tmp_path / "out"
    argv = {
        "convert-bundle": ["convert-bundle", bundle, "--to", _installed_backend(), "-o", str(out)],
        "infer": [
            *("infer", "--model", bundle, "--data", "builtin:lines-64-small:test"),
            *("--output-dir", str(out), "--backend", _installed_backend()),
        ],
        "diff-bundles": ["diff-bundles", bundle, bundle],
    }[command]
    assert main([*argv, "--no-progress"] if command != "diff-bundles" else argv) == 2
    err = capsys.readouterr().err
    assert f"refused the global {qualname};" in err
    assert "params.dill" in err
    assert "Traceback" not in err
    assert not marker.exists()
    assert not (out / "wts.h5.zip").exists() and not (out / "imported-model").exists()


def _train_args(*argv: str) -> object:
    from parity.cli import build_parser
    from parity.commands.train import build_config

    return build_config(build_parser().parse_args(["train", *argv]))


def test_upstream_flag_spellings_are_aliases() -> None:
    config = _train_args(
        *("--train_data_file", "train.npz", "--test_data_file", "test.npz"),
        *("--nepochs", "3", "--output_dir", "out", "--n_groups", "64", "--gridsize", "2"),
        *("--N", "128", "--n_filters_scale", "1", "--probe_big", "false", "--nphotons", "1e6"),
        *("--batch_size", "8", "--neighbor_count", "5", "--n_subsample", "100"),
        *("--do_stitching", "--quiet"),
    )
    assert config == _train_args(
        *("--train-data", "train.npz", "--test-data", "test.npz", "--epochs", "3"),
        *("--output-dir", "out", "--n-groups", "64", "--gridsize", "2", "--N", "128"),
        *("--n-filters-scale", "1", "--probe-big", "false", "--nphotons", "1e6"),
        *("--batch-size", "8", "--neighbor-count", "5", "--n-subsample", "100"),
    )
    assert (config.nepochs, config.n_groups, config.model.N, config.model.probe_big) == (
        3,
        64,
        128,
        False,
    )


FLAT_YAML = """\
N: 64
gridsize: 2
n_filters_scale: 2
model_type: 'pinn'
amp_activation: 'sigmoid'
object_big: true
probe_big: false
probe_mask: true
pad_object: true
probe_scale: 10.0
nepochs: 50
batch_size: 16
output_dir: "comparison_outputs"
train_data_file: "dummy_train.npz"
test_data_file: "dummy_test.npz"
n_groups: 512
nphotons: 1.0e9
nll_weight: 1.0
mae_weight: 0.0
probe_trainable: true
intensity_scale_trainable: true
positions_provided: true
"""

NESTED_YAML = """\
# only what differs from the defaults
model:
  gridsize: 2
nepochs: 5
"""


def test_upstream_yaml_configs_load_as_they_are(tmp_path: Path) -> None:
    flat, nested = tmp_path / "flat.yaml", tmp_path / "nested.yml"
    flat.write_text(FLAT_YAML)
    nested.write_text(NESTED_YAML)
    config = _train_args("--config", str(flat))
    assert (config.model.gridsize, config.model.probe_big, config.model.probe_mask) == (
        2,
        False,
        True,
    )
    assert (config.model.probe_scale, config.nphotons, config.nepochs) == (10.0, 1e9, 50)
    assert str(config.train_data_file) == "dummy_train.npz" and config.n_groups == 512
    assert config.probe_trainable is True
    # the command line wins over the file, in either spelling
    assert _train_args("--config", str(flat), "--nepochs", "2").nepochs == 2
    config = _train_args("--config", str(nested))
    assert (config.model.gridsize, config.nepochs, config.model.N) == (2, 5, 64)


def test_unknown_yaml_key_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from parity.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("gridsize: 2\nnepoch: 3\n")
    assert main(["train", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "nepoch" in err and "Traceback" not in err


def test_upstream_pytorch_bundles_are_refused_with_the_reason(tmp_path: Path) -> None:
    from backends.bundle.upstream import LegacyBundleError, read_upstream_bundle

    manifest = stream(
        EMPTY_DICT
        + text("models")
        + b"]"
        + text("diffraction_to_obj")
        + b"a"
        + SETITEM
        + text("version")
        + text("2.0-pytorch")
        + SETITEM
    )
    with zipfile.ZipFile(tmp_path / "wts.h5.zip", "w") as zf:
        zf.writestr("manifest.dill", manifest)
        zf.writestr("diffraction_to_obj/model.pth", b"")
    with pytest.raises(LegacyBundleError, match="upstream's PyTorch backend"):
        read_upstream_bundle(tmp_path)


def test_console_refusal_has_no_traceback(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    marker = tmp_path / "marker"
    bundle = _poisoned_bundle(tmp_path / "up", marker, "os.system")
    root = Path(__file__).resolve().parents[3]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    argv = ["convert-bundle", str(bundle), "--to", _installed_backend(), "-o", str(tmp_path / "o")]
    done = subprocess.run(
        [sys.executable, "-m", "parity.cli", *argv], capture_output=True, text=True, env=env
    )
    assert done.returncode == 2
    assert "refused the global os.system;" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not marker.exists()
