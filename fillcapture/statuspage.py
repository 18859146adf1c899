"""The operator's status page (``GET /status``): ``fillcapture status --json``'s
data as one HTML page that a person reads at a glance.

Pure: :func:`render` takes :func:`fillcapture.status.collect`'s dict and gives
the page, so the page and ``status --json`` cannot disagree. The page loads
nothing and runs nothing (inline styles only, under :data:`CSP`) and reloads
itself every :data:`REFRESH_SECONDS` with a ``<meta http-equiv="refresh">``,
which needs no script. Trouble is marked in colour and in words (PROBLEM,
WARNING), so it shows printed and to the colour-blind. Every value is escaped:
account names, reasons and hosts come from outside.

Each value of the data is in an element whose ``data-field`` names its place
in the dict (``accounts.0.fills_today``; ``.length`` a list's length; an empty
value carries ``data-empty``), so what the page says can be checked against
``status --json``.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from fillcapture import statement

CSP = statement.CSP
"""The statement's policy: nothing loaded from anywhere, inline styles only, no script."""

REFRESH_SECONDS = 30
"""How often the page reloads itself."""

BAD, WARN = "bad", "warn"
_WORD = {BAD: "PROBLEM", WARN: "WARNING"}

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1f2328}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}
table{border-collapse:collapse;margin:.3em 0}
th,td{border:1px solid #d0d7de;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.bad{background:#ffebe9;border-left:6px solid #cf222e}
.warn{background:#fff8c5;border-left:6px solid #9a6700}
.ok{background:#dafbe1;border-left:6px solid #1a7f37}
.mark{font-weight:bold}.muted{color:#59636e}
ul.troubles{list-style:none;padding:0}ul.troubles li{padding:.3em .6em;margin:.2em 0}
@media print{*{print-color-adjust:exact;-webkit-print-color-adjust:exact}}
"""


def render(status: dict[str, Any]) -> str:
    """The whole page of ``status`` (:func:`fillcapture.status.collect`'s dict)."""
    now = _moment(status["now"])
    found = troubles(status)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>fillcapture status" + (f" ({len(found)} to look at)" if found else "")
        + "</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>fillcapture status</h1>",
        f'<p class="muted">trade date {_field("trade_date", status["trade_date"])}, as of '
        f'{_field("now", status["now"])}; this page reloads every {REFRESH_SECONDS} s</p>',
        _troubles_section(found),
        _daemons_section(status["daemons"], now),
        _accounts_section(status["accounts"], now),
        _gaps_section(status["open_gaps"], now),
        _quarantine_section(status["quarantine"]),
        _seals_section(status["seals"]),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def troubles(status: dict[str, Any]) -> list[tuple[str, str]]:
    """What needs an operator, worst kind first within each part: (``bad`` or
    ``warn``, the words)."""
    now = _moment(status["now"])
    found: list[tuple[str, str]] = []
    if not status["daemons"]:
        found.append((WARN, "no daemon has run against this store yet"))
    for daemon in status["daemons"]:
        name = daemon["instance"]
        if daemon["standby"] and not daemon["running"]:
            found.append((BAD, f"no active daemon for {name}: its standby waits and none "
                               "holds the lease"))
        elif not daemon["running"]:
            found.append((BAD, f"daemon {name} is {daemon['state']}"
                               + (f" since {daemon['since']}" if daemon["since"] else "")))
        invisible = daemon["accounts"]["owned_but_invisible"]
        if invisible:
            found.append((BAD, f"{name}: {len(invisible)} owned account(s) the fill user "
                               f"cannot see, not captured: {', '.join(invisible)}"))
        for conflict in daemon["account_conflicts"]:
            found.append((BAD, f"{name}: account conflict: {conflict}"))
    for gap in status["open_gaps"]:
        if _lost(gap, now):
            found.append((BAD, f"unrecoverable gap #{gap['id']} ({gap['instance']}): fills "
                               f"may be lost; after checking: fillcapture gaps ack {gap['id']}"))
        else:
            found.append((WARN, f"open gap #{gap['id']} ({gap['instance']}): T4 not heard "
                                f"since {gap['started_at']}; unrecoverable at "
                                f"{gap['unrecoverable_at']}"))
    quarantined = sum(status["quarantine"].values())
    if quarantined:
        found.append((BAD, f"{quarantined} record(s) in quarantine: see fillcapture "
                           "quarantine list"))
    for seal in status["seals"]:
        where = f"seal of {seal['trade_date']} ({seal['firm']})"
        if seal["verified"] is False:
            found.append((BAD, f"{where} is unverified: {seal['unverified_reason']}"))
        if seal["differences"]:
            found.append((BAD, f"{where}: {len(seal['differences'])} account(s) differ "
                               "from T4's snapshot"))
    return found


def _lost(gap: dict[str, Any], now: datetime) -> bool:
    """Whether ``gap`` has lost fills for good: marked so, or lasting past its roll."""
    return bool(gap["unrecoverable"]) or (
        gap["ended_at"] is None and _moment(gap["unrecoverable_at"]) <= now)


def _troubles_section(found: list[tuple[str, str]]) -> str:
    if not found:
        return '<p class="ok" data-trouble="none"><span class="mark">ALL CLEAR:</span> ' \
               "nothing needs an operator</p>"
    items = "".join(f'<li class="{kind}" data-trouble="{kind}"><span class="mark">'
                    f"{_WORD[kind]}:</span> {escape(text)}</li>" for kind, text in found)
    return (f'<h2>{len(found)} thing(s) to look at</h2><ul class="troubles">{items}</ul>')


def _daemons_section(daemons: list[dict[str, Any]], now: datetime) -> str:
    if not daemons:
        return '<h2>Daemons</h2><p class="warn"><span class="mark">WARNING:</span> ' \
               "no daemon has run against this store yet</p>"
    return "<h2>Daemons</h2>" + "".join(_daemon(n, d, now) for n, d in enumerate(daemons))


def _daemon(n: int, daemon: dict[str, Any], now: datetime) -> str:
    at = f"daemons.{n}"
    standby = daemon["standby"]
    if daemon["running"]:
        role, tone = "active", ""
    elif standby:
        role, tone = "standby only: NO ACTIVE DAEMON", BAD
    else:
        role, tone = "NOT RUNNING", BAD
    accounts = daemon["accounts"]
    invisible = accounts["owned_but_invisible"]
    rows = [
        ("role", f'<span class="mark">{role}</span>', tone),
        ("state", f"{_field(f'{at}.state', daemon['state'])} since "
                  f"{_time(f'{at}.since', daemon['since'], now)}", tone),
        ("process", f"pid {_field(f'{at}.pid', daemon['pid'], 'unknown')} on "
                    f"{_field(f'{at}.host', daemon['host'], 'unknown host')}, last alive "
                    f"{_time(f'{at}.last_alive', daemon['last_alive'], now)}", ""),
        ("standby", "none" if not standby else
         f"pid {_field(f'{at}.standby.pid', standby['pid'], 'unknown')} on "
         f"{_field(f'{at}.standby.host', standby['host'], 'unknown host')}, waiting since "
         f"{_time(f'{at}.standby.since', standby['since'], now)}", ""),
        ("T4 session", f"{_field(f'{at}.username', daemon['username'], 'not logged in')} at "
                       f"{_field(f'{at}.firm', daemon['firm'], 'no firm yet')}; price format "
                       f"{_field(f'{at}.price_format', daemon['price_format'], 'unknown')}",
         ""),
        ("last disconnect", _field(f"{at}.reason", daemon["reason"], "none"), ""),
        ("accounts", f"{_count(f'{at}.accounts.visible', accounts['visible'])} visible, "
                     f"{_count(f'{at}.accounts.owned', accounts['owned'])} owned, "
                     f"{_count(f'{at}.accounts.owned_but_invisible', invisible)} owned but "
                     "invisible" + (f' (<span class="mark">PROBLEM:</span> not captured: '
                                    f"{escape(', '.join(invisible))})" if invisible else ""),
         BAD if invisible else ""),
    ]
    if daemon["account_conflicts"]:
        rows.append(("account conflicts", '<span class="mark">PROBLEM:</span> ' + escape(
            "; ".join(daemon["account_conflicts"])), BAD))
    for label, key in (("last reconcile", "last_reconcile"), ("last seal", "last_seal"),
                       ("last backup", "last_backup"),
                       ("last integrity check", "last_integrity_check")):
        rows.append((label, _time(f"{at}.{key}", daemon[key], now), ""))
    rows.append(("backup file", _field(f"{at}.last_backup_path", daemon["last_backup_path"],
                                       "none"), ""))
    body = "".join(f'<tr{_class(tone)}><th>{escape(label)}</th><td>{cell}</td></tr>'
                   for label, cell, tone in rows)
    return (f'<h3>{_field(f"{at}.instance", daemon["instance"])}</h3>'
            f'<table data-daemon="{n}">{body}</table>')


def _accounts_section(accounts: list[dict[str, Any]], now: datetime) -> str:
    if not accounts:
        return "<h2>Accounts</h2><p>no accounts in the registry</p>"
    rows = "".join(
        f"<tr><td>{_field(f'accounts.{n}.account', row['account'])}</td>"
        f"<td>{_field(f'accounts.{n}.user', row['user'])}</td>"
        f"<td>{_time(f'accounts.{n}.last_fill', row['last_fill'], now)}</td>"
        f'<td class="n">{_field(f"accounts.{n}.fills_today", row["fills_today"])}</td></tr>'
        for n, row in enumerate(accounts))
    return ("<h2>Accounts</h2><table><tr><th>account</th><th>user</th><th>last fill</th>"
            f"<th>fills today</th></tr>{rows}</table>")


def _gaps_section(gaps: list[dict[str, Any]], now: datetime) -> str:
    head = f'<h2>Open gaps: {_count("open_gaps", gaps)}</h2>'
    if not gaps:
        return head + '<p class="ok">none</p>'
    rows = []
    for n, gap in enumerate(gaps):
        at = f"open_gaps.{n}"
        lost = _lost(gap, now)
        when = _time(f"{at}.unrecoverable_at", gap["unrecoverable_at"], now)
        verdict = (f'<span class="mark">PROBLEM: unrecoverable</span> since {when}' if lost
                   else f'<span class="mark">WARNING:</span> becomes unrecoverable at {when}')
        rows.append(
            f'<tr class="{BAD if lost else WARN}"><td>#{_field(f"{at}.id", gap["id"])}</td>'
            f"<td>{_field(f'{at}.instance', gap['instance'])}</td>"
            f"<td>{_time(f'{at}.started_at', gap['started_at'], now)}</td>"
            f"<td>{_time(f'{at}.ended_at', gap['ended_at'], now, 'still going on')}</td>"
            f"<td>{_field(f'{at}.reason', gap['reason'])}</td><td>{verdict}</td></tr>")
    return (head + "<table><tr><th>gap</th><th>instance</th><th>began</th><th>ended</th>"
            "<th>reason</th><th>fills</th></tr>" + "".join(rows) + "</table>")


def _quarantine_section(quarantine: dict[str, int]) -> str:
    total = sum(quarantine.values())
    if not total:
        return '<h2>Quarantine</h2><p class="ok">empty</p>'
    rows = "".join(f'<tr class="{BAD}"><td>{escape(reason)}</td><td class="n">'
                   f"{_field(f'quarantine.{reason}', count)}</td></tr>"
                   for reason, count in sorted(quarantine.items()))
    return (f'<h2>Quarantine</h2><p class="{BAD}"><span class="mark">PROBLEM:</span> '
            f"{total} record(s) T4 sent could not be stored; see fillcapture quarantine "
            f"list</p><table><tr><th>reason</th><th>records</th></tr>{rows}</table>")


def _seals_section(seals: list[dict[str, Any]]) -> str:
    if not seals:
        return "<h2>Last seal and reconcile</h2><p>no day sealed yet</p>"
    rows = []
    for n, seal in enumerate(seals):
        at = f"seals.{n}"
        if seal["verified"]:
            verdict, tone = (f"verified ({_field(f'{at}.reconcile_step', seal['reconcile_step'])}"
                             f") at {_field(f'{at}.reconciled_at', seal['reconciled_at'])}", "")
        elif seal["verified"] is None:
            verdict, tone = "sealed before reconcile certificates", ""
        else:
            verdict, tone = ('<span class="mark">PROBLEM: UNVERIFIED</span>: '
                             + _field(f"{at}.unverified_reason", seal["unverified_reason"]), BAD)
        differences = "".join(
            f"<li>account {escape(d['account'])}: T4 {escape(str(d['snapshot']))} + "
            f"{escape(str(d['after_snapshot']))} live, stored {escape(str(d['stored']))}: "
            f"{escape(str(d['difference']))}</li>" for d in seal["differences"])
        certificate = (f'<span class="mark">PROBLEM:</span> '
                       f"{_count(f'{at}.differences', seal['differences'])} account(s) "
                       f"differ<ul>{differences}</ul>" if differences
                       else "every account as T4 reported")
        if seal["without_snapshot"]:
            certificate += ("; no snapshot seen for "
                            f"{_count(f'{at}.without_snapshot', seal['without_snapshot'])}: "
                            + escape(", ".join(seal["without_snapshot"])))
        rows.append(
            f"<tr{_class(BAD if differences else tone)}>"
            f"<td>{_field(f'{at}.trade_date', seal['trade_date'])}</td>"
            f"<td>{_field(f'{at}.firm', seal['firm'])}</td>"
            f"<td>{_field(f'{at}.sealed_at', seal['sealed_at'])}</td>"
            f"<td>{verdict}</td><td>{certificate}</td></tr>")
    return ("<h2>Last seal and reconcile</h2><table><tr><th>trade date</th><th>firm</th>"
            "<th>sealed</th><th>reconcile</th><th>certificate</th></tr>"
            + "".join(rows) + "</table>")


def _field(path: str, value: Any, empty: str = "never") -> str:
    """``value`` in an element naming its place in the data (see the module)."""
    if value is None:
        return f'<span data-field="{escape(path)}" data-empty="">{escape(empty)}</span>'
    return f'<span data-field="{escape(path)}">{escape(str(value))}</span>'


def _count(path: str, items: list[Any]) -> str:
    return _field(f"{path}.length", len(items))


def _time(path: str, value: str | None, now: datetime, empty: str = "never") -> str:
    """A moment of the data, and how long ago (or ahead) it is."""
    if value is None:
        return _field(path, value, empty)
    return f'{_field(path, value)} <span class="muted">({_ago(_moment(value), now)})</span>'


def _ago(then: datetime, now: datetime) -> str:
    seconds = int((now - then).total_seconds())
    span = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if span >= size:
            text = f"{span // size} {unit}"
            break
    else:
        text = f"{span} s"
    return f"{text} ago" if seconds >= 0 else f"in {text}"


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _class(tone: str) -> str:
    return f' class="{tone}"' if tone else ""
