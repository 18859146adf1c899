"""``fillcapture status``: what the store says about the daemons writing to it.

Read-only and from the store alone, so it answers the same whether the daemon
runs or not: each daemon records its state there (see ``operations``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fillcapture.operations import ALIVE_SECONDS
from fillcapture.schedule import trade_date, unrecoverable_at
from fillcapture.store import Certificate, Gap, SealedDay, Store

STALE = timedelta(seconds=3 * ALIVE_SECONDS)
"""A daemon that has not recorded itself alive for this long is not running."""


async def collect(store: Store, now: datetime | None = None) -> dict[str, Any]:
    """Everything ``status`` shows, as plain JSON-ready data."""
    now = now or datetime.now(UTC)
    daemons = []
    for instance, state in sorted((await store.state()).items()):
        alive = state.get("alive_at")
        running = (state.get("state") != "stopped" and alive is not None
                   and now - datetime.fromisoformat(alive) < STALE)
        daemons.append({
            "instance": instance,
            "running": running,
            "state": state.get("state", "unknown") if running or state.get("state") == "stopped"
            else "not running",
            "since": state.get("since"),
            "last_alive": alive,
            "pid": state.get("pid"),
            "host": state.get("host") or None,
            "standby": _standby(state, now),
            "firm": state.get("firm") or None,
            "username": state.get("username") or None,
            "reason": state.get("reason") or None,
            "price_format": state.get("t4.price_format") or None,
            "price_format_since": state.get("t4.price_format.since") or None,
            "accounts": {
                "visible": _split(state.get("visible")),
                "owned": _split(state.get("owned")),
                "owned_but_invisible": _split(state.get("invisible")),
            },
            "account_conflicts": [c for c in (state.get("account_conflicts") or "").split(";")
                                  if c],
            "last_reconcile": state.get("reconcile.last"),
            "last_seal": state.get("seal.last"),
            "last_backup": state.get("backup.last"),
            "last_backup_path": state.get("backup.path"),
            "last_integrity_check": state.get("integrity.last"),
        })
    owners = {owner.account: owner.user for owner in await store.registry()}
    last = await store.last_fills(sorted(owners))
    today = trade_date(now)
    accounts = [
        {
            "account": account,
            "user": owners[account],
            "last_fill": _iso(found[0]) if found else None,
            "fills_today": found[2] if found and found[1] == today else 0,
        }
        for account in sorted(owners)
        for found in [last.get(account)]
    ]
    seals = []
    for day in await store.sealed_days(latest=True):
        row = sealed_day_row(day)
        row["differences"] = [certificate_row(c) for c in day.certificates
                              if c.difference not in (0, None)]
        row["without_snapshot"] = [c.account for c in day.certificates if c.snapshot is None]
        del row["certificates"]
        seals.append(row)
    return {
        "now": _iso(now),
        "trade_date": today.isoformat(),
        "daemons": daemons,
        "accounts": accounts,
        "open_gaps": [gap_row(gap) | {"unrecoverable_at": _iso(unrecoverable_at(gap.started_at))}
                      for gap in await store.gaps() if is_open(gap)],
        "quarantine": await store.quarantine_counts(),
        "seals": seals,
    }


def is_open(gap: Gap) -> bool:
    """Whether ``gap`` needs an operator: it still lasts (T4 not heard since it
    began), or it lost fills for good and nobody acknowledged it yet."""
    return gap.acknowledged_at is None and (gap.ended_at is None or gap.unrecoverable)


def _standby(state: dict[str, str], now: datetime) -> dict[str, Any] | None:
    """The standby waiting for this instance's lease, if one recorded itself lately."""
    alive = state.get("standby.alive_at")
    if not alive or now - datetime.fromisoformat(alive) >= STALE:
        return None
    return {"host": state.get("standby.host"), "pid": state.get("standby.pid"),
            "since": state.get("standby.since"), "last_alive": alive}


