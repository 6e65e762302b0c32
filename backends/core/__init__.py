"""Rules both backends share, written once and free of any framework.

Each backend keeps only its kernels (tensor operations in its own framework and layout); every
number, rule and file convention the two must agree on lives here: physics constants
(:mod:`~backends.core.constants`), loss weights (:mod:`~backends.core.losses`), the model's
input and probe (:mod:`~backends.core.inputs`), inference batching
(:mod:`~backends.core.inference`), the bundle's params snapshot
(:mod:`~backends.core.snapshot`), atomic file writing (:mod:`~backends.core.files`), the OpenMP
wait policy (:mod:`~backends.core.threads`), shared names (:mod:`~backends.core.vocabulary`),
the kernel hook (:mod:`~backends.core.hooks`), training batches
(:mod:`~backends.core.batches`), the end of an epoch (:mod:`~backends.core.epochs`), a training
run's bookkeeping (:mod:`~backends.core.training_run`), checkpoints
(:mod:`~backends.core.checkpoint`) and logs (:mod:`~backends.core.training_log`), data-parallel
workers (:mod:`~backends.core.parallel`) and devices (:mod:`~backends.core.devices`). Importing
this package imports NumPy only.
"""
