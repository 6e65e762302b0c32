"""Findings: the unit of every check's output, and the findings table.

A finding says what was compared (``check``, ``tensor``), how (``metric``), what was measured
against what was allowed (``measured``, ``tolerance``, ``margin``), the ``verdict`` and a pointer
to the evidence (a torch.testing-style mismatch line, indices of the worst elements, a traceback).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

PASS, FAIL, KNOWN, XPASS, ERROR, SKIPPED = "pass", "fail", "known", "xpass", "error", "skipped"
VERDICTS = (PASS, FAIL, KNOWN, XPASS, ERROR, SKIPPED)
FAILING = (FAIL, ERROR)
"""Verdicts that make a run fail (exit code 1)."""

COLUMNS = (
    "check",
    "tensor",
    "backend",
    "metric",
    "measured",
    "tolerance",
    "margin",
    "verdict",
    "evidence",
    "ledger_id",
)


@dataclass
class Finding:
    """One comparison result.

    ``margin`` is the fraction of the tolerance left unused, ``(tolerance - measured) /
    tolerance``: 1 means an exact match, 0 means the limit, negative means exceeded (-9: ten times
    the allowed value). ``backend`` names the side a one-sided finding concerns (``"both"`` for a
    cross-backend comparison). ``details`` carries JSON-able data for the reports (histograms,
    worst indices); it is not part of the table.
    """

    check: str
    tensor: str
    metric: str
    measured: float | None
    tolerance: float | None
    margin: float | None
    verdict: str
    evidence: str = ""
    backend: str = "both"
    ledger_id: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {', '.join(VERDICTS)}")

    @property
    def family(self) -> str:
        """The check family (``forward`` for ``forward.activation``)."""
        return self.check.split(".", 1)[0]

    def row(self) -> dict[str, Any]:
        """The table row (no ``details``)."""
        return {k: getattr(self, k) for k in COLUMNS}

    def to_json(self) -> dict[str, Any]:
        """Everything, with non-finite numbers as strings (JSON has no inf/NaN)."""
        out = asdict(self)
        for key in ("measured", "tolerance", "margin"):
            out[key] = json_number(out[key])
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        """Inverse of :meth:`to_json`."""
        kwargs = dict(data)
        for key in ("measured", "tolerance", "margin"):
            kwargs[key] = number_from_json(kwargs.get(key))
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in kwargs.items() if k in known})


def json_number(value: float | None) -> float | str | None:
    """A float for JSON: inf and NaN become the strings ``"inf"``, ``"-inf"``, ``"nan"``."""
    if value is None:
        return None
    value = float(value)
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def number_from_json(value: Any) -> float | None:
    """Inverse of :func:`json_number`."""
    if value is None:
        return None
    return float(value)


def margin_of(measured: float | None, tolerance: float | None) -> float | None:
    """``(tolerance - measured) / tolerance``; 1.0 when both are 0, -inf when only tolerance is."""
    if measured is None or tolerance is None:
        return None
    if math.isnan(measured):
        return -math.inf
    if tolerance == 0:
        return 1.0 if measured == 0 else -math.inf
    return (tolerance - measured) / tolerance


def error_finding(check: str, tensor: str, message: str, backend: str = "both") -> Finding:
    """An ``error`` finding carrying a message or traceback as evidence."""
    return Finding(check, tensor, "error", None, None, None, ERROR, message, backend=backend)


def skipped_finding(check: str, tensor: str, reason: str, backend: str = "both") -> Finding:
    """A ``skipped`` finding saying why."""
    return Finding(check, tensor, "skipped", None, None, None, SKIPPED, reason, backend=backend)


def to_frame(findings: Iterable[Finding]) -> pd.DataFrame:
    """The findings table (one row per finding, columns :data:`COLUMNS`)."""
    import pandas as pd

    return pd.DataFrame([f.row() for f in findings], columns=list(COLUMNS))


def overall_verdict(findings: Sequence[Finding]) -> str:
    """``fail`` if any finding fails or errors, else ``pass``."""
    return FAIL if any(f.verdict in FAILING for f in findings) else PASS


def exit_code(findings: Sequence[Finding]) -> int:
    """0 when every finding passes, is known, xpassed or skipped; 1 otherwise."""
    return 1 if overall_verdict(findings) == FAIL else 0


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    """Number of findings per verdict (every verdict present, zeros included)."""
    out = dict.fromkeys(VERDICTS, 0)
    for f in findings:
        out[f.verdict] += 1
    return out
