"""Which execution settings (docs/config.md (e)) the trainers honour, and how.

Both backends apply the wired settings; the TensorFlow loop refuses the few in
:data:`TENSORFLOW_REJECTED` with the reason.

Only the settings a user names take effect: every other knob keeps the reference behaviour of
model.md 9 (Keras Adam at 1e-3, early stopping after 3 epochs without improvement, CSV log), so
that naming one setting never changes another. ``ExecutionConfig``'s own defaults (early-stop
patience 100, checkpointing on) describe upstream's torch runtime and are not applied silently.

Each field is either **wired** into the trainer or **rejected** with the reason, never recorded
and ignored (config.md (g), defect 12):

* wired: ``devices`` (data-parallel workers, :mod:`backends.core.parallel`; not with gradient
  clipping or accumulation), ``learning_rate`` (initial Adam rate; the plateau schedule still
  halves it),
  ``gradient_clip_val`` (gradient norm clipping), ``accum_steps`` (gradient accumulation),
  ``deterministic``, ``early_stop_patience``, ``enable_progress_bar``, ``logger_backend``
  ('csv', 'tensorboard' or None: :mod:`backends.core.training_log`), ``inference_batch_size``
  (the reconstruction after training), and ``accelerator`` 'auto'/'cpu'/'gpu'/'cuda', which
  means the same as ``--device`` (:func:`backends.core.devices.requested_device` reconciles the
  two);
* rejected unless left at their defaults: the other accelerators, ``strategy``, data-loader
  workers (``num_workers``, ``pin_memory``, ``persistent_workers``, ``prefetch_factor``),
  schedulers other than 'Default', checkpointing, ``middle_trim`` and ``pad_eval``.

Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backends.config import fields as config_fields
from backends.config.torch_native import ExecutionConfig

__all__ = [
    "REJECTED",
    "TENSORFLOW_REJECTED",
    "WIRED",
    "TrainerSettings",
    "check_backend_settings",
    "execution_values",
    "trainer_settings",
]

WIRED: dict[str, str] = {
    "learning_rate": "learning_rate",
    "gradient_clip_val": "gradient_clip_val",
    "accum_steps": "accum_steps",
    "deterministic": "deterministic",
    "early_stop_patience": "early_stop_patience",
    "enable_progress_bar": "progress_bar",
    "logger_backend": "logger",
    "inference_batch_size": "inference_batch_size",
    "devices": "devices",
}
"""Execution field -> the :class:`TrainerSettings` field it sets. ``accelerator`` and
``logger_backend`` also appear in :data:`REJECTED`, which limits their values."""

_DEVICES_ONLY = (
    "the backends compute on the CPU or a CUDA GPU only; use 'auto', 'cpu', 'gpu' or 'cuda' "
    "(the same as --device)"
)
_NO_LOADER = (
    "training batches are slices of tensors already in memory, so there is no data loader "
    "to parallelise"
)
_NO_CHECKPOINTS = (
    "Lightning checkpoints are pickles, which this project never writes or reads; training "
    "saves its own checkpoint every epoch (parity train --checkpoint-every N, --resume DIR)"
)

REJECTED: dict[str, tuple[tuple[Any, ...], str]] = {
    "accelerator": (("auto", "cpu", "gpu", "cuda"), _DEVICES_ONLY),
    "strategy": (
        ("auto",),
        "data-parallel training (devices > 1) always uses DDP on PyTorch and MirroredStrategy on "
        "TensorFlow; no other strategy is implemented",
    ),
    "num_workers": ((0,), _NO_LOADER),
    "pin_memory": ((False,), _NO_LOADER),
    "persistent_workers": ((False,), _NO_LOADER),
    "prefetch_factor": ((None,), _NO_LOADER),
    "scheduler": (
        ("Default",),
        "the learning rate follows the Keras plateau schedule of model.md 9 "
        "(factor 0.5 after 2 epochs without improvement); other schedules are not implemented",
    ),
    "enable_checkpointing": ((False,), _NO_CHECKPOINTS),
    "checkpoint_save_top_k": ((), _NO_CHECKPOINTS),
    "checkpoint_monitor_metric": ((), _NO_CHECKPOINTS),
    "checkpoint_mode": ((), _NO_CHECKPOINTS),
    "middle_trim": ((0,), "not implemented (upstream records it without using it)"),
    "pad_eval": ((False,), "not implemented (upstream records it without using it)"),
    "logger_backend": (
        ("csv", "tensorboard", None),
        "no MLflow logger is implemented; choose csv, tensorboard or none (no log)",
    ),
}
"""Field -> (values accepted, why others are refused). An empty tuple refuses any value."""


TENSORFLOW_REJECTED: dict[str, tuple[tuple[Any, ...], str]] = {
    "deterministic": (
        (True,),
        "TensorFlow's op determinism is process-wide and cannot be switched off once enabled",
    ),
}
"""Settings both trainers know but the TensorFlow loop honours only at these values; every
other wired setting (:data:`WIRED`) is applied by both backends."""


def check_backend_settings(backend: str, given: Mapping[str, Any]) -> None:
    """ValueError naming the first setting of ``given`` that ``backend``'s trainer refuses
    (also a TensorBoard logger whose package is missing)."""
    if "logger_backend" in given:
        from backends.core.training_log import require_logger

        require_logger(given["logger_backend"], backend)
    if backend != "tensorflow":
        return
    for key, value in given.items():
        accepted, reason = TENSORFLOW_REJECTED.get(key, (None, ""))
        if accepted is not None and value not in accepted:
            raise ValueError(
                f"execution setting {key}={value!r} is not supported by the TensorFlow "
                f"trainer: {reason}"
            )


@dataclass(frozen=True)
class TrainerSettings:
    """What the trainers read; the defaults are the reference behaviour (model.md 9)."""

    learning_rate: float = 1e-3
    gradient_clip_val: float | None = None
    accum_steps: int = 1
    deterministic: bool = True
    early_stop_patience: int = 3
    progress_bar: bool | None = None
    """None: follow the caller's ``progress`` flag."""
    logger: str | None = "csv"
    inference_batch_size: int | None = None
    devices: int = 1
    """Data-parallel workers (:mod:`backends.core.parallel`)."""


