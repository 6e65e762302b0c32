"""``ptycho_torch``: the upstream PtychoPINN PyTorch module names that ptychodus imports, served
by the ptychopinn-parity PyTorch backend (docs/ptychodus.md).

Importing this package or :mod:`ptycho_torch.config_params` never imports torch; the modules
that train or run a model import it when first used.
"""
