"""A ptychodus ``ReconstructInput`` built from one of the project's built-in datasets.

The object geometry uses 1 m pixels centred so that ptychodus' own mapping from probe
positions to object pixels gives back the file's ``xcoords``/``ycoords`` (to rounding).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def reconstruct_input(spec: str) -> tuple[Any, Any]:
    """``(ReconstructInput, project RawData)`` for the data file ``spec`` (builtin:NAME...)."""
    from ptychodus.api.geometry import PixelGeometry
    from ptychodus.api.object import Object, ObjectCenter
    from ptychodus.api.probe import ProbeSequence
    from ptychodus.api.probe_positions import ProbePosition, ProbePositionSequence
    from ptychodus.api.product import Product, ProductMetadata
    from ptychodus.api.reconstruct import ReconstructInput

    from backends.data import load_npz, resolve_data

    raw = load_npz(resolve_data(spec))
    assert raw.objectGuess is not None
    height, width = raw.objectGuess.shape
    rx, ry = (width - 1) / 2, (height - 1) / 2
    positions = ProbePositionSequence(
        [
            ProbePosition(index=i, x_m=float(x) - rx, y_m=float(y) - ry)
            for i, (x, y) in enumerate(zip(raw.xcoords, raw.ycoords))
        ]
    )
    pixel = PixelGeometry(width_m=1.0, height_m=1.0)
    obj = Object(
        array=np.ones((height, width), np.complex64),
        pixel_geometry=pixel,
        center=ObjectCenter(x_m=0.0, y_m=0.0),
    )
    probes = ProbeSequence(
        array=np.asarray(raw.probeGuess, np.complex64)[None, :, :],
        opr_weights=None,
        pixel_geometry=pixel,
    )
    metadata = ProductMetadata(
        name=spec,
        comments="",
        detector_distance_m=1.0,
        photon_energy_eV=10000.0,
        probe_photon_count=0.0,
        exposure_time_s=0.0,
        mass_attenuation_m2_per_kg=0.0,
        tomography_angle_deg=0.0,
    )
    product = Product(
        metadata=metadata, probe_positions=positions, probes=probes, object_=obj, losses=[]
    )
    patterns = np.asarray(raw.diff3d, np.float32)
    bad_pixels = np.zeros(patterns.shape[-2:], dtype=bool)
    return ReconstructInput(
        diffraction_patterns=patterns, bad_pixels=bad_pixels, product=product
    ), raw
