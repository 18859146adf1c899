"""The ``fillcapture onboard`` flow: check the registry, send each customer, register each
created account under its WhenTech user, and report every outcome (a summary for a batch).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

import structlog
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from fillcapture.config import Settings
from fillcapture.onboarding.batch import InvalidInput, Job
from fillcapture.onboarding.client import OnboardingClient, Outcome, Status
from fillcapture.store import Owner, Store, StoreError
from fillcapture.store.moves import changes

log = structlog.get_logger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1


@dataclass(frozen=True)
class Result:
    """One customer's end state: the API's outcome and whether capture is arranged."""

    job: Job
    outcome: Outcome
    registered: bool
    note: str

    @property
    def done(self) -> bool:
        return self.outcome.status is Status.CREATED and self.registered


async def onboard(
    jobs: Sequence[Job], settings: Settings, firm: str | None, out: TextIO, *, batch: bool
) -> int:
    """Onboard ``jobs`` in order; 0 if every customer was created and registered, else 1.

    Raises :class:`InvalidInput`, before sending anything, if an account is
    already registered to another WhenTech user (its fills could not be kept).
    """
    from fillcapture.service import owners_from

    console = Console(file=out, markup=False, highlight=False,
                      width=None if out.isatty() else 160)
    async with settings.store.open() as store:
        await store.seed_registry(owners_from(settings))
        await _check_registry(store, jobs, firm)
        results: list[Result] = []
        async with OnboardingClient(settings.onboarding) as client:
            with _progress(console, len(jobs), enabled=batch) as advance:
                for job in jobs:
                    outcome = await client.onboard(job.request)
                    result = await _register(store, job, outcome, firm)
                    results.append(result)
                    _log(result)
                    if batch:
                        _say(console, _line(result))
                    advance()
    if batch:
        _summary(console, results)
    else:
        _detail(console, results[0], firm)
    created = [r.job.request.account.account for r in results if r.registered]
    if created:
        _say(console, _state_note())
        if not settings.t4.subscribe_all:
            _say(console, _assign_reminder(created))
    return EXIT_OK if all(r.done for r in results) else EXIT_FAILED


async def _check_registry(store: Store, jobs: Sequence[Job], firm: str | None) -> None:
    """Refuse, before anything is sent, an account registered to another user
    under the same firm key, or whose registration would move fills between
    users (a firm entry over another user's firm-less one, and the reverse)."""
    registry = await store.registry()
    owners = {(o.firm or "", o.account): o.user for o in registry}
    errors = []
    for job in jobs:
        account = job.request.account.account
        holder = owners.get((firm or "", account))
        if holder is not None and holder != job.as_user:
            errors.append(f"{job.label}: account {account} is already registered to WhenTech "
                          f"user {holder!r}, not {job.as_user!r} (see fillcapture users list)")
            continue
        moved = changes(registry, [*registry, Owner(job.as_user, firm, account)])
        errors += [f"{job.label}: registering it would move fills between users: {change} "
                   "(see fillcapture users list)" for change in moved]
    if errors:
        raise InvalidInput(errors)


async def _register(store: Store, job: Job, outcome: Outcome, firm: str | None) -> Result:
    account = job.request.account.account
    if outcome.status is Status.CREATED:
        # The account is registered by the code it was created with and by
        # the id T4 returned: fills are attributed by that id, and the code
        # may differ from the number the fill user later sees.
        names = [account]
        if outcome.response is not None and outcome.response.account.accountID:
            names.append(outcome.response.account.accountID.lower())
        try:
            await store.add_user(job.as_user, names, firm)
        except StoreError as exc:
            return Result(job, outcome, False, f"created in T4 but NOT registered: {exc}")
        return Result(job, outcome, True, f"registered for WhenTech user {job.as_user}")
    if outcome.status is Status.VERIFY:
        follow_up = _users_add(job.as_user, account, firm)
        return Result(job, outcome, False, f"not registered; once verified run: {follow_up}")
    return Result(job, outcome, False, "nothing created, nothing registered")


def _users_add(user: str, account: str, firm: str | None) -> str:
    command = f"fillcapture users add {user} --accounts {account}"
    return command + (f" --firm {firm}" if firm else "")


def _line(result: Result) -> str:
    request = result.job.request
    head = f"{result.job.label} {request.user.username} (account {request.account.account}): "
    return head + f"{result.outcome.status.upper()}: {result.outcome.message}; {result.note}"


def _detail(console: Console, result: Result, firm: str | None) -> None:
    outcome, request = result.outcome, result.job.request
    response = outcome.response
    if outcome.status is not Status.CREATED:
        label = "to verify" if outcome.status is Status.VERIFY else "FAILED"
        _say(console, f"onboarding {request.user.username}: {label}: {outcome.message}")
        _say(console, result.note)
        return
    if response is None:
        _say(console, f"onboarding {request.user.username}: {outcome.message}")
    else:
        user, account = response.user, response.account
        _say(console, f"created T4 user {user.userName or request.user.username}: "
                      f"user id {user.userID}")
        _say(console, f"created account {account.account or request.account.account}: "
                      f"account id {account.accountID}, state enabled={account.enabled!r}, "
                      f"preTradeDisabled={str(account.preTradeDisabled).lower()}")
    where = f" at firm {firm}" if firm else ""
    _say(console, f"account {request.account.account}{where}: {result.note}")


def _summary(console: Console, results: Sequence[Result]) -> None:
    table = Table(title="onboarding summary", box=box.SIMPLE, title_justify="left")
    for column in ("input", "username", "account", "WhenTech user", "outcome", "detail"):
        table.add_column(column, overflow="fold")
    for result in results:
        request, outcome = result.job.request, result.outcome
        detail = outcome.message
        if outcome.response is not None:
            detail = f"account id {outcome.response.account.accountID}"
        status = "created" if result.done else outcome.status.value
        if outcome.status is Status.CREATED and not result.registered:
            status = "not registered"
        table.add_row(*(Text(cell) for cell in (
            result.job.label, request.user.username, request.account.account,
            result.job.as_user, status, f"{detail}; {result.note}")))
    console.print(table)
    done = sum(r.done for r in results)
    verify = sum(r.outcome.status is Status.VERIFY for r in results)
    _say(console, f"{done} created and registered, {verify} to verify, "
                  f"{len(results) - done - verify} failed, of {len(results)}")


def _state_note() -> str:
    return ('note: new T4 accounts start disabled (enabled "Disabled", preTradeDisabled true, '
            "as the Onboarding API document states): the firm must enable an account before "
            "it can trade.")


def _assign_reminder(accounts: Sequence[str]) -> str:
    return ("reminder: Risk Manager mode ([t4] subscribe_all) is off, so the firm's T4 "
            f"administrator must assign account(s) {', '.join(accounts)} to the fill user; "
            "until then the daemon warns at every login that their fills are not visible "
            "(ownership.account_invisible).")


def _log(result: Result) -> None:
    request, outcome = result.job.request, result.outcome
    fields = {"input": result.job.label, "username": request.user.username,
              "account": request.account.account, "as_user": result.job.as_user,
              "status": outcome.status.value, "http_status": outcome.http_status,
              "attempts": outcome.attempts, "registered": result.registered}
    if result.done:
        log.info("onboarding.created", **fields)
    else:
        log.warning("onboarding.not_done", message=outcome.message, **fields)


@contextmanager
def _progress(console: Console, total: int, *, enabled: bool) -> Iterator[Callable[[], None]]:
    """A progress bar on a terminal; elsewhere the per-row lines are progress enough."""
    if not (enabled and console.is_terminal):
        yield lambda: None
        return
    progress = Progress(TextColumn("onboarding"), BarColumn(), MofNCompleteColumn(),
                        console=console, transient=True)
    task = progress.add_task("onboarding", total=total)
    with progress:
        yield lambda: progress.advance(task)


def _say(console: Console, text: str) -> None:
    # Plain lines are never hard-wrapped: they must stay greppable in logs and scripts.
    console.print(Text(text), soft_wrap=True)
