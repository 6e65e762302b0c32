"""Speed and memory benchmarks (``nox -s bench`` / ``python -m benchmarks``)."""
