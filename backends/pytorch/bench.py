"""Speed figures of the PyTorch backend (``nox -s bench``).

Training steps per second (one Keras-Adam step on a batch of 16 groups, the per-step work the
Lightning module does: forward, the loss of physics.md 10, backward, optimiser update, with
deterministic algorithms on) and inference diffraction patterns per second
(``diffraction_to_obj`` on batches of 16 groups of gridsize² patterns) at N=64, gridsize 1 and 2,
on synthetic inputs, after a warm-up, and the first call of each on a freshly built model; plus
the same training step driven by the Lightning
``Trainer`` (one epoch of several batches), to show its per-step overhead. Row names match the
TensorFlow backend's, so ``python -m benchmarks`` prints the ratio.

Threads: torch's intra-op pool is set to the CPUs available to the process
(:func:`backends.pytorch.adapter.configure_threads`, override with
``$PTYCHOPINN_TORCH_THREADS``); the value in force is reported as a row.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from backends.benchmarking import (
    BATCH,
    N,
    first_call_row,
    infer_row,
    print_rows,
    synthetic_batch,
    timed,
    train_row,
)


def run(
    train_steps: int = 5, infer_batches: int = 10, warmup: int = 2, lightning_batches: int = 6
) -> list[tuple[str, float, str]]:
    """``[(name, value, unit), ...]`` for gridsize 1 and 2."""
    import torch

    import backends.physics as physics
    from backends.config import ModelConfig, TrainingConfig
    from backends.pytorch.adapter import configure_threads
    from backends.pytorch.model import build_model
    from backends.pytorch.train import (
        KerasAdam,
        LossWeights,
        TensorBatch,
        deterministic,
        fit,
        to_tensor_batch,
        train_step,
    )

    threads = configure_threads()
    results: list[tuple[str, float, str]] = [("torch intra-op threads", float(threads), "threads")]
    scale = physics.intensity_scale(1e9, N)
    for gridsize in (1, 2):
        cfg = ModelConfig(N=N, gridsize=gridsize)
        model = build_model(cfg, physics.default_probe(N), scale, seed=0)
        batch = to_tensor_batch(synthetic_batch(gridsize), scale)
        weights = LossWeights.from_config(TrainingConfig(model=cfg))
        opt = KerasAdam(model.parameters(), lr=1e-3)

        def step(model=model, batch=batch, weights=weights, opt=opt) -> None:
            train_step(model, opt, batch, weights)

        with deterministic():
            model.train()
            results.append(first_call_row("train", gridsize, timed(step)))
            seconds = timed(step, train_steps, warmup)
        results.append(train_row(gridsize, train_steps, seconds))

        data = TensorBatch(
            batch.x.repeat(lightning_batches, 1, 1, 1),
            batch.positions.repeat(lightning_batches, 1, 1, 1),
            None,
        )
        stamps: list[float] = []
        with tempfile.TemporaryDirectory() as tmp:
            config = TrainingConfig(model=cfg, batch_size=BATCH, nepochs=1, output_dir=Path(tmp))

            def stamp(step: int, terms: Mapping[str, float], stamps: list[float] = stamps) -> None:
                stamps.append(time.perf_counter())

            fit(model, data, None, config, epochs=1, logger=False, on_step=stamp)
        # steady state: from the end of the first step to the end of the last
        results.append(
            train_row(gridsize, len(stamps) - 1, stamps[-1] - stamps[0], kind="train-lightning")
        )

        def predict(model=model, batch=batch) -> None:
            model.predict_object(batch.x, batch.positions)

        model.eval()
        with torch.inference_mode():
            results.append(first_call_row("infer", gridsize, timed(predict)))
            seconds = timed(predict, infer_batches, warmup)
        results.append(infer_row(gridsize, infer_batches, seconds))
    return results


if __name__ == "__main__":
    print_rows(run())
