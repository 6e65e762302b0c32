"""Upstream's ``PtychoPINN_Lightning`` name: a handle on a network of the project's PyTorch
backend, saved and loaded as ``.ckpt`` files that are this project's bundles (docs/ptychodus.md).

It is not a LightningModule: training goes through :class:`ptycho_torch.api.base_api.Trainer`,
and ``load_from_checkpoint`` reads the pickle-free bundle, never a pickled checkpoint.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["PtychoPINN_Lightning"]


class PtychoPINN_Lightning:
    """A PtychoPINN network with its configs; ``handle`` is the backend's model handle (None
    until trained or loaded) and ``params`` the bundle's legacy params snapshot."""

    loss_name = "train_loss"
    val_loss_name = "val_loss"

    def __init__(
        self,
        model_config: Any = None,
        data_config: Any = None,
        training_config: Any = None,
        inference_config: Any = None,
    ) -> None:
        self.model_config = model_config
        self.data_config = data_config
        self.training_config = training_config
        self.inference_config = inference_config
        self.handle: Any = None
        self.params: dict[str, Any] = {}

    def load_bundle(self, path: str | os.PathLike[str]) -> None:
        """Load the network stored in the bundle (or ``.ckpt``) at ``path``."""
        from ptycho._bundles import open_bundle

        self.handle, self.params = open_bundle(path, "pytorch")

    @classmethod
    def load_from_checkpoint(
        cls,
        checkpoint_path: str | os.PathLike[str],
        model_config: Any = None,
        data_config: Any = None,
        training_config: Any = None,
        inference_config: Any = None,
        **_ignored: Any,
    ) -> PtychoPINN_Lightning:
        """The network stored in ``checkpoint_path`` (a bundle of this project, any file
        name), with the given configs attached."""
        out = cls(model_config, data_config, training_config, inference_config)
        out.load_bundle(checkpoint_path)
        return out

    def eval(self) -> PtychoPINN_Lightning:
        """Inference mode (loaded networks always are); returns self."""
        return self