def render(status: dict[str, Any]) -> str:
    """The human form of :func:`collect`'s data."""
    lines = [f"trade date {status['trade_date']} (now {status['now']})"]
    if not status["daemons"]:
        lines.append("no daemon has run against this store yet")
    for daemon in status["daemons"]:
        head = f"{daemon['instance']}: {daemon['state']}"
        if daemon["since"]:
            head += f" since {daemon['since']}"
        if daemon["pid"] and daemon["running"]:
            head += f" (pid {daemon['pid']}" + (
                f" on {daemon['host']})" if daemon["host"] else ")")
        lines.append(head)
        if daemon["standby"]:
            standby = daemon["standby"]
            lines.append(f"  standby: pid {standby['pid']} on {standby['host']}, waiting "
                         f"since {standby['since']}")
        if daemon["reason"]:
            lines.append(f"  last disconnect: {daemon['reason']}")
        if daemon["username"]:
            lines.append(f"  logged in as {daemon['username']} at {daemon['firm']}")
        if daemon["price_format"]:
            lines.append(f"  price format: {daemon['price_format']} "
                         f"(since {daemon['price_format_since'] or 'unknown'})")
        accounts = daemon["accounts"]
        lines.append(
            f"  accounts: {len(accounts['visible'])} visible, {len(accounts['owned'])} owned, "
            f"{len(accounts['owned_but_invisible'])} owned but invisible"
            + (f" ({', '.join(accounts['owned_but_invisible'])})"
               if accounts["owned_but_invisible"] else ""))
        for conflict in daemon["account_conflicts"]:
            lines.append(f"  ACCOUNT CONFLICT: {conflict}; fills stay with the first "
                         "number seen, check the account in T4")
        for label, key in (("last reconcile", "last_reconcile"), ("last seal", "last_seal"),
                           ("last backup", "last_backup"),
                           ("integrity", "last_integrity_check")):
            lines.append(f"  {label}: {daemon[key] or 'never'}")
    lines.append("")
    lines.append(f"{'account':<10} {'user':<12} {'last fill':<22} fills today")
    for row in status["accounts"]:
        lines.append(f"{row['account']:<10} {row['user']:<12} {row['last_fill'] or '-':<22} "
                     f"{row['fills_today']}")
    lines.append("")
    for seal in status["seals"]:
        lines.extend(_seal_lines(seal))
    gaps = status["open_gaps"]
    if not gaps:
        lines.append("open gaps: none")
    for gap in gaps:
        if not gap["unrecoverable"]:
            lines.append(f"OPEN GAP #{gap['id']} ({gap['instance']}): T4 not heard since "
                         f"{gap['started_at']}: {gap['reason']}; fills are lost for good if "
                         f"it lasts past {gap['unrecoverable_at']}")
            continue
        lines.append(f"UNRECOVERABLE GAP #{gap['id']} ({gap['instance']}): {gap['started_at']} "
                     f"to {gap['ended_at'] or 'now'}: {gap['reason']}; fills may be lost. "
                     f"After checking: fillcapture gaps ack {gap['id']}")
    quarantine = status["quarantine"]
    if not quarantine:
        lines.append("quarantine: empty")
    else:
        lines.append(f"QUARANTINE: {sum(quarantine.values())} records T4 sent could not be "
                     "stored (" + ", ".join(f"{reason} {count}" for reason, count
                                             in sorted(quarantine.items()))
                     + "); see fillcapture quarantine list")
    return "\n".join(lines) + "\n"


def _seal_lines(seal: dict[str, Any]) -> list[str]:
    head = f"sealed {seal['trade_date']} ({seal['firm']}): "
    if seal["verified"]:
        head += f"verified ({seal['reconcile_step']}) at {seal['reconciled_at']}"
    elif seal["verified"] is None:
        head += "sealed before reconcile certificates"
    else:
        head += f"UNVERIFIED: {seal['unverified_reason']}"
    lines = [head]
    for row in seal["differences"]:
        lines.append(
            f"  DIFFERENCE account {row['account']}: T4 reported {row['snapshot']} in its last "
            f"snapshot and {row['after_snapshot']} live after it, the store holds "
            f"{row['stored']}: {row['difference']:+d}")
    if seal["without_snapshot"]:
        lines.append(f"  no snapshot of T4 seen for: {', '.join(seal['without_snapshot'])}")
    return lines


def sealed_day_row(day: SealedDay) -> dict[str, Any]:
    """A sealed day and its certificates as JSON-ready data (``fillcapture seals``)."""
    return {
        "firm": day.firm,
        "trade_date": day.trade_date.isoformat(),
        "sealed_at": _iso(day.sealed_at),
        "verified": day.verified,
        "reconcile_step": day.reconcile_step,
        "reconciled_at": None if day.reconciled_at is None else _iso(day.reconciled_at),
        "unverified_reason": day.unverified_reason,
        "certificates": [certificate_row(c) for c in day.certificates],
    }


def certificate_row(certificate: Certificate) -> dict[str, Any]:
    return {
        "account": certificate.account,
        "snapshot": certificate.snapshot,
        "snapshot_at": None if certificate.snapshot_at is None else _iso(certificate.snapshot_at),
        "after_snapshot": certificate.after_snapshot,
        "stored": certificate.stored,
        "recovered": certificate.recovered,
        "quarantined": certificate.quarantined,
        "busted": certificate.busted,
        "difference": certificate.difference,
    }


def gap_row(gap: Gap) -> dict[str, Any]:
    return {
        "id": gap.id,
        "instance": gap.instance,
        "started_at": _iso(gap.started_at),
        "ended_at": None if gap.ended_at is None else _iso(gap.ended_at),
        "reason": gap.reason,
        "unrecoverable": gap.unrecoverable,
        "acknowledged_at": None if gap.acknowledged_at is None else _iso(gap.acknowledged_at),
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _split(text: str | None) -> list[str]:
    return [part for part in (text or "").split(",") if part]
