"""The tolerance registry: ``parity/tolerances.toml`` by check and tensor kind.

Lookup for a check family ``F`` and a tensor kind ``K`` tries, in order: a scenario override for
the exact tensor (``"F:tensor"``), a scenario override or registry entry ``"F.K"``, then ``"F"``,
then ``"K"``, then ``"default"``. Every entry states what it is based on (``basis``).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from parity.errors import InputError, read_structured

DEFAULT_PATH = Path(__file__).with_name("tolerances.toml")
MODES = ("elementwise", "scaled", "exact")
_NUMERIC_FIELDS = {
    "rtol",
    "atol",
    "mode",
    "cyclic",
    "mask_below",
    "equal_nan",
    "mismatch_fraction",
    "basis",
}


@dataclass(frozen=True)
class Tolerance:
    """How close two tensors must be.

    ``elementwise``: ``|a - b| <= atol + rtol * |b|`` at every element (torch.testing).
    ``scaled``: ``|a - b| <= atol + rtol * max|b|`` (canvases, FFT outputs, gradients: quantities
    whose small elements carry only the rounding error of the large ones).
    ``exact``: bitwise equal. ``cyclic``: differences are wrapped to ``[-pi, pi)`` (phases).
    ``mask_below``: ignore elements whose reference magnitude (or the given weight) is below this
    fraction of its maximum (phase where the amplitude vanishes). ``mismatch_fraction``: the
    share of elements, over all tensors of a check, allowed outside the element tolerance (the
    training check: Adam steps on gradients at float32 noise level may flip sign).
    """

    rtol: float = 1.3e-6
    atol: float = 1e-5
    mode: str = "elementwise"
    cyclic: bool = False
    mask_below: float = 0.0
    equal_nan: bool = False
    mismatch_fraction: float = 0.0
    key: str = "default"
    basis: str = ""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(
                f"tolerance {self.key!r}: mode {self.mode!r} is not one of {', '.join(MODES)}"
            )
        for name in ("rtol", "atol", "mask_below", "mismatch_fraction"):
            value = getattr(self, name)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or not value >= 0 or (isinstance(value, float) and math.isinf(value)):
                raise InputError(
                    f"tolerance {self.key!r}: {name}={value!r} must be a finite number >= 0"
                )

    def describe(self) -> str:
        """Short text such as ``allclose(rtol=1.3e-06, atol=1e-05)``."""
        if self.mode == "exact":
            return "exact"
        kind = "allclose" if self.mode == "elementwise" else "scaled-allclose"
        extra = ", cyclic" if self.cyclic else ""
        return f"{kind}(rtol={self.rtol:.3g}, atol={self.atol:.3g}{extra})"


def _leaves(table: Mapping[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
    if scalars:
        out[prefix or "default"] = scalars
    for key, value in table.items():
        if isinstance(value, dict):
            out.update(_leaves(value, f"{prefix}.{key}" if prefix else key))
    return out


def _make(key: str, fields: Mapping[str, Any], source: str) -> Tolerance:
    unknown = set(fields) - _NUMERIC_FIELDS
    if unknown:
        bad = sorted(unknown)[0]
        close = difflib.get_close_matches(bad, sorted(_NUMERIC_FIELDS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(f"{source}: unknown tolerance field {bad!r} in [{key}]{hint}")
    return Tolerance(key=key, **dict(fields))


class Registry:
    """Tolerances by key, with lookup by check family and tensor kind."""

    def __init__(
        self,
        entries: Mapping[str, Tolerance],
        extra: Mapping[str, Any] | None = None,
        tensor_overrides: Mapping[str, Mapping[str, Any]] | None = None,
    ):
        self.entries = dict(entries)
        self.extra = dict(extra or {})
        self.tensor_overrides = {k: dict(v) for k, v in (tensor_overrides or {}).items()}
        if "default" not in self.entries:
            self.entries["default"] = Tolerance(basis="torch.testing float32 defaults")

    @classmethod
    def load(cls, path: Path | None = None) -> Registry:
        """Read a tolerances file (default: the packaged ``parity/tolerances.toml``)."""
        path = path or DEFAULT_PATH
        data = read_structured(Path(path), "tolerance file")
        extra = data.pop("convergence", {})
        entries = {k: _make(k, v, str(path)) for k, v in _leaves(data).items()}
        return cls(entries, {"convergence": extra})

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Any]], source: str) -> Registry:
        """A copy with scenario overrides: ``"F.K"``/``"F"``/``"K"`` keys replace fields of that
        entry (or of the default); ``"F:tensor"`` keys replace fields of whatever tolerance that
        tensor would otherwise get."""
        entries = dict(self.entries)
        tensors = dict(self.tensor_overrides)
        for key, fields in overrides.items():
            if not isinstance(fields, Mapping):
                raise InputError(f"{source}: tolerance override {key!r} must be a table")
            if set(fields) - _NUMERIC_FIELDS:
                _make(key, fields, source)  # raises, naming the closest field
            values: dict[str, Any] = dict(fields)
            values.setdefault("basis", f"scenario override ({source})")
            if ":" in key:
                replace(entries["default"], key=key, **values)  # validates the values
                tensors[key] = values
                continue
            base = entries.get(key) or entries["default"]
            entries[key] = replace(base, key=key, **values)
        return Registry(entries, self.extra, tensors)

    def lookup(self, family: str, kind: str = "default", tensor: str | None = None) -> Tolerance:
        """The tolerance for a tensor of ``kind`` in check ``family``."""
        found = self.entries["default"]
        for key in (f"{family}.{kind}", family, kind, "default"):
            if key in self.entries:
                found = self.entries[key]
                break
        if tensor is not None and f"{family}:{tensor}" in self.tensor_overrides:
            key = f"{family}:{tensor}"
            found = replace(found, key=key, **self.tensor_overrides[key])
        return found

    def convergence(self) -> dict[str, Any]:
        """The ``[convergence]`` table (alpha, margins per metric)."""
        return dict(self.extra.get("convergence", {}))
