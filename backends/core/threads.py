"""OpenMP wait policy for PyTorch's thread pool, decided once for the whole process.

PyTorch's OpenMP runtime reads ``OMP_WAIT_POLICY`` once, when it is loaded with ``torch``;
there is no call that changes it afterwards. Passive waiting keeps idle workers off the CPU
between operators, which matters on a machine shared with other work (or with TensorFlow's own
threads). Importing :mod:`backends` (which every part of the project does first) sets the
policy unless the environment already chose one; :data:`backends.OPENMP_WAIT_POLICY` records
what the runtime actually uses. Where ``torch`` was loaded first, the PyTorch backend limits the
spinning another way (:mod:`backends.pytorch.openmp`), so throughput does not depend on the
import order. :func:`cpu_cores` counts the cores a process may run on (PyTorch's default thread
count, and whether ``parity run`` records two backends side by side).
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


def cpu_cores() -> int:
    """The CPU cores this process may run on (its affinity where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
