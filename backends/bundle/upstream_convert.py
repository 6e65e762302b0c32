"""Converting an upstream bundle into this project's format, with a forward check.

The upstream weights are loaded into the reference (TensorFlow) backend when it is installed,
otherwise into the target backend; that in-memory model is the source of the comparison. The
target model is built from the same weights, saved with the import recorded in its manifest,
loaded back, and its forward outputs are compared with the source's on a probe batch, exactly
as ``parity convert-bundle`` does between the two backends. Frameworks are imported lazily.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backends.bundle.upstream import read_upstream_bundle, save_imported

__all__ = ["convert_and_check", "reference_backend"]


def reference_backend(target: str) -> str:
    """The backend that stands for upstream's model: tensorflow when installed."""
    import backends

    return "tensorflow" if "tensorflow" in backends.available() else target


def convert_and_check(
    bundle: str | Path,
    to: str,
    output_dir: str | Path,
    *,
    rtol: float = 1e-4,
    monitor: Any = None,
) -> Any:
    """Import the upstream ``bundle`` as a ``to`` bundle in ``output_dir``; returns the
    :class:`backends.workflows.ConversionReport` (``source_backend`` names upstream)."""
    import backends
    from backends.bundle import BACKENDS
    from backends.workflows import convert_loaded

    if to not in BACKENDS:
        raise ValueError(f"--to {to!r} is not a backend; choose one of: {', '.join(BACKENDS)}")
    if monitor is not None:
        monitor.stage("read upstream bundle")
    upstream = read_upstream_bundle(bundle)
    source = reference_backend(to)
    source_config = upstream.training_config(source)
    src_model = backends.get(source).build(
        source_config.model, upstream.probe, upstream.intensity_scale, weights=upstream.weights
    )
    config = upstream.training_config(to)
    report = convert_loaded(
        src_model,
        upstream.params,
        upstream.probe,
        config,
        output_dir,
        rtol=rtol,
        monitor=monitor,
        save=lambda model, where: save_imported(model, upstream, config, where),
    )
    report.source_backend = f"upstream ({upstream.path.name}, checked with {source})"
    report.params_differences = [
        d for d in report.params_differences if "only in the original" not in d
    ]
    return report
