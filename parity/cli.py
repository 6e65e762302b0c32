"""The ``parity`` command.

Each subcommand lives in its own module under :mod:`parity.commands` and provides ``HELP``
(one line), ``add_arguments(parser)`` and ``run(args) -> int``. Exit codes: 0 success (every
check passes or is known), 1 a failure was found, 2 a usage or input error.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence
from typing import Any

from parity import __version__
from parity.errors import InputError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _command_modules() -> list[tuple[str, Any]]:
    import parity.commands as package

    found: list[tuple[str, Any]] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"parity.commands.{info.name}")
        found.append((getattr(module, "NAME", info.name.replace("_", "-")), module))
    return found


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="parity",
        description="PtychoPINN on TensorFlow and PyTorch, and the harness that proves they agree.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _command_modules():
        help_text = getattr(module, "HELP", "")
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    if not getattr(args, "_run", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args._run(args))
    except (InputError, FileNotFoundError, KeyError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"parity {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # permissions, a file where a directory belongs, a full disk
        where = f"{exc.filename}: " if exc.filename else ""
        print(
            f"parity {args.command}: error: {where}{exc.strerror or exc}; check the path and "
            "its permissions",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"parity {args.command}: interrupted", file=sys.stderr)
        return 130


FRAMEWORK_MODULES = ("tensorflow", "torch")


def entry() -> None:
    """The ``parity`` console script: :func:`main`, then exit at once.

    When a framework is loaded, its interpreter teardown (thread pools, finalizers of TensorFlow
    and PyTorch) takes about 2 s on 2 cores and does nothing the command needs: every output was
    written, flushed and closed before :func:`main` returned. So the streams and logging are
    flushed and the process exits without it.
    """
    code = main()
    if not any(name in sys.modules for name in FRAMEWORK_MODULES):
        sys.exit(code)
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
