"""The monthly statement: one self-contained HTML page of a user's month.

:func:`render` turns the month's summary rows in money
(:mod:`fillcapture.money`) into a page a browser shows and prints as it is:
no external asset of any kind (styles inline, charts inline SVG, no script),
and a Content-Security-Policy forbidding anything else, so a statement opened
from a mail or a file server loads nothing and runs nothing. It holds:

- the month's totals per currency (gross, each fee component, fees, net, by
  :func:`fillcapture.money.totals`: currencies are never added together),
  and lines naming what no total holds (rows of an unknown currency or point
  value, fills of unknown fees, rows without a net), by account and market;
- a calendar of the month, Monday first, each trade date with its net per
  currency (``?`` where it is unknown, blank without trading);
- a cumulative net chart per account and currency (:mod:`fillcapture.statement_svg`);
- the table of the days' rows.

Amounts are the exact decimals, at least two places (:func:`money_text`).
Every text from data is HTML-escaped. Elements a reader (or a test) needs
carry ``data-`` attributes: ``data-total``/``data-currency`` on the totals,
``data-day`` on calendar cells, ``data-row`` on the table's rows.

Pure: no I/O, no clock (``generated_at`` is given).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal, Inexact, InvalidOperation
from html import escape

from fillcapture.money import MoneyRow, Totals, totals
from fillcapture.statement_svg import Series, chart

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
"""The page's Content-Security-Policy: inline styles, nothing else at all."""

_CENTS = Decimal("0.01")
_ZERO = Decimal(0)
_EXACT = Context(prec=200, traps=[Inexact, InvalidOperation])

