"""The bench's PyTorch / TensorFlow ratios: above 1 always means PyTorch is faster."""

from __future__ import annotations

import math

from benchmarks.__main__ import speed_ratios


def test_rates_and_durations_both_read_as_speed() -> None:
    rows = [
        ("tensorflow", "train", 2.0, "steps/s"),
        ("pytorch", "train", 3.0, "steps/s"),  # 1.5x the rate: faster
        ("tensorflow", "first train call", 3.0, "s"),
        ("pytorch", "first train call", 0.5, "s"),  # a sixth of the time: 6x faster
        ("pytorch", "threads", 2.0, "threads"),  # only one backend reports it
    ]
    ratios = dict(speed_ratios(rows))
    assert set(ratios) == {"train", "first train call"}
    assert math.isclose(ratios["train"], 1.5)
    assert math.isclose(ratios["first train call"], 6.0)
