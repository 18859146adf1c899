"""The command line's parser: the global options, then each command as its
module declares it, in the order ``fillcapture --help`` lists them."""

from __future__ import annotations

import argparse

from fillcapture import __version__
from fillcapture.cli import (
    daemon,
    fees,
    history,
    onboarding,
    operations,
    quarantine,
    registry,
    serve,
    sim,
    statement,
    store,
)

COMMANDS = (
    daemon.add_run,
    sim.add_sim,
    onboarding.add_onboard,
    daemon.add_record,
    daemon.add_replay,
    operations.add_status,
    quarantine.register,
    operations.add_seals,
    operations.add_gaps,
    operations.add_config,
    registry.add_users,
    fees.add_fees,
    serve.add_serve,
    history.add_fills,
    operations.add_markets,
    history.add_report,
    history.add_export,
    statement.add_statement,
    store.add_store,
)


def build_parser() -> argparse.ArgumentParser:
    """The whole ``fillcapture`` parser; each command sets its ``handler``."""
    parser = argparse.ArgumentParser(
        prog="fillcapture", description="Capture T4 fills for a vendor's end users.")
    parser.add_argument("--version", action="version", version=f"fillcapture {__version__}")
    parser.add_argument("--config", metavar="FILE",
                        help="TOML configuration (default: $FILLCAPTURE_CONFIG, "
                             "/etc/fillcapture/fillcapture.toml, else the built-in demo)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(commands)
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
