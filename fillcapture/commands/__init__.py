"""Subcommands of ``fillcapture`` kept out of ``cli.py``, one module per concept.

Each module has ``register(commands)``, adding its parser with a ``handler``.
"""
