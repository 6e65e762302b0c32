"""A PyTorch data-parallel worker: ``python -m backends.pytorch.parallel JOB_DIR RANK``.

:func:`backends.core.parallel.run_job` starts one such process per worker with the DDP
rendezvous in the environment; each builds the model from the job's weights and trains through
Lightning's DDP strategy (``gloo`` on the CPU), the same :func:`backends.pytorch.train.fit` a
one-worker run uses, on its shard of every global batch. Worker 0 writes the result.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from backends.core import parallel


def run(directory: Path, rank: int = 0) -> None:
    """Work through the job in ``directory`` as worker ``rank``."""
    from backends.core.losses import LossWeights
    from backends.pytorch.adapter import BackendAdapter, _module
    from backends.pytorch.train import fit, tensor_set, to_tensor_batch, train_steps

    torch.set_num_threads(parallel.worker_threads())
    job = parallel.read_job(directory)
    config = job.training_config()
    backend = BackendAdapter()
    handle = backend.build(
        config.model, job.arrays["probe"], job.intensity_scale, weights=job.weights()
    )
    module = _module(handle)
    if job.mode == "steps":
        batches = [to_tensor_batch(b, job.intensity_scale) for b in job.batches()]
        step_terms, _ = train_steps(
            module,
            batches,
            LossWeights.from_config(config),
            job.learning_rate,
            rank=rank,
            workers=job.workers,
        )
        result = parallel.steps_result(step_terms, backend.export_weights(handle))
    else:
        from backends.config.execution import trainer_settings
        from backends.data import validation_split

        settings = trainer_settings(job.execution)
        need_y = LossWeights.from_config(config).realspace > 0
        train_part, val_part = validation_split(job.container(), 0.05)
        tr = tensor_set(train_part, job.intensity_scale, need_y)
        va = None
        if val_part is not None and len(val_part):
            va = tensor_set(val_part, job.intensity_scale, need_y)
        result = fit(
            module,
            tr,
            va,
            config,
            seed=job.seed,
            epochs=job.epochs,
            on_step=parallel.ProgressWriter(directory) if rank == 0 else None,
            settings=settings,
            logger=rank == 0,
            checkpoint=job.checkpoint_hook(),
            resume=job.resume_state(directory),
            rank=rank,
            workers=job.workers,
        )
    if rank == 0:
        parallel.write_result(directory, result)


if __name__ == "__main__":
    run(Path(sys.argv[1]), int(sys.argv[2]))
