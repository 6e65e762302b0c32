"""One error type per kind of file, each naming the file, the key, what is wrong and the fix.

Every class derives from :class:`UnsafeInputError`, itself a ``ValueError``, so callers that
already treat ``ValueError`` as bad input (the ``parity`` command exits 2 on it) keep working.
A third-party exception behind the problem is kept as ``__cause__``; its text never replaces
the message.
"""

from __future__ import annotations

import os


class UnsafeInputError(ValueError):
    """A file that cannot be read as what it claims to be, or that breaks a safety rule.

    Attributes: ``path`` (the file), ``key`` (member, dataset, field or ``""``), ``problem``
    (what is wrong) and ``fix`` (what to do about it).
    """

    kind = "file"

    def __init__(
        self, path: str | os.PathLike[str], problem: str, *, key: str = "", fix: str = ""
    ) -> None:
        self.path = str(path)
        self.key = key
        self.problem = problem
        self.fix = fix
        super().__init__(self._message())

    def _message(self) -> str:
        where = f"{self.kind} {self.path}"
        if self.key:
            where += f", {self.key!r}"
        text = f"{where}: {self.problem}"
        return f"{text}; {self.fix}" if self.fix else text


class NpzFileError(UnsafeInputError):
    """A data file (NPZ) that is damaged, unsafe or inconsistent."""

    kind = "data file"


class ConfigFileError(UnsafeInputError):
    """A configuration, scenario, tolerance or ledger file (TOML, YAML, JSON)."""

    kind = "config file"


class BundleFileError(UnsafeInputError):
    """A model bundle (``wts.h5.zip``) or one of its members."""

    kind = "bundle"


class WeightsFileError(UnsafeInputError):
    """A weights payload inside a bundle: Keras HDF5, safetensors or a PyTorch state dict."""

    kind = "weights file"


class TraceFileError(UnsafeInputError):
    """A recorded parity trace (HDF5)."""

    kind = "trace"


class ReportFileError(UnsafeInputError):
    """A report (``report.json``) or another harness output read back."""

    kind = "report"
