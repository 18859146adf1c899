"""The ``fillcapture`` command line: the daemon, the simulator, and operator tools.

Exit codes: 0 success, 1 failure, 2 configuration error, invalid input (nothing
done) or a store a restart cannot fix (not a store, damaged, too new, read-only,
held by another daemon), 3 T4 refused the login.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import math
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from fillcapture import __version__
from fillcapture.commands import quarantine as quarantine_commands
from fillcapture.config import (
    ConfigError,
    Settings,
    config_file,
    load_settings,
    login_problem,
)
from fillcapture.exports import FILL_COLUMNS, cell_text, fill_row, write_csv

if TYPE_CHECKING:
    from fillcapture.store import Store

EXIT_FAILURE = 1
EXIT_CONFIG = 2
_T = TypeVar("_T")


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
    args = _parser().parse_args(argv)
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fillcapture", description="Capture T4 fills for a vendor's end users.")
    parser.add_argument("--version", action="version", version=f"fillcapture {__version__}")
    parser.add_argument("--config", metavar="FILE",
                        help="TOML configuration (default: $FILLCAPTURE_CONFIG, "
                             "/etc/fillcapture/fillcapture.toml, else the built-in demo)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the capture daemon")
    run.set_defaults(handler=_cmd_run, logs_in=True)

    sim = commands.add_parser("sim", help="run the simulated T4 backend",
                              description="The simulated T4 backend. SIGUSR1 rolls its trade "
                              "date at once, as T4 does at 17:00 Chicago.")
    sim.add_argument("--port", type=int, help="loopback port (default [sim] port; 0 = free)")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--seed", type=int, help="random seed (default [sim] seed)")
    sim.add_argument("--rate", help="live fills per second, or 'max' (default [sim] "
                                    "fills_per_second)")
    sim.add_argument("--accounts", help="comma-separated firm accounts (default [sim] accounts)")
    sim.add_argument("--visible", help="comma-separated accounts assigned to the fill user "
                                       "(default: all)")
    sim.add_argument("--no-risk-manager", action="store_true",
                     help="the fill user lacks the Risk Manager role")
    sim.add_argument("--firm", help="firm name (default [sim] firm)")
    sim.add_argument("--username", help="fill user (default [sim] username)")
    sim.add_argument("--password", default="sim-password")
    sim.add_argument("--api-key", default="sim-api-key")
    sim.add_argument("--max-fills", type=int, help="stop generating after this many fills")
    sim.add_argument("--preload", type=int, default=0,
                     help="fills in today's book before serving")
    sim.add_argument("--snapshot-chunk", type=int, default=100,
                     help="most fills per account_snapshot frame")
    sim.add_argument("--trade-date", type=date.fromisoformat, help="YYYY-MM-DD")
    sim.add_argument("--ledger", type=Path, help="write every generated fill here (JSON lines)")
    sim.add_argument("--onboarding", action="store_true",
                     help="also serve a simulated T4 Onboarding API; onboarded accounts join "
                          "the simulated firm and trade")
    sim.add_argument("--onboarding-port", type=int, default=8089,
                     help="its loopback port (default 8089, what [onboarding] url expects; "
                          "0 = free)")
    sim.add_argument("--onboarding-key", default="sim-onboarding-key",
                     help="the API key it accepts (default sim-onboarding-key)")
    sim.add_argument("--onboarding-delay", type=float, default=0.0, metavar="SECONDS",
                     help="test hook: act on the first --onboarding-slow requests, then "
                          "answer this late")
    sim.add_argument("--onboarding-slow", type=int, default=1, metavar="N",
                     help="how many requests --onboarding-delay applies to (default 1)")
    sim.add_argument("--onboarding-fail", type=int, default=0, metavar="N",
                     help="test hook: answer the first N requests 500 without acting")
    hostile = sim.add_argument_group(
        "busts, spreads and faults", "all off unless given here or in [sim]")
    hostile.add_argument("--spread", type=float, metavar="F",
                         help="fraction of orders that are two-leg spreads")
    hostile.add_argument("--bust", type=float, metavar="F",
                         help="chance that a fill busts an earlier fill of the day")
    hostile.add_argument("--drop-every", type=float, metavar="S",
                         help="abort every client socket every S seconds")
    hostile.add_argument("--drop-random", type=float, metavar="S",
                         help="abort every client socket at random, S seconds apart on average")
    hostile.add_argument("--duplicate", type=float, metavar="F",
                         help="fraction of live frames sent twice")
    hostile.add_argument("--reorder", type=int, metavar="N",
                         help="shuffle live frames within windows of N")
    hostile.add_argument("--fill-before-order", type=float, metavar="F",
                         help="fraction of new orders announced after their first fill")
    hostile.add_argument("--malformed", type=float, metavar="F",
                         help="fraction of live frames preceded by a junk frame")
    hostile.add_argument("--refuse-login", metavar="RESULT",
                         help="refuse correct logins with this LoginResult, by name "
                              "(LOGGED_IN_ELSEWHERE) or number (6)")
    hostile.add_argument("--refuse-logins", type=int, metavar="N",
                         help="refuse only the first N logins (default: all)")
    hostile.add_argument("--stall-after", type=float, metavar="S",
                         help="a session goes silent S seconds after its login")
    hostile.add_argument("--stall-seconds", type=float, metavar="S",
                         help="for S seconds ('inf': for good; the default)")
    shapes = sim.add_argument_group("message shapes (see fillcapture/sim/shapes.py)")
    shapes.add_argument("--top-level-updates", action="store_true", default=None,
                        help="live orders, fills and busts as bare messages, not inside "
                             "an OrderUpdateMulti")
    shapes.add_argument("--account-codes", action="store_true", default=None,
                        help="AccountDetails.account carries a code, not the number")
    shapes.add_argument("--ids-on-block", action="store_true", default=None,
                        help="updates in an OrderUpdateMulti leave account and market "
                             "ids to the block")
    shapes.add_argument("--busts-as-orders", action="store_true", default=None,
                        help="busts as an OrderUpdate naming the busted trade")
    shapes.add_argument("--corrupt", type=float, metavar="F",
                        help="fraction of live fills whose block also carries a corrupt "
                             "copy (no fill)")
    hostile.add_argument("--drop-after-login", action="store_true", default=None,
                         help="accept each login, then close the session at once")
    hostile.add_argument("--logged-in-elsewhere-after", type=float, metavar="S",
                         help="S seconds into each session, send LOGGED_IN_ELSEWHERE and close")
    hostile.add_argument("--trade-date-offset-ticks", type=int, metavar="N",
                         help="add N .NET ticks (100 ns) to every trade date sent")
    hostile.add_argument("--resubscribe-no-snapshot", type=int, metavar="N",
                         help="answer the first N subscriptions of a session after its "
                              "first with success and no snapshot")
    spreads = sim.add_argument_group("spread orders (with --spread)")
    spreads.add_argument("--spread-trades", action="store_true", default=None,
                         help="spread orders' updates carry their spread-level trades as "
                              "well as their legs")
    spreads.add_argument("--late-definitions", action="store_true", default=None,
                         help="a spread market's details come only after its first fills")
    sim.set_defaults(handler=_cmd_sim)

    from fillcapture.onboarding.batch import CSV_HELP

    onboard = commands.add_parser(
        "onboard", help="create end users through T4's Onboarding API and register their "
                        "accounts for capture",
        description="Validate the whole input first (errors: exit 2, nothing sent), then POST "
                    "each customer to [onboarding] url and register each created account "
                    "under its WhenTech user. Exit 0 when every customer is created and "
                    "registered, 1 otherwise.",
        epilog=CSV_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = onboard.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", type=Path, metavar="FILE.json",
                        help="one onboarding request (User, Account, MarketData, Eula)")
    source.add_argument("--csv", type=Path, metavar="FILE.csv", help="one customer per row")
    onboard.add_argument("--as-user", metavar="NAME",
                         help="WhenTech user to register the account under (FILE.json only; "
                              "default the request's username)")
    onboard.add_argument("--firm", help="register the account at this firm only "
                                        "(default: any firm)")
    onboard.set_defaults(handler=_cmd_onboard)

    record = commands.add_parser("record", help="record a T4 session's raw server frames")
    record.add_argument("--out", type=Path, required=True, help="recording file to write")
    record.add_argument("--seconds", type=float, help="stop after this long (default: Ctrl-C)")
    record.set_defaults(handler=_cmd_record, logs_in=True)

    replay = commands.add_parser(
        "replay", help="push a recording through the t4 adapter into the store",
        description="Serve a recording (fillcapture record) on loopback and capture it "
        "with the real t4 adapter and pipeline into the configured store, with the "
        "configured owners. A recording of several sessions is replayed as several: "
        "the adapter reconnects between them.")
    replay.add_argument("file", type=Path, help="recording file")
    replay.add_argument("--pace", choices=("original", "max"), default="max",
                        help="original: the recorded gaps between frames; max: as fast "
                        "as the pipeline takes them (default)")
    replay.set_defaults(handler=_cmd_replay)
    status = commands.add_parser(
        "status", help="the daemon's state, accounts, open gaps (from the store)",
        description="Read the store (read-only; the daemon may run or not): each daemon's "
        "connection state and since when, its user, accounts visible / owned / owned but "
        "invisible, last fill and today's fills per account, unacknowledged unrecoverable "
        "gaps, last reconcile, seal and backup.")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=_cmd_status)
    quarantine_commands.register(commands)
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
    gaps = commands.add_parser("gaps", help="times the daemon did not hear T4")
    gap_commands = gaps.add_subparsers(dest="gaps_command", required=True)
    gap_list = gap_commands.add_parser("list", help="every gap, newest first")
    gap_list.add_argument("--json", action="store_true")
    gap_list.set_defaults(handler=_cmd_gaps_list)
    ack = gap_commands.add_parser(
        "ack", help="acknowledge an unrecoverable gap once its fills are accounted for")
    ack.add_argument("id", type=int)
    ack.set_defaults(handler=_cmd_gaps_ack)
    config = commands.add_parser("config", help="configuration tools")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate and print the configuration")
    check.set_defaults(handler=_cmd_config_check, logs_in=True)

    users = commands.add_parser("users", help="the ownership registry")
    user_commands = users.add_subparsers(dest="users_command", required=True)
    force = argparse.ArgumentParser(add_help=False)
    force.add_argument("--force", action="store_true",
                       help="make a change that moves an account's fills from one user to "
                            "another (refused without; each move is printed)")
    user_commands.add_parser("list", help="list users and accounts",
                             parents=[force]).set_defaults(handler=_cmd_users_list)
    add = user_commands.add_parser("add", help="add a user or accounts to a user",
                                   parents=[force])
    add.add_argument("name")
    add.add_argument("--accounts", required=True, help="comma-separated account numbers")
    add.add_argument("--firm", help="the accounts' firm (needed with several firms)")
    add.set_defaults(handler=_cmd_users_add)
    remove = user_commands.add_parser("remove", help="remove a user and its accounts",
                                      parents=[force])
    remove.add_argument("name")
    remove.set_defaults(handler=_cmd_users_remove)
    token = user_commands.add_parser(
        "token", help="issue a bearer token of the HTTP API (printed once)",
        description="Issue a bearer token for 'fillcapture serve' and print it, alone on the "
        "last line. Only its SHA-256 is stored: it cannot be shown again. Issuing another "
        "token for the same name revokes the previous one; removing the user removes its "
        "token.")
    token.add_argument("name", help="the user the token reads for (a registered user), or "
                                    "with --admin the operator's name")
    kind = token.add_mutually_exclusive_group()
    kind.add_argument("--admin", action="store_true",
                      help="an operator token, which may read any user (?user=NAME)")
    kind.add_argument("--revoke", action="store_true", help="remove NAME's tokens instead")
    token.set_defaults(handler=_cmd_users_token)

    serve = commands.add_parser(
        "serve", help="the HTTP API (its own process, reading the store read-only)",
        description="Answer the HTTP API (OpenAPI document at /openapi.json) until SIGTERM "
        "or Ctrl-C. It only reads the store, so run it beside the daemon.")
    serve.add_argument("--host", help="listen address (default: [api] listen's host)")
    serve.add_argument("--port", type=int, help="port (default: [api] listen's; 0 = a free one)")
    serve.set_defaults(handler=_cmd_serve)

    fills = commands.add_parser("fills", help="print stored fills")
    fills.add_argument("--user")
    fills.add_argument("--account")
    fills.add_argument("--since", type=date.fromisoformat, help="first trade date, YYYY-MM-DD")
    fills.add_argument("--until", type=date.fromisoformat, help="last trade date, YYYY-MM-DD")
    fills.add_argument("--format", choices=("table", "csv", "json"), default="table")
    fills.add_argument("--include-busted", action="store_true",
                       help="show busted fills too (the busted column says which)")
    fills.set_defaults(handler=_cmd_fills)

    markets = commands.add_parser(
        "markets", help="markets' point values and spreads' legs, as recorded from T4's "
                        "market details")
    markets.add_argument("--json", action="store_true", help="JSON instead of a table")
    markets.set_defaults(handler=_cmd_markets)

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
    _config_on_every_command(parser)
    return parser


def _config_on_every_command(parser: argparse.ArgumentParser) -> None:
    """Accept ``--config FILE`` after any command and subcommand too (``fillcapture
    fills --config x.toml``): there it overrides one given before the command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                command.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                                     help="TOML configuration (as before the command)")
                _config_on_every_command(command)


