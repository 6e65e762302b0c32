"""The one atomic writer: complete files with the user's umask, or nothing."""

from __future__ import annotations

import os
import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.core import files


@pytest.fixture
def umask():
    def set_mask(mask: int) -> None:
        os.umask(mask)

    previous = os.umask(0o022)
    yield set_mask
    os.umask(previous)


@given(mask=st.sampled_from([0o000, 0o002, 0o022, 0o027, 0o077]))
def test_files_get_the_mode_the_umask_gives(tmp_path_factory, mask: int) -> None:
    directory = tmp_path_factory.mktemp("out")
    previous = os.umask(mask)
    try:
        written = files.write_bytes_atomic(directory / "a.bin", b"data")
        with open(directory / "plain.bin", "wb") as handle:  # what open() gives, for comparison
            handle.write(b"data")
    finally:
        os.umask(previous)
    mode = stat.S_IMODE(written.stat().st_mode)
    assert mode == 0o666 & ~mask
    assert mode == stat.S_IMODE((directory / "plain.bin").stat().st_mode)


def test_reading_the_umask_leaves_it_unchanged(umask) -> None:
    umask(0o027)
    assert files.default_file_mode() == 0o640
    assert os.umask(0o027) == 0o027


def test_text_is_written_as_utf8_and_directories_are_created(tmp_path) -> None:
    path = files.write_text_atomic(tmp_path / "a" / "b.txt", "Å φ\n")
    assert path.read_bytes() == "Å φ\n".encode()


def test_failure_keeps_the_previous_content_and_no_temporary_file(tmp_path) -> None:
    target = tmp_path / "t.bin"
    target.write_bytes(b"previous")

    def failing(handle) -> None:
        handle.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        files.write_atomic(target, failing)
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.bin"]


def test_missing_directory_and_directory_target_are_refused(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        files.write_atomic(tmp_path / "nope" / "x", lambda h: None)
    with pytest.raises(ValueError, match="is a directory"):
        files.write_bytes_atomic(tmp_path, b"")
