"""``parity infer``: reconstruct a dataset with a trained bundle.

Writes ``reconstruction.npz`` (stitched complex object, amplitude, phase, per-group patches,
global offsets), ``reconstructed_amplitude.png`` / ``reconstructed_phase.png`` and, when the
data has ground truth, ``metrics.json``.

``--model`` may also name an upstream PtychoPINN bundle: it is imported first (read as data,
docs/upstream.md) into ``<output-dir>/imported-model/wts.h5.zip`` for the chosen backend
(default tensorflow when installed, else pytorch), and that bundle is used. Upstream's option
spellings (``--model_path`` or ``--model_prefix``, ``--test_data``, ``--output_dir`` or
``--output_path``, ``--n_images``) are accepted.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from parity.commands._common import add_device_option, reporter
from parity.commands.train import check_backend_available
from parity.options import check_output_root, positive_int

IMPORTED_DIR = "imported-model"
HELP = "Reconstruct a dataset with a trained bundle; writes reconstruction.npz and the images."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument(
        "--backend",
        metavar="NAME",
        help="backend to load with (default: the one recorded in the bundle; a different one "
        "is refused, see parity convert-bundle)",
    )
    parser.add_argument(
        "--model",
        "--model_path",
        "--model_prefix",
        required=True,
        type=Path,
        metavar="DIR",
        help="the bundle directory (holding wts.h5.zip) or the archive itself",
    )
    parser.add_argument(
        "--data",
        "--test_data",
        "--test_data_file",
        required=True,
        metavar="DATA",
        help="NPZ path or builtin:NAME[:test]",
    )
    parser.add_argument(
        "--output-dir", "--output_dir", "--output_path", required=True, type=Path, metavar="DIR"
    )
    parser.add_argument(
        "--n-groups",
        "--n_groups",
        "--n_images",
        type=positive_int,
        metavar="N",
        help="groups to reconstruct (default: all)",
    )
    parser.add_argument(
        "--seed", type=int, help="grouping seed (default: 45, as upstream inference)"
    )
    parser.add_argument(
        "--batch-size",
        "--batch_size",
        type=positive_int,
        default=64,
        metavar="N",
        help="prediction batch (default 64)",
    )
    parser.add_argument("--no-progress", "--quiet", action="store_true", help="no progress display")
    add_device_option(parser, "auto", "auto, as Lightning and Keras do")


def run(args: argparse.Namespace) -> int:
    """Reconstruct and report where the outputs went."""
    from backends import workflows
    from backends.bundle import read_bundle
    from backends.bundle.upstream import import_legacy_bundle, is_upstream_bundle, reference_backend

    check_output_root(args.output_dir, "--output-dir")
    backend = args.backend
    model = args.model
    if is_upstream_bundle(model):
        backend = backend or reference_backend("pytorch")
        check_backend_available(backend)
        model = import_legacy_bundle(model, args.output_dir / IMPORTED_DIR, backend).parent
        print(f"imported        upstream bundle {args.model} -> {model}")
    elif backend is None:
        backend = read_bundle(model, expected_backend=None).backend
    check_backend_available(backend)
    with reporter(args.no_progress, "infer") as progress:
        outcome = workflows.infer(
            backend,
            model,
            args.data,
            args.output_dir,
            n_groups=args.n_groups,
            seed=args.seed,
            batch_size=args.batch_size,
            monitor=progress,
            device=args.device,
        )
    print(f"backend         {backend}")
    print(f"groups          {outcome.groups}")
    print(f"reconstruction  {outcome.reconstruction}")
    for image in outcome.images:
        print(f"image           {image}")
    if outcome.metrics is not None:
        amp, ph = outcome.metrics["amplitude"], outcome.metrics["phase"]
        print(
            f"metrics         amplitude PSNR {amp['psnr']:.2f} dB, SSIM {amp['ssim']:.4f}; "
            f"phase MAE {ph['mae']:.4f} rad ({outcome.metrics_path})"
        )
    return 0
