"""Configuration dataclasses with upstream's names (framework-free)."""
