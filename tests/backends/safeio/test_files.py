"""Regular files only: FIFOs, devices and directories are refused before a byte is read."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from backends.config import io as config_io
from backends.data import load_npz
from backends.safeio import ConfigFileError, NpzFileError, check_regular_file, read_file_bytes


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes on this platform")
    path = tmp_path / "pipe.npz"
    os.mkfifo(path)
    return path


def test_fifo_is_refused_without_blocking(fifo: Path) -> None:
    with pytest.raises(NpzFileError, match=r"pipe\.npz: is a named pipe \(FIFO\); pass a regular"):
        load_npz(fifo)
    with pytest.raises(ConfigFileError, match="named pipe"):
        read_file_bytes(fifo, ConfigFileError)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_endless_device_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NpzFileError, match="is a device"):
        load_npz("/dev/zero")
    config = tmp_path / "zero.toml"
    config.symlink_to("/dev/zero")
    with pytest.raises(ConfigFileError, match="is a device"):
        config_io.read_config_dict(config)


def test_config_path_that_is_a_directory(tmp_path: Path) -> None:
    folder = tmp_path / "c.toml"
    folder.mkdir()
    with pytest.raises(ConfigFileError, match=r"c\.toml: is a directory; pass a regular file"):
        config_io.load_config(folder)


def test_size_limit_is_checked_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    path.write_bytes(b"#" * 101)
    with pytest.raises(ConfigFileError, match="101 bytes, more than the limit of 100"):
        read_file_bytes(path, ConfigFileError, max_bytes=100)
    assert read_file_bytes(path, ConfigFileError, max_bytes=101) == b"#" * 101
    with pytest.raises(ConfigFileError, match="more than the limit"):
        check_regular_file(path, ConfigFileError, max_bytes=100)


def test_missing_file_stays_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"absent\.npz: file not found"):
        load_npz(tmp_path / "absent.npz")


def test_symlink_to_regular_file_is_read(tmp_path: Path) -> None:
    real = tmp_path / "real.npz"
    np.savez(real, a=np.arange(3))
    link = tmp_path / "link.npz"
    link.symlink_to(real)
    assert check_regular_file(link, NpzFileError) == link
