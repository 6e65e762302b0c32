"""``parity train``: train a model with one backend and write the bundle, history and images.

Every field of a training config file can also be given on the command line (``--nphotons
1e6``, ``--probe-big false``, ``--N 128``; or ``--set KEY=VALUE``); the command line wins over
``--config FILE``, and named options win over ``--set``. Upstream PtychoPINN's spellings
(``--train_data_file``, ``--n_groups``, ...) and YAML files (model fields at the top level or
under ``model:``) are accepted as they are (docs/upstream.md).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from parity.commands._common import add_device_option, reporter
from parity.errors import InputError
from parity.options import OutputClaim, check_config
from parity.upstream_config import upstream_yaml_config

HELP = "Train a model with one backend; writes wts.h5.zip, history.json and the images."

# config field -> the option spellings users reach for (first is shown in help)
_ALIASES = {
    "backend": ("--backend",),
    "train_data_file": ("--train-data", "--train-data-file"),
    "test_data_file": ("--test-data", "--test-data-file"),
    "output_dir": ("--output-dir",),
    "nepochs": ("--epochs", "--nepochs"),
    "n_groups": ("--n-groups",),
    "batch_size": ("--batch-size",),
    "gridsize": ("--gridsize",),
}
_DEST = "cfg:"
_METAVARS = {
    "backend": "NAME",
    "train_data_file": "DATA",
    "test_data_file": "DATA",
    "output_dir": "DIR",
    "nepochs": "N",
    "n_groups": "N",
    "batch_size": "N",
    "gridsize": "N",
}


def _option_names(name: str) -> tuple[str, ...]:
    """The project's spellings, then upstream's (``--field_name``, the dataclass name)."""
    names = _ALIASES.get(name, (f"--{name.replace('_', '-')}",))
    upstream = f"--{name}"
    return names if upstream in names else (*names, upstream)


def add_config_options(
    parser: argparse.ArgumentParser, cls: type, *, skip: tuple[str, ...] = ()
) -> None:
    """One option per field of ``cls`` (top level) and of ModelConfig, parsed by field type
    when applied (:func:`config_overrides`)."""
    from backends.config import ModelConfig
    from backends.config import fields as config_fields

    group = parser.add_argument_group("config fields (override --config)")
    top = {k: v for k, v in config_fields.field_specs(cls).items() if k != "model"}
    for owner, specs in (("", top), ("model.", config_fields.field_specs(ModelConfig))):
        for name, spec in specs.items():
            if name in skip:
                continue
            choices = f" ({'|'.join(spec.choices)})" if spec.choices else ""
            group.add_argument(
                *_option_names(name),
                dest=f"{_DEST}{owner}{name}",
                default=None,
                metavar=_METAVARS.get(name, spec.kind.upper()),
                help=f"{owner}{name}: {spec.kind}{choices}",
            )


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """``--set`` assignments, then the per-field options (later wins)."""
    overrides: dict[str, Any] = {}
    for item in getattr(args, "assignments", None) or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set {item!r}: expected KEY=VALUE, e.g. --set nphotons=1e6")
        overrides[key.strip()] = value
    for dest, value in vars(args).items():
        if dest.startswith(_DEST) and value is not None:
            overrides[dest[len(_DEST) :]] = value
    return overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--config", type=Path, help="training config file (.toml, .yaml, .json)")
    parser.add_argument(
        "--seed", type=int, default=None, help="seed of weight init and shuffling (default 0)"
    )
    parser.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field (repeatable; model fields by name or model.NAME)",
    )
    parser.add_argument("--no-progress", "--quiet", action="store_true", help="no progress display")
    parser.add_argument(
        "--do_stitching",
        action="store_true",
        help="accepted as upstream spells it: training always stitches the test data (else the "
        "training data) into reconstructed_amplitude.png / reconstructed_phase.png",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the results in an --output-dir that already holds some",
    )
    parser.add_argument(
        "--exec",
        dest="execution",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="execution setting (repeatable): learning_rate, gradient_clip_val, "
        "accum_steps, deterministic, early_stop_patience, enable_progress_bar, "
        "logger_backend=csv|tensorboard|none (both backends; default csv), "
        "inference_batch_size, devices, accelerator=auto|cpu|gpu (as --device; TensorFlow "
        "refuses deterministic=false)",
    )
    parser.add_argument(
        "--logger",
        choices=("csv", "tensorboard", "none"),
        default=None,
        help="training log under OUTPUT_DIR/logs/<backend>/version_N: metrics.csv, TensorBoard "
        "event files or none (default csv; shorthand for --exec logger_backend=...)",
    )
    parser.add_argument(
        "--devices",
        type=_positive,
        default=None,
        metavar="N",
        help="data-parallel training on N workers (PyTorch: Lightning DDP, N processes; "
        "TensorFlow: MirroredStrategy over N devices); the same as --exec devices=N",
    )
    add_device_option(
        parser, "auto", "auto, as Lightning and Keras do; the same as --exec accelerator=..."
    )
    parser.add_argument(
        "--execution-config",
        type=Path,
        metavar="FILE",
        help="execution settings from a .toml/.yaml/.json file (--exec wins)",
    )
    group = parser.add_argument_group("checkpoints (docs/training.md)")
    group.add_argument(
        "--checkpoint-every",
        type=_non_negative,
        default=1,
        metavar="N",
        help="save the training state into OUTPUT_DIR/checkpoint/ every N epochs and after the "
        "last (default 1; 0 saves none)",
    )
    start = group.add_mutually_exclusive_group()
    start.add_argument(
        "--resume",
        type=Path,
        metavar="DIR",
        help="continue the interrupted run in DIR from its checkpoint (its config, seed and "
        "settings; only --epochs may change)",
    )
    start.add_argument(
        "--init-from",
        type=Path,
        metavar="BUNDLE",
        help="start from the weights of a bundle (either backend's) with a fresh optimiser",
    )
    add_config_options(parser, _training_config_class())


def _whole_number(minimum: int, meaning: str) -> Callable[[str], int]:
    """argparse type: a whole number >= ``minimum`` (``meaning``: what the minimum does)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be >= {minimum} ({meaning})")
        return value

    return parse


