"""The bench's figures of one parity run: the command as run, its ratio to the import floor
and its stages (the measurement itself replaced by a canned one)."""

from __future__ import annotations

import pytest

from parity import bench


def test_scenario_figures_name_the_mode_and_divide_by_the_floor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[list[str]] = []
    stderr = (
        "2026-12-08T01:00:00Z parity: ok tensorflow: backend (3.0 s)\n"
        "2026-12-08T01:00:01Z parity: ok pytorch: backend (1.5 s)\n"
    )

    def canned(argv: list[str]) -> dict[str, float | int | str]:
        seen.append(argv)
        return {"wall": 12.0, "peak_kib": 2048, "code": 0, "stderr": stderr}

    monkeypatch.setattr(bench, "measure_command", canned)
    figures = {name: (value, unit) for name, value, unit in
               bench.scenario_figures("smoke", "/out", 6.0, ("--in-process",))}  # fmt: skip
    assert seen[0][-5:] == ["run", "smoke", "--in-process", "--out", "/out"]
    assert figures["parity run smoke --in-process: / import floor"] == (2.0, "x")
    assert figures["parity run smoke --in-process: peak RSS"] == (2.0, "MiB")
    assert figures["parity run smoke --in-process: tensorflow: backend"] == (
        3.0,
        "s, 25% of the run",
    )
    default = bench.scenario_figures("smoke", "/out", 4.0)
    assert default[1] == ("parity run smoke: / import floor", 3.0, "x")
    assert "--in-process" not in seen[1]
