"""``fillcapture statement``: a user's month as one self-contained HTML page."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fillcapture.cli.common import EXIT_CONFIG, EXIT_FAILURE, store_missing
from fillcapture.config import Settings


def add_statement(commands: Any) -> None:
    statement = commands.add_parser(
        "statement", help="a user's monthly statement as an HTML page (print it to PDF)",
        description="Write USER's statement of MONTH (read-only): totals per currency, a "
        "calendar of the days' net P&L, a cumulative chart per account and the table of "
        "days, in one HTML file that loads nothing else (see the README's Monthly "
        "statement). Currencies from [money] currencies, point values as 'report daily'.")
    statement.add_argument("--user", required=True)
    statement.add_argument("--month", required=True, metavar="YYYY-MM")
    statement.add_argument("--out", type=Path, required=True, metavar="FILE.html")
    statement.set_defaults(handler=_cmd_statement)


def _cmd_statement(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.files import UnsafeFile, replacing
    from fillcapture.monthly import month_rows, parse_month
    from fillcapture.statement import render

    try:
        month = parse_month(args.month)
    except ValueError as exc:
        print(f"fillcapture: --month: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if store_missing(settings, ""):
        return EXIT_FAILURE

    async def page() -> str | None:
        async with settings.store.open(readonly=True) as store:
            if await store.user_accounts(args.user) is None:
                return None
            rows = await month_rows(store, args.user, month,
                                    configured=settings.api.point_values,
                                    currencies=settings.money.currencies)
        return render(args.user, month, rows, datetime.now(UTC))

    html = asyncio.run(page())
    if html is None:
        print(f"fillcapture: --user: no user {args.user!r} (see 'fillcapture users list')",
              file=sys.stderr)
        return EXIT_CONFIG
    try:
        with replacing(args.out) as out:
            out.write(html.encode("utf-8"))
    except UnsafeFile:
        raise  # a symbolic link at FILE: the command line's one-line refusal, exit 2
    except OSError as exc:
        print(f"fillcapture: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"statement of {args.user} for {month:%Y-%m} written to {args.out}")
    return 0
