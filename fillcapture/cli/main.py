"""The ``fillcapture`` command line: the daemon, the simulator, and operator tools.

Exit codes: 0 success, 1 failure, 2 configuration error, invalid input (nothing
done) or a store a restart cannot fix (not a store, damaged, too new, read-only,
held by another daemon), 3 T4 refused the login.

This module is the entry point and the one place errors become exit codes;
:mod:`fillcapture.cli.parser` builds the command line, one module per concern
holds the commands.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from fillcapture.cli.common import EXIT_CONFIG, EXIT_FAILURE
from fillcapture.cli.parser import build_parser
from fillcapture.config import ConfigError, config_file, load_settings, login_problem


def main(argv: Sequence[str] | None = None) -> None:
    try:
        code = run_cli(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away; that is not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)


def run_cli(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
        problem = login_problem(settings) if getattr(args, "logs_in", False) else None
        if problem is not None:
            raise ConfigError(f"{config_file(args.config)}: {problem}")
    except ConfigError as exc:
        print(f"fillcapture: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    from fillcapture import logs

    logs.configure(settings.log.level, settings.log.format)
    handler = args.handler
    from fillcapture.files import UnsafeFile
    from fillcapture.store import StoreError

    try:
        result: int = handler(args, settings)
    except KeyboardInterrupt:
        return 130
    except StoreError as exc:  # one line naming the store and the cause
        print(f"fillcapture: {exc}", file=sys.stderr)
        return EXIT_CONFIG if exc.permanent else EXIT_FAILURE
    except UnsafeFile as exc:  # a symbolic link or another's file where we would write
        print(f"fillcapture: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return EXIT_CONFIG
    return result
