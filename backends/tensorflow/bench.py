"""Speed figures of the TensorFlow backend (``nox -s bench``).

Training steps per second (one Keras-Adam step on a batch of 16 groups) and inference
diffraction patterns per second (``diffraction_to_obj`` on batches of 16 groups, a group holding
gridsize**2 patterns) at N=64, gridsize 1 and 2, on synthetic inputs, after a warm-up; and the
first call of each on a freshly built model (where the train step and the predictor are traced).
"""

from __future__ import annotations

from backends.benchmarking import (
    N,
    first_call_row,
    infer_row,
    print_rows,
    synthetic_batch,
    timed,
    train_row,
)


def run(
    train_steps: int = 5, infer_batches: int = 10, warmup: int = 2
) -> list[tuple[str, float, str]]:
    """``[(name, value, unit), ...]`` for gridsize 1 and 2."""
    from backends.tensorflow.train import deterministic

    with deterministic():
        return _rows(train_steps, infer_batches, warmup)


def _rows(train_steps: int, infer_batches: int, warmup: int) -> list[tuple[str, float, str]]:
    """The rows of :func:`run`, with deterministic kernels on."""
    import tensorflow as tf

    import backends.physics as physics
    from backends.config import ModelConfig, TrainingConfig
    from backends.tensorflow.infer import Predictor
    from backends.tensorflow.model import build_model
    from backends.tensorflow.train import Trainer, scaled_input

    tf.random.set_seed(0)
    results: list[tuple[str, float, str]] = []
    scale = physics.intensity_scale(1e9, N)
    for gridsize in (1, 2):
        cfg = ModelConfig(N=N, gridsize=gridsize)
        models = build_model(cfg, physics.default_probe(N), scale, seed=0)
        batch = synthetic_batch(gridsize)
        trainer = Trainer(models, TrainingConfig(model=cfg), scale)
        predictor = Predictor(models)
        x = scaled_input(batch.X, scale)

        def step(trainer=trainer, batch=batch) -> None:
            trainer.step(batch)

        def predict(predictor=predictor, x=x, batch=batch) -> None:
            predictor(x, batch.positions)

        results.append(first_call_row("train", gridsize, timed(step)))
        seconds = timed(step, train_steps, warmup)
        results.append(train_row(gridsize, train_steps, seconds))
        results.append(first_call_row("infer", gridsize, timed(predict)))
        seconds = timed(predict, infer_batches, warmup)
        results.append(infer_row(gridsize, infer_batches, seconds))
    return results


if __name__ == "__main__":
    print_rows(run())
