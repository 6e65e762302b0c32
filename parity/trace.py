"""Traces: one backend's record of one scenario, as an HDF5 file.

Layout::

    /meta            attributes: format_version, backend, scenario name and hash, seeds, git
                     revision, device, versions, timings, per-section status (JSON where nested)
    /params/<name>   JSON text (legacy snapshot, canonical config, scenario)
    /tensors/<stage>/<name>   datasets in the reference layout (LZF-compressed when large)
    /bundles/<name>  JSON text (manifest, params snapshot, checksums of a saved bundle)

A trace is written to a temporary file beside its destination and renamed when complete, so a
reader never sees a half-written trace. Reading refuses another scenario's trace or an
incompatible format version with a message that says what to do.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from backends.safeio import TraceFileError, open_hdf5, parse_json
from parity.errors import InputError

TRACE_FORMAT_VERSION = "1.1"
"""1.1: summaries of slimmed tensors carry a sketch (:mod:`parity.sketch`)."""
COMPRESS_MIN_BYTES = 4096
SUMMARY_ATTR = "parity_summary"


class TraceError(InputError):
    """A trace that cannot be used: wrong scenario, incompatible version, not a trace."""


def git_revision(start: Path | None = None) -> str:
    """``git rev-parse HEAD`` of the checkout holding this package (``+dirty`` if modified);
    ``unknown`` outside a repository or before the first commit."""
    where = start or Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5
        )
        if rev.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def base_versions() -> dict[str, str]:
    """Versions of Python and of the harness's own dependencies."""
    import h5py

    from parity import __version__

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "h5py": h5py.__version__,
        "parity": __version__,
        "platform": platform.platform(),
    }


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return {
            "$array": True,
            "dtype": str(obj.dtype),
            "shape": list(obj.shape),
            "sha256": hashlib.sha256(np.ascontiguousarray(obj).tobytes()).hexdigest(),
        }
    if isinstance(obj, float) and not np.isfinite(obj):
        return {"$float": repr(obj)}
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return {"$repr": repr(obj), "$type": type(obj).__name__}


def _untag(obj: dict[str, Any]) -> Any:
    """Inverse of the non-finite float tag of :func:`to_json_text`."""
    if len(obj) == 1 and "$float" in obj:
        return float(obj["$float"])
    return obj


def to_json_text(obj: Any) -> str:
    """JSON with arrays as descriptors, Paths as strings, non-finite floats tagged."""
    return json.dumps(_jsonable(obj), sort_keys=True)