def execution_values(
    values: Mapping[str, Any] | None, *, source: str = "execution settings", from_text: bool = False
) -> dict[str, Any]:
    """The named execution fields, typed and validated.

    Each value is checked by its field's type (``from_text``: parsed from command-line text)
    and by :class:`ExecutionConfig`'s validation; an unknown field, an invalid value or a
    setting the trainer refuses (:data:`REJECTED`) raises ValueError naming ``source`` and the
    field.
    """
    if not values:
        return {}
    specs = config_fields.field_specs(ExecutionConfig)
    where = f"{source}: "
    given: dict[str, Any] = {}
    for key, value in values.items():
        if key not in specs:
            raise ValueError(config_fields.unknown_key_message(key, specs, where=where))
        given[key] = config_fields.coerce_value(specs[key], value, where=where, from_text=from_text)
    try:
        normalised = ExecutionConfig(**given)
    except ValueError as exc:
        raise ValueError(f"{where}{exc}") from None
    given = {key: getattr(normalised, key) for key in given}  # e.g. logger 'none' -> None
    for key, value in given.items():
        accepted, reason = REJECTED.get(key, (None, ""))
        if accepted is not None and value not in accepted:
            raise ValueError(
                f"{where}{key}={value!r} is not supported by the PyTorch trainer: {reason}"
            )
    _check_data_parallel(given, where)
    return given


_NOT_DATA_PARALLEL = {
    "gradient_clip_val": None,
    "accum_steps": 1,
}
"""Settings that data-parallel training (devices > 1) refuses on both backends, and the value
each must keep: they act on the gradient summed over all workers, which TensorFlow's
MirroredStrategy update never exposes to the training loop."""


def _check_data_parallel(given: Mapping[str, Any], where: str) -> None:
    if int(given.get("devices", 1)) <= 1:
        return
    for key, neutral in _NOT_DATA_PARALLEL.items():
        if key in given and given[key] != neutral:
            raise ValueError(
                f"{where}{key}={given[key]!r} cannot be combined with devices="
                f"{given['devices']}: gradient clipping and accumulation act on the gradient "
                "summed over all workers, which TensorFlow's MirroredStrategy update does not "
                "expose, so both backends refuse them in data-parallel training; train with "
                "devices=1 or leave the setting out"
            )


def trainer_settings(
    values: Mapping[str, Any] | None, *, source: str = "execution settings", from_text: bool = False
) -> TrainerSettings:
    """The trainer settings for the execution fields named in ``values``
    (:func:`execution_values`); fields not named keep the reference behaviour."""
    given = execution_values(values, source=source, from_text=from_text)
    return TrainerSettings(**{WIRED[k]: v for k, v in given.items() if k in WIRED})