_positive = _whole_number(1, "1 trains in this process")
_non_negative = _whole_number(0, "0 saves no checkpoints")


def _training_config_class() -> type:
    from backends.config import TrainingConfig

    return TrainingConfig


def check_backend_available(name: str) -> None:
    """InputError when the framework of backend ``name`` is not installed."""
    import backends

    if name not in backends.BACKEND_NAMES:
        raise InputError(
            f"unknown backend {name!r}; choose one of: {', '.join(backends.BACKEND_NAMES)}"
        )
    if name not in backends.available():
        raise InputError(
            f"the {name!r} backend is not available: its framework is not installed "
            f"(install the '{name}' extra of ptychopinn-parity)"
        )


def build_config(args: argparse.Namespace) -> Any:
    """The training config: defaults, then ``--config``, then the command line."""
    from backends.config import ModelConfig, TrainingConfig
    from backends.config.io import apply_overrides, load_training_config

    if args.config is not None:
        if not args.config.is_file():
            raise InputError(f"config file not found: {args.config}")
        if args.config.suffix.lower() in (".yaml", ".yml"):
            config = upstream_yaml_config(args.config)
        else:
            config = load_training_config(args.config, validate=False)
    else:
        config = TrainingConfig(model=ModelConfig())
    return apply_overrides(config, config_overrides(args), from_text=True)


