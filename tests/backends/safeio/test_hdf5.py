"""HDF5 files (traces, Keras weights) never reach outside themselves."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from backends.safeio import TraceFileError, WeightsFileError, open_hdf5
from parity.trace import Trace, TraceError

SECRET = b"root:x:0:0:secret\n"


def _h5(path: Path, build: Callable[[Any], None]) -> Path:
    with h5py.File(path, "w") as f:
        f.attrs["format_version"] = "1.0"
        f.create_group("tensors")
        build(f)
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "passwd"
    path.parent.mkdir()
    path.write_bytes(SECRET)
    return path


def _external_raw(outside: Path) -> Callable[[Any], None]:
    def build(f: Any) -> None:
        f.create_dataset(
            "layers/enc1/vars/0", shape=(len(SECRET),), dtype="u1",
            external=[(str(outside), 0, len(SECRET))],
        )  # fmt: skip

    return build


def _virtual(outside_h5: Path) -> Callable[[Any], None]:
    def build(f: Any) -> None:
        layout = h5py.VirtualLayout(shape=(4,), dtype="f8")
        layout[:] = h5py.VirtualSource(str(outside_h5), "data", shape=(4,))
        f.create_virtual_dataset("tensors/virtual", layout)

    return build


def _external_link(outside_h5: Path) -> Callable[[Any], None]:
    def build(f: Any) -> None:
        f["tensors/linked"] = h5py.ExternalLink(str(outside_h5), "/data")

    return build


def _soft_loop(f: Any) -> None:
    f["tensors/a"] = h5py.SoftLink("/tensors/b")
    f["tensors/b"] = h5py.SoftLink("/tensors/a")


@pytest.fixture
def outside_h5(tmp_path: Path) -> Path:
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["data"] = np.arange(4.0)
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("external_raw", "keeps its raw data in external files"),
        ("virtual", "is a virtual dataset"),
        ("external_link", "is an external link"),
        ("soft_loop", "is a soft link"),
    ],
)
def test_trace_pointing_outside_is_refused(tmp_path, outside, outside_h5, case, message) -> None:
    build = {
        "external_raw": _external_raw(outside),
        "virtual": _virtual(outside_h5),
        "external_link": _external_link(outside_h5),
        "soft_loop": _soft_loop,
    }[case]
    path = _h5(tmp_path / "trace.h5", build)
    with pytest.raises(TraceError, match=message) as info:
        Trace(path)
    assert isinstance(info.value.__cause__, TraceFileError)
    assert "secret" not in str(info.value)


def test_weights_with_external_storage_never_become_weights(tmp_path, outside) -> None:
    """The reported attack: ``enc1.conv1.bias`` stored in /etc/passwd inside model.weights.h5."""
    path = _h5(tmp_path / "model.weights.h5", _external_raw(outside))
    with pytest.raises(WeightsFileError, match=r"'layers/enc1/vars/0': keeps its raw data"):
        open_hdf5(path.read_bytes(), WeightsFileError, name="model.weights.h5")


def test_unallocated_huge_dataset_is_refused(tmp_path) -> None:
    def build(f: Any) -> None:
        f.create_dataset("tensors/huge", shape=(10**6, 10**3), dtype="f8", chunks=(1000, 100))

    path = _h5(tmp_path / "t.h5", build)
    with pytest.raises(TraceFileError, match="declares 8000000000 bytes but stores 0"):
        open_hdf5(path, TraceFileError).close()


def test_ordinary_file_opens(tmp_path) -> None:
    def build(f: Any) -> None:
        f.create_dataset("tensors/x", data=np.zeros((512, 512)), compression="gzip")
        f["tensors/y"] = f["tensors/x"]  # a second hard link is harmless

    path = _h5(tmp_path / "ok.h5", build)
    with open_hdf5(path, TraceFileError) as handle:
        assert handle["tensors/y"].shape == (512, 512)
    with open_hdf5(path.read_bytes(), WeightsFileError) as handle:
        assert not handle["tensors/x"][()].any()


def test_garbage_bytes_are_a_weights_error() -> None:
    with pytest.raises(WeightsFileError, match=r"w\.h5: is not a readable HDF5 file") as info:
        open_hdf5(b"\x89HDF\r\n\x1a\n" + b"\0" * 64, WeightsFileError, name="w.h5")
    assert info.value.__cause__ is not None
    with pytest.raises(WeightsFileError):
        open_hdf5(io.BytesIO(b"x").getvalue(), WeightsFileError)


def test_a_checked_file_changed_afterwards_is_checked_again(tmp_path: Path, outside: Path) -> None:
    """Reopening skips the walk only for the very file version that passed it: adding an
    external link afterwards (the file's size and time change) is refused on the next open."""
    path = _h5(tmp_path / "t.h5", lambda f: f.create_dataset("tensors/x", data=np.arange(4.0)))
    open_hdf5(path, TraceFileError).close()
    open_hdf5(path, TraceFileError).close()  # the unchanged file: accepted again
    with h5py.File(path, "a") as f:
        f["tensors/linked"] = h5py.ExternalLink(str(outside), "/data")
    with pytest.raises(TraceFileError, match="external link"):
        open_hdf5(path, TraceFileError).close()