_STYLE = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  color: #1b1f24; background: #fff; margin: 0 auto; padding: 16px; max-width: 190mm; }
h1 { font-size: 20px; margin: 0 0 2px; }
h2 { font-size: 15px; margin: 18px 0 6px; border-bottom: 1px solid #c8ccd1; }
.meta { color: #57606a; margin: 0 0 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #d0d7de; padding: 3px 6px; text-align: right;
  font-variant-numeric: tabular-nums; }
th { background: #eef1f4; }
td.text, th.text { text-align: left; }
td.date { white-space: nowrap; }
.pos { color: #116329; background: #dafbe1; }
.neg { color: #a40e26; background: #ffebe9; }
.unknown { color: #7d4e00; background: #fff8c5; }
ul.missing { margin: 6px 0; padding-left: 18px; color: #7d4e00; }
table.calendar td { height: 54px; width: 14.28%; vertical-align: top; text-align: left; }
table.calendar td.out { background: #f6f8fa; }
table.calendar .date { color: #57606a; font-size: 11px; display: block; }
table.calendar .net { display: block; font-size: 12px; padding: 0 2px; }
figure { margin: 8px 0 14px; }
figcaption { font-weight: 600; margin-bottom: 2px; }
figure svg { width: 100%; height: auto; }
* { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
@page { margin: 12mm; }
@media print {
  body { padding: 0; max-width: none; font-size: 10.5px; }
  table, figure, section.totals { break-inside: avoid; page-break-inside: avoid; }
  table.days { break-inside: auto; page-break-inside: auto; }
  table.days tr { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  h2 { break-after: avoid; page-break-after: avoid; }
}
"""


def money_text(value: Decimal) -> str:
    """``value`` exactly, in plain notation, with at least two decimals
    (``12.5`` is ``12.50``; ``0.125`` stays ``0.125``)."""
    if value == 0:
        value = abs(value)  # never "-0.00"
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        value = value.quantize(_CENTS)  # exact: fewer decimals than two
    return f"{value:f}"


def signed_text(value: Decimal) -> str:
    """:func:`money_text` with a ``+`` before a positive amount."""
    text = money_text(value)
    return f"+{text}" if value > 0 else text


def month_days(month: date) -> list[date]:
    """Every date of ``month``'s month, in order."""
    first = month.replace(day=1)
    return [first + timedelta(days=n) for n in range(calendar.monthrange(first.year,
                                                                         first.month)[1])]


def _tone(value: Decimal | None) -> str:
    if value is None:
        return "unknown"
    return "pos" if value > 0 else "neg" if value < 0 else ""


def _where(rows: Iterable[MoneyRow]) -> str:
    """The accounts and markets of ``rows``, escaped, as ``11111 (ES), ...``."""
    found = sorted({(r.row.account, r.row.market_id) for r in rows})
    return ", ".join(f"{escape(account)} ({escape(market)})" for account, market in found)


def render(user: str, month: date, rows: Sequence[MoneyRow], generated_at: datetime) -> str:
    """The statement page of ``user``'s ``month`` (its first day) from ``rows``
    (the summary in money; rows of other months are left out)."""
    days = month_days(month)
    mine = [r for r in rows if days[0] <= r.row.trade_date <= days[-1]]
    found = totals(mine)
    components = sorted({fee.component for r in mine for fee in r.fees})
    title = f"{calendar.month_name[days[0].month]} {days[0].year}"
    when = generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Statement {escape(user)} {title}</title>",
        f"<style>{_STYLE}</style></head>",
        f'<body data-user="{escape(user)}" data-month="{days[0]:%Y-%m}">',
        f"<h1>Statement: {title}</h1>",
        f'<p class="meta">User <strong>{escape(user)}</strong> · trade dates '
        f"{days[0].isoformat()} to {days[-1].isoformat()} · generated {when}</p>",
        _totals_section(found, components, mine),
        _calendar_section(days, mine),
        _charts_section(days, mine),
        _days_section(mine, components),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _totals_section(found: Totals, components: list[str], rows: list[MoneyRow]) -> str:
    currencies = list(found.by_currency)
    out = ['<section class="totals"><h2>Totals</h2>']
    if currencies:
        out.append('<table class="totals"><thead><tr><th class="text"></th>'
                   + "".join(f'<th data-currency="{escape(c)}">{escape(c)}</th>'
                             for c in currencies) + "</tr></thead><tbody>")
        lines: list[tuple[str, str, str]] = [("gross", "Gross P&amp;L", "")]
        lines += [("fee", f"Fees: {escape(c)}", c) for c in components]
        lines += [("fees", "Fees", ""), ("net", "Net P&amp;L", "")]
        for key, label, component in lines:
            cells = []
            for currency in currencies:
                entry = found.by_currency[currency]
                if component and component not in entry.fees:
                    cells.append("<td></td>")  # not charged in this currency
                    continue
                value = {"gross": entry.gross, "fees": entry.fees_total,
                         "net": entry.net}.get(key, entry.fees.get(component, Decimal(0)))
                extra = f' data-component="{escape(component)}"' if component else ""
                tone = f' class="{_tone(value)}"' if key == "net" else ""
                cells.append(f'<td data-total="{key}"{extra} data-currency="{escape(currency)}"'
                             f"{tone}>{money_text(value)}</td>")
            out.append(f'<tr><th class="text">{label}</th>{"".join(cells)}</tr>')
        out.append("</tbody></table>")
    else:
        out.append("<p>No amount in a known currency this month.</p>")
    out.append(_missing(found, rows))
    out.append("</section>")
    return "\n".join(out)


def _missing(found: Totals, rows: list[MoneyRow]) -> str:
    """The lines naming what no total above holds."""
    lines = []
    unknown_currency = [r for r in rows if r.currency is None]
    if unknown_currency:
        lines.append(f'<li data-missing="currency">{len(unknown_currency)} row(s) of a market '
                     "whose currency is unknown (no <code>[money] currencies</code> entry), in "
                     f"no total: {_where(unknown_currency)}</li>")
    unknown_gross = [r for r in rows if r.currency is not None and r.gross is None]
    if unknown_gross:
        lines.append(f'<li data-missing="point_value">{len(unknown_gross)} row(s) of a market '
                     f"whose point value is unknown, in no gross or net: "
                     f"{_where(unknown_gross)}</li>")
    unknown_fees = [r for r in rows if r.fees_unknown]
    if unknown_fees:
        lines.append(f'<li data-missing="fees">{found.fees_unknown} fill(s) of unknown fees '
                     "(no fee schedule, unknown side or a pending spread leg), their rows in "
                     f"no net: {_where(unknown_fees)}</li>")
    for currency, entry in found.by_currency.items():
        if entry.rows_without_net:
            without = [r for r in rows if r.currency == currency and r.net is None]
            lines.append(f'<li data-missing="net" data-currency="{escape(currency)}">'
                         f"{entry.rows_without_net} {escape(currency)} row(s) without a net, "
                         f"left out of its net total: {_where(without)}</li>")
    if not lines:
        return ""
    return '<ul class="missing">' + "".join(lines) + "</ul>"


def day_nets(rows: Iterable[MoneyRow]) -> dict[date, dict[str | None, Decimal | None]]:
    """Each trade date's net per currency (``None`` currency: unknown); a
    currency's net is ``None`` where a row of it has none."""
    found: dict[date, dict[str | None, Decimal | None]] = {}
    for r in rows:
        nets = found.setdefault(r.row.trade_date, {})
        before = nets.get(r.currency, _ZERO)
        nets[r.currency] = None if before is None or r.net is None else _EXACT.add(before, r.net)
    return found


def _calendar_section(days: list[date], rows: list[MoneyRow]) -> str:
    nets = day_nets(rows)
    out = ['<section><h2>Calendar: net P&amp;L per trade date</h2>',
           '<table class="calendar"><thead><tr>'
           + "".join(f"<th>{name}</th>" for name in calendar.day_abbr) + "</tr></thead><tbody>"]
    lead = [None] * days[0].weekday()
    cells: list[date | None] = [*lead, *days]
    cells += [None] * (-len(cells) % 7)
    for start in range(0, len(cells), 7):
        out.append("<tr>")
        for day in cells[start:start + 7]:
            if day is None:
                out.append('<td class="out"></td>')
                continue
            traded = nets.get(day)
            inner = [f'<span class="date">{day.day}</span>']
            for currency, net in sorted((traded or {}).items(), key=lambda i: i[0] or "~"):
                code = "unknown currency" if currency is None else escape(currency)
                text = "?" if net is None or currency is None else signed_text(net)
                tone = "unknown" if currency is None else _tone(net)
                inner.append(f'<span class="net {tone}" data-net="{text}" '
                             f'data-currency="{code}">{text} {code}</span>')
            flag = ' data-traded="true"' if traded else ""
            out.append(f'<td data-day="{day.isoformat()}"{flag}>{"".join(inner)}</td>')
        out.append("</tr>")
    out.append("</tbody></table></section>")
    return "\n".join(out)


def _charts_section(days: list[date], rows: list[MoneyRow]) -> str:
    keys = sorted({(r.row.firm, r.row.account, r.currency) for r in rows
                   if r.currency is not None})
    out = ["<section><h2>Cumulative net P&amp;L per account</h2>"]
    if not keys:
        out.append("<p>No net in a known currency this month.</p>")
    for firm, account, currency in keys:
        points: list[tuple[date, Decimal]] = []
        unknown: list[date] = []
        running = _ZERO
        for day in days:
            today = [r for r in rows if r.row.trade_date == day and r.row.firm == firm
                     and r.row.account == account and r.currency == currency]
            if not today:
                continue
            if any(r.net is None for r in today):
                unknown.append(day)
            for r in today:
                running = running if r.net is None else _EXACT.add(running, r.net)
            points.append((day, running))
        note = ("" if not unknown else
                f" (without the unknown net of {', '.join(d.isoformat() for d in unknown)})")
        label = f"{account} at {firm}, {currency}"
        out.append(f'<figure data-chart="{escape(account)}" data-firm="{escape(firm)}" '
                   f'data-currency="{escape(currency)}"><figcaption>{escape(label)}: '
                   f"{signed_text(running)} {escape(currency)}{note}</figcaption>"
                   f"{chart(Series(label, points), days[0], days[-1], currency, money_text)}"
                   "</figure>")
    out.append("</section>")
    return "\n".join(out)


def _days_section(rows: list[MoneyRow], components: list[str]) -> str:
    head = ["Trade date", "Account", "Market", "Buys", "Sells", "Gross",
            *(f"Fee: {c}" for c in components), "Net", "Currency"]
    out = ['<section><h2>Days</h2><table class="days"><thead><tr>'
           + "".join(f'<th class="text">{escape(h)}</th>' if i < 3 else f"<th>{escape(h)}</th>"
                     for i, h in enumerate(head)) + "</tr></thead><tbody>"]
    ordered = sorted(rows, key=lambda r: (r.row.trade_date, r.row.firm, r.row.account,
                                          r.row.market_id))
    for r in ordered:
        row = r.row
        fees = {fee.component: fee for fee in r.fees}
        cells = [
            f'<td class="text date">{row.trade_date.isoformat()}</td>',
            f'<td class="text" data-account="{escape(row.account)}">{escape(row.account)}</td>',
            f'<td class="text">{escape(row.market_id)}</td>',
            f"<td>{row.buy_volume} ({row.buys})</td>",
            f"<td>{row.sell_volume} ({row.sells})</td>",
            f'<td class="{_tone(r.gross)}">'
            f'{"?" if r.gross is None else money_text(r.gross)}</td>',
        ]
        for component in components:
            fee = fees.get(component)
            if fee is None:
                cells.append("<td>?</td>" if r.fees_unknown else "<td></td>")
                continue
            other = "" if fee.currency == r.currency else f" {escape(fee.currency)}"
            cells.append(f"<td>{money_text(fee.amount)}{other}</td>")
        cells.append(f'<td class="{_tone(r.net)}" data-net>'
                     f'{"?" if r.net is None else money_text(r.net)}</td>')
        cells.append(f'<td class="text">{"?" if r.currency is None else escape(r.currency)}</td>')
        out.append(f'<tr data-row="{row.trade_date.isoformat()}">{"".join(cells)}</tr>')
    if not ordered:
        out.append(f'<tr><td class="text" colspan="{len(head)}">No trading this month.</td></tr>')
    out.append("</tbody></table></section>")
    return "\n".join(out)