def execution_settings(args: argparse.Namespace) -> dict[str, Any]:
    """``--execution-config FILE`` then ``--exec KEY=VALUE`` (later wins), typed and checked."""
    from backends.config.execution import execution_values
    from backends.config.io import read_config_dict

    values: dict[str, Any] = {}
    sources = []
    if args.execution_config is not None:
        if not args.execution_config.is_file():
            raise InputError(f"execution config file not found: {args.execution_config}")
        values.update(read_config_dict(args.execution_config))
        sources.append(str(args.execution_config))
    for item in args.execution:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--exec {item!r}: expected KEY=VALUE, e.g. --exec learning_rate=5e-4")
        values[key.strip()] = value
    if args.execution:
        sources.append("--exec")
    if getattr(args, "devices", None) is not None:
        values["devices"] = str(args.devices)
        sources.append("--devices")
    if args.logger is not None:
        named = values.get("logger_backend")
        if named is not None and str(named).lower() != args.logger:
            raise InputError(
                f"--logger {args.logger} and logger_backend={named} disagree; give one of them"
            )
        values["logger_backend"] = args.logger
        sources.append("--logger")
    if not values:
        return {}
    try:
        return execution_values(values, source=" and ".join(sources), from_text=True)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _resumed_run(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """``--resume DIR``: the checkpoint's run, continued to ``--epochs`` (default its own)."""
    from backends import workflows
    from backends.config.io import apply_overrides

    overrides = config_overrides(args)
    changed = sorted(k for k in overrides if k not in ("nepochs", "output_dir"))
    refused = [
        name
        for name, given in (
            ("--config", args.config is not None),
            ("--seed", args.seed is not None),
            (
                "--exec/--execution-config/--devices/--logger",
                bool(
                    args.execution
                    or args.execution_config
                    or args.devices is not None
                    or args.logger
                ),
            ),
            *((f"config field {k}", True) for k in changed),
        )
        if given
    ]
    if refused:
        raise InputError(
            f"--resume continues a run with the config, seed and settings it was started with; "
            f"drop {', '.join(refused)} (only --epochs may change)"
        )
    out = overrides.get("output_dir")
    if out is not None and Path(out).resolve() != args.resume.resolve():
        raise InputError(f"--resume {args.resume} writes into that directory; drop --output-dir")
    plan = workflows.resume_plan(args.resume)
    config: Any = plan.config
    if "nepochs" in overrides:
        config = apply_overrides(config, {"nepochs": overrides["nepochs"]}, from_text=True)
    return config, {"seed": plan.seed, "execution": plan.execution, "resume": plan.state}


def _new_run(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The config and the workflow's arguments of a run started from scratch (or a bundle)."""
    config = build_config(args)
    check_config(config)
    check_backend_available(config.backend)
    execution = execution_settings(args)
    if config.train_data_file is None:
        raise InputError("no training data: give --train-data DATA (a path or builtin:NAME)")
    seed = 0 if args.seed is None else args.seed
    return config, {"seed": seed, "execution": execution, "init_from": args.init_from}


def run(args: argparse.Namespace) -> int:
    """Train (or resume) and report where the outputs went."""
    from backends import workflows
    from backends.core.checkpoint import CHECKPOINT_DIR, STATE_JSON

    resuming = args.resume is not None
    config, extra = _resumed_run(args) if resuming else _new_run(args)
    check_backend_available(config.backend)
    out = Path(config.output_dir)
    checkpoint = f"{CHECKPOINT_DIR}/{STATE_JSON}"
    if not resuming and not args.overwrite and (out / checkpoint).is_file():
        raise InputError(
            f"--output-dir {out} holds the checkpoint of an earlier run; continue it with "
            f"--resume {out}, or pass --overwrite to start again"
        )
    with (
        OutputClaim(
            out,
            overwrite=args.overwrite or resuming,
            option="--resume" if resuming else "--output-dir",
            keep_if=checkpoint,
        ),
        reporter(args.no_progress, "train") as progress,
    ):
        outcome = workflows.train(
            config.backend,
            None,
            None,
            config,
            None,
            progress=False,
            monitor=progress,
            checkpoint_every=args.checkpoint_every,
            device=args.device,
            **extra,
        )
    _print_outcome(config.backend, outcome)
    return 0


def _print_outcome(backend: str, outcome: Any) -> None:
    print(f"backend      {backend}")
    print(f"epochs run   {outcome.epochs_run}")
    if outcome.final_loss is not None:
        print(f"final loss   {outcome.final_loss:.6g}")
    print(f"bundle       {outcome.bundle}")
    print(f"history      {outcome.history}")
    for image in outcome.images:
        print(f"image        {image}")
    if outcome.metrics is not None:
        amp, ph = outcome.metrics["amplitude"], outcome.metrics["phase"]
        print(
            f"metrics      amplitude PSNR {amp['psnr']:.2f} dB, SSIM {amp['ssim']:.4f}; "
            f"phase MAE {ph['mae']:.4f} rad ({outcome.metrics_path})"
        )
