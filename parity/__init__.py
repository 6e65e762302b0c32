"""The parity harness: runs one scenario through both backends and proves, with numbers,
that they agree. Importing it never imports TensorFlow or PyTorch."""

__version__ = "0.1.0"
