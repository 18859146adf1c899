"""``fillcapture serve``: the HTTP API, a process of its own reading the store."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from fillcapture.cli.common import EXIT_CONFIG, EXIT_FAILURE, store_missing, until_signalled
from fillcapture.config import Settings


def add_serve(commands: Any) -> None:
    serve = commands.add_parser(
        "serve", help="the HTTP API (its own process, reading the store read-only)",
        description="Answer the HTTP API (OpenAPI document at /openapi.json) until SIGTERM "
        "or Ctrl-C. It only reads the store, so run it beside the daemon.")
    serve.add_argument("--host", help="listen address (default: [api] listen's host)")
    serve.add_argument("--port", type=int, help="port (default: [api] listen's; 0 = a free one)")
    serve.set_defaults(handler=_cmd_serve)


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.api.server import ListenError, listen, serve
    from fillcapture.store import StoreError

    host = args.host or settings.api.host
    port = settings.api.port if args.port is None else args.port
    if store_missing(settings):
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
        asyncio.run(until_signalled(serve(settings, sock, ready)))
    except StoreError as exc:
        reason = settings.store.location.reader_hint()
        hint = "" if reason is None else f" ({reason})"
        print(f"fillcapture: {exc}{hint}", file=sys.stderr)
        return EXIT_CONFIG if exc.permanent else EXIT_FAILURE
    finally:
        sock.close()
    return 0
