"""What the commands share: exit codes, the plain table they print, running
until a signal, a progress bar on a terminal, and the missing store's message."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from fillcapture.config import Settings

EXIT_FAILURE = 1
EXIT_CONFIG = 2


def store_missing(settings: Settings, why: str = " (the daemon has not run)") -> bool:
    """``True``, having said so on stderr, if the configured store does not
    exist yet: a command that only reads it has nothing to read."""
    location = settings.store.location
    if location.exists():
        return False
    print(f"fillcapture: no store at {location.describe()}{why}", file=sys.stderr)
    return True


async def until_signalled(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` until it ends or SIGTERM/SIGINT arrives, then cancel it cleanly."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    with suppress(asyncio.CancelledError):
        await task


@contextlib.contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int], None]]:
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


def print_table(header: Sequence[str], rows: Sequence[Sequence[Any]], out: TextIO) -> None:
    texts = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in texts)]) for i, h in enumerate(header)]
    out.write("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip() + "\n")
    for row in texts:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
    if not rows:
        out.write("(none)\n")


def split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
