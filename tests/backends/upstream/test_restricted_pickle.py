"""The restricted pickle reader: upstream's files rebuild as plain data; every foreign global,
object dtype and object-building opcode is refused by name, and nothing in the stream runs."""

from __future__ import annotations

import pickletools
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.bundle.restricted_pickle import (
    ALLOWED_GLOBALS,
    PickleFormatError,
    UnsafePickleError,
    load_restricted,
)
from tests.backends.upstream.opcodes import (
    BUILD,
    EMPTY_DICT,
    EMPTY_LIST,
    FIXTURES,
    MARK,
    NONE,
    SETITEM,
    TUPLE,
    TUPLE1,
    blob,
    call,
    dill_array,
    dtype,
    global_,
    stream,
    text,
)

DOCUMENTED = (UnsafePickleError, PickleFormatError)
PARAMS = {g: (FIXTURES / f"params-g{g}.dill").read_bytes() for g in (1, 2)}


# ----------------------------------------------------------------------------- upstream files


def test_manifest_is_the_dict_format_md_describes() -> None:
    manifest = load_restricted((FIXTURES / "manifest.dill").read_bytes(), "manifest.dill")
    assert manifest == {"models": ["autoencoder", "diffraction_to_obj"], "version": "1.0"}


@pytest.mark.parametrize("gridsize", [1, 2])
def test_params_restore_the_values_format_md_lists(gridsize: int) -> None:
    params = load_restricted(PARAMS[gridsize], "params.dill")
    assert params["gridsize"] == gridsize
    assert params["n_groups"] == (128 if gridsize == 1 else 64)
    assert (params["N"], params["offset"], params["n_filters_scale"]) == (64, 4, 2)
    assert params["probe.big"] is True and params["probe.mask"] is False
    assert params["outer_offset_train"] is None
    assert params["amp_activation"] == "sigmoid"
    # the 4-byte payload 8e 0d 77 44 of FORMAT.md section 3, read as little-endian float32
    scale = params["intensity_scale"]
    assert isinstance(scale, np.float32)
    assert scale == np.frombuffer(b"\x8e\x0dwD", "<f4")[0]
    probe = params["probe"]
    assert probe.shape == (64, 64, 1) and probe.dtype == np.complex64
    # upstream's set_probe normalisation: mean |probe| = 1 / probe_scale
    assert np.mean(np.abs(probe)) == pytest.approx(1 / params["probe_scale"], rel=1e-5)


def test_custom_objects_are_refused_naming_the_first_upstream_class() -> None:
    data = (FIXTURES / "custom_objects.dill").read_bytes()
    with pytest.raises(UnsafePickleError, match=r"ptycho\.model\.ProbeIllumination"):
        load_restricted(data, "custom_objects.dill")


def test_only_the_globals_format_md_lists_are_admitted() -> None:
    assert {f"{m}.{n}" for m, n in ALLOWED_GLOBALS} == {
        "tensorflow.python.framework.ops.convert_to_tensor",
        "dill._dill._create_array",
        "numpy.ndarray",
        "numpy.dtype",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray.scalar",
        "numpy.core.multiarray.scalar",
    }


# ----------------------------------------------------------------------------- emulations


@given(
    code=st.sampled_from(["<f4", "<f8", "<c8", "<c16", "<i4", "<u2", "|b1", ">f4", ">i8"]),
    shape=st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple),
    seed=st.integers(0, 2**32 - 1),
)
def test_dill_arrays_rebuild_from_their_bytes(code: str, shape: tuple, seed: int) -> None:
    expected = np.random.default_rng(seed).normal(size=shape).astype(code)
    body = dill_array(code, shape, expected.tobytes())
    out = load_restricted(
        stream(call("tensorflow.python.framework.ops", "convert_to_tensor", body))
    )
    assert out.shape == shape and out.dtype == np.dtype(code).newbyteorder("=")
    np.testing.assert_array_equal(out, expected)


def test_array_with_wrong_byte_count_is_refused() -> None:
    with pytest.raises(PickleFormatError, match="needs 24 bytes"):
        load_restricted(stream(dill_array("<f4", (2, 3), b"\x00" * 20)))


# ----------------------------------------------------------------------------- refusals

MALICIOUS = {
    "os.system": lambda marker: call("os", "system", text(f"touch {marker}")),
    "posix.system": lambda marker: call("posix", "system", text(f"touch {marker}")),
    "builtins.eval": lambda marker: call("builtins", "eval", text(f"open({str(marker)!r}, 'w')")),
    "builtins.exec": lambda marker: call("builtins", "exec", text(f"open({str(marker)!r}, 'w')")),
    "subprocess.Popen": lambda marker: call("subprocess", "Popen", text(f"touch {marker}")),
    "ptycho.model.ProbeIllumination": lambda marker: call("ptycho.model", "ProbeIllumination"),
    "dill._dill._create_function": lambda marker: call("dill._dill", "_create_function"),
    "dill._dill._create_code": lambda marker: call("dill._dill", "_create_code"),
    "numpy.load": lambda marker: call("numpy", "load", text(str(marker))),
}


