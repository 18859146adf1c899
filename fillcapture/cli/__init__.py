"""The ``fillcapture`` command line (entry point :func:`main`)."""

from fillcapture.cli.main import main, run_cli

__all__ = ["main", "run_cli"]
