"""Short OpenMP spinning when torch was loaded before the wait policy could be set.

PyTorch's bundled OpenMP runtime (GNU libgomp) fixes its wait policy when it loads. Without a
policy, idle workers spin for about 300,000 iterations (milliseconds) after every parallel
region, which on a busy machine takes CPU from the thread that has work to do. The runtime
switches to a spin of 100 iterations (near passive) whenever it manages more threads than the
process has CPUs. :func:`limit_spinning` makes that so by starting one idle thread that owns an
OpenMP pool of its own and then waits forever; this costs one sleeping pool, changes no result,
and is done only when :data:`backends.OPENMP_WAIT_POLICY` says the runtime kept its default
(``PTYCHOPINN_OPENMP_SPIN_LIMIT=0`` turns it off, to measure the difference).
"""

from __future__ import annotations

import os
import threading

import torch

import backends
from backends.core.threads import RUNTIME_DEFAULT

SWITCH_ENV = "PTYCHOPINN_OPENMP_SPIN_LIMIT"
_holder: threading.Thread | None = None
_lock = threading.Lock()


def _own_a_pool(ready: threading.Event) -> None:
    # an element-wise op and a reduction over more than one grain: both enter a parallel region
    (torch.ones(1 << 20) * 2.0).sum()
    ready.set()
    threading.Event().wait()


def limit_spinning() -> bool:
    """Start the idle pool once if the runtime kept its default policy; True if started now."""
    global _holder
    if backends.OPENMP_WAIT_POLICY != RUNTIME_DEFAULT or torch.get_num_threads() < 2:
        return False
    if os.environ.get(SWITCH_ENV, "1") == "0":
        return False
    with _lock:
        if _holder is not None:
            return False
        ready = threading.Event()
        _holder = threading.Thread(
            target=_own_a_pool, args=(ready,), name="openmp-idle-pool", daemon=True
        )
        _holder.start()
        ready.wait()
    return True


def spin_limited() -> bool:
    """Whether this process holds the idle pool of :func:`limit_spinning`."""
    return _holder is not None
