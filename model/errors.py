"""The one user-error type, and how every command line reports it.

A CellscopeError means "cannot do that, here is why": bad text, an unknown checkpoint, a cell out of range.
Its message is one line for the user. Every CLI prints it on stderr and exits 2 (as argparse does for a bad
flag); every page shows it as a notice above a working default view (viz/app/common.py). No torch here.
"""
import argparse
import contextlib
import sys


class CellscopeError(Exception):
    """Cannot do that, here is why; the message is one line for the user."""


def fail(message):
    """One line on stderr, exit status 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with its errors as one line (no usage dump), like every other error of the CLIs."""

    def error(self, message):
        fail(message)


@contextlib.contextmanager
def reported():
    """Around a CLI's work: a CellscopeError, or an OSError such as a full disk, becomes fail()."""
    try:
        yield
    except CellscopeError as e:
        fail(e)
    except OSError as e:
        fail(f"{e.filename + ': ' if e.filename else ''}{e.strerror or e}")
