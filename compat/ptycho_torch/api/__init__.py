"""Upstream's PyTorch API (``ptycho_torch.api.base_api``)."""
