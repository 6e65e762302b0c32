"""Known divergences (``parity/ledger.toml``) and how they change verdicts.

An entry names a check and a tensor (shell-style patterns), optionally a backend, a scenario and
model fields the run must have (``model = { N = 128 }``: also sweep cells of another scenario
name), the measured value when it was filed, the wider tolerance it is allowed, the reason, an owner and
an expiry date. Applied to findings:

- a failing finding that matches a live entry and stays within its tolerance becomes ``known``;
- one that exceeds the entry's tolerance stays ``fail`` (the divergence grew);
- a passing finding that matches becomes ``xpass``: the entry is no longer needed;
- after the expiry date a match is ``fail`` whatever the value: the entry must be renewed or fixed;
- a live entry that matches no finding of a check family that ran yields an ``xpass`` finding.
"""

from __future__ import annotations

import datetime as dt
import difflib
import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from parity.errors import InputError, read_structured
from parity.findings import FAIL, KNOWN, PASS, XPASS, Finding

DEFAULT_PATH = Path(__file__).with_name("ledger.toml")
REQUIRED = ("id", "check", "tensor", "measured", "tolerance", "reason", "owner", "expiry")
OPTIONAL = ("backend", "scenario", "model")


@dataclass(frozen=True)
class Entry:
    """One known divergence."""

    id: str
    check: str
    tensor: str
    measured: float
    tolerance: float
    reason: str
    owner: str
    expiry: dt.date
    backend: str = "*"
    scenario: str = "*"
    model: tuple[tuple[str, Any], ...] = ()

    def applies_to(self, scenario: str, model: Mapping[str, Any] | None = None) -> bool:
        """Whether the entry is for this scenario and model (``model``: the run's ModelConfig
        fields; an entry with model fields needs them to be known and equal)."""
        if not fnmatch.fnmatchcase(scenario, self.scenario):
            return False
        if self.model and model is None:
            return False
        return all(model is not None and model.get(k) == v for k, v in self.model)

    def matches(
        self, finding: Finding, scenario: str, model: Mapping[str, Any] | None = None
    ) -> bool:
        """Whether this entry covers ``finding`` in ``scenario`` (with ``model``)."""
        return (
            fnmatch.fnmatchcase(finding.check, self.check)
            and fnmatch.fnmatchcase(finding.tensor, self.tensor)
            and fnmatch.fnmatchcase(finding.backend, self.backend)
            and self.applies_to(scenario, model)
        )

    def expired(self, today: dt.date) -> bool:
        """True after the expiry date."""
        return today > self.expiry


