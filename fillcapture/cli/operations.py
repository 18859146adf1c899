"""What an operator reads of a running capture: ``status``, ``seals``,
``gaps``, ``markets`` (the store, read-only) and ``config check``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date
from typing import Any

from fillcapture.cli.common import print_table, store_missing
from fillcapture.config import Settings, config_file
from fillcapture.exports import cell_text


def add_status(commands: Any) -> None:
    status = commands.add_parser(
        "status", help="the daemon's state, accounts, open gaps (from the store)",
        description="Read the store (read-only; the daemon may run or not): each daemon's "
        "connection state and since when, its user, accounts visible / owned / owned but "
        "invisible, last fill and today's fills per account, unacknowledged unrecoverable "
        "gaps, last reconcile, seal and backup.")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=_cmd_status)


def add_seals(commands: Any) -> None:
    seals = commands.add_parser(
        "seals", help="sealed trade dates: how each reconcile ended, certificates",
        description="Read the store (read-only): each sealed trade date, whether its "
        "pre-roll reconcile was verified (and by which step) or not, and per account its "
        "certificate: fills in T4's last snapshot, stored live after it, stored, recovered, "
        "quarantined, busted, and the difference (reported minus stored).")
    seals.add_argument("--since", type=date.fromisoformat, metavar="DATE",
                       help="from this trade date on (YYYY-MM-DD)")
    seals.add_argument("--json", action="store_true", help="machine-readable output")
    seals.set_defaults(handler=_cmd_seals)


def add_gaps(commands: Any) -> None:
    gaps = commands.add_parser("gaps", help="times the daemon did not hear T4")
    gap_commands = gaps.add_subparsers(dest="gaps_command", required=True)
    gap_list = gap_commands.add_parser("list", help="every gap, newest first")
    gap_list.add_argument("--json", action="store_true")
    gap_list.set_defaults(handler=_cmd_gaps_list)
    ack = gap_commands.add_parser(
        "ack", help="acknowledge an unrecoverable gap once its fills are accounted for")
    ack.add_argument("id", type=int)
    ack.set_defaults(handler=_cmd_gaps_ack)


def add_config(commands: Any) -> None:
    config = commands.add_parser("config", help="configuration tools")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate and print the configuration")
    check.set_defaults(handler=_cmd_config_check, logs_in=True)


def add_markets(commands: Any) -> None:
    markets = commands.add_parser(
        "markets", help="markets' point values and spreads' legs, as recorded from T4's "
                        "market details")
    markets.add_argument("--json", action="store_true", help="JSON instead of a table")
    markets.set_defaults(handler=_cmd_markets)


def _cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture import status

    async def show() -> str:
        async with settings.store.open(readonly=True) as store:
            found = await status.collect(store)
        return json.dumps(found, indent=2) + "\n" if args.json else status.render(found)

    if store_missing(settings):
        return 1
    sys.stdout.write(asyncio.run(show()))
    return 0


def _cmd_seals(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.status import sealed_day_row

    async def rows() -> list[dict[str, Any]]:
        async with settings.store.open(readonly=True) as store:
            return [sealed_day_row(day) for day in await store.sealed_days(since=args.since)]

    if store_missing(settings):
        return 1
    found = asyncio.run(rows())
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    header = ("trade_date", "firm", "reconcile", "account", "snapshot", "after_snapshot",
              "stored", "recovered", "quarantined", "busted", "difference")
    table: list[list[str]] = []
    for day in found:
        verdict = ("verified " + day["reconcile_step"] if day["verified"]
                   else "-" if day["verified"] is None else "UNVERIFIED")
        for row in day["certificates"] or [{}]:
            table.append([day["trade_date"], day["firm"], verdict,
                          *("" if row.get(key) is None else str(row[key])
                            for key in header[3:])])
    print_table(header, table, sys.stdout)
    for day in found:
        if day["verified"] is False:
            print(f"{day['trade_date']} {day['firm']} unverified: {day['unverified_reason']}")
    return 0


def _cmd_gaps_list(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.status import gap_row

    async def rows() -> list[dict[str, Any]]:
        async with settings.store.open(readonly=True) as store:
            return [gap_row(gap) for gap in await store.gaps()]

    found = asyncio.run(rows())
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    header = ("id", "instance", "started_at", "ended_at", "unrecoverable", "acknowledged_at",
              "reason")
    print_table(header, [[cell_text(row[key]) if row[key] is not None else "" for key in header]
                    for row in found], sys.stdout)
    return 0


def _cmd_gaps_ack(args: argparse.Namespace, settings: Settings) -> int:

    async def ack() -> bool:
        async with settings.store.open() as store:
            return await store.acknowledge_gap(args.id)

    if not asyncio.run(ack()):
        print(f"fillcapture: no gap {args.id}", file=sys.stderr)
        return 1
    print(f"gap {args.id} acknowledged")
    return 0


def _cmd_markets(args: argparse.Namespace, settings: Settings) -> int:

    async def rows() -> list[dict[str, Any]]:
        async with settings.store.open(readonly=True) as store:
            markets = await store.markets()
            spreads = await store.spreads()
        found: list[dict[str, Any]] = []
        for market_id in sorted(markets.keys() | spreads.keys()):
            market, spread = markets.get(market_id), spreads.get(market_id)
            found.append({
                "market_id": market_id,
                "exchange_id": "" if market is None else market.exchange_id,
                "contract_id": "" if market is None else market.contract_id,
                "point_value": None if market is None else str(market.point_value),
                "legs": None if spread is None else [
                    {"market_id": leg.market_id, "ratio": leg.ratio,
                     "direction": leg.direction} for leg in spread.legs]})
        return found

    found = asyncio.run(rows())
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    header = ("market_id", "exchange_id", "contract_id", "point_value", "legs")
    print_table(header, [[row["market_id"], row["exchange_id"], row["contract_id"],
                     row["point_value"] or "", " ".join(
                         f"{'+' if leg['direction'] > 0 else '-'}{leg['ratio']} {leg['market_id']}"
                         for leg in row["legs"] or ())] for row in found], sys.stdout)
    return 0


def _cmd_config_check(args: argparse.Namespace, settings: Settings) -> int:
    print(f"# configuration is valid; file: {config_file(args.config)}")
    json.dump(settings.masked(), sys.stdout, indent=2)
    print()
    return 0
