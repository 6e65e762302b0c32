"""Names both backends, the bundles and the harness spell the same way, declared once."""

from __future__ import annotations

BACKEND_NAMES = ("tensorflow", "pytorch")
"""The backends, the reference first."""

FRAMEWORK_MODULES = {"tensorflow": "tensorflow", "pytorch": "torch"}
"""The top-level module each backend's framework installs."""

BUNDLE_NAME = "wts.h5.zip"
"""File name of a model bundle inside its directory."""

PARAMS_FILE = "params.json"
MANIFEST_FILE = "manifest.json"
HPARAMS_FILE = "hparams.json"
"""Members of a bundle: the legacy params snapshot, the manifest, PyTorch's hyper-parameters."""

VERSION_TAGS = {"tensorflow": "1.0", "pytorch": "2.0-pytorch"}
"""The ``_version`` each backend writes into a bundle's params."""