def _entry(raw: dict[str, Any], where: str) -> Entry:
    unknown = set(raw) - set(REQUIRED) - set(OPTIONAL)
    if unknown:
        bad = sorted(unknown)[0]
        close = difflib.get_close_matches(bad, REQUIRED + OPTIONAL, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(f"{where}: unknown key {bad!r}{hint}")
    missing = [k for k in REQUIRED if k not in raw]
    if missing:
        raise InputError(f"{where}: missing required key(s) {', '.join(missing)}")
    expiry = raw["expiry"]
    if isinstance(expiry, str):
        try:
            expiry = dt.date.fromisoformat(expiry)
        except ValueError:
            raise InputError(f"{where}: expiry {expiry!r} is not a date (YYYY-MM-DD)") from None
    if isinstance(expiry, dt.datetime):
        expiry = expiry.date()
    if not isinstance(expiry, dt.date):
        raise InputError(f"{where}: expiry must be a date (YYYY-MM-DD)")
    for key in ("measured", "tolerance"):
        if isinstance(raw[key], bool) or not isinstance(raw[key], (int, float)):
            raise InputError(f"{where}: {key} must be a number, got {raw[key]!r}")
    model = raw.get("model", {})
    if not isinstance(model, dict) or not all(
        isinstance(v, (bool, int, float, str)) for v in model.values()
    ):
        raise InputError(
            f"{where}: model must be a table of ModelConfig fields, e.g. {{ N = 128 }}"
        )
    return Entry(
        id=str(raw["id"]),
        check=str(raw["check"]),
        tensor=str(raw["tensor"]),
        measured=float(raw["measured"]),
        tolerance=float(raw["tolerance"]),
        reason=str(raw["reason"]),
        owner=str(raw["owner"]),
        expiry=expiry,
        backend=str(raw.get("backend", "*")),
        scenario=str(raw.get("scenario", "*")),
        model=tuple(sorted((str(k), v) for k, v in model.items())),
    )


def load(path: Path | None = None) -> list[Entry]:
    """Read the ledger (default: the packaged ``parity/ledger.toml``)."""
    path = Path(path or DEFAULT_PATH)
    data = read_structured(path, "ledger file")
    extra = set(data) - {"known"}
    if extra:
        raise InputError(
            f"{path}: unknown top-level key {sorted(extra)[0]!r}; entries go in [[known]]"
        )
    entries = [
        _entry(raw, f"{path} [[known]] #{i + 1}") for i, raw in enumerate(data.get("known", []))
    ]
    seen: set[str] = set()
    for e in entries:
        if e.id in seen:
            raise InputError(f"{path}: duplicate ledger id {e.id!r}")
        seen.add(e.id)
    return entries


def model_fields(scenario: Any) -> dict[str, Any] | None:
    """The scenario's ModelConfig fields (for entries restricted to some), or None when it has
    no model configuration."""
    import dataclasses

    try:
        return dataclasses.asdict(scenario.model_config())
    except (AttributeError, TypeError, ValueError):
        return None


def apply(
    findings: Sequence[Finding],
    entries: Iterable[Entry],
    scenario: str,
    families_run: Iterable[str],
    today: dt.date | None = None,
    model: Mapping[str, Any] | None = None,
) -> list[Finding]:
    """Findings with ledger verdicts applied, plus ``xpass`` findings for unused entries.

    ``model``: the run's ModelConfig fields, for entries restricted to some of them."""
    today = today or dt.datetime.now(dt.UTC).date()
    entries = list(entries)
    used: set[str] = set()
    out: list[Finding] = []
    for f in findings:
        entry = next((e for e in entries if e.matches(f, scenario, model)), None)
        if entry is None or f.verdict not in (PASS, FAIL):
            out.append(f)
            continue
        used.add(entry.id)
        note = f"ledger {entry.id} ({entry.owner}, expires {entry.expiry}): {entry.reason}"
        if entry.expired(today):
            out.append(
                replace(
                    f,
                    verdict=FAIL,
                    ledger_id=entry.id,
                    evidence=f"ledger entry {entry.id} expired on {entry.expiry}; renew or fix. "
                    + f.evidence,
                )
            )
        elif f.verdict == PASS:
            out.append(
                replace(
                    f,
                    verdict=XPASS,
                    ledger_id=entry.id,
                    evidence=f"no longer diverges: remove ledger entry {entry.id}. " + f.evidence,
                )
            )
        elif f.measured is not None and f.measured <= entry.tolerance:
            out.append(
                replace(f, verdict=KNOWN, ledger_id=entry.id, evidence=f"{note}. {f.evidence}")
            )
        else:
            out.append(
                replace(
                    f,
                    ledger_id=entry.id,
                    evidence=f"exceeds the ledger allowance {entry.tolerance:.3g} of {entry.id} "
                    f"(filed at {entry.measured:.3g}). " + f.evidence,
                )
            )
    families = set(families_run)
    for e in entries:
        if e.id in used or not e.applies_to(scenario, model):
            continue
        if e.expired(today) or not any(
            fnmatch.fnmatchcase(fam, e.check.split(".", 1)[0]) for fam in families
        ):
            continue
        out.append(
            Finding(
                check="ledger",
                tensor=e.id,
                metric="ledger entry use",
                measured=None,
                tolerance=None,
                margin=None,
                verdict=XPASS,
                evidence=f"ledger entry {e.id} ({e.check} / {e.tensor}) matched no finding; "
                "remove or update it",
                ledger_id=e.id,
            )
        )
    return out
