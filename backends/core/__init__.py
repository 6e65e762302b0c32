"""Rules both backends share, written once and free of any framework.

Each backend keeps only its kernels (tensor operations in its own framework and layout); every
number, rule and file convention the two must agree on lives here: constants of the physics
(:mod:`~backends.core.constants`), loss weights (:mod:`~backends.core.losses`), the model's input
and probe preparation (:mod:`~backends.core.inputs`) and atomic file writing (:mod:`~backends.core.files`). Importing
this package imports NumPy only.
"""
