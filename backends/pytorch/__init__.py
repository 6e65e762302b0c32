"""PyTorch backend: the PtychoPINN model of docs/model.md on torch and Lightning.

Tensors are channels-first inside (``(B, C, N, N)``); :mod:`backends.pytorch.adapter` converts to
and from the reference layout of :mod:`backends.base` at the boundary. The OpenMP wait policy of
torch's thread pool is set when :mod:`backends` is imported (:mod:`backends.core.threads`).
"""
