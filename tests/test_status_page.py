"""The operator's status page: rendered pure from ``status``'s data, and served
by a real ``fillcapture serve`` over the store a real daemon filled from the
simulator, read in a real headless Chromium against ``fillcapture status --json``.

The simulator's firm has accounts 11111 to 44444; the fill user sees all but
44444, which B owns: owned but invisible. It sends corrupt records (quarantined)
and then goes away, leaving the daemon's gap open, before the daemon is stopped.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from fillcapture import status, statuspage
from fillcapture.schedule import CHICAGO
from fillcapture.store import open_store
from tests.api.conftest import issue_token, start_api
from tests.browser import Chromium
from tests.conftest import (
    Proc,
    SimProc,
    daemon_config,
    free_port,
    ledger_rows,
    read_store,
    run_cli,
    stored_count,
    wait_until,
)

CAPTURED = {"11111", "22222", "33333"}  # owned and visible
HOSTILE = '<script>alert(1)</script>"\'&<img src=x onerror=alert(2)>'
ESCAPED = ("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#x27;&amp;"
           "&lt;img src=x onerror=alert(2)&gt;")
NOW = datetime(2026, 11, 18, 20, 0, tzinfo=UTC)  # a Wednesday, 14:00 in Chicago


# --- the page, rendered pure ------------------------------------------------------------


def _daemon(**over: Any) -> dict[str, Any]:
    daemon: dict[str, Any] = {
        "instance": "SIMFIRM", "running": True, "state": "subscribed",
        "since": "2026-11-18T12:00:00Z", "last_alive": "2026-11-18T19:59:58Z", "pid": "41",
        "host": "capture1", "standby": None, "firm": "SIMFIRM", "username": "fills",
        "reason": None, "price_format": "decimal", "price_format_since": None,
        "accounts": {"visible": ["11111", "22222"], "owned": ["11111", "22222"],
                     "owned_but_invisible": []},
        "account_conflicts": [], "last_reconcile": "2026-11-17T21:55:00Z",
        "last_seal": "2026-11-17T23:05:00Z", "last_backup": None, "last_backup_path": None,
        "last_integrity_check": None,
    }
    return daemon | over


def _gap(number: int, started: datetime, *, ended: datetime | None = None,
         unrecoverable: bool = False, reason: str = "connection lost") -> dict[str, Any]:
    return {"id": number, "instance": "SIMFIRM", "started_at": _iso(started),
            "ended_at": None if ended is None else _iso(ended), "reason": reason,
            "unrecoverable": unrecoverable, "acknowledged_at": None,
            "unrecoverable_at": _iso(status.unrecoverable_at(started))}


def _seal(**over: Any) -> dict[str, Any]:
    seal: dict[str, Any] = {
        "firm": "SIMFIRM", "trade_date": "2026-11-17", "sealed_at": "2026-11-17T23:05:00Z",
        "verified": True, "reconcile_step": "resubscribe",
        "reconciled_at": "2026-11-17T21:55:00Z", "unverified_reason": None,
        "differences": [], "without_snapshot": []}
    return seal | over


def _status(**over: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "now": _iso(NOW), "trade_date": "2026-11-18", "daemons": [_daemon()],
        "accounts": [{"account": "11111", "user": "A", "last_fill": "2026-11-18T19:58:00Z",
                      "fills_today": 12},
                     {"account": "22222", "user": "A", "last_fill": None, "fills_today": 0}],
        "open_gaps": [], "quarantine": {}, "seals": [_seal()]}
    return found | over


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _troubles(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<li class="(\w+)" data-trouble="\1"><span class="mark">([A-Z]+):',
                      page)


def test_a_healthy_store_is_all_clear_and_the_page_loads_nothing() -> None:
    page = statuspage.render(_status())
    assert 'data-trouble="none"' in page
    assert "ALL CLEAR" in page
    assert "PROBLEM" not in page
    assert "WARNING" not in page
    assert '<meta http-equiv="refresh" content="30">' in page
    assert re.findall(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page) == [
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:"]
    assert "<script" not in page
    assert not re.search(r"(src|href)=\"?(https?:|//)", page)
    assert '<span data-field="accounts.0.fills_today">12</span>' in page
    assert '<span data-field="accounts.1.last_fill" data-empty="">never</span>' in page


def test_text_from_outside_is_escaped_everywhere() -> None:
    daemon = _daemon(instance=HOSTILE, host=HOSTILE, username=HOSTILE, reason=HOSTILE,
                     account_conflicts=[HOSTILE],
                     accounts={"visible": [], "owned": [HOSTILE],
                               "owned_but_invisible": [HOSTILE]})
    found = _status(
        daemons=[daemon],
        accounts=[{"account": HOSTILE, "user": HOSTILE, "last_fill": None, "fills_today": 1}],
        open_gaps=[_gap(1, NOW - timedelta(hours=1), reason=HOSTILE)],
        quarantine={HOSTILE: 2},
        seals=[_seal(verified=False, reconcile_step=None, reconciled_at=None,
                     unverified_reason=HOSTILE, without_snapshot=[HOSTILE])])
    page = statuspage.render(found)
    assert "<script" not in page
    assert "<img" not in page
    assert "alert(1)</" not in page
    assert page.count(ESCAPED) >= 12


def test_trouble_is_marked_in_colour_and_words() -> None:
    gone = _daemon(running=False, state="not running",
                   standby={"host": "capture2", "pid": "7", "since": "2026-11-18T19:00:00Z",
                            "last_alive": "2026-11-18T19:59:59Z"},
                   accounts={"visible": ["11111"], "owned": ["11111", "44444"],
                             "owned_but_invisible": ["44444"]})
    stopped = _daemon(instance="OTHER", running=False, state="stopped")
    ongoing = _gap(3, NOW - timedelta(hours=1))  # roll at 23:00 UTC today: not yet
    past_roll = _gap(2, NOW - timedelta(days=1))  # still going on, its roll passed
    lost = _gap(1, NOW - timedelta(days=2), ended=NOW - timedelta(days=1), unrecoverable=True)
    page = statuspage.render(_status(
        daemons=[gone, stopped], open_gaps=[ongoing, past_roll, lost],
        quarantine={"invalid_price": 3, "unknown_account": 1},
        seals=[_seal(verified=False, reconcile_step=None, reconciled_at=None,
                     unverified_reason="not connected")]))
    words = dict(statuspage._WORD)
    troubles = _troubles(page)
    assert all(words[kind] == word for kind, word in troubles)
    texts = re.findall(r'data-trouble="\w+"><span class="mark">[A-Z]+:</span> ([^<]*)<', page)
    assert len(texts) == len(troubles) == 8
    assert texts[0].startswith("no active daemon for SIMFIRM")
    assert "44444" in texts[1]
    assert texts[2].startswith("daemon OTHER is stopped")
    assert texts[3].startswith("open gap #3")
    assert "2026-11-18T23:00:00Z" in texts[3]
    assert texts[4].startswith("unrecoverable gap #2")
    assert texts[5].startswith("unrecoverable gap #1")
    assert texts[6].startswith("4 record(s) in quarantine")
    assert texts[7].startswith("seal of 2026-11-17 (SIMFIRM) is unverified: not connected")
    assert [kind for kind, _ in troubles] == ["bad", "bad", "bad", "warn", "bad", "bad", "bad",
                                              "bad"]
    # In the sections too, coloured rows that say so.
    assert page.count('<tr class="bad"><th>role</th><td><span class="mark">') == 2
    assert "standby only: NO ACTIVE DAEMON" in page
    assert re.search(r'<tr class="warn"><td>#<span data-field="open_gaps.0.id">3</span>.*?'
                     r"WARNING:</span> becomes unrecoverable at", page)
    assert re.search(r'<tr class="bad"><td>#<span data-field="open_gaps.1.id">2</span>.*?'
                     r"PROBLEM: unrecoverable</span> since", page)
    assert "PROBLEM: UNVERIFIED" in page
    assert '<span data-field="quarantine.invalid_price">3</span>' in page
    assert ".bad{background:" in page
    assert ".warn{background:" in page


def test_a_gap_becomes_unrecoverable_at_the_roll_of_its_trade_date() -> None:
    def chicago(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime(2026, 11, day, hour, minute, tzinfo=CHICAGO)

    assert status.unrecoverable_at(chicago(18, 10)) == chicago(18, 17)  # Wednesday's trading
    assert status.unrecoverable_at(chicago(18, 18)) == chicago(19, 17)  # Thursday's session
    # Begun in the halt after the close: Wednesday lost nothing, Thursday would.
    assert status.unrecoverable_at(chicago(18, 16, 30)) == chicago(19, 17)
    assert status.unrecoverable_at(chicago(21, 12)) == chicago(23, 17)  # Saturday: Monday's
    text = status.render(_status(open_gaps=[_gap(5, NOW - timedelta(hours=1))]))
    assert ("OPEN GAP #5 (SIMFIRM): T4 not heard since 2026-11-18T19:00:00Z: connection "
            "lost; fills are lost for good if it lasts past 2026-11-18T23:00:00Z") in text


def test_an_empty_store_renders(tmp_path: Path) -> None:
    async def collect() -> dict[str, Any]:
        async with open_store(f"sqlite:///{tmp_path / 'fills.db'}") as store:
            return await status.collect(store)

    found = asyncio.run(collect())
    page = statuspage.render(found)
    assert "no daemon has run against this store yet" in page
    assert "no accounts in the registry" in page
    assert "PROBLEM" not in page
    assert f'<span data-field="trade_date">{found["trade_date"]}</span>' in page


# --- a real daemon, a real serve, a real browser -----------------------------------------


@dataclass
class Served:
    config: Path
    url: str
    tokens: dict[str, str]
    api: Proc
    captured: int  # the fills of the accounts owned and visible


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("status")
    started: list[Proc] = []
    try:
        sim = SimProc(workdir, "--rate", "2000", "--max-fills", "300", "--seed", "21",
                      "--wait-for-subscriber", "--corrupt", "0.05",
                      "--accounts", "11111,22222,33333,44444", "--visible", ",".join(CAPTURED))
        started.append(sim)
        config = daemon_config(workdir, sim, subscribe_all=False)
        with config.open("a") as handle:
            handle.write(f'[api]\nlisten = "127.0.0.1:{free_port()}"\n')
        daemon = Proc(["--config", str(config), "run"], workdir, "daemon")
        started.append(daemon)
        url = f"sqlite:///{workdir / 'fills.db'}"
        sim.wait_for("sim.generator.done", 60, stream="stderr")
        want = len(ledger_rows(sim.ledger(), CAPTURED))
        wait_until(lambda: stored_count(workdir / "fills.db") == want, 30, "the capture")
        wait_until(lambda: bool(read_store(url, lambda s: s.quarantine_counts())), 10,
                   "a quarantined record")
        sim.stop()  # T4 goes away: the daemon's gap opens and stays open
        wait_until(lambda: any(g.ended_at is None for g in read_store(url, lambda s: s.gaps())),
                   20, "an open gap")
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
        tokens = {"ops": issue_token(config, "ops", "--admin"), "A": issue_token(config, "A")}
        api, api_url = start_api(workdir, config)
        started.append(api)
        yield Served(config, api_url, tokens, api, want)
    finally:
        for process in reversed(started):
            process.stop()


def _basic(token: str, user: str = "operator") -> str:
    return "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()


def test_the_page_is_for_operator_tokens_as_bearer_or_basic(served: Served) -> None:
    ops, user = served.tokens["ops"], served.tokens["A"]

    def get(authorization: str | None) -> httpx.Response:
        headers = {} if authorization is None else {"Authorization": authorization}
        return httpx.get(served.url + "/status", headers=headers, timeout=30)

    for refused in (None, _basic("x" * 43), "Bearer " + "x" * 43, _basic(ops)[:-4],
                    "Basic " + base64.b64encode(ops.encode()).decode()):  # no user name part
        answer = get(refused)
        assert answer.status_code == 401, refused
        assert answer.headers["www-authenticate"] == 'Basic realm="fillcapture status"'
        assert answer.json()["error"] == "unauthorized"
    for forbidden in ("Bearer " + user, _basic(user)):
        answer = get(forbidden)
        assert answer.status_code == 403
        assert answer.json()["message"] == "the status page is for operator tokens only"
    for allowed in ("Bearer " + ops, _basic(ops), _basic(ops, user="")):
        answer = get(allowed)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        assert answer.headers["content-security-policy"] == (
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert ops not in answer.text
    # The other endpoints still take bearer tokens only, and ask for those.
    fills = httpx.get(served.url + "/v1/fills", params={"user": "A"},
                      headers={"Authorization": _basic(ops)}, timeout=30)
    assert fills.status_code == 401
    assert fills.headers["www-authenticate"].startswith("Bearer ")
    assert ops not in served.api.stderr
    assert user not in served.api.stderr


_READ_FIELDS = """[...document.querySelectorAll('[data-field]')].map(e => [
    e.dataset.field, e.hasAttribute('data-empty'), e.textContent])"""
_READ_TROUBLES = """[...document.querySelectorAll('[data-trouble]')].map(e => [
    e.dataset.trouble, getComputedStyle(e).backgroundColor, e.textContent])"""


def _at(data: Any, path: str) -> Any:
    """The value at a ``data-field`` path of the status dict."""
    for part in path.split("."):
        if isinstance(data, list):
            data = len(data) if part == "length" else data[int(part)]
        else:
            data = data[part]
    return data


@pytest.mark.asyncio
async def test_the_page_in_chromium_says_what_status_json_says(served: Served,
                                                               tmp_path: Path) -> None:
    async with Chromium(tmp_path) as browser:
        page = await browser.page(allow=served.url + "/",
                                  headers={"Authorization": _basic(served.tokens["ops"])})
        await page.load(served.url + "/status")
        fields = await page.evaluate(_READ_FIELDS)
        troubles = await page.evaluate(_READ_TROUBLES)
        shot = await page.screenshot(tmp_path / "status.png")
        # Another origin is refused, as the page itself would be offline.
        outside = await browser.page(allow=served.url + "/")
        with pytest.raises(Exception, match="ERR_BLOCKED_BY_CLIENT"):
            await outside.load("http://127.0.0.2:9/")
    shown = await asyncio.to_thread(run_cli, served.config, "status", "--json")
    assert shown.returncode == 0, shown.stderr
    found = json.loads(shown.stdout)
    assert page.errors == []
    assert page.requests == [served.url + "/status"]  # the page itself, nothing else
    # Every value on the page is status --json's (the daemon is stopped: only
    # "now" moves between the two reads).
    checked = {path for path, _, _ in fields}
    for path, empty, text in fields:
        if path == "now":
            continue
        value = _at(found, path)
        assert (empty, text) == ((True, text) if value is None else (False, str(value))), path
    accounts = found["accounts"]
    assert [row["account"] for row in accounts] == ["11111", "22222", "33333", "44444"]
    assert sum(row["fills_today"] for row in accounts) == served.captured > 0
    assert accounts[3]["fills_today"] == 0  # invisible: never captured
    assert {f"accounts.{n}.fills_today" for n in range(4)} <= checked
    daemon = found["daemons"][0]
    assert daemon["state"] == "stopped"
    assert daemon["accounts"]["owned_but_invisible"] == ["44444"]
    assert {"daemons.0.accounts.visible.length", "daemons.0.accounts.owned.length",
            "daemons.0.accounts.owned_but_invisible.length", "daemons.0.username",
            "daemons.0.since"} <= checked
    (gap,) = [g for g in found["open_gaps"] if g["ended_at"] is None]
    assert gap["unrecoverable_at"] == _iso(status.unrecoverable_at(
        datetime.fromisoformat(gap["started_at"])))
    assert "open_gaps.0.unrecoverable_at" in checked
    assert set(found["quarantine"]) == {"invalid_price"}
    assert "quarantine.invalid_price" in checked
    # Trouble in words and colour: the stopped daemon, 44444, the gap, the quarantine.
    kinds = {kind for kind, _, _ in troubles}
    assert kinds == {"bad", "warn"} or kinds == {"bad"}
    said = " | ".join(text for _, _, text in troubles)
    for words in ("PROBLEM: daemon SIMFIRM is stopped", "44444", "gap #", "in quarantine"):
        assert words in said, said
    assert {colour for kind, colour, _ in troubles if kind == "bad"} == {"rgb(255, 235, 233)"}
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 20_000

