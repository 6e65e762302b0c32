"""Shared NumPy data pipeline (docs/data.md): the NPZ contract, subsampling and grouping,
normalisation, containers, splits, the simulator and the built-in datasets.

Both backends consume exactly the arrays built here. Never imports a framework.
"""

from backends.data._geometry import default_probe, diffraction_intensity, extract_object_patches
from backends.data.builtins import BUILTINS, UnknownDatasetError, cache_dir, resolve_data
from backends.data.container import (
    PtychoData,
    load_inference_data,
    load_training_data,
    train_test_split,
    validation_split,
)
from backends.data.grouping import assemble, check_counts, group, group_indices, subsample
from backends.data.npz import RawData, load_npz, save_npz, transform_coordinates
from backends.data.objects import make_object
from backends.data.simulate import simulate_dataset, simulate_scan

__all__ = [
    "BUILTINS",
    "PtychoData",
    "RawData",
    "UnknownDatasetError",
    "assemble",
    "cache_dir",
    "check_counts",
    "default_probe",
    "diffraction_intensity",
    "extract_object_patches",
    "group",
    "group_indices",
    "load_inference_data",
    "load_npz",
    "load_training_data",
    "make_object",
    "resolve_data",
    "save_npz",
    "simulate_dataset",
    "simulate_scan",
    "subsample",
    "train_test_split",
    "transform_coordinates",
    "validation_split",
]
