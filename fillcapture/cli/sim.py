"""``fillcapture sim``: the simulated T4 backend, and beside it the simulated
Onboarding API."""

from __future__ import annotations

import argparse
import asyncio
import math
import signal
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, get_args

from fillcapture.cli.common import EXIT_CONFIG, split_list, until_signalled
from fillcapture.config import Settings
from fillcapture.config.sim import FAULTS, SHAPES, SPREADS, SimSettings, login_result, sim_flag

# The groups of [sim] options in ``fillcapture sim --help``: (title, description).
_GROUPS: dict[str, tuple[str, str | None]] = {
    FAULTS: ("busts, spreads and faults", "all off unless given here or in [sim]"),
    SHAPES: ("message shapes (see fillcapture/sim/shapes.py)", None),
    SPREADS: ("spread orders (with --spread)", None),
}

# [sim] options whose flag takes text the command turns into the value.
_FROM_TEXT: dict[str, Callable[[str], Any]] = {
    "fills_per_second": lambda text: math.inf if text == "max" else float(text),
    "accounts": lambda text: tuple(split_list(text)) or None,
    "firm": lambda text: text or None,
    "username": lambda text: text or None,
    "refuse_login": login_result,
}


def _add_option(parser: Any, name: str) -> None:
    """The flag of the ``[sim]`` option ``name``, as SimSettings declares it. Not
    given, it is None: the ``[sim]`` setting applies."""
    field = SimSettings.model_fields[name]
    flag = sim_flag(name, field)
    if field.annotation is bool:
        parser.add_argument(flag.flag, dest=name, action="store_true", default=None,
                            help=flag.help)
        return
    kinds = get_args(field.annotation) or (field.annotation,)
    kind = None if name in _FROM_TEXT else next((k for k in (int, float) if k in kinds), None)
    metavar = flag.metavar or flag.flag.lstrip("-").replace("-", "_").upper()
    parser.add_argument(flag.flag, dest=name, type=kind, metavar=metavar, help=flag.help)


def add_sim(commands: Any) -> None:
    sim = commands.add_parser("sim", help="run the simulated T4 backend",
                              description="The simulated T4 backend. SIGUSR1 rolls its trade "
                              "date at once, as T4 does at 17:00 Chicago.")
    _add_option(sim, "port")
    sim.add_argument("--host", default="127.0.0.1")
    for name in ("seed", "fills_per_second", "accounts"):
        _add_option(sim, name)
    sim.add_argument("--visible", help="comma-separated accounts assigned to the fill user "
                                       "(default: all)")
    sim.add_argument("--no-risk-manager", action="store_true",
                     help="the fill user lacks the Risk Manager role")
    for name in ("firm", "username"):
        _add_option(sim, name)
    sim.add_argument("--password", default="sim-password")
    sim.add_argument("--api-key", default="sim-api-key")
    sim.add_argument("--max-fills", type=int, help="stop generating after this many fills")
    _add_option(sim, "wait_for_subscriber")
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
    groups = {key: sim.add_argument_group(title, description)
              for key, (title, description) in _GROUPS.items()}
    for name in SimSettings.model_fields:
        group = sim_flag(name, SimSettings.model_fields[name]).group
        if group is not None:
            _add_option(groups[group], name)
    sim.set_defaults(handler=_cmd_sim)


def _cmd_sim(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.sim import SimConfig, SimServer, serve_forever

    try:
        # Flags that override a [sim] setting where given.
        flags: dict[str, Any] = {}
        for name in SimSettings.model_fields:
            value = getattr(args, name)
            if value is not None and name in _FROM_TEXT:
                value = _FROM_TEXT[name](value)
            if value is not None:
                flags[name] = value
        config = SimConfig.from_settings(
            settings.sim,
            **flags,
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
