"""The command line: argument parsing, flag validation, progress display and printing.

Only this package talks to the terminal; the library below it logs and reports events
through callbacks.
"""

from mmm_param_recovery.cli.main import main

__all__ = ["main"]
