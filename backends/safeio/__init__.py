"""The hardened reading layer: every file from outside passes through here before use.

- :mod:`~backends.safeio.files`: regular files only (no FIFOs, devices, directories), bounded;
- :mod:`~backends.safeio.zipcheck`: zip members checked (names, duplicates, links, methods,
  sizes, ratios) before a byte is decompressed, and read in memory only;
- :mod:`~backends.safeio.hdf5`: HDF5 opened with external storage, virtual datasets, external
  and soft links refused and every dataset's size bounded;
- :mod:`~backends.safeio.structured`: JSON, TOML, YAML with size, depth and alias bounds, plus
  structural type checks;
- :mod:`~backends.safeio.errors`: one error type per file kind (all ``ValueError``).

NumPy only; h5py and PyYAML are imported when their readers run.
"""

from __future__ import annotations

from backends.safeio.errors import (
    BundleFileError,
    ConfigFileError,
    NpzFileError,
    ReportFileError,
    TraceFileError,
    UnsafeInputError,
    WeightsFileError,
)
from backends.safeio.files import check_regular_file, read_file_bytes, read_file_text
from backends.safeio.hdf5 import check_hdf5, open_hdf5
from backends.safeio.structured import (
    check_depth,
    expect,
    expect_finite,
    parse_json,
    parse_toml,
    parse_yaml,
    read_json_file,
    read_toml_file,
)
from backends.safeio.zipcheck import ZipLimits, check_members, open_zip, read_member

__all__ = [
    "BundleFileError",
    "ConfigFileError",
    "NpzFileError",
    "ReportFileError",
    "TraceFileError",
    "UnsafeInputError",
    "WeightsFileError",
    "ZipLimits",
    "check_depth",
    "check_hdf5",
    "check_members",
    "check_regular_file",
    "expect",
    "expect_finite",
    "open_hdf5",
    "open_zip",
    "parse_json",
    "parse_toml",
    "parse_yaml",
    "read_file_bytes",
    "read_file_text",
    "read_json_file",
    "read_member",
    "read_toml_file",
]
