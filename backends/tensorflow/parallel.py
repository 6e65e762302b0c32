"""The TensorFlow data-parallel worker: ``python -m backends.tensorflow.parallel JOB_DIR``.

:func:`backends.core.parallel.run_job` starts one such process. It splits the CPU into as many
logical devices as the job has workers (before TensorFlow initialises its devices, which is why
it runs in a process of its own), builds the model in the scope of a
``tf.distribute.MirroredStrategy`` over them and trains with the same loop as a one-worker run
(:func:`backends.tensorflow.train.fit`), each replica computing its shard of every global batch.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from backends.core import parallel


def _mirrored_strategy(workers: int) -> Any:
    """A ``MirroredStrategy`` over ``workers`` logical CPU devices (must run before anything
    initialises TensorFlow's devices)."""
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(workers)]
    )
    return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(workers)])


def run(directory: Path, rank: int = 0) -> None:
    """Work through the job in ``directory`` with all its replicas in this process (the only
    worker process: ``rank`` 0)."""
    if rank != 0:
        raise ValueError(f"rank={rank}: one TensorFlow process holds every replica (rank 0)")
    job = parallel.read_job(directory)
    strategy = _mirrored_strategy(job.workers)

    import tensorflow as tf

    from backends.tensorflow.adapter import BackendAdapter, _models
    from backends.tensorflow.train import deterministic, fit, train_steps

    config = job.training_config()
    backend = BackendAdapter()
    with strategy.scope():
        handle = backend.build(
            config.model, job.arrays["probe"], job.intensity_scale, weights=job.weights()
        )
        models = _models(handle)
        if job.mode == "steps":
            with deterministic():
                tf.random.set_seed(0)
                steps = train_steps(
                    models,
                    job.batches(),
                    config,
                    job.intensity_scale,
                    job.learning_rate,
                    strategy=strategy,
                )
            result = parallel.steps_result(steps.step_losses, steps.weights)
        else:
            from backends.config.execution import trainer_settings

            settings = trainer_settings(job.execution)
            result = fit(
                models,
                job.container(),
                config,
                job.intensity_scale,
                seed=job.seed,
                epochs=job.epochs,
                on_step=parallel.ProgressWriter(directory),
                checkpoint=job.checkpoint_hook(),
                resume=job.resume_state(directory),
                learning_rate=settings.learning_rate,
                early_stop_patience=settings.early_stop_patience,
                logger=settings.logger,
                strategy=strategy,
            )
    parallel.write_result(directory, result)


if __name__ == "__main__":
    run(Path(sys.argv[1]))
