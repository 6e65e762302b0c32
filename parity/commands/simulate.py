"""``parity simulate``: write a simulated scan in the NPZ contract (docs/data.md section 10)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from parity.errors import InputError

HELP = "simulate a ptychographic scan (lines or grf object) and write it as an NPZ file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``parity simulate``."""
    parser.add_argument(
        "--object",
        choices=("lines", "grf"),
        default="lines",
        help="object generator (default lines)",
    )
    parser.add_argument(
        "-N", dest="N", type=int, default=64, help="diffraction pattern side (default 64)"
    )
    parser.add_argument(
        "--object-size", type=int, default=None, help="object side in pixels (default int(3.5*N))"
    )
    parser.add_argument(
        "--gridsize",
        type=int,
        default=1,
        help="recorded in the metadata only; grouping happens at load time (default 1)",
    )
    parser.add_argument(
        "--n-images",
        type=int,
        default=500,
        help="number of scan positions / patterns (default 500)",
    )
    parser.add_argument(
        "--nphotons", type=float, default=1e9, help="mean photons per pattern (default 1e9)"
    )
    parser.add_argument("--seed", type=int, default=1, help="object seed (default 1)")
    parser.add_argument(
        "--positions-seed", type=int, default=42, help="scan position seed (default 42)"
    )
    parser.add_argument(
        "--poisson-seed", type=int, default=1001, help="Poisson noise seed (default 1001)"
    )
    parser.add_argument(
        "--scan",
        choices=("random", "raster"),
        default="random",
        help="random positions or a jittered raster (default random)",
    )
    parser.add_argument(
        "--set-phi", action="store_true", help="give the object the legacy tanh phase"
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="output NPZ path")


def run(args: argparse.Namespace) -> int:
    """Simulate and write atomically; exit 0, or raise an input error (exit 2)."""
    from backends.data import save_npz, simulate_dataset

    if args.N < 2:
        raise InputError(
            f"-N {args.N} is not allowed; use a pattern side >= 2 (the model supports 64, 128, 256)"
        )
    if args.n_images < 1:
        raise InputError(f"--n-images {args.n_images} is not allowed; it must be >= 1")
    if not (math.isfinite(args.nphotons) and args.nphotons > 0):
        raise InputError(f"--nphotons {args.nphotons} is not allowed; it must be > 0")
    if args.gridsize < 1:
        raise InputError(f"--gridsize {args.gridsize} is not allowed; it must be >= 1")
    output: Path = args.output
    if output.exists() and output.is_dir():
        raise InputError(
            f"--output {output} is a directory; give a file name such as {output / 'scan.npz'}"
        )
    raw = simulate_dataset(
        object_kind=args.object,
        N=args.N,
        object_size=args.object_size,
        n_images=args.n_images,
        nphotons=args.nphotons,
        object_seed=args.seed,
        positions_seed=args.positions_seed,
        poisson_seed=args.poisson_seed,
        scan=args.scan,
        set_phi=args.set_phi,
        gridsize=args.gridsize,
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    save_npz(raw, output)
    assert raw.objectGuess is not None
    H, W = raw.objectGuess.shape
    print(
        f"wrote {output}: {raw.n_patterns} patterns {raw.N}x{raw.N}, {args.object} object "
        f"{H}x{W}, nphotons {args.nphotons:g}, {args.scan} scan"
    )
    return 0
