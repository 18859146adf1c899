"""``fillcapture users``: the ownership registry and the HTTP API's tokens.

Every change first seeds the configuration's users, as the daemon does, so a
command sees the registry the daemon would."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from fillcapture.cli.common import EXIT_CONFIG, EXIT_FAILURE, print_table, split_list
from fillcapture.config import Settings

if TYPE_CHECKING:
    from fillcapture.store import Store

_T = TypeVar("_T")


def add_users(commands: Any) -> None:
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
    print_table(("user", "firm", "accounts"), rows, sys.stdout)
    return 0


def _cmd_users_add(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.store import StoreError

    accounts = split_list(args.accounts)
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


@asynccontextmanager
async def _registry(settings: Settings, force: bool = False) -> AsyncIterator[Store]:
    """The store, with the configuration's users seeded (as the daemon does;
    with ``force`` even where that moves fills between users, printed)."""
    from fillcapture.service import owners_from

    async with settings.store.open() as store:
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