# --- commands ---------------------------------------------------------------


def _cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture import service

    try:
        return asyncio.run(service.run(settings))
    except ConfigError as exc:  # a setting found wanting only once used, e.g. a taken port
        print(f"fillcapture: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def _cmd_sim(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.sim import SimConfig, SimServer, serve_forever
    from fillcapture.sim.config import login_result

    # Flags that override a [sim] setting where given.
    flags: dict[str, Any] = {
        "accounts": tuple(_split(args.accounts)) if args.accounts else None,
        "firm": args.firm or None,
        "username": args.username or None,
        "seed": args.seed,
        "port": args.port,
        "spread_fraction": args.spread,
        "bust_fraction": args.bust,
        "drop_every": args.drop_every,
        "drop_random": args.drop_random,
        "duplicate_fraction": args.duplicate,
        "reorder_window": args.reorder,
        "fill_before_order_fraction": args.fill_before_order,
        "malformed_fraction": args.malformed,
        "refuse_logins": args.refuse_logins,
        "stall_after": args.stall_after,
        "stall_seconds": args.stall_seconds,
        "top_level_updates": args.top_level_updates,
        "account_codes": args.account_codes,
        "ids_on_block": args.ids_on_block,
        "busts_as_orders": args.busts_as_orders,
        "corrupt_fraction": args.corrupt,
        "drop_after_login": args.drop_after_login,
        "logged_in_elsewhere_after": args.logged_in_elsewhere_after,
        "trade_date_offset_ticks": args.trade_date_offset_ticks,
        "resubscribe_no_snapshot": args.resubscribe_no_snapshot,
        "spread_trades": args.spread_trades,
        "late_definitions": args.late_definitions,
    }
    try:
        if args.rate is not None:
            flags["fills_per_second"] = math.inf if args.rate == "max" else float(args.rate)
        if args.refuse_login is not None:
            flags["refuse_login"] = login_result(args.refuse_login)
        config = SimConfig.from_settings(
            settings.sim,
            **{name: value for name, value in flags.items() if value is not None},
            visible=tuple(_split(args.visible)) if args.visible else None,
            risk_manager=not args.no_risk_manager,
            password=args.password,
            api_key=args.api_key,
            max_fills=args.max_fills,
            preload_fills=args.preload,
            snapshot_chunk=args.snapshot_chunk,
            trade_date=args.trade_date,
            ledger_path=args.ledger,
            host=args.host,
        )
    except ValueError as exc:
        print(f"fillcapture: sim: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    def ready(server: SimServer) -> None:
        # SIGUSR1 rolls the trade date now, as T4 does at 17:00 Chicago.
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, server.roll)
        print(f"fillcapture sim listening on {server.url}", flush=True)

    if not args.onboarding:
        asyncio.run(_until_signalled(serve_forever(config, ready)))
        return 0

    from fillcapture.onboarding.sim import Faults, serve_beside

    faults = Faults(fail_first=args.onboarding_fail, delay=args.onboarding_delay,
                    slow_first=args.onboarding_slow if args.onboarding_delay else 0)
    asyncio.run(_until_signalled(serve_beside(
        config, ready, args.onboarding_key, args.onboarding_port, faults)))
    return 0


def _cmd_record(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture import service
    from fillcapture.feeds.base import LoginRefused
    from fillcapture.feeds.recording import RecordingWriter
    from fillcapture.feeds.t4.session import T4Feed
    from fillcapture.files import staged
    from fillcapture.metrics import Metrics

    ownership = service.ownership_of(service.owners_from(settings))

    async def record() -> None:
        async with contextlib.AsyncExitStack() as stack:
            effective = settings
            if settings.feed.adapter == "sim":
                effective = await stack.enter_async_context(service.embedded_sim(settings))
            partial = stack.enter_context(staged(args.out))
            writer = RecordingWriter(stack.enter_context(partial.open("wb")))
            feed = T4Feed(effective.t4, lambda: ownership, Metrics(), frame_tap=writer.write)
            # Time up or SIGTERM/SIGINT: the recording is complete, renamed into place.
            with suppress(TimeoutError, asyncio.CancelledError):
                async with asyncio.timeout(args.seconds):
                    async for _event in feed.events():
                        pass

    try:
        asyncio.run(_until_signalled(record()))
    except LoginRefused as exc:
        print(f"fillcapture: {exc}", file=sys.stderr)
        return 3
    print(f"recording written to {args.out}")
    return 0


def _cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.feeds.recording import RecordingError
    from fillcapture.feeds.replay import replay

    try:
        summary = asyncio.run(replay(settings, args.file, args.pace))
    except (OSError, RecordingError) as exc:
        print(f"fillcapture: {exc}", file=sys.stderr)
        return 2
    print(summary)
    return 0


def _cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture import status
    from fillcapture.store import open_store

    async def show() -> str:
        async with open_store(settings.store.url, readonly=True) as store:
            found = await status.collect(store)
        return json.dumps(found, indent=2) + "\n" if args.json else status.render(found)

    if not settings.store.path.exists():
        print(f"fillcapture: no store at {settings.store.path} (the daemon has not run)",
              file=sys.stderr)
        return 1
    sys.stdout.write(asyncio.run(show()))
    return 0


def _cmd_seals(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.status import sealed_day_row
    from fillcapture.store import open_store

    async def rows() -> list[dict[str, Any]]:
        async with open_store(settings.store.url, readonly=True) as store:
            return [sealed_day_row(day) for day in await store.sealed_days(since=args.since)]

    if not settings.store.path.exists():
        print(f"fillcapture: no store at {settings.store.path} (the daemon has not run)",
              file=sys.stderr)
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
    _table(header, table, sys.stdout)
    for day in found:
        if day["verified"] is False:
            print(f"{day['trade_date']} {day['firm']} unverified: {day['unverified_reason']}")
    return 0


def _cmd_gaps_list(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.status import gap_row
    from fillcapture.store import open_store

    async def rows() -> list[dict[str, Any]]:
        async with open_store(settings.store.url, readonly=True) as store:
            return [gap_row(gap) for gap in await store.gaps()]

    found = asyncio.run(rows())
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    header = ("id", "instance", "started_at", "ended_at", "unrecoverable", "acknowledged_at",
              "reason")
    _table(header, [[cell_text(row[key]) if row[key] is not None else "" for key in header]
                    for row in found], sys.stdout)
    return 0


def _cmd_markets(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.store import open_store

    async def rows() -> list[dict[str, Any]]:
        async with open_store(settings.store.url, readonly=True) as store:
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
    _table(header, [[row["market_id"], row["exchange_id"], row["contract_id"],
                     row["point_value"] or "", " ".join(
                         f"{'+' if leg['direction'] > 0 else '-'}{leg['ratio']} {leg['market_id']}"
                         for leg in row["legs"] or ())] for row in found], sys.stdout)
    return 0


def _cmd_gaps_ack(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.store import open_store

    async def ack() -> bool:
        async with open_store(settings.store.url) as store:
            return await store.acknowledge_gap(args.id)

    if not asyncio.run(ack()):
        print(f"fillcapture: no gap {args.id}", file=sys.stderr)
        return 1
    print(f"gap {args.id} acknowledged")
    return 0


def _cmd_onboard(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.onboarding.batch import InvalidInput, load_csv, load_json
    from fillcapture.onboarding.command import onboard

    if args.csv is not None and args.as_user:
        print("fillcapture: --as-user: only with FILE.json; use the CSV's as_user column",
              file=sys.stderr)
        return EXIT_CONFIG
    key = settings.onboarding.api_key
    try:
        jobs = load_csv(args.csv) if args.csv else [load_json(args.file, args.as_user)]
        if key is None or not key.get_secret_value():
            print("fillcapture: configuration error: onboarding.api_key: required to call the "
                  "Onboarding API (FILLCAPTURE_ONBOARDING__API_KEY or the credential file "
                  "onboarding_api_key)", file=sys.stderr)
            return EXIT_CONFIG
        return asyncio.run(onboard(jobs, settings, args.firm, sys.stdout,
                                   batch=args.csv is not None))
    except InvalidInput as exc:
        for error in exc.errors:
            print(f"fillcapture: {error}", file=sys.stderr)
        print(f"fillcapture: {len(exc.errors)} error(s); nothing was sent", file=sys.stderr)
        return EXIT_CONFIG


def _cmd_config_check(args: argparse.Namespace, settings: Settings) -> int:
    print(f"# configuration is valid; file: {config_file(args.config)}")
    json.dump(settings.masked(), sys.stdout, indent=2)
    print()
    return 0


def _cmd_users_list(args: argparse.Namespace, settings: Settings) -> int:
    async def listing() -> dict[str, list[Any]]:
        async with _registry(settings, args.force) as store:
            return dict(await store.users())

    users = _registry_change(listing)
    if users is None:
        return EXIT_CONFIG
    rows = [(name, ", ".join(sorted({o.firm or "*" for o in owners})) or "-",
             ", ".join(o.account for o in owners) or "-")
            for name, owners in sorted(users.items())]
    _table(("user", "firm", "accounts"), rows, sys.stdout)
    return 0


def _cmd_users_add(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.store import StoreError

    accounts = _split(args.accounts)
    if not accounts:
        print("fillcapture: --accounts: give at least one account number", file=sys.stderr)
        return EXIT_CONFIG

    async def add() -> bool:
        async with _registry(settings, args.force) as store:
            _print_moves(await store.add_user(args.name, accounts, args.firm, force=args.force))
        return True

    try:
        if _registry_change(add) is None:
            return EXIT_CONFIG
    except StoreError as exc:
        print(f"fillcapture: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"user {args.name}: added {', '.join(accounts)}")
    return 0


def _cmd_users_remove(args: argparse.Namespace, settings: Settings) -> int:
    async def remove() -> bool:
        async with _registry(settings, args.force) as store:
            moved = await store.remove_user(args.name, force=args.force)
        _print_moves(moved or [])
        return moved is not None

    removed = _registry_change(remove)
    if removed is None:
        return EXIT_CONFIG
    if not removed:
        print(f"fillcapture: no user named {args.name}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"user {args.name}: removed")
    return 0


def _cmd_users_token(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.api.tokens import new_token, token_hash
    from fillcapture.store import StoreError

    token = new_token()

    async def issue() -> int:
        async with _registry(settings, force=False) as store:
            if args.revoke:
                return await store.revoke_tokens(args.name)
            await store.issue_token(args.name, token_hash(token), admin=args.admin)
            return 1

    try:
        count = _registry_change(issue)
    except StoreError as exc:
        print(f"fillcapture: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if count is None:
        return EXIT_CONFIG
    if args.revoke:
        print(f"{args.name}: {count} token(s) revoked")
        return 0
    who = f"operator {args.name} (reads any user)" if args.admin else f"user {args.name}"
    print(f"API token for {who}; any earlier one no longer works. It is shown only now:")
    print(token)
    return 0


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.api.server import ListenError, listen, serve
    from fillcapture.store import StoreError

    host = args.host or settings.api.host
    port = settings.api.port if args.port is None else args.port
    if not settings.store.path.exists():
        print(f"fillcapture: no store at {settings.store.path} (the daemon has not run)",
              file=sys.stderr)
        return EXIT_FAILURE
    try:
        sock = listen(host, port)
    except ListenError as exc:
        key = "--host/--port" if args.host or args.port is not None else "api.listen"
        print(f"fillcapture: configuration error: {key}: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    def ready(url: str) -> None:
        print(f"fillcapture api listening on {url}", flush=True)

    try:
        asyncio.run(_until_signalled(serve(settings, sock, ready)))
    except StoreError as exc:
        hint = ""
        if not Path(f"{settings.store.path}-shm").exists():
            hint = (" (a reader without write access to the store's directory needs the "
                    "-wal and -shm files the running daemon keeps: start the daemon first)")
        print(f"fillcapture: {exc}{hint}", file=sys.stderr)
        return EXIT_CONFIG if exc.permanent else EXIT_FAILURE
    finally:
        sock.close()
    return 0


def _cmd_fills(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.store import FillQuery, open_store

    query = FillQuery(user=args.user, account=args.account, since=args.since, until=args.until,
                      include_busted=args.include_busted)

    async def dump() -> None:
        async with open_store(settings.store.url, readonly=True) as store:
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
                _table(FILL_COLUMNS, table, sys.stdout)

    if not settings.store.path.exists():  # not an empty list: there is no store to list
        print(f"fillcapture: no store at {settings.store.path} (the daemon has not run)",
              file=sys.stderr)
        return EXIT_FAILURE
    asyncio.run(dump())
    return 0


def _cmd_report_daily(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.reports import REPORT_COLUMNS, point_values, report_row, summarize
    from fillcapture.store import FillQuery, open_store

    try:
        given = _point_values(args.point_value)
    except ValueError as exc:
        print(f"fillcapture: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if not settings.store.path.exists():
        print(f"fillcapture: no store at {settings.store.path}", file=sys.stderr)
        return EXIT_FAILURE
    # From the account's first fill: positions opened before --from are closed after it.
    query = FillQuery(user=args.user, until=args.until, include_busted=False)

    async def summary() -> list[dict[str, Any]]:
        async with open_store(settings.store.url, readonly=True) as store:
            values = await point_values(store, settings.api.point_values, given)
            rows = await summarize(store, query, since=args.since, point_values=values)
        return [report_row(row) for row in rows]

    rows = asyncio.run(summary())
    if args.format == "json":
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        cells = [["" if row[key] is None else str(row[key]) for key in REPORT_COLUMNS]
                 for row in rows]
        if args.format == "csv":
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(REPORT_COLUMNS)
            writer.writerows(cells)
        else:
            _table(REPORT_COLUMNS, cells, sys.stdout)
    unknown = sum(row["unknown_side"] for row in rows)
    legs = sum(row["spread_legs"] for row in rows)
    if unknown or legs:
        print(f"fillcapture: left out of volumes, P&L and positions: {unknown} fill(s) of "
              f"unknown side, {legs} spread leg fill(s) whose spread is not defined yet "
              "(columns unknown_side, spread_legs)",
              file=sys.stderr)
    return 0


def _cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.exports import counted, write_parquet
    from fillcapture.files import staged
    from fillcapture.store import FillQuery, open_store

    query = FillQuery(user=args.user, account=args.account, since=args.since, until=args.until,
                      include_busted=args.include_busted)

    async def export(partial: Path, advance: Callable[[int], None]) -> int:
        async with open_store(settings.store.url, readonly=True) as store:
            fills = counted(store.fills(query), advance)
            if args.format == "parquet":
                return await write_parquet(fills, partial)
            with partial.open("w", encoding="utf-8", newline="") as out:
                return await write_csv(fills, out)

    if not settings.store.path.exists():
        print(f"fillcapture: no store at {settings.store.path}", file=sys.stderr)
        return EXIT_FAILURE
    try:
        with staged(args.out) as partial, _progress(f"exporting {args.out.name}") as advance:
            written = asyncio.run(export(partial, advance))
    except OSError as exc:
        print(f"fillcapture: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"{written} fills written to {args.out}")
    return 0


# --- helpers ----------------------------------------------------------------


async def _until_signalled(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` until it ends or SIGTERM/SIGINT arrives, then cancel it cleanly."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    with suppress(asyncio.CancelledError):
        await task


@contextlib.contextmanager
def _progress(label: str) -> Iterator[Callable[[int], None]]:
    """A bar counting fills on stderr if it is a terminal; a no-op elsewhere."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda count: None
        return
    # No total (counting first would read the fills twice): the bar pulses.
    progress = Progress(TextColumn(label), BarColumn(), TextColumn("{task.completed:,} fills"),
                        TimeElapsedColumn(), console=console, transient=True)
    task = progress.add_task(label, total=None)
    with progress:
        yield lambda count: progress.advance(task, count)


@asynccontextmanager
async def _registry(settings: Settings, force: bool = False) -> AsyncIterator[Store]:
    """The store, with the configuration's users seeded (as the daemon does;
    with ``force`` even where that moves fills between users, printed)."""
    from fillcapture.service import owners_from
    from fillcapture.store import open_store

    async with open_store(settings.store.url) as store:
        _print_moves(await store.seed_registry(owners_from(settings), force=force))
        yield store


def _registry_change(change: Callable[[], Coroutine[Any, Any, _T]]) -> _T | None:
    """Run a registry command; ``None`` once a refused move is reported (one line)."""
    from fillcapture.store import MoveRefused

    try:
        return asyncio.run(change())
    except MoveRefused as exc:
        print(f"fillcapture: {exc}", file=sys.stderr)
        return None


def _print_moves(moves: Sequence[Any]) -> None:
    """Each account that changed hands, one a line (``11111 (SIMFIRM): A -> C``)."""
    for move in moves:
        print(move)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], out: TextIO) -> None:
    texts = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in texts)]) for i, h in enumerate(header)]
    out.write("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip() + "\n")
    for row in texts:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
    if not rows:
        out.write("(none)\n")


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


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
