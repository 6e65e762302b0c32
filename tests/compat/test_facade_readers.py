"""The facade's readers on hostile input: an unpacked model directory of arbitrary members,
a pickled Lightning checkpoint, probes of any shape. Only documented errors escape and
nothing read is executed."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.bundle import read_bundle

NAMES = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,12}", fullmatch=True)
MEMBERS = st.dictionaries(
    st.one_of(st.just("manifest.json"), st.just("params.json"), NAMES),
    st.one_of(
        st.binary(max_size=64),
        st.sampled_from([b"{}", b'{"format": "ptychopinn-model-bundle"}', b"[1, 2]"]),
    ),
    min_size=1,
    max_size=5,
)


@given(members=MEMBERS)
def test_unpacked_directory_of_arbitrary_members_fails_cleanly(
    members: dict[str, bytes], tmp_path_factory: Any
) -> None:
    from ptycho._bundles import FacadeBundleError, bundle_archive

    directory = tmp_path_factory.mktemp("unpacked")
    members.setdefault("manifest.json", b"{}")
    for name, data in members.items():
        (directory / name).write_bytes(data)
    try:
        archive = bundle_archive(directory)
        read_bundle(archive, expected_backend=None)
    except (FacadeBundleError, ValueError, KeyError) as exc:
        assert str(exc)
    else:  # pragma: no cover - random members never make a complete bundle
        pytest.fail("an arbitrary directory was accepted as a bundle")


class _Marker:
    """Unpickling this writes a marker file: proof that something was executed."""

    path = ""

    def __reduce__(self) -> Any:
        return (Path.write_text, (Path(self.path), "executed"))


@pytest.mark.pytorch
def test_pickled_lightning_checkpoint_is_refused_without_running_it(tmp_path: Path) -> None:
    from ptycho_torch.model import PtychoPINN_Lightning

    marker = tmp_path / "ran"
    payload = _Marker()
    payload.path = str(marker)
    ckpt = tmp_path / "epoch=0-step=8.ckpt"
    with zipfile.ZipFile(ckpt, "w") as archive:  # the layout torch.save writes
        archive.writestr("archive/data.pkl", pickle.dumps(payload))
        archive.writestr("archive/version", "3\n")
    with pytest.raises(ValueError, match="not a PtychoPINN model bundle"):
        PtychoPINN_Lightning.load_from_checkpoint(ckpt)
    assert not marker.exists()


@given(
    shape=st.one_of(
        st.tuples(st.integers(1, 3), st.just(8), st.just(8)),
        st.tuples(st.just(8), st.just(8)),
        st.lists(st.integers(0, 3), min_size=0, max_size=4).map(tuple),
    )
)
def test_probe_shapes(shape: tuple[int, ...]) -> None:
    from ptycho.raw_data import first_probe_mode

    probe = (np.arange(int(np.prod(shape))) + 1j).reshape(shape)
    if len(shape) == 2 or (len(shape) == 3 and shape[0] >= 1):
        out = first_probe_mode(probe)
        assert out.ndim == 2
        np.testing.assert_array_equal(out, probe if len(shape) == 2 else probe[0])
    else:
        with pytest.raises(ValueError, match="probe"):
            first_probe_mode(probe)
