"""Model bundles (``wts.h5.zip``), framework-free: docs/persistence.md section 3.

* :func:`write_bundle` / :func:`read_bundle`: the container, its manifest, the params snapshot,
  checksums, zip hygiene and atomic writing. Backends serialise their own weights into the
  payload bytes and rebuild models from :class:`BundleContents`.
* :func:`check_save_gate`, :func:`check_snapshot_consistency`: the CONFIG gate of section 3.6.
* :func:`restore_params`: section 3.7 step 7, applied by a loader after :func:`read_bundle`.
* :func:`detect_backend`, :func:`read_upstream_bundle`, :func:`convert_upstream_bundle`:
  upstream PtychoPINN bundles, read as data (docs/upstream.md).

Nothing here runs the standard unpickler: upstream's pickles go through
:mod:`backends.bundle.restricted_pickle`, the one pickle reader of the project. Nothing imports
TensorFlow or PyTorch at import time.
"""

from backends.bundle.archive import DEFAULT_MAX_TOTAL_BYTES, MAX_MEMBERS, MAX_RATIO
from backends.bundle.format import (
    BACKENDS,
    BUNDLE_NAME,
    FORMAT,
    FORMAT_VERSION,
    MODEL_NAMES,
    PAYLOAD_FORMATS,
    VERSION_TAGS,
    BundleBackendMismatchError,
    BundleContents,
    WeightsMismatchError,
    WeightsPayload,
    read_bundle,
    resolve_bundle_path,
    write_bundle,
)
from backends.bundle.gate import (
    REQUIRED_KEYS,
    check_save_gate,
    check_snapshot_consistency,
    legacy_mapping,
    restore_params,
)
from backends.bundle.snapshot import (
    decode_npy,
    decode_params,
    dumps_json,
    encode_npy,
    encode_params,
    sha256_hex,
)
from backends.bundle.upstream import (
    LegacyBundleError,
    UpstreamBundle,
    convert_upstream_bundle,
    detect_backend,
    import_legacy_bundle,
    is_upstream_bundle,
    legacy_refusal_message,
    read_upstream_bundle,
)

__all__ = [
    "BACKENDS",
    "BUNDLE_NAME",
    "DEFAULT_MAX_TOTAL_BYTES",
    "FORMAT",
    "FORMAT_VERSION",
    "MAX_MEMBERS",
    "MAX_RATIO",
    "MODEL_NAMES",
    "PAYLOAD_FORMATS",
    "REQUIRED_KEYS",
    "VERSION_TAGS",
    "BundleBackendMismatchError",
    "BundleContents",
    "LegacyBundleError",
    "UpstreamBundle",
    "WeightsMismatchError",
    "WeightsPayload",
    "check_save_gate",
    "check_snapshot_consistency",
    "convert_upstream_bundle",
    "decode_npy",
    "decode_params",
    "detect_backend",
    "dumps_json",
    "encode_npy",
    "encode_params",
    "import_legacy_bundle",
    "is_upstream_bundle",
    "legacy_mapping",
    "legacy_refusal_message",
    "read_bundle",
    "read_upstream_bundle",
    "resolve_bundle_path",
    "restore_params",
    "sha256_hex",
    "write_bundle",
]
