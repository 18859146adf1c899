"""``fillcapture sim``: the simulated T4 backend, and beside it the simulated
Onboarding API."""

from __future__ import annotations

import argparse
import asyncio
import math
import signal
import sys
from datetime import date
from pathlib import Path
from typing import Any

from fillcapture.cli.common import EXIT_CONFIG, split_list, until_signalled
from fillcapture.config import Settings


def add_sim(commands: Any) -> None:
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


def _cmd_sim(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.sim import SimConfig, SimServer, serve_forever
    from fillcapture.sim.config import login_result

    # Flags that override a [sim] setting where given.
    flags: dict[str, Any] = {
        "accounts": tuple(split_list(args.accounts)) if args.accounts else None,
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
            visible=tuple(split_list(args.visible)) if args.visible else None,
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
        asyncio.run(until_signalled(serve_forever(config, ready)))
        return 0

    from fillcapture.onboarding.sim import Faults, serve_beside

    faults = Faults(fail_first=args.onboarding_fail, delay=args.onboarding_delay,
                    slow_first=args.onboarding_slow if args.onboarding_delay else 0)
    asyncio.run(until_signalled(serve_beside(
        config, ready, args.onboarding_key, args.onboarding_port, faults)))
    return 0
