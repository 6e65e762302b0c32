"""PyTorch backend: the PtychoPINN model of docs/model.md on torch and Lightning.

Tensors are channels-first inside (``(B, C, N, N)``); :mod:`backends.pytorch.adapter` converts to
and from the reference layout of :mod:`backends.base` at the boundary.

Importing this package before torch makes OpenMP worker threads wait passively
(``OMP_WAIT_POLICY=PASSIVE`` unless already set): torch's per-operator barriers otherwise spin,
which on a machine shared with other work (or with TensorFlow's own thread pool) costs up to 3x
in wall time; on an idle machine the difference is within noise. The setting only takes effect
if torch's OpenMP runtime has not been loaded yet.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
