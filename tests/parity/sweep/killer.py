"""A dataset factory that kills the worker process loading it, to test worker deaths.

``PARITY_TEST_KILL_DIR`` names a directory shared with the test. A scenario with
``nll_weight = 0.5`` kills its worker every time; any other kills it once (the first attempt
leaves a marker file), then loads the fake data.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from tests.parity import fakes


def die_once(scenario: Any, *args: Any, **kwargs: Any) -> Any:
    """Kill this process on the first call (per marker directory), or every call for cells at
    ``nll_weight = 0.5``; otherwise the fake data."""
    marker = Path(os.environ["PARITY_TEST_KILL_DIR"]) / f"died-{scenario.hash}"
    always = float(scenario.config.get("nll_weight", 1.0)) == 0.5
    if always or not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return fakes.make_data(scenario, *args, **kwargs)
