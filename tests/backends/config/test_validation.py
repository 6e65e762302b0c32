"""Inference validation and model_path resolution (docs/config.md (a))."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.config import InferenceConfig, ModelConfig, validate_inference_config
from backends.config.validation import resolve_model_path


def _config(model_path: Path, **model) -> InferenceConfig:
    return InferenceConfig(model=ModelConfig(**model), model_path=model_path, test_data_file="t")


def test_directory_with_archive_is_accepted(tmp_path):
    (tmp_path / "wts.h5.zip").write_bytes(b"")
    assert validate_inference_config(_config(tmp_path)) == tmp_path


def test_directory_without_archive_raises_model_archive_not_found(tmp_path):
    with pytest.raises(ValueError, match="Model archive not found") as info:
        validate_inference_config(_config(tmp_path))
    assert str(tmp_path / "wts.h5.zip") in str(info.value)


def test_existing_file_is_accepted(tmp_path):
    archive = tmp_path / "bundle.zip"
    archive.write_bytes(b"")
    assert resolve_model_path(archive) == archive


def test_missing_path_retried_with_zip_suffix(tmp_path):
    (tmp_path / "model.zip").write_bytes(b"")
    assert resolve_model_path(tmp_path / "model.h5") == tmp_path / "model.zip"
    assert resolve_model_path(tmp_path / "model") == tmp_path / "model.zip"


def test_wts_h5_retried_as_wts_h5_zip(tmp_path):
    (tmp_path / "wts.h5.zip").write_bytes(b"")
    assert resolve_model_path(tmp_path / "wts.h5") == tmp_path / "wts.h5.zip"


def test_nothing_found_names_the_alternatives(tmp_path):
    with pytest.raises(ValueError, match="model_path does not exist") as info:
        resolve_model_path(tmp_path / "wts.h5")
    text = str(info.value)
    assert str(tmp_path / "wts.zip") in text and str(tmp_path / "wts.h5.zip") in text


def test_nothing_found_plain_name(tmp_path):
    with pytest.raises(ValueError, match="model_path does not exist") as info:
        resolve_model_path(tmp_path / "missing.bin")
    assert str(tmp_path / "missing.zip") in str(info.value)


def test_model_checks_run_before_path_resolution(tmp_path):
    with pytest.raises(ValueError, match=r"^gridsize"):
        validate_inference_config(_config(tmp_path / "absent", gridsize=0))


def test_inference_grouping_counts_are_checked(tmp_path):
    (tmp_path / "wts.h5.zip").write_bytes(b"")
    config = InferenceConfig(
        model=ModelConfig(), model_path=tmp_path, test_data_file="t", n_groups=-2
    )
    with pytest.raises(ValueError, match="n_groups=-2"):
        validate_inference_config(config)
