"""Logging set-up: structlog, JSON lines off a terminal, console on a terminal.

Every event has a stable dotted name (``fill.captured``); context is key/value.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

from fillcapture.urls import mask_event

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


def configure(level: str = "info", fmt: Literal["auto", "json", "console"] = "auto") -> None:
    """Configure structlog once, at start-up, writing to standard error."""
    stream = sys.stderr
    console = fmt == "console" or (fmt == "auto" and stream.isatty())
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(colors=stream.isatty())
        if console
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            mask_event,  # no URL's user:password in any line, tracebacks included
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        cache_logger_on_first_use=True,
    )
