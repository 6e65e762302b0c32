"""Upstream's ``loader.load``: a grouped dictionary to the model-ready container.

The container is the project's :class:`backends.data.PtychoData` (docs/data.md section 8):
``X``, ``Y``, ``coords_nominal``, ``local_offsets``, ``global_offsets``, ``probe``, ... as
upstream's ``PtychoDataContainer`` names them. Framework-free.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from backends.data.container import DEFAULT_NPHOTONS, PtychoData, train_test_split
from ptycho.raw_data import first_probe_mode

__all__ = ["PtychoDataContainer", "load"]

PtychoDataContainer = PtychoData


def load(
    cb: Callable[[], Any],
    probeGuess: Any,
    which: str | None = None,
    create_split: bool = False,
) -> PtychoData:
    """The container for the grouped dictionary ``cb()`` returns.

    With ``create_split``, ``cb()`` returns ``(grouped, train_frac)`` and ``which`` ('train'
    or 'test') picks the first ``int(G * train_frac)`` groups or the rest (docs/data.md 9).
    ``nphotons`` comes from ``ptycho.params.cfg`` (1e9 when unset); it only sets the
    informational ``norm_Y_I``.
    """
    from ptycho import params

    if create_split:
        grouped, train_frac = cb()
    else:
        grouped, train_frac = cb(), None
    nphotons = params.cfg.get("nphotons", None) or DEFAULT_NPHOTONS
    container = PtychoData.from_grouped(grouped, first_probe_mode(probeGuess), nphotons=nphotons)
    if train_frac is None:
        return container
    train, test = train_test_split(container, float(train_frac))
    if which == "train":
        return train
    if which == "test":
        return test
    raise ValueError(f"loader.load: which={which!r} with create_split; choose 'train' or 'test'")
