"""One module per ``parity`` subcommand (discovered by :mod:`parity.cli`)."""
