"""Built-in simulated datasets (docs/data.md 10.4), generated once and cached.

``builtin:<name>`` is the training file, ``builtin:<name>:test`` the test file. Files live in
``$PTYCHOPINN_CACHE_DIR`` (default ``$XDG_CACHE_HOME/ptychopinn-parity`` or
``~/.cache/ptychopinn-parity``); generation is deterministic, written atomically and guarded
by a file lock so that concurrent first uses produce one complete file.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from backends.data._geometry import defocused_probe
from backends.data.npz import RawData, save_npz
from backends.data.objects import phase_object
from backends.data.simulate import simulate_dataset, simulate_scan

PREFIX = "builtin:"
CACHE_ENV = "PTYCHOPINN_CACHE_DIR"
RECIPE_VERSION = 1
SPLITS = ("train", "test")
SEEDS = {
    "train": {"object_seed": 1, "positions_seed": 42, "poisson_seed": 1001},
    "test": {"object_seed": 2, "positions_seed": 43, "poisson_seed": 1002},
}


PHASE_RANGE = 1.5
"""Half-range in radians of the phase objects of ``lines-phase-*`` (phase in [-1.5, 1.5])."""
DEFOCUS = math.pi
"""Defocus phase in radians of the ``lines-phase-*`` probe at radius N/4."""


class UnknownDatasetError(ValueError):
    """A ``builtin:`` name that is not one of :data:`BUILTINS`."""


@dataclass(frozen=True)
class Recipe:
    """One built-in dataset: a ``lines`` object of side ``object_size`` scanned at random
    positions with the default probe (data.md 10.4).

    With ``max_phase`` > 0 the object also carries the structured phase of
    :func:`backends.data.objects.phase_object` (range ``[-max_phase, max_phase]`` radians) and
    the probe the defocus phase of :func:`backends.data._geometry.defocused_probe`
    (``probe_edge_phase`` radians at radius N/4); scan, scale and noise are those of data.md
    10.3.
    """

    name: str
    N: int
    object_size: int
    n_images: int
    nphotons: float = 1e9
    max_phase: float = 0.0
    probe_edge_phase: float = 0.0

    def simulate(self, split: str) -> RawData:
        """Generate the ``split`` ("train" or "test") file's contents."""
        seeds = SEEDS[split]
        if self.max_phase > 0:
            return self._with_builtin(self._simulate_phase(seeds), split)
        raw = simulate_dataset(
            object_kind="lines",
            N=self.N,
            object_size=self.object_size,
            n_images=self.n_images,
            nphotons=self.nphotons,
            object_seed=seeds["object_seed"],
            positions_seed=seeds["positions_seed"],
            poisson_seed=seeds["poisson_seed"],
        )
        return self._with_builtin(raw, split)

    def _simulate_phase(self, seeds: dict[str, int]) -> RawData:
        obj = phase_object(self.object_size, seeds["object_seed"], self.max_phase)
        probe = defocused_probe(self.N, self.probe_edge_phase)
        return simulate_scan(
            obj,
            probe,
            n_images=self.n_images,
            nphotons=self.nphotons,
            positions_seed=seeds["positions_seed"],
            poisson_seed=seeds["poisson_seed"],
            metadata={
                "object": {
                    "kind": "lines+phase",
                    "size": self.object_size,
                    "max_phase": self.max_phase,
                    "phase_seed": seeds["object_seed"] + 1000,
                },
                "probe": {"kind": "defocused", "edge_phase": self.probe_edge_phase},
                "seeds": {"object_seed": seeds["object_seed"]},
                "gridsize": 1,
            },
        )

    def _with_builtin(self, raw: RawData, split: str) -> RawData:
        assert raw.metadata is not None
        raw.metadata["builtin"] = {
            "name": self.name,
            "split": split,
            "recipe_version": RECIPE_VERSION,
        }
        return raw


BUILTINS: dict[str, Recipe] = {
    "lines-64": Recipe("lines-64", 64, int(3.5 * 64), 500),
    "lines-128": Recipe("lines-128", 128, int(3.5 * 128), 500),
    "lines-256": Recipe("lines-256", 256, int(3.5 * 256), 500),
    "lines-64-small": Recipe("lines-64-small", 64, int(3.5 * 64), 128),
    "lines-phase-64": Recipe(
        "lines-phase-64", 64, int(3.5 * 64), 500, max_phase=PHASE_RANGE, probe_edge_phase=DEFOCUS
    ),
    "lines-phase-128": Recipe(
        "lines-phase-128", 128, int(3.5 * 128), 500, max_phase=PHASE_RANGE, probe_edge_phase=DEFOCUS
    ),
}


def cache_dir() -> Path:
    """Where built-in files are kept (created on demand)."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "ptychopinn-parity"


def parse_builtin(spec: str) -> tuple[str, str]:
    """``"builtin:NAME[:train|:test]"`` -> ``(NAME, split)``; unknown names raise."""
    rest = spec[len(PREFIX) :] if spec.startswith(PREFIX) else spec
    name, _, split = rest.partition(":")
    split = split or "train"
    if name not in BUILTINS:
        raise UnknownDatasetError(
            f"unknown built-in dataset {spec!r}; available: "
            + ", ".join(f"builtin:{n}" for n in BUILTINS)
            + " (append ':test' for the test file)"
        )
    if split not in SPLITS:
        raise UnknownDatasetError(
            f"unknown split {split!r} in {spec!r}; use builtin:{name} (train) or builtin:{name}:test"
        )
    return name, split


def builtin_path(name: str, split: str = "train") -> Path:
    """The cache path of a built-in file (whether or not it exists yet)."""
    return cache_dir() / f"{name}-{split}-v{RECIPE_VERSION}.npz"


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # no POSIX locks: the atomic rename still keeps files whole
        yield
        return
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def ensure_builtin(name: str, split: str = "train") -> Path:
    """Path of the built-in file, generating and caching it on first use."""
    path = builtin_path(name, split)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_name(path.name + ".lock")):
        if not path.is_file():
            save_npz(BUILTINS[name].simulate(split), path)
    return path


def resolve_data(spec: str | os.PathLike[str]) -> Path:
    """A data argument to a file path: ``builtin:NAME[:test]`` (generated and cached on first
    use) or an existing NPZ path."""
    text = os.fspath(spec)
    if text.startswith(PREFIX):
        return ensure_builtin(*parse_builtin(text))
    path = Path(text).expanduser()
    if path.is_dir():
        raise ValueError(f"data path {path} is a directory; give an NPZ file or builtin:<name>")
    if not path.exists():
        raise FileNotFoundError(
            f"data file not found: {path} (give an NPZ path or one of "
            + ", ".join(f"builtin:{n}" for n in BUILTINS)
            + ")"
        )
    return path
