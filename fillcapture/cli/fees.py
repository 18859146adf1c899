"""``fillcapture fees``: the fee and commission schedules kept in the store.

A schedule set without ``--from`` takes effect from the current trade date,
so the summaries of past days keep the fees they had; ``--from`` an earlier
date is how a past day's fees are changed, and the command says which
summaries that reaches. Summaries apply the schedules when they are read,
so a change shows in the next one asked for, daemon running or not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from fillcapture.cli.common import EXIT_CONFIG, EXIT_FAILURE, print_table, store_missing
from fillcapture.config import Settings
from fillcapture.fees import FeeError, FeeSchedule
from fillcapture.model import Side


def add_fees(commands: Any) -> None:
    fees = commands.add_parser("fees", help="fee and commission schedules")
    fee_commands = fees.add_subparsers(dest="fees_command", required=True)
    scope = argparse.ArgumentParser(add_help=False)
    scope.add_argument("--exchange", help="only fills of this T4 exchange id (CME_Eq)")
    scope.add_argument("--contract", help="only fills of this contract of --exchange (ES)")
    scope.add_argument("--account", help="only fills of this account number")
    scope.add_argument("--user", help="only fills of this user's accounts")
    scope.add_argument("--side", metavar="BUY|SELL", help="only fills of this side")
    listing = fee_commands.add_parser("list", help="list the schedules")
    listing.add_argument("--json", action="store_true", help="JSON, amounts as exact strings")
    listing.set_defaults(handler=_cmd_list)
    setting = fee_commands.add_parser(
        "set", parents=[scope], help="set a schedule (replacing the amount of the same one)",
        description="Charge AMOUNT of CURRENCY per contract for COMPONENT (commission, "
        "exchange, clearing, nfa, ...) to the fills of the scope given (every fill "
        "without), from the current trade date on, or from --from.")
    setting.add_argument("component")
    setting.add_argument("amount")
    setting.add_argument("currency")
    setting.add_argument("--from", dest="start", metavar="YYYY-MM-DD",
                         help="first trade date it applies to (default: the current one); "
                              "an earlier date changes the summaries of the days since")
    setting.set_defaults(handler=_cmd_set)
    removing = fee_commands.add_parser("remove", parents=[scope],
                                       help="remove the schedule of a component, scope and start")
    removing.add_argument("component")
    removing.add_argument("--from", dest="start", metavar="YYYY-MM-DD", required=True,
                          help="the schedule's first trade date")
    removing.set_defaults(handler=_cmd_remove)


def _cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    if store_missing(settings):
        return EXIT_FAILURE

    async def read() -> list[FeeSchedule]:
        async with settings.store.open(readonly=True) as store:
            return await store.fee_schedules()

    schedules = asyncio.run(read())
    if args.json:
        print(json.dumps([_as_json(s) for s in schedules], indent=2))
        return 0
    print_table(("component", "scope", "side", "from", "amount", "currency"),
                [(s.component, s.scope_text(), "both" if s.side is None else s.side.value,
                  s.effective_from.isoformat(), str(s.amount), s.currency) for s in schedules],
                sys.stdout)
    return 0


def _cmd_set(args: argparse.Namespace, settings: Settings) -> int:
    today = _current_trade_date(settings)
    try:
        schedule = _schedule(args, args.amount, args.currency, today)
    except FeeError as exc:
        print(f"fillcapture: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    async def write() -> bool:
        async with settings.store.open() as store:
            return await store.set_fee_schedule(schedule)

    changed = asyncio.run(write())
    print(f"{_named(schedule)}: {schedule.amount} {schedule.currency} per contract"
          f"{'' if changed else ' (unchanged)'}")
    if changed and schedule.effective_from < today:
        print(f"the summaries of trade dates from {schedule.effective_from} on now use it")
    return 0


def _cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    today = _current_trade_date(settings)
    try:
        schedule = _schedule(args, "0", "USD", today)
    except FeeError as exc:
        print(f"fillcapture: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    async def remove() -> bool:
        async with settings.store.open() as store:
            return await store.remove_fee_schedule(schedule.key)

    if not asyncio.run(remove()):
        print(f"fillcapture: no fee schedule {_named(schedule)}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"{_named(schedule)}: removed")
    if schedule.effective_from < today:
        print(f"the summaries of trade dates from {schedule.effective_from} on no longer use it")
    if any(fee.schedule().key == schedule.key for fee in settings.fees):
        # The daemon stores each [[fees]] entry missing from the store at start.
        print("fillcapture: warning: it is still a [[fees]] entry of the configuration, so the "
              "daemon stores it again at its next start; remove it there too", file=sys.stderr)
    return 0


def _current_trade_date(settings: Settings) -> date:
    """The trade date now, by the configured exchange holidays."""
    from fillcapture.schedule import trade_date

    return trade_date(datetime.now(UTC), frozenset(settings.schedule.holidays))


def _schedule(args: argparse.Namespace, amount: str, currency: str, today: date) -> FeeSchedule:
    """The schedule the arguments name; :class:`FeeError` (one line) if none."""
    try:
        value = Decimal(amount.strip())
    except InvalidOperation:
        raise FeeError(f"fee amount {amount[:40]!r}: not a number (1.25)") from None
    start = today
    if args.start is not None:
        try:
            start = date.fromisoformat(args.start)
        except ValueError:
            raise FeeError(f"--from {args.start[:40]!r}: a date, YYYY-MM-DD") from None
    side = None
    if args.side is not None:
        if args.side.upper() not in ("BUY", "SELL"):
            raise FeeError(f"--side {args.side[:40]!r}: BUY or SELL")
        side = Side(args.side.upper())
    return FeeSchedule(args.component, value, currency, start, args.exchange, args.contract,
                       args.account, args.user, side)


def _named(schedule: FeeSchedule) -> str:
    return (f"fee {schedule.component} ({schedule.scope_text()}) "
            f"from {schedule.effective_from}")


def _as_json(schedule: FeeSchedule) -> dict[str, Any]:
    return {"component": schedule.component, "exchange": schedule.exchange,
            "contract": schedule.contract, "account": schedule.account, "user": schedule.user,
            "side": None if schedule.side is None else schedule.side.value,
            "from": schedule.effective_from.isoformat(), "amount": str(schedule.amount),
            "currency": schedule.currency, "scope": schedule.scope_text()}
