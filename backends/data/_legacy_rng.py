"""Many ``RandomState.permutation(L)`` draws at once, bit-identical to calling it in a loop.

The legacy ``RandomState`` stream is frozen by NumPy's compatibility policy: ``permutation(L)``
shuffles ``arange(L)`` by Fisher-Yates, for ``i = L-1 .. 1`` swapping entry ``i`` with
``j = random_interval(i)``, which draws raw 32-bit MT19937 outputs masked to the smallest
``2^b - 1 >= i`` until one is ``<= i`` (rejection sampling). The number of raw outputs a row
consumes is therefore random, which serialises a naive loop; here the raw outputs are drawn
in one block, every row's start position is found by pointer doubling over the "where does
the next row start" map, and the swaps are applied to all rows together. The generator is
then advanced by exactly the number of outputs consumed. Tests compare against the loop.
"""

from __future__ import annotations

import numpy as np

_ROWS_PER_BLOCK = 50_000
_MARGIN = 1.1  # raw outputs drawn per block: expected need * margin + slack
_SLACK = 64


def _mask(i: int) -> int:
    m = i
    for shift in (1, 2, 4, 8, 16):
        m |= m >> shift
    return m


def _mt_state(rng: np.random.RandomState) -> dict | None:
    state = rng.get_state(legacy=False)
    if not isinstance(state, dict) or state.get("bit_generator") != "MT19937":
        return None
    return state


def _bitgen(state: dict) -> np.random.MT19937:
    bg = np.random.MT19937()
    bg.state = {"bit_generator": "MT19937", "state": state["state"]}
    return bg


def _block(rng: np.random.RandomState, state: dict, rows: int, L: int) -> np.ndarray:
    steps = list(range(L - 1, 0, -1))
    masks = [_mask(i) for i in steps]
    expected = sum((m + 1) / (i + 1) for i, m in zip(steps, masks))
    B = max(1, int(rows * expected * _MARGIN) + _SLACK)
    while True:
        raw = _bitgen(state).random_raw(B)
        positions = np.arange(B + 1, dtype=np.int64)
        # next_accept[s][p]: first p' >= p whose raw value is accepted by step s (B: none).
        next_accept = []
        for i, m in zip(steps, masks):
            candidates = np.where((raw & m) <= i, positions[:-1], B)
            nxt = np.minimum.accumulate(candidates[::-1])[::-1]
            next_accept.append(np.append(nxt, B))
        row_end = positions.copy()  # where the next row starts, given where this one starts
        for nxt in next_accept:
            row_end = np.minimum(nxt[row_end] + 1, B)
        starts = np.zeros(rows, dtype=np.int64)
        index = np.arange(rows)
        power, bit = row_end, 0
        while (1 << bit) <= rows:
            chosen = ((index >> bit) & 1).astype(bool)
            starts[chosen] = power[starts[chosen]]
            power = power[power]
            bit += 1
        p = starts
        draws = []
        for m, nxt in zip(masks, next_accept):
            accepted = nxt[p]
            if accepted.size and int(accepted.max()) >= B:
                break
            draws.append((raw[accepted] & m).astype(np.int64))
            p = accepted + 1
        else:
            consumed = int(p[-1]) if rows else 0
            break
        B *= 2  # the block ran out (very unlikely): retry with a larger one
    out = np.tile(np.arange(L, dtype=np.int64), (rows, 1))
    row_index = np.arange(rows)
    for i, j in zip(steps, draws):
        picked = out[row_index, j]
        out[row_index, j] = out[:, i]
        out[:, i] = picked
    advanced = _bitgen(state)
    advanced.random_raw(consumed)
    rng.set_state(
        {
            "bit_generator": "MT19937",
            "state": advanced.state["state"],
            "has_gauss": state["has_gauss"],
            "gauss": state["gauss"],
        }
    )
    return out


def permutations(rng: np.random.RandomState, rows: int, L: int) -> np.ndarray:
    """``np.stack([rng.permutation(L) for _ in range(rows)])`` with the same effect on ``rng``."""
    if rows == 0:
        return np.zeros((0, L), dtype=np.int64)
    if L <= 1 or _mt_state(rng) is None:
        return np.stack([rng.permutation(L) for _ in range(rows)]).astype(np.int64)
    blocks = []
    for start in range(0, rows, _ROWS_PER_BLOCK):
        state = _mt_state(rng)
        assert state is not None
        blocks.append(_block(rng, state, min(_ROWS_PER_BLOCK, rows - start), L))
    return np.concatenate(blocks)
