"""Known divergences: known, exceeded, xpass, expired, unused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from parity import ledger
from parity.errors import InputError
from parity.findings import Finding

ENTRY = """
[[known]]
id = "PAR-7"
check = "forward.*"
tensor = "pred_*"
measured = 3e-5
tolerance = 5e-5
reason = "float32 FFT"
owner = "team"
expiry = {expiry}
"""


def _load(tmp_path: Path, expiry: str = "2999-01-01") -> list[ledger.Entry]:
    path = tmp_path / "ledger.toml"
    path.write_text(ENTRY.format(expiry=expiry))
    return ledger.load(path)


def _finding(verdict: str, measured: float, tensor: str = "pred_intensity") -> Finding:
    return Finding("forward.output", tensor, "m", measured, 1e-5, None, verdict, "evidence")


def test_failure_within_the_allowance_is_known(tmp_path: Path) -> None:
    out = ledger.apply([_finding("fail", 4e-5)], _load(tmp_path), "default", ["forward"])
    assert out[0].verdict == "known" and out[0].ledger_id == "PAR-7"
    assert "float32 FFT" in out[0].evidence


def test_failure_beyond_the_allowance_still_fails(tmp_path: Path) -> None:
    out = ledger.apply([_finding("fail", 6e-5)], _load(tmp_path), "default", ["forward"])
    assert out[0].verdict == "fail" and "exceeds the ledger allowance" in out[0].evidence


def test_pass_of_a_listed_divergence_is_xpass(tmp_path: Path) -> None:
    out = ledger.apply([_finding("pass", 1e-6)], _load(tmp_path), "default", ["forward"])
    assert out[0].verdict == "xpass" and "remove ledger entry PAR-7" in out[0].evidence


def test_expired_entry_fails(tmp_path: Path) -> None:
    entries = _load(tmp_path, "2020-01-01")
    out = ledger.apply(
        [_finding("fail", 4e-5)], entries, "default", ["forward"], today=dt.date(2021, 1, 1)
    )
    assert out[0].verdict == "fail" and "expired on 2020-01-01" in out[0].evidence


def test_unused_live_entry_is_reported(tmp_path: Path) -> None:
    out = ledger.apply(
        [_finding("pass", 0.0, tensor="trimmed_obj")], _load(tmp_path), "default", ["forward"]
    )
    assert [f.verdict for f in out] == ["pass", "xpass"]
    assert out[1].tensor == "PAR-7"
    assert ledger.apply([], _load(tmp_path), "default", ["ops"]) == []  # family not run


def test_packaged_ledger_loads() -> None:
    assert isinstance(ledger.load(), list)


def test_malformed_entries_are_refused_with_the_key(tmp_path: Path) -> None:
    path = tmp_path / "l.toml"
    path.write_text(
        '[[known]]\nid = "X"\ncheck = "a"\ntensor = "b"\nmeasured = 1\ntolerance = 2\n'
        'reason = "r"\nowner = "o"\nexpiry = 2030-01-01\nownr = "typo"\n'
    )
    with pytest.raises(InputError, match="did you mean 'owner'"):
        ledger.load(path)
    path.write_text('[[known]]\nid = "X"\n')
    with pytest.raises(InputError, match="missing required key"):
        ledger.load(path)


def _load_for_n128(tmp_path: Path) -> list[ledger.Entry]:
    path = tmp_path / "ledger.toml"
    path.write_text(ENTRY.format(expiry="2999-01-01") + "model = { N = 128 }\n")
    return ledger.load(path)


def test_entry_with_model_fields_covers_only_runs_with_them(tmp_path: Path) -> None:
    entries = _load_for_n128(tmp_path)
    n128, n64 = {"N": 128, "gridsize": 1}, {"N": 64, "gridsize": 1}
    hit = ledger.apply([_finding("fail", 4e-5)], entries, "smoke", ["forward"], model=n128)
    assert hit[0].verdict == "known"
    miss = ledger.apply([_finding("fail", 4e-5)], entries, "smoke", ["forward"], model=n64)
    assert [f.verdict for f in miss] == ["fail"]  # no unused-entry xpass for another model
    unknown = ledger.apply([_finding("fail", 4e-5)], entries, "smoke", ["forward"])
    assert [f.verdict for f in unknown] == ["fail"]
    unused = ledger.apply([], entries, "smoke", ["forward"], model=n128)
    assert [f.verdict for f in unused] == ["xpass"]


def test_model_fields_of_a_scenario() -> None:
    from parity import scenario as sc

    scen = sc.from_dict(
        {"name": "x", "dataset": "builtin:lines-128", "config": {"model": {"N": 128}}}, source="<t>"
    )
    fields = ledger.model_fields(scen)
    assert fields is not None and fields["N"] == 128
    assert ledger.model_fields(object()) is None


def test_model_restriction_must_be_a_table(tmp_path: Path) -> None:
    path = tmp_path / "ledger.toml"
    path.write_text(ENTRY.format(expiry="2999-01-01") + 'model = "N=128"\n')
    with pytest.raises(InputError, match="model must be a table"):
        ledger.load(path)
