"""``fillcapture onboard``: end users created through T4's Onboarding API."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from fillcapture.cli.common import EXIT_CONFIG
from fillcapture.config import Settings


def add_onboard(commands: Any) -> None:
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
