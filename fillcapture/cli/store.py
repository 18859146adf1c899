"""``fillcapture store copy SOURCE DEST``: move a whole store to another engine or place.

The source is opened read-only (a daemon may keep capturing into it); the
destination is created if needed. A progress bar per table on a terminal,
a line per table otherwise, then the verification table. Exit 0 only if
every table's counts and digest are equal; 1 if some differ (a daemon
committed meanwhile: run it again); 2 for a bad URL or a destination
holding another store. URLs are printed with their secrets masked.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from fillcapture.cli.common import EXIT_CONFIG, EXIT_FAILURE, print_table
from fillcapture.config import Settings

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress

    from fillcapture.store import StoreLocation
    from fillcapture.store.copying import TableCheck, TableCopy
    from fillcapture.store.tables import Table


def add_store(commands: Any) -> None:
    store = commands.add_parser("store", help="whole-store tools: copy a store elsewhere")
    store_commands = store.add_subparsers(dest="store_command", required=True)
    copy = store_commands.add_parser(
        "copy", help="copy a whole store into another (e.g. SQLite to PostgreSQL)",
        description="Copy every table of the store SOURCE into DEST (store URLs, either "
        "engine), then compare each table's row count and digest. SOURCE is only read, so "
        "the daemon may keep running; run the copy again to bring DEST up to date: it "
        "writes only what is missing or changed (also after an interruption). DEST must "
        "be empty or an earlier copy of SOURCE. Exit 0 only if every table is equal.")
    copy.add_argument("source", metavar="SOURCE", help="the store URL to copy from")
    copy.add_argument("destination", metavar="DEST", help="the store URL to copy into")
    copy.add_argument("--batch", type=_positive, default=5000, metavar="N",
                      help="rows per read and per write transaction (default 5000)")
    copy.set_defaults(handler=_cmd_copy)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _cmd_copy(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.store import locate

    try:
        source = locate(args.source, password=_password(args.source, settings))
        destination = locate(args.destination, password=_password(args.destination, settings))
    except ValueError as exc:
        print(f"fillcapture: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if source.describe() == destination.describe():
        print(f"fillcapture: {source.describe()} is both SOURCE and DEST", file=sys.stderr)
        return EXIT_CONFIG
    if not source.exists():
        print(f"fillcapture: no store at {source.describe()}", file=sys.stderr)
        return EXIT_CONFIG
    checks = asyncio.run(_copy(source, destination, args.batch))
    print_table(("table", "source rows", "destination rows", "digest"),
                [(c.name, f"{c.source_rows:,}", f"{c.destination_rows:,}",
                  "equal" if c.equal else "DIFFERENT") for c in checks], sys.stdout)
    different = [c.name for c in checks if not c.equal]
    if different:
        print(f"fillcapture: {destination.describe()} differs from {source.describe()} in "
              f"{', '.join(different)} (rows committed meanwhile? run the copy again)",
              file=sys.stderr)
        return EXIT_FAILURE
    return 0


def _password(url: str, settings: Settings) -> str | None:
    """``[store] password`` for the configured store's own URL; other URLs
    carry theirs (or the engine finds it, e.g. in $CREDENTIALS_DIRECTORY)."""
    password = settings.store.password
    if url != settings.store.url or password is None:
        return None
    return password.get_secret_value()


async def _copy(source: StoreLocation, destination: StoreLocation,
                batch: int) -> list[TableCheck]:
    from fillcapture.store.copying import copy_store, verify

    started = time.monotonic()
    async with source.open(readonly=True) as reading, destination.open() as writing:
        with _progress() as progress:
            await copy_store(reading, writing, progress, where=destination.describe(),
                             batch=batch)
        copied = time.monotonic()
        print(f"copied {source.describe()} to {destination.describe()} in "
              f"{copied - started:.1f} s; verifying", file=sys.stderr, flush=True)
        checks = await verify(reading, writing, batch)
    print(f"verified in {time.monotonic() - copied:.1f} s", file=sys.stderr)
    return checks


class _Lines:
    """Progress as one line per table on stderr (not a terminal)."""

    def __init__(self) -> None:
        self._started = time.monotonic()

    def table(self, table: Table, total: int) -> Callable[[int], None]:
        self._started = time.monotonic()
        return lambda count: None

    def done(self, table: Table, result: TableCopy) -> None:
        print(f"{table.name}: {result.rows:,} rows, {result.written:,} written, "
              f"{result.removed:,} removed{_deferred(result)} "
              f"({time.monotonic() - self._started:.1f} s)", file=sys.stderr, flush=True)


def _deferred(result: TableCopy) -> str:
    """Rows left to the next pass, said: they make that table differ."""
    if not result.deferred:
        return ""
    return (f", {result.deferred:,} deferred to the next pass (their "
            "parent row came after its table was copied)")


class _Bars:
    """Progress as a rich bar per table (on a terminal)."""

    def __init__(self, progress: RichProgress) -> None:
        self._progress = progress

    def table(self, table: Table, total: int) -> Callable[[int], None]:
        task = self._progress.add_task(table.name, total=total)
        return lambda count: self._progress.advance(task, count)

    def done(self, table: Table, result: TableCopy) -> None:
        for task in self._progress.tasks:
            if task.description == table.name:
                self._progress.update(task.id, total=result.rows, completed=result.rows,
                                      description=f"{table.name} ({result.written:,} written"
                                                  f"{_deferred(result)})")


@contextmanager
def _progress() -> Iterator[_Lines | _Bars]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(stderr=True)
    if not console.is_terminal:
        yield _Lines()
        return
    bars = Progress(TextColumn("{task.description:<32}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)
    with bars:
        yield _Bars(bars)
