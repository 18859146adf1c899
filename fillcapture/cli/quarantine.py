"""``fillcapture quarantine list|retry``: records T4 sent that could not be stored.

``list`` shows them (read-only). ``retry`` decodes every unresolved one again
with this version's code, the accounts recorded and the current registry, and
stores the fills of those that now pass, each exactly once (by its identity);
the running daemon may keep capturing meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
from typing import Any

from fillcapture.config import Settings
from fillcapture.store import QuarantineRow


def register(commands: Any) -> None:
    """Add ``quarantine list|retry`` to ``commands``."""
    quarantine = commands.add_parser(
        "quarantine", help="records from T4 that could not be stored",
        description="Records T4 sent that could not be stored correctly as they came "
        "(a field out of range, an account not known yet, a frame that does not decode) "
        "are kept whole in the store's quarantine, never dropped.")
    sub = quarantine.add_subparsers(dest="quarantine_command", required=True)
    listing = sub.add_parser("list", help="the unresolved records, oldest first")
    listing.add_argument("--json", action="store_true",
                         help="machine-readable, with each record's bytes (base64)")
    listing.add_argument("--all", action="store_true", help="resolved records too")
    listing.set_defaults(handler=_cmd_list)
    retry = sub.add_parser(
        "retry", help="decode the unresolved records again; store those that now pass")
    retry.set_defaults(handler=_cmd_retry)


def row_json(row: QuarantineRow) -> dict[str, Any]:
    record = row.record
    return {
        "id": row.id,
        "received_at": _iso(record.received_at),
        "reason": record.reason,
        "detail": record.detail,
        "firm": record.firm,
        "account_id": record.account_id or None,
        "account": record.account or None,
        "order_id": record.order_id or None,
        "trade_date": None if record.trade_date is None else record.trade_date.isoformat(),
        "kind": record.kind,
        "size": len(record.raw),
        "resolved_at": None if row.resolved_at is None else _iso(row.resolved_at),
        "resolution": row.resolution,
    }


def _cmd_list(args: argparse.Namespace, settings: Settings) -> int:

    async def rows() -> list[QuarantineRow]:
        async with settings.store.open(readonly=True) as store:
            return await store.quarantined(open_only=not args.all)

    found = asyncio.run(rows())
    if args.json:
        out = []
        for row in found:
            item = row_json(row)
            item["raw"] = base64.b64encode(row.record.raw).decode()
            out.append(item)
        print(json.dumps(out, indent=2))
        return 0
    header = ("id", "received_at", "reason", "account", "account_id", "order_id",
              "trade_date", "detail")
    lines = ["  ".join(header)]
    for row in found:
        item = row_json(row)
        lines.append("  ".join(str(item[key] or "-") for key in header))
    lines.append(f"{len(found)} record(s)" + ("" if args.all else " unresolved"))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _cmd_retry(args: argparse.Namespace, settings: Settings) -> int:
    from fillcapture.daemon import ownership_of
    from fillcapture.feeds.t4.redecode import redecode
    from fillcapture.metrics import Metrics
    from fillcapture.model import Released
    from fillcapture.service import owners_from
    from fillcapture.writer import CaptureWriter

    async def retry() -> tuple[int, int, int, int, int]:
        async with settings.store.open() as store:
            await store.seed_registry(owners_from(settings))
            rows = await store.quarantined()
            outcome = redecode(rows, await store.known_accounts(),
                               ownership_of(await store.registry()))
            released = outcome.released
            firms = {row.record.firm for row in rows}
            by_id = {row.id: row.record.firm for row in rows}
            for firm in sorted(firms):
                writer = CaptureWriter(store, Metrics())
                writer.sealed_through = await store.sealed_through(firm)
                task = asyncio.create_task(writer.run())
                await writer.put(Released(
                    tuple(f for f in released.fills if f.firm == firm),
                    tuple(b for b in released.busts if b.fill.firm == firm),
                    tuple(i for i in released.stored if by_id[i] == firm),
                    tuple(i for i in released.unowned if by_id[i] == firm)))
                await writer.stop()
                await task
            return (len(rows), len(released.stored), len(released.fills),
                    len(released.unowned), len(outcome.still))

    total, stored, fills, unowned, still = asyncio.run(retry())
    print(f"{total} quarantined record(s) retried: {stored} now stored ({fills} fill(s)), "
          f"{unowned} of no user's account, {still} still quarantined")
    return 0


def _iso(moment: Any) -> str:
    text: str = moment.isoformat(timespec="microseconds").replace("+00:00", "Z")
    return text
