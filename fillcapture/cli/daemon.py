"""``fillcapture run``, ``record`` and ``replay``: the capture daemon and the
T4 session tools beside it (the simulator is :mod:`fillcapture.cli.sim`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from contextlib import suppress
from pathlib import Path
from typing import Any

from fillcapture.cli.common import EXIT_CONFIG, until_signalled
from fillcapture.config import ConfigError, Settings


def add_run(commands: Any) -> None:
    run = commands.add_parser("run", help="run the capture daemon")
    run.set_defaults(handler=_cmd_run, logs_in=True)


def add_record(commands: Any) -> None:
    record = commands.add_parser("record", help="record a T4 session's raw server frames")
    record.add_argument("--out", type=Path, required=True, help="recording file to write")
    record.add_argument("--seconds", type=float, help="stop after this long (default: Ctrl-C)")
    record.set_defaults(handler=_cmd_record, logs_in=True)


def add_replay(commands: Any) -> None:
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


def _cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture import service

    try:
        return asyncio.run(service.run(settings))
    except ConfigError as exc:  # a setting found wanting only once used, e.g. a taken port
        print(f"fillcapture: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def _cmd_record(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture import service
    from fillcapture.daemon import ownership_of
    from fillcapture.feeds.base import LoginRefused
    from fillcapture.feeds.recording import RecordingWriter
    from fillcapture.feeds.t4.session import T4Feed
    from fillcapture.files import staged
    from fillcapture.metrics import Metrics

    ownership = ownership_of(service.owners_from(settings))

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
        asyncio.run(until_signalled(record()))
    except LoginRefused as exc:
        print(f"fillcapture: {exc}", file=sys.stderr)
        return 3
    print(f"recording written to {args.out}")
    return 0


def _cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.feeds.recording import RecordingError
    from fillcapture.replaying import replay

    try:
        summary = asyncio.run(replay(settings, args.file, args.pace))
    except (OSError, RecordingError) as exc:
        print(f"fillcapture: {exc}", file=sys.stderr)
        return 2
    print(summary)
    return 0
