"""Errors the command line reports as usage or input errors (exit code 2)."""


class InputError(Exception):
    """Bad user input: a missing file, a malformed scenario, an unknown name.

    The message names the file, key or field and says how to fix it.
    """
