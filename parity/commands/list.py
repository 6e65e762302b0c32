"""``parity list``: built-in scenarios, backends and the defects the harness is proven to catch."""

from __future__ import annotations

import argparse

HELP = "list the built-in scenarios, the backends installed here and the injectable defects"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``parity list``."""
    parser.add_argument("--defects", action="store_true", help="also list the injectable defects")


def run(args: argparse.Namespace) -> int:
    """Print the lists."""
    import backends
    from parity import scenario

    print("Scenarios:")
    for name in scenario.builtin_names():
        sc = scenario.load(name)
        model = ", ".join(f"{k}={v}" for k, v in sc.config.get("model", {}).items())
        print(f"  {name:<16} {sc.dataset:<24} {model}")
        print(f"  {'':<16} checks: {', '.join(sc.checks)}")
        print(f"  {'':<16} {sc.description}")
    installed = backends.available()
    print(
        "\nBackends: "
        + ", ".join(
            f"{n} ({'installed' if n in installed else 'not installed'})"
            for n in backends.BACKEND_NAMES
        )
    )
    if args.defects:
        from parity.defects import DEFECTS

        print("\nDefects (parity run SCENARIO --inject NAME):")
        for d in DEFECTS.values():
            expect = "; ".join(f"{e.check} names {e.tensor}" for e in d.expected)
            first = f"; first divergent stage {d.first_divergent}" if d.first_divergent else ""
            print(f"  {d.name:<28} {d.description}")
            print(f"  {'':<28} caught by: {expect}{first} (scenario {d.scenario}; {d.hazard})")
    return 0
