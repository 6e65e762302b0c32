"""safetensors payloads checked before the library sees them; framework errors wrapped."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from backends.safeio import WeightsFileError
from backends.safeio.weights import check_safetensors, reading_weights


def _safetensors(header: object, body: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body


GOOD = _safetensors({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}, bytes(16))


def test_well_formed_file_passes_and_matches_the_library() -> None:
    assert check_safetensors(GOOD, "m.safetensors") is GOOD
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    np.testing.assert_array_equal(safetensors_numpy.load(GOOD)["w"], np.zeros((2, 2), np.float32))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x01\x02", "shorter than the 8-byte"),
        (struct.pack("<Q", 2**63) + b"{}", "announces a 9223372036854775808-byte header"),
        (struct.pack("<Q", 4) + b"\xff\xfe{}", "not UTF-8"),
        (struct.pack("<Q", 2) + b"[]", "'header': must be a mapping, got list"),
        (_safetensors({"w": None}, b""), "'w': must be a mapping, got null"),
        (_safetensors({"w": {"dtype": "X9", "shape": [], "data_offsets": [0, 0]}}, b""), "unknown dtype"),
        (_safetensors({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}}, b""), "malformed shape"),
        (_safetensors({"w": {"dtype": "F32", "shape": [10**15], "data_offsets": [0, 16]}}, bytes(16)), "do not fit"),
        (_safetensors({"w": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, bytes(16)), "do not fit"),
        (_safetensors({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0]}}, bytes(16)), "malformed data_offsets"),
        (_safetensors({"w": {"dtype": "F32", "shape": [4], "data_offsets": "0-16"}}, bytes(16)), "must be a list"),
    ],
)  # fmt: skip
def test_garbage_and_oversized_headers_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(WeightsFileError, match=message):
        check_safetensors(data, "m.safetensors")


def test_reader_errors_are_wrapped_with_the_cause() -> None:
    expected = r"m\.pt: cannot be read as a state dict \(EOFError\)"
    with (
        pytest.raises(WeightsFileError, match=expected) as info,
        reading_weights("m.pt", "a state dict"),
    ):
        raise EOFError("please report this to the framework's developers")
    assert "please report" not in str(info.value)
    assert isinstance(info.value.__cause__, EOFError)