@pytest.mark.parametrize("qualname", sorted(MALICIOUS))
def test_foreign_globals_are_refused_by_name_and_nothing_runs(
    qualname: str, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    payload = stream(EMPTY_DICT + text("probe") + MALICIOUS[qualname](marker) + SETITEM)
    with pytest.raises(UnsafePickleError, match=rf"global {re.escape(qualname)};"):
        load_restricted(payload, "params.dill")
    assert not marker.exists()


def test_protocol_0_global_opcode_is_refused_by_name(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    payload = b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    with pytest.raises(UnsafePickleError, match=r"os\.system"):
        load_restricted(payload)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("payload", "opcode"),
    [
        (b"(ios\nsystem\nS'true'\n.", "INST"),
        (b"\x80\x02" + global_("os", "system") + b")\x81.", "NEWOBJ"),
        (b"\x80\x02(" + global_("os", "system") + b"o.", "OBJ"),
        (b"\x80\x02\x82\x01.", "EXT1"),
        (b"\x80\x02K\x01Q.", "BINPERSID"),
    ],
)
def test_object_building_opcodes_are_refused_before_anything_is_built(
    payload: bytes, opcode: str
) -> None:
    with pytest.raises(UnsafePickleError, match=opcode):
        load_restricted(payload)


@pytest.mark.parametrize("code", ["O", "|O", "O8", "V8", "<U4", "S3", "M8[s]", "i4,f4"])
def test_non_numeric_dtypes_are_refused(code: str) -> None:
    with pytest.raises(UnsafePickleError, match="dtype"):
        load_restricted(stream(dtype(code)))
    with pytest.raises(UnsafePickleError, match="dtype"):
        load_restricted(stream(dill_array(code, (1,), b"\x00" * 8)))


def test_build_on_anything_but_a_dtype_is_refused() -> None:
    for target in (EMPTY_DICT, EMPTY_LIST, dill_array("<f4", (1,), b"\x00" * 4)):
        with pytest.raises(PickleFormatError, match="BUILD"):
            load_restricted(stream(target + EMPTY_DICT + BUILD))


def test_emulated_markers_cannot_be_called_directly() -> None:
    body = call("numpy._core.multiarray", "_reconstruct", global_("numpy", "ndarray"))
    with pytest.raises(PickleFormatError, match="only as an argument"):
        load_restricted(stream(body))


def test_a_rebuilt_global_cannot_be_returned_as_a_value() -> None:
    with pytest.raises(PickleFormatError, match="rebuilt a"):
        load_restricted(stream(global_("numpy", "ndarray")))


# ----------------------------------------------------------------------------- fuzzing

# a palette of well-formed fragments the structure-aware mutator splices in
FRAGMENTS = [
    NONE,
    MARK,
    TUPLE,
    TUPLE1,
    SETITEM,
    BUILD,
    b"R",
    b"0",
    b"h\x00",
    b"q\x05",
    b"j\xff\xff\xff\x7f",
    text("x"),
    blob(b"\x01\x02"),
    global_("numpy", "dtype"),
    global_("numpy", "ndarray"),
    global_("dill._dill", "_create_array"),
    global_("numpy._core.multiarray", "scalar"),
    global_("os", "system"),
    global_("builtins", "getattr"),
    dtype("<f4"),
    dtype("O"),
    b"\x95" + struct.pack("<Q", 2**40),
    b"\x8e" + struct.pack("<Q", 2**40),
    b"B\xff\xff\xff\x7f",
]


def _boundaries(data: bytes) -> list[int]:
    return [pos for _op, _arg, pos in pickletools.genops(data)]


@st.composite
def mutated_params(draw: st.DrawFn) -> bytes:
    base = PARAMS[draw(st.sampled_from([1, 2]))]
    cuts = _BOUNDARIES[len(base)]
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        kind = draw(st.sampled_from(["flip", "splice", "delete", "truncate"]))
        at = draw(st.sampled_from(cuts)) if kind != "flip" else draw(st.integers(0, len(data) - 1))
        at = min(at, len(data))
        if kind == "flip":
            data[at] = draw(st.integers(0, 255))
        elif kind == "splice":
            data[at:at] = draw(st.sampled_from(FRAGMENTS))
        elif kind == "delete":
            data[at : at + draw(st.integers(1, 16))] = b""
        else:
            del data[at:]
    return bytes(data)


_BOUNDARIES = {len(d): _boundaries(d) for d in PARAMS.values()}


def _only_documented_errors(data: bytes) -> None:
    try:
        value = load_restricted(data, "fuzzed.dill")
    except DOCUMENTED:
        return
    assert isinstance(value, (dict, list, tuple, str, bytes, int, float, complex, np.ndarray))


@given(data=mutated_params())
def test_fuzz_structure_aware_mutations_escape_only_documented_errors(data: bytes) -> None:
    _only_documented_errors(data)


@given(data=st.binary(max_size=512) | st.binary(max_size=256).map(lambda b: b"\x80\x04" + b))
def test_fuzz_raw_bytes_escape_only_documented_errors(data: bytes) -> None:
    _only_documented_errors(data)


def test_shared_references_stay_linear_and_cycles_end() -> None:
    # L0 = [1]; L(k+1) = [Lk, Lk] for 64 levels: 2**64 leaves if shared lists were walked twice
    body = EMPTY_LIST + b"K\x01a" + b"q\x00"
    for level in range(1, 65):
        body += EMPTY_LIST + b"h" + bytes([level - 1]) + b"a" + b"h" + bytes([level - 1]) + b"a"
        body += b"q" + bytes([level])
    value = load_restricted(stream(body))
    for _ in range(64):
        assert len(value) == 2 and value[0] is value[1]
        value = value[0]
    assert value == [1]
    # a list that contains itself
    with pytest.raises(PickleFormatError, match="nesting"):
        load_restricted(stream(EMPTY_LIST + b"q\x00" + b"h\x00a"))