class TraceWriter:
    """Writes one trace; use as a context manager (committed on success, removed on error)."""

    def __init__(self, path: Path, backend: str, scenario: Any) -> None:
        import h5py

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._file = h5py.File(self._tmp, "w")
        self._meta = self._file.create_group("meta")
        self._file.create_group("params")
        self._file.create_group("tensors")
        self._file.create_group("bundles")
        self.sections: dict[str, dict[str, Any]] = {}
        self.bytes_written = 0
        self.set_meta(
            format_version=TRACE_FORMAT_VERSION,
            backend=backend,
            scenario=scenario.name,
            scenario_hash=scenario.hash,
            seeds=json.dumps(scenario.identity()["seeds"]),
            created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            versions=json.dumps(base_versions()),
        )
        self.put_json("params", "scenario", scenario.to_dict())

    def set_meta(self, **values: Any) -> None:
        """Set ``/meta`` attributes (dicts and lists stored as JSON text)."""
        for key, value in values.items():
            if isinstance(value, (dict, list, tuple)):
                value = to_json_text(value)
            elif value is None:
                value = "null"
            self._meta.attrs[key] = value

    def put_json(self, group: str, name: str, obj: Any) -> None:
        """Store ``obj`` as JSON text at ``/<group>/<name>``."""
        import h5py

        grp = self._file.require_group(group)
        if name in grp:
            del grp[name]
        grp.create_dataset(name, data=to_json_text(obj), dtype=h5py.string_dtype())

    def put(self, stage: str, name: str, value: Any, **attrs: Any) -> None:
        """Store a tensor at ``/tensors/<stage>/<name>`` (``stage`` may contain ``/``)."""
        arr = np.asarray(value)
        if arr.dtype.kind in "OUS":
            raise TypeError(f"tensor {stage}/{name}: dtype {arr.dtype} cannot be stored")
        grp = self._file.require_group(f"tensors/{stage}")
        if name in grp:
            del grp[name]
        if arr.ndim and arr.nbytes >= COMPRESS_MIN_BYTES:
            ds = grp.create_dataset(name, data=arr, compression="lzf", chunks=_chunks(arr))
        else:
            ds = grp.create_dataset(name, data=arr)
        for key, val in attrs.items():
            ds.attrs[key] = to_json_text(val) if isinstance(val, (dict, list, tuple)) else val
        self.bytes_written += arr.nbytes

    def put_summary(self, stage: str, name: str, summary: dict[str, Any]) -> None:
        """Store a summary in place of a tensor (slim baselines)."""
        grp = self._file.require_group(f"tensors/{stage}")
        if name in grp:
            del grp[name]
        _write_summary(grp, name, summary)

    def record_section(self, name: str, **info: Any) -> None:
        """Status of one recorded section (``status`` ok/error/skipped, seconds, traceback)."""
        self.sections[name] = {**self.sections.get(name, {}), **info}
        self.set_meta(sections=self.sections)

    def commit(self) -> Path:
        """Close and move into place."""
        self._file.close()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Close and delete the temporary file."""
        with contextlib.suppress(Exception):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def _chunks(arr: np.ndarray) -> tuple[int, ...]:
    """Chunks of about 1 MiB along the leading axis."""
    row = max(1, arr.nbytes // max(1, arr.shape[0]))
    lead = max(1, min(arr.shape[0], (1 << 20) // row))
    return (lead, *arr.shape[1:])


def _write_summary(group: Any, name: str, summary: dict[str, Any]) -> None:
    """A summary as a dataset: the sketch's downsampled copy is the data (binary float32, much
    smaller than JSON), the rest a JSON attribute."""
    from parity.sketch import thumb_array

    meta = json.loads(json.dumps(summary))
    data = np.zeros(0, dtype=np.float32)
    sk = meta.get("sketch")
    if sk is not None and "thumb" in sk:
        data = thumb_array(sk)
        del sk["thumb"]
        sk["thumb_in_data"] = True
    ds = group.create_dataset(name, data=data)
    ds.attrs[SUMMARY_ATTR] = json.dumps(meta, sort_keys=True)


def _read_summary(ds: Any) -> dict[str, Any]:
    """Inverse of :func:`_write_summary`."""
    from parity.sketch import pack_thumb

    summary = dict(json.loads(_attr(ds.attrs[SUMMARY_ATTR])))
    sk = summary.get("sketch")
    if sk is not None and sk.pop("thumb_in_data", False):
        sk["thumb"] = pack_thumb(np.asarray(ds[()]))
    return summary


def summarize(arr: np.ndarray) -> dict[str, Any]:
    """What stands in for a large tensor in a slim baseline: shape, dtype, SHA-256, L2 norm,
    max |x|, mean, and a sketch (fixed random projections and a downsampled copy,
    :mod:`parity.sketch`) that sees a shift, transpose, flip or sign change."""
    from parity.sketch import sketch

    a = np.asarray(arr)
    mag = np.abs(a).astype(np.float64)
    return {
        "shape": list(a.shape),
        "dtype": str(a.dtype),
        "sha256": hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest(),
        "l2": float(np.sqrt(np.sum(mag * mag))),
        "max_abs": float(mag.max(initial=0.0)),
        "mean": complex(np.mean(a)).real if a.size else 0.0,
        "mean_imag": complex(np.mean(a)).imag if a.size else 0.0,
        "sketch": sketch(a),
    }


class Trace:
    """A recorded trace opened for reading."""

    def __init__(self, path: Path) -> None:

        self.path = Path(path)
        if not self.path.exists():
            raise TraceError(f"trace {self.path} does not exist")
        try:
            self._file = open_hdf5(self.path, TraceFileError)
        except TraceFileError as exc:
            raise TraceError(str(exc)) from exc
        if "meta" not in self._file or "format_version" not in self._file["meta"].attrs:
            self._file.close()
            raise TraceError(f"{self.path} is not a parity trace (no /meta format_version)")
        self.meta = {k: _attr(v) for k, v in self._file["meta"].attrs.items()}
        self._index: dict[str, dict[str, bool]] | None = None
        self._datasets: dict[tuple[str, str], Any] = {}
        self._summarized: dict[tuple[str, str], bool] = {}
        version = str(self.meta["format_version"])
        if version.split(".")[0] != TRACE_FORMAT_VERSION.split(".")[0]:
            self._file.close()
            raise TraceError(
                f"{self.path} has trace format {version}, this harness reads "
                f"{TRACE_FORMAT_VERSION.split('.')[0]}.x; re-record it with this version "
                f"(parity record --backend {self.meta.get('backend', 'NAME')} "
                f"{self.meta.get('scenario', 'SCENARIO')} -o FILE)"
            )

    @property
    def backend(self) -> str:
        """The backend that recorded this trace."""
        return str(self.meta["backend"])

    @property
    def scenario_name(self) -> str:
        """Name of the recorded scenario."""
        return str(self.meta["scenario"])

    @property
    def scenario_hash(self) -> str:
        """Content hash of the recorded scenario."""
        return str(self.meta["scenario_hash"])

    @property
    def sections(self) -> dict[str, dict[str, Any]]:
        """Per-section status: ``{"forward": {"status": "ok", "seconds": 1.2}, ...}``."""
        raw = self.meta.get("sections")
        return (
            parse_json(raw, self.path, TraceFileError, key="meta/sections")
            if isinstance(raw, str)
            else {}
        )

    def meta_json(self, key: str, default: Any = None) -> Any:
        """A ``/meta`` attribute decoded from JSON."""
        raw = self.meta.get(key)
        if raw is None:
            return default
        if not isinstance(raw, str):
            return raw
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
        except (ValueError, RecursionError) as exc:  # digit limit, nesting
            raise TraceError(f"trace {self.path}: meta {key!r} cannot be decoded ({exc})") from exc

    def scenario(self) -> Any:
        """The scenario stored in the trace."""
        from parity import scenario as sc

        return sc.from_json(self.json("params", "scenario"))

    def check_scenario(self, name: str, digest: str) -> None:
        """Refuse a trace of another scenario (name or content)."""
        if self.scenario_name != name:
            raise TraceError(
                f"{self.path} was recorded for scenario {self.scenario_name!r}, not {name!r}; "
                f"record it for {name!r} (parity record --backend {self.backend} {name} -o FILE)"
            )
        if self.scenario_hash != digest:
            raise TraceError(
                f"{self.path} was recorded for a different version of scenario {name!r} "
                f"(hash {self.scenario_hash}, expected {digest}); re-record it"
            )

    def _stage_index(self) -> dict[str, dict[str, bool]]:
        """``{stage: {child: is_dataset}}`` for every group under ``/tensors`` (built once;
        h5py membership tests are slow for many lookups)."""
        if self._index is None:
            import h5py

            index: dict[str, dict[str, bool]] = {"": {}}
            root = self._file.get("tensors")
            if root is not None:

                def visit(name: str, obj: Any) -> None:
                    parent, _, leaf = name.rpartition("/")
                    index.setdefault(parent, {})[leaf] = isinstance(obj, h5py.Dataset)
                    if isinstance(obj, h5py.Group):
                        index.setdefault(name, {})

                root.visititems(visit)
            self._index = index
        return self._index

    def has(self, stage: str, name: str | None = None) -> bool:
        """Whether ``/tensors/<stage>[/<name>]`` exists."""
        index = self._stage_index()
        if name is None:
            return stage in index
        return name in index.get(stage, {})

    def names(self, stage: str) -> list[str]:
        """Dataset names directly under ``/tensors/<stage>`` (alphabetical)."""
        return sorted(k for k, is_ds in self._stage_index().get(stage, {}).items() if is_ds)

    def groups(self, stage: str) -> list[str]:
        """Sub-group names under ``/tensors/<stage>`` (alphabetical)."""
        return sorted(k for k, is_ds in self._stage_index().get(stage, {}).items() if not is_ds)

    def dataset(self, stage: str, name: str) -> Any:
        """The h5py dataset (for streaming reads)."""
        key = (stage, name)
        ds = self._datasets.get(key)
        if ds is None:
            ds = self._datasets[key] = self._file[f"tensors/{stage}/{name}"]
        return ds

    def get(self, stage: str, name: str) -> np.ndarray:
        """A tensor as a NumPy array (0-d for scalars)."""
        if not self.has(stage, name):
            raise KeyError(f"{self.path}: no tensor {stage}/{name}")
        return np.asarray(self.dataset(stage, name)[()])

    def attrs(self, stage: str, name: str) -> dict[str, Any]:
        """Attributes of a tensor."""
        return {k: _attr(v) for k, v in self.dataset(stage, name).attrs.items()}

    def summary(self, stage: str, name: str) -> dict[str, Any]:
        """The stored summary of a slimmed tensor, or the summary computed from the data."""
        ds = self.dataset(stage, name)
        if self.is_summary(stage, name):
            return _read_summary(ds)
        return summarize(np.asarray(ds[()]))

    def is_summary(self, stage: str, name: str) -> bool:
        """Whether the tensor was replaced by a summary."""
        key = (stage, name)
        flag = self._summarized.get(key)
        if flag is None:
            flag = self._summarized[key] = SUMMARY_ATTR in self.dataset(stage, name).attrs
        return flag

    def json(self, group: str, name: str, default: Any = None) -> Any:
        """A JSON document from ``/<group>/<name>``."""
        key = f"{group}/{name}"
        if key not in self._file:
            return default
        raw = self._file[key][()]
        return parse_json(raw, self.path, TraceFileError, key=key, object_hook=_untag)

    def walk(self, stage: str = "") -> Iterator[tuple[str, str]]:
        """Every (stage, name) of a dataset under ``/tensors[/stage]``."""
        import h5py

        root = self._file.get("tensors" + (f"/{stage}" if stage else ""))
        if root is None:
            return
        prefix = len("/tensors/")
        found: list[tuple[str, str]] = []

        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset):
                full = obj.name[prefix:]
                grp, _, leaf = full.rpartition("/")
                found.append((grp, leaf))

        root.visititems(visit)
        yield from found

    def tensor_bytes(self) -> int:
        """Total uncompressed size of the stored tensors."""
        total = 0
        for stage, name in self.walk():
            ds = self._file[f"tensors/{stage}/{name}"]
            total += int(ds.size * ds.dtype.itemsize)
        return total

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> Trace:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _attr(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def open_pair(path_a: Path, path_b: Path) -> tuple[Trace, Trace]:
    """Open two traces and require them to be of the same scenario (name and hash)."""
    a = Trace(path_a)
    try:
        b = Trace(path_b)
    except Exception:
        a.close()
        raise
    if (a.scenario_name, a.scenario_hash) != (b.scenario_name, b.scenario_hash):
        msg = (
            f"traces are of different scenarios: {a.path} is {a.scenario_name!r} "
            f"(hash {a.scenario_hash}), {b.path} is {b.scenario_name!r} (hash {b.scenario_hash}); "
            "record both for the same scenario"
        )
        a.close()
        b.close()
        raise TraceError(msg)
    return a, b


def slim(src: Path, dst: Path, max_elements: int = 1024) -> Path:
    """Copy a trace, replacing every tensor above ``max_elements`` by its summary (baselines)."""
    import h5py

    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        with open_hdf5(src, TraceFileError) as fin, h5py.File(tmp, "w") as fout:
            for key in ("meta", "params", "bundles"):
                if key in fin:
                    fin.copy(fin[key], fout, name=key)
            fout.require_group("tensors")

            def visit(name: str, obj: Any) -> None:
                if not isinstance(obj, h5py.Dataset):
                    return
                target = f"tensors/{name}"
                grp = fout.require_group(target.rpartition("/")[0])
                leaf = target.rpartition("/")[2]
                if obj.size > max_elements and SUMMARY_ATTR not in obj.attrs:
                    _write_summary(grp, leaf, summarize(obj[()]))
                else:
                    fin.copy(obj, grp, name=leaf)

            fin["tensors"].visititems(visit)
            fout["meta"].attrs["slim_max_elements"] = max_elements
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return dst
