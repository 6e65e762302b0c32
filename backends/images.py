"""The shared writer of reconstructed amplitude and phase images (docs/persistence.md 4.2, 4.3).

One style for both backends, the reference TensorFlow one: an 8 x 8 inch figure per image
with a colour bar, grey for amplitude and ``viridis`` for phase. The PNGs are informational;
parity is checked on the arrays. Matplotlib's non-interactive Agg canvas is used directly, so
no display and no global backend switch are involved.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from backends.bundle.archive import atomic_write_bytes

__all__ = ["AMPLITUDE_PNG", "PHASE_PNG", "save_image", "save_outputs"]

AMPLITUDE_PNG = "reconstructed_amplitude.png"
PHASE_PNG = "reconstructed_phase.png"
FIGSIZE = (8, 8)


def _squeeze_2d(image: Any, name: str) -> np.ndarray:
    a = np.squeeze(np.asarray(image))
    if a.ndim != 2:
        raise ValueError(f"{name} must squeeze to a 2-D image, got shape {np.shape(image)}")
    if np.iscomplexobj(a):
        raise ValueError(
            f"{name} must be real (pass the amplitude or the phase, not the complex object)"
        )
    return a.astype(np.float64)


def save_image(image: Any, path: Path | str, *, cmap: str, title: str | None = None) -> Path:
    """Render one 2-D image with a colour bar to ``path`` (PNG), atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    data = _squeeze_2d(image, str(path))
    fig = Figure(figsize=FIGSIZE)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    im = ax.imshow(data, cmap=cmap)
    fig.colorbar(im, ax=ax)
    if title:
        ax.set_title(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return atomic_write_bytes(Path(path), buf.getvalue())


def save_outputs(amplitude: Any, phase: Any, output_dir: Path | str) -> list[Path]:
    """Write ``reconstructed_amplitude.png`` and ``reconstructed_phase.png`` into
    ``output_dir`` (always created). Like upstream, the images are written only when both
    arrays are present (not None); each is squeezed to 2-D. Returns the paths written."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if amplitude is None or phase is None:
        return []
    amp = _squeeze_2d(amplitude, "amplitude")
    ph = _squeeze_2d(phase, "phase")
    return [
        save_image(amp, out / AMPLITUDE_PNG, cmap="gray"),
        save_image(ph, out / PHASE_PNG, cmap="viridis"),
    ]
