"""``parity simulate`` and ``parity inspect`` through ``parity.cli.main``."""

from __future__ import annotations

import numpy as np
import pytest

from backends.data import load_npz
from parity.cli import main


def test_simulate_then_inspect(tmp_path, capsys):
    out = tmp_path / "new" / "scan.npz"
    code = main(
        [
            "simulate",
            "--object",
            "lines",
            "-N",
            "16",
            "--object-size",
            "56",
            "--n-images",
            "30",
            "--nphotons",
            "1e6",
            "--seed",
            "3",
            "--positions-seed",
            "4",
            "--poisson-seed",
            "5",
            "--gridsize",
            "2",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    assert "wrote" in capsys.readouterr().out
    raw = load_npz(out)
    assert raw.n_patterns == 30 and raw.N == 16 and raw.nphotons == 1e6
    assert raw.metadata["seeds"] == {"object_seed": 3, "positions_seed": 4, "poisson_seed": 5}
    assert raw.metadata["gridsize"] == 2
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "diff3d" in text and "(30, 16, 16)" in text and "float32" in text
    assert "scan extent: x" in text and "nphotons: 1e+06" in text
    assert text.strip().endswith("verdict: valid")


@pytest.mark.parametrize("extra", [["--object", "grf"], ["--scan", "raster"], ["--set-phi"]])
def test_simulate_options(tmp_path, extra):
    out = tmp_path / "s.npz"
    assert (
        main(
            [
                "simulate",
                "-N",
                "16",
                "--object-size",
                "48",
                "--n-images",
                "8",
                "-o",
                str(out),
                *extra,
            ]
        )
        == 0
    )
    raw = load_npz(out)
    if "--set-phi" in extra:
        assert np.ptp(np.angle(raw.objectGuess)) > 0.1
    if "grf" in extra:
        assert raw.metadata["object"]["kind"] == "grf"


def test_simulate_rejects_bad_input_without_output(tmp_path, capsys):
    out = tmp_path / "s.npz"
    assert main(["simulate", "-N", "0", "-o", str(out)]) == 2
    assert "-N 0" in capsys.readouterr().err
    assert main(["simulate", "--nphotons", "-5", "-o", str(out)]) == 2
    assert main(["simulate", "-o", str(tmp_path)]) == 2
    assert not out.exists()


def test_inspect_reports_invalid_file_with_reason(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(
        bad,
        diff3d=np.ones((3, 4, 4), np.uint16),
        xcoords=np.zeros(3),
        ycoords=np.zeros(3),
        probeGuess=np.ones((4, 4)),
    )
    assert main(["inspect", str(bad)]) == 2
    text = capsys.readouterr().out
    assert "uint16" in text and "verdict: INVALID" in text and "sqrt" in text
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"nope")
    assert main(["inspect", str(junk)]) == 2
    assert "not a readable NPZ archive" in capsys.readouterr().out
    missing = tmp_path / "missing.npz"
    assert main(["inspect", str(missing)]) == 2
    assert "not found" in capsys.readouterr().err


def test_inspect_missing_key_and_pickled_metadata(tmp_path, capsys):
    f = tmp_path / "m.npz"
    np.savez(
        f,
        diff3d=np.ones((3, 4, 4), np.float32),
        xcoords=np.zeros(3),
        probeGuess=np.ones((4, 4)),
        _metadata=np.array({"nphotons": 1}, dtype=object),
    )
    assert main(["inspect", str(f)]) == 2
    text = capsys.readouterr().out
    assert "needs pickle" in text and "'ycoords'" in text and "verdict: INVALID" in text


def test_inspect_builtin(cache_dir, capsys):
    assert main(["inspect", "builtin:lines-64-small"]) == 0
    text = capsys.readouterr().out
    assert "(128, 64, 64)" in text and "verdict: valid" in text and "builtin:lines-64-small" in text
    assert main(["inspect", "builtin:nothing"]) == 2
    assert "available: builtin:lines-64" in capsys.readouterr().err
