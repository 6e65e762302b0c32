"""OpenMP wait policy for PyTorch's thread pool, decided once for the whole process.

PyTorch's OpenMP runtime reads ``OMP_WAIT_POLICY`` once, when it is loaded with ``torch``;
there is no call that changes it afterwards. Passive waiting keeps idle workers off the CPU
between operators, which matters on a machine shared with other work (or with TensorFlow's own
threads). Importing :mod:`backends` (which every part of the project does first) sets the
policy unless the environment already chose one; :data:`backends.OPENMP_WAIT_POLICY` records
what the runtime actually uses. Where ``torch`` was loaded first, the PyTorch backend limits the
spinning another way (:mod:`backends.pytorch.openmp`), so throughput does not depend on the
import order.
"""

from __future__ import annotations

import os
import sys

POLICY_VARIABLE = "OMP_WAIT_POLICY"
PASSIVE = "PASSIVE"
RUNTIME_DEFAULT = "runtime default (torch was imported before backends)"


def apply_wait_policy() -> str:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless already set; return the policy OpenMP uses."""
    chosen = os.environ.get(POLICY_VARIABLE)
    if chosen:
        return chosen.upper()
    if "torch" in sys.modules:
        return RUNTIME_DEFAULT
    os.environ[POLICY_VARIABLE] = PASSIVE
    return PASSIVE
