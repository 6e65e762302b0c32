"""Upstream's ``RawData`` over the project's NPZ contract and grouping (docs/data.md 1-8).

Differences from upstream, on purpose (docs/ptychodus.md): a probe with a leading mode axis
``(modes, N, N)`` (what ptychodus passes) is accepted and its first mode is used, with a
warning when there is more than one; arrays are validated with the project's errors instead
of bare assertions. Framework-free.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from backends.data.grouping import assemble, group
from backends.data.npz import RawData as _ProjectRawData
from backends.data.npz import save_npz
from backends.data.probe_modes import first_probe_mode

__all__ = ["RawData", "first_probe_mode"]

log = logging.getLogger(__name__)

INFERENCE_SEED = 45


class RawData:
    """One scan: coordinates (object pixels), diffraction amplitudes and the probe."""

    def __init__(
        self,
        xcoords: Any,
        ycoords: Any,
        xcoords_start: Any,
        ycoords_start: Any,
        diff3d: Any,
        probeGuess: Any,
        scan_index: Any,
        objectGuess: Any = None,
        Y: Any = None,
        norm_Y_I: Any = None,
        *,
        source: str | None = None,
    ) -> None:
        probe = first_probe_mode(probeGuess, f"{source}: probeGuess" if source else "probeGuess")
        self._raw = _ProjectRawData(
            xcoords=np.asarray(xcoords),
            ycoords=np.asarray(ycoords),
            xcoords_start=None if xcoords_start is None else np.asarray(xcoords_start),
            ycoords_start=None if ycoords_start is None else np.asarray(ycoords_start),
            diff3d=np.asarray(diff3d),
            probeGuess=probe,
            scan_index=None if scan_index is None else np.asarray(scan_index),
            objectGuess=None if objectGuess is None else np.asarray(objectGuess),
            Y=None if Y is None else np.asarray(Y),
            source=source,
        )
        self.norm_Y_I = norm_Y_I

    # ------------------------------------------------------------------ constructors
    @staticmethod
    def from_coords_without_pc(
        xcoords: Any,
        ycoords: Any,
        diff3d: Any,
        probeGuess: Any,
        scan_index: Any,
        objectGuess: Any = None,
    ) -> RawData:
        """A scan whose start coordinates are its coordinates."""
        return RawData(
            xcoords, ycoords, xcoords, ycoords, diff3d, probeGuess, scan_index, objectGuess
        )

    @staticmethod
    def from_file(train_data_file_path: str | os.PathLike[str]) -> RawData:
        """Read an NPZ of the data contract (a ptychodus export included: its
        ``bad_pixels`` key is ignored, its probe modes reduced to the first)."""
        path = os.fspath(train_data_file_path)
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        if "probeGuess" in arrays:
            arrays["probeGuess"] = first_probe_mode(arrays["probeGuess"], f"{path}: probeGuess")
        raw = _ProjectRawData.from_mapping(arrays, source=path)
        out = RawData.__new__(RawData)
        out._raw = raw
        out.norm_Y_I = None
        return out

    @staticmethod
    def from_files(train_path: str, test_path: str) -> tuple[RawData, RawData]:
        """Training and test scans."""
        return RawData.from_file(train_path), RawData.from_file(test_path)

    def to_file(self, file_path: str | os.PathLike[str]) -> None:
        """Write the scan as an NPZ of the data contract (atomically)."""
        save_npz(self._raw, file_path)

    # ------------------------------------------------------------------ arrays
    @property
    def project_raw(self) -> _ProjectRawData:
        """The validated :class:`backends.data.RawData` behind this scan."""
        return self._raw

    def __getattr__(self, name: str) -> Any:
        if name in (
            "xcoords",
            "ycoords",
            "xcoords_start",
            "ycoords_start",
            "diff3d",
            "probeGuess",
            "scan_index",
            "objectGuess",
            "Y",
        ):
            return getattr(self.__dict__["_raw"], name)
        raise AttributeError(name)

    def __len__(self) -> int:
        return len(self._raw)

    # ------------------------------------------------------------------ grouping
    def generate_grouped_data(
        self,
        N: int,
        K: int = 4,
        nsamples: int = 1,
        dataset_path: str | None = None,
        seed: int | None = None,
        sequential_sampling: bool = False,
        gridsize: int | None = None,
        enable_oversampling: bool = False,
        neighbor_pool_size: int | None = None,
    ) -> dict[str, Any]:
        """The grouped dictionary of docs/data.md section 8.

        gridsize 1: every pattern is its own group, in file order (what ``parity infer``
        groups when it keeps every pattern). gridsize > 1: ``nsamples`` groups per scan point
        (at least one), each of ``gridsize**2`` patterns drawn among the ``K`` nearest
        neighbours, on ``RandomState(seed or 45)``; more groups than points use the
        oversampling pool of section 4. ``gridsize`` None reads ``ptycho.params.cfg``.
        """
        del dataset_path  # upstream's cache file; grouping here is cheap and deterministic
        if gridsize is None:
            from ptycho import params

            gridsize = int(params.get("gridsize"))
        if int(N) != self._raw.N:
            raise ValueError(
                f"generate_grouped_data: N={N} but the diffraction patterns are "
                f"{self._raw.N}x{self._raw.N}; use the model's N"
            )
        C = int(gridsize) ** 2
        P = len(self._raw)
        if C == 1:
            return assemble(self._raw, np.arange(P, dtype=np.int64)[:, None])
        n_groups = max(1, int(nsamples)) * P
        rng = np.random.RandomState(INFERENCE_SEED if seed is None else seed)
        return group(
            self._raw,
            gridsize=int(gridsize),
            n_groups=n_groups,
            neighbor_count=int(K),
            rng=rng,
            sequential_sampling=sequential_sampling,
            enable_oversampling=enable_oversampling or n_groups > P,
            neighbor_pool_size=neighbor_pool_size,
        )


def load(path: str | os.PathLike[str]) -> RawData:
    """:meth:`RawData.from_file` (convenience)."""
    return RawData.from_file(path)
