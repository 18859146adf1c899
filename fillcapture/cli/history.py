"""The stored fills: ``fillcapture fills`` prints them, ``report daily``
summarizes them, ``export`` writes them to a file."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from fillcapture.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    print_table,
    progress_bar,
    store_missing,
)
from fillcapture.config import Settings
from fillcapture.exports import FILL_COLUMNS, cell_text, fill_row, write_csv


def add_fills(commands: Any) -> None:
    fills = commands.add_parser("fills", help="print stored fills")
    fills.add_argument("--user")
    fills.add_argument("--account")
    fills.add_argument("--since", type=date.fromisoformat, help="first trade date, YYYY-MM-DD")
    fills.add_argument("--until", type=date.fromisoformat, help="last trade date, YYYY-MM-DD")
    fills.add_argument("--format", choices=("table", "csv", "json"), default="table")
    fills.add_argument("--include-busted", action="store_true",
                       help="show busted fills too (the busted column says which)")
    fills.set_defaults(handler=_cmd_fills)


def add_report(commands: Any) -> None:
    report = commands.add_parser("report", help="summaries of stored fills")
    report_commands = report.add_subparsers(dest="report_command", required=True)
    daily = report_commands.add_parser(
        "daily", help="per trade date, account and market: counts, volumes, VWAPs, FIFO "
                      "P&L, net position",
        description="Summarize a user's fills per trade date, account and market (read-only). "
        "Positions and P&L are FIFO within the account, built from its first fill whatever "
        "--from says; busted fills and spread-level trades are left out, spread legs count "
        "on their own contracts, and fills of unknown side and pending legs are left out "
        "and counted (see the README's Reports and exports).")
    daily.add_argument("--user", required=True)
    daily.add_argument("--from", dest="since", type=date.fromisoformat, metavar="DATE",
                       help="first trade date reported, YYYY-MM-DD")
    daily.add_argument("--to", dest="until", type=date.fromisoformat, metavar="DATE",
                       help="last trade date, YYYY-MM-DD")
    daily.add_argument("--format", choices=("table", "csv", "json"), default="table")
    daily.add_argument("--point-value", action="append", default=[], metavar="MARKET=VALUE",
                       help="currency per price point and contract of a market, for "
                            "pnl_currency, over the value recorded from T4's market details "
                            "and [api] point_values (repeatable; e.g. 'XCME_Eq ES (Z26)=50')")
    daily.set_defaults(handler=_cmd_report_daily)


def add_export(commands: Any) -> None:
    export = commands.add_parser(
        "export", help="write stored fills to a CSV or Parquet file",
        description="Stream stored fills into FILE in constant memory, with the columns of "
        "'fillcapture fills' (a progress bar on a terminal). Parquet types: price "
        "decimal128(38, 18), exchange_time timestamp[us, UTC], trade_date date32.")
    export.add_argument("--format", choices=("csv", "parquet"), required=True)
    export.add_argument("--out", type=Path, required=True, metavar="FILE")
    export.add_argument("--user")
    export.add_argument("--account")
    export.add_argument("--since", type=date.fromisoformat, help="first trade date, YYYY-MM-DD")
    export.add_argument("--until", type=date.fromisoformat, help="last trade date, YYYY-MM-DD")
    export.add_argument("--include-busted", action="store_true",
                        help="busted fills too (the busted column says which)")
    export.set_defaults(handler=_cmd_export)


def _cmd_fills(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.store import FillQuery

    query = FillQuery(user=args.user, account=args.account, since=args.since, until=args.until,
                      include_busted=args.include_busted)

    async def dump() -> None:
        async with settings.store.open(readonly=True) as store:
            if args.format == "csv":
                await write_csv(store.fills(query), sys.stdout)
                return
            rows = (fill_row(fill) async for fill in store.fills(query))
            if args.format == "json":
                first = True
                sys.stdout.write("[")
                async for row in rows:
                    sys.stdout.write(("\n" if first else ",\n") + json.dumps(row))
                    first = False
                sys.stdout.write("\n]\n" if not first else "]\n")
            else:
                table = [tuple(cell_text(value) for value in r.values()) async for r in rows]
                print_table(FILL_COLUMNS, table, sys.stdout)

    if store_missing(settings):  # not an empty list: there is no store to list
        return EXIT_FAILURE
    asyncio.run(dump())
    return 0


def _cmd_report_daily(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.fees import FeeBook
    from fillcapture.money import (
        MONEY_COLUMNS,
        MoneyRow,
        money_fields,
        money_notes,
        summarize_money,
    )
    from fillcapture.reports import REPORT_COLUMNS, point_values, report_row
    from fillcapture.store import FillQuery

    try:
        given = _point_values(args.point_value)
    except ValueError as exc:
        print(f"fillcapture: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if store_missing(settings, ""):
        return EXIT_FAILURE
    # From the account's first fill: positions opened before --from are closed after it.
    query = FillQuery(user=args.user, until=args.until, include_busted=False)

    async def summary() -> tuple[list[MoneyRow], list[str]]:
        async with settings.store.open(readonly=True) as store:
            values = await point_values(store, settings.api.point_values, given)
            book = FeeBook(await store.fee_schedules())
            found = await summarize_money(store, query, since=args.since, point_values=values,
                                          currencies=settings.money.currencies, book=book)
        return found, book.components

    money, names = asyncio.run(summary())
    columns = (*REPORT_COLUMNS, *MONEY_COLUMNS, *(f"fee_{name}" for name in names))
    rows = [report_row(row.row) | money_fields(row, names) for row in money]
    if args.format == "json":
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        cells = [["" if row[key] is None else str(row[key]) for key in columns] for row in rows]
        if args.format == "csv":
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows(cells)
        else:
            print_table(columns, cells, sys.stdout)
    for line in money_notes(money):
        print(f"fillcapture: {line}", file=sys.stderr)
    return 0


def _cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.exports import counted, write_parquet
    from fillcapture.files import staged
    from fillcapture.store import FillQuery

    query = FillQuery(user=args.user, account=args.account, since=args.since, until=args.until,
                      include_busted=args.include_busted)

    async def export(partial: Path, advance: Callable[[int], None]) -> int:
        async with settings.store.open(readonly=True) as store:
            fills = counted(store.fills(query), advance)
            if args.format == "parquet":
                return await write_parquet(fills, partial)
            with partial.open("w", encoding="utf-8", newline="") as out:
                return await write_csv(fills, out)

    if store_missing(settings, ""):
        return EXIT_FAILURE
    try:
        with staged(args.out) as partial, progress_bar(f"exporting {args.out.name}") as advance:
            written = asyncio.run(export(partial, advance))
    except OSError as exc:
        print(f"fillcapture: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"{written} fills written to {args.out}")
    return 0


def _point_values(texts: Sequence[str]) -> dict[str, Decimal]:
    """``MARKET=VALUE`` options by market; ValueError naming a malformed one."""
    found: dict[str, Decimal] = {}
    for text in texts:
        market, _, value = text.rpartition("=")
        try:
            number = Decimal(value)
        except InvalidOperation:
            number = Decimal("NaN")
        if not market or not number.is_finite():
            raise ValueError(f"--point-value {text!r}: give MARKET=VALUE, VALUE a decimal")
        found[market] = number
    return found
