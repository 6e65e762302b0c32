"""The training batches of an epoch (backends.core.batches)."""

from __future__ import annotations

import numpy as np
import pytest

from backends.core.batches import epoch_batches
from backends.training import epoch_permutation


@pytest.mark.parametrize(("n", "batch_size"), [(23, 8), (16, 4), (3, 5), (0, 2)])
def test_epoch_batches_cut_the_epoch_permutation_in_order(n: int, batch_size: int) -> None:
    for epoch in range(3):
        batches = epoch_batches(n, batch_size, epoch, seed=11)
        sizes = [len(b) for b in batches]
        assert sizes == [batch_size] * (n // batch_size) + (
            [n % batch_size] if n % batch_size else []
        )
        joined = np.concatenate(batches) if batches else np.zeros(0, np.int64)
        np.testing.assert_array_equal(joined, epoch_permutation(n, epoch, 11))


def test_epochs_and_seeds_give_different_orders() -> None:
    first = np.concatenate(epoch_batches(40, 8, 0, seed=1))
    assert not np.array_equal(first, np.concatenate(epoch_batches(40, 8, 1, seed=1)))
    assert not np.array_equal(first, np.concatenate(epoch_batches(40, 8, 0, seed=2)))
    np.testing.assert_array_equal(np.sort(first), np.arange(40))
