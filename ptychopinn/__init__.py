"""The application layer: what a user runs on top of the backends.

:mod:`ptychopinn.workflows` trains, reconstructs and converts bundles with either backend; the
``parity`` command line (:mod:`parity.commands`) exposes these workflows as ``parity train``,
``parity infer``, ``parity convert-bundle``, ``parity simulate`` and ``parity inspect`` beside
the harness's own commands. Nothing here imports a framework until a backend is requested.
"""
