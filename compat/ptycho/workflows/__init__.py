"""Upstream's workflow entry points over :mod:`backends.workflows`."""
