"""PyTorch backend: the PtychoPINN model of spec/model.md on torch and Lightning.

Tensors are channels-first inside (``(B, C, N, N)``); :mod:`backends.pytorch.adapter` converts to
and from the reference layout of :mod:`backends.base` at the boundary.
"""
