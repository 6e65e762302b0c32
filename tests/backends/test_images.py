"""The shared PNG writer (docs/persistence.md 4.2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backends.images import AMPLITUDE_PNG, PHASE_PNG, save_outputs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_writes_both_images_8x8_inches(tmp_path: Path) -> None:
    import matplotlib

    amp = np.random.default_rng(0).random((1, 32, 32, 1))
    phase = np.linspace(-np.pi, np.pi, 32 * 32).reshape(32, 32, 1)
    out = tmp_path / "new" / "dir"
    written = save_outputs(amp, phase, out)
    assert written == [out / AMPLITUDE_PNG, out / PHASE_PNG]
    dpi = matplotlib.rcParams["savefig.dpi"]
    dpi = matplotlib.rcParams["figure.dpi"] if dpi == "figure" else dpi
    for p in written:
        assert _png_size(p) == (round(8 * dpi), round(8 * dpi))
    assert sorted(x.name for x in out.iterdir()) == [AMPLITUDE_PNG, PHASE_PNG]  # no temp files


def test_colour_maps_differ(tmp_path: Path) -> None:
    """The same data drawn grey (amplitude) and viridis (phase) gives different images."""
    img = np.linspace(0, 1, 256).reshape(16, 16)
    save_outputs(img, img, tmp_path)
    assert (tmp_path / AMPLITUDE_PNG).read_bytes() != (tmp_path / PHASE_PNG).read_bytes()


@pytest.mark.parametrize("which", ["amplitude", "phase"])
def test_nothing_written_unless_both_present(tmp_path: Path, which: str) -> None:
    img = np.ones((8, 8))
    amp, phase = (None, img) if which == "amplitude" else (img, None)
    assert save_outputs(amp, phase, tmp_path / "o") == []
    assert (tmp_path / "o").is_dir()  # the directory is always created
    assert list((tmp_path / "o").iterdir()) == []


def test_rejects_non_2d_and_complex(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="2-D"):
        save_outputs(np.ones((2, 8, 8)), np.ones((8, 8)), tmp_path)
    with pytest.raises(ValueError, match="real"):
        save_outputs(np.ones((8, 8), complex), np.ones((8, 8)), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_deterministic(tmp_path: Path) -> None:
    img = np.random.default_rng(1).random((16, 16))
    save_outputs(img, img, tmp_path / "a")
    save_outputs(img, img, tmp_path / "b")
    for name in (AMPLITUDE_PNG, PHASE_PNG):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
