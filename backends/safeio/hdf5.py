"""HDF5 files opened so that nothing outside them is ever read.

HDF5 can point beyond the file: a dataset may keep its raw data in *external* files, a
*virtual* dataset maps other files' datasets, an *external link* names an object in another
file and a *soft link* may name a path that loops. h5py follows all of them on access. Before a
file is handed to a reader, :func:`check_hdf5` walks every link (without following any) and
every dataset's creation properties and refuses all of these (the project's writers create
none of them), as h5py's guidance on external storage suggests for untrusted files. It also
bounds each dataset's size against the bytes it really stores, so a forged shape or an
unallocated dataset read as fill values cannot exhaust memory.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from backends.safeio.errors import UnsafeInputError
from backends.safeio.files import check_regular_file

#: A dataset may hold at most this many times the bytes it stores (deflate's ceiling is ~1032).
MAX_DATASET_RATIO = 1100
#: Datasets this small are exempt from the ratio (fill values of a small array are harmless).
RATIO_EXEMPT_BYTES = 1 << 20
#: Largest dataset a reader accepts.
MAX_DATASET_BYTES = 16 * 1024**3
#: Files that passed :func:`check_hdf5` in this process, by identity and version (device, inode,
#: size, modification time in ns): a file reopened unchanged is not walked again (the parity
#: engine opens each trace and baseline several times per run).
_CHECKED: dict[tuple[int, int, int, int], None] = {}
_CHECKED_LIMIT = 256


def check_hdf5(handle: Any, path: str | os.PathLike[str], error: type[UnsafeInputError]) -> None:
    """Raise ``error`` unless every link in ``handle`` is a hard link and every dataset keeps
    its bounded data inside the file."""
    import h5py

    problems: list[tuple[str, str, str]] = []

    def visit(name: str, link: Any) -> None:
        if problems:
            return
        if isinstance(link, h5py.ExternalLink):
            problems.append(
                (
                    name,
                    f"is an external link to {link.filename}:{link.path}",
                    "external links are never followed; copy the data into the file",
                )
            )
        elif isinstance(link, h5py.SoftLink):
            problems.append(
                (
                    name,
                    f"is a soft link to {link.path}",
                    "soft links are never followed; store the object itself",
                )
            )
        else:
            obj = handle.get(name)
            if isinstance(obj, h5py.Dataset):
                problem = dataset_problem(obj)
                if problem:
                    problems.append(
                        (name, problem, "store the data inside the file, contiguous or chunked")
                    )

    try:
        handle.visititems_links(visit)
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        raise error(
            path,
            f"its structure cannot be walked ({type(exc).__name__})",
            fix="the file is damaged; write it again",
        ) from exc
    if problems:
        name, problem, fix = problems[0]
        raise error(path, problem, key=name, fix=fix)


def dataset_problem(dataset: Any) -> str | None:
    """Why reading ``dataset`` would be unsafe, or None."""
    import h5py

    plist = dataset.id.get_create_plist()
    if plist.get_layout() == h5py.h5d.VIRTUAL:
        return "is a virtual dataset (it maps data from other files)"
    if plist.get_external_count() > 0:
        return "keeps its raw data in external files"
    nbytes = int(dataset.size or 0) * int(dataset.dtype.itemsize)
    if nbytes > MAX_DATASET_BYTES:
        return f"declares {nbytes} bytes, more than the limit of {MAX_DATASET_BYTES}"
    if nbytes > RATIO_EXEMPT_BYTES and nbytes > MAX_DATASET_RATIO * dataset.id.get_storage_size():
        return f"declares {nbytes} bytes but stores {dataset.id.get_storage_size()}"
    return None


def open_hdf5(
    source: str | os.PathLike[str] | bytes, error: type[UnsafeInputError], *, name: str = ""
) -> Any:
    """An ``h5py.File`` opened read-only after :func:`check_hdf5` accepted it.

    ``source`` is a path (a regular file) or the bytes of a file (``name`` labels it in
    errors). The caller closes the file.
    """
    import h5py

    label: str | os.PathLike[str]
    target: io.BytesIO | Path
    if isinstance(source, bytes):
        label, target = name or "<memory>", io.BytesIO(source)
    else:
        label = check_regular_file(source, error)
        target = Path(label)
    try:
        handle = h5py.File(target, "r")
    except (OSError, ValueError, RuntimeError) as exc:
        raise error(
            label,
            f"is not a readable HDF5 file ({type(exc).__name__})",
            fix="pass a file written by this project",
        ) from exc
    version = _version(target) if isinstance(target, Path) else None
    if version is not None and version in _CHECKED:
        return handle
    try:
        check_hdf5(handle, label, error)
    except BaseException:
        handle.close()
        raise
    # remembered only when the file did not change while it was walked
    if version is not None and isinstance(target, Path) and version == _version(target):
        if len(_CHECKED) >= _CHECKED_LIMIT:
            _CHECKED.pop(next(iter(_CHECKED)))
        _CHECKED[version] = None
    return handle


def _version(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
