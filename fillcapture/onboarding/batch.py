"""Onboarding input files: one JSON request, or a CSV of customers (one per row), read and
validated whole before anything is sent; every error names its JSON path or row and column.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fillcapture.onboarding.models import (
    BLANK_ERRORS,
    EULA_DOCUMENTS,
    OnboardingRequest,
    field_errors,
    is_secret,
    shown,
)

USER_COLUMNS = (
    "username", "password", "firstname", "lastname", "phone", "email", "street", "city",
    "county", "state", "postCode", "country", "apptype",
)
ACCOUNT_COLUMNS = ("account", "accountName", "templateAccount")
REQUIRED_COLUMNS = USER_COLUMNS + ACCOUNT_COLUMNS
OPTIONAL_COLUMNS = (
    "displayName", "marketdata", "eula_version", "eula_signed", "eula_documents",
    "eula_collected_by", "as_user",
)
CSV_HELP = f"""\
CSV columns (header row required, any order):
  required: {", ".join(REQUIRED_COLUMNS)}
  optional: {", ".join(OPTIONAL_COLUMNS)}
  marketdata: EXCHANGE:TYPE pairs separated by ';' (e.g. CME:Depth;CBOT:TOB), blank for none
  eula_version + eula_signed (ISO 8601, e.g. 2025-05-01T10:30:15): one signing time for
    each of eula_documents (';'-separated; default {";".join(EULA_DOCUMENTS)});
    both blank: no Eula object (the user accepts the EULAs at first login)
  eula_collected_by: default empty; as_user: the WhenTech user to register the account
    under (default the row's username)"""

# Where a request field came from in a CSV row, for error messages.
_COLUMN_OF = {
    ("Eula", "eulaVersion"): "eula_version",
    ("Eula", "collectedBy"): "eula_collected_by",
    ("Eula", "signatures"): "eula_documents",
    ("Eula",): "eula_version",
    ("MarketData",): "marketdata",
}


class InvalidInput(Exception):
    """The input cannot be sent; ``errors`` lists every problem, one line each."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__(f"{len(errors)} error(s)")
        self.errors = list(errors)


@dataclass(frozen=True)
class Job:
    """One customer to onboard: where it came from, the request, and the
    WhenTech user whose account it becomes."""

    label: str
    request: OnboardingRequest
    as_user: str


def load_json(path: Path, as_user: str | None = None) -> Job:
    """The single request in ``path``; raises :class:`InvalidInput`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput([f"{path}: cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise InvalidInput([f"{path}: not UTF-8 text"]) from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise InvalidInput([f"{path}: not JSON ({where}): {exc.msg}"]) from None
    if not isinstance(data, dict):
        raise InvalidInput([f"{path}: $: must be a JSON object with User and Account"])
    try:
        request = OnboardingRequest.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput([f"{path}: {error}" for error in field_errors(exc)]) from None
    if as_user is not None and not as_user.strip():
        raise InvalidInput(["--as-user: must not be blank"])
    return Job(path.name, request, as_user or request.user.username)


def load_csv(path: Path) -> list[Job]:
    """Every row of ``path`` as a job; raises :class:`InvalidInput` listing all problems."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise InvalidInput([f"{path}: cannot read: {exc.strerror}"]) from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput([f"{path}: not a readable CSV file: {exc}"]) from None
    if not rows:
        raise InvalidInput([f"{path}: empty file (a header row is required)"])
    header = [name.strip() for name in rows[0]]
    errors = _header_errors(path, header)
    if errors:
        raise InvalidInput(errors)
    jobs: list[Job] = []
    for number, cells in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        where = f"{path} row {number}"
        if len(cells) != len(header):
            errors.append(f"{where}: {len(cells)} cells, the header has {len(header)}")
            continue
        row = {
            name: cell if name == "password" else cell.strip()
            for name, cell in zip(header, cells, strict=True)
        }
        try:
            jobs.append(_job(row, f"row {number}", where, header))
        except InvalidInput as exc:
            errors += exc.errors
    errors += _duplicates(path, jobs)
    if not jobs and not errors:
        errors.append(f"{path}: no customer rows")
    if errors:
        raise InvalidInput(errors)
    return jobs


def _header_errors(path: Path, header: list[str]) -> list[str]:
    known = set(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
    errors = [f"{path} row 1, column {i} ({name!r}): unknown column"
              for i, name in enumerate(header, start=1) if name not in known]
    errors += [f"{path} row 1: column {name!r} appears twice"
               for name in dict.fromkeys(n for n in header if header.count(n) > 1)]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        errors.append(f"{path} row 1: missing column(s): {', '.join(missing)}")
    return errors


def _job(row: dict[str, str], label: str, where: str, header: list[str]) -> Job:
    """One row as a request; errors name the row and column."""

    def at(column: str, message: str) -> str:
        return f"{where}, column {header.index(column) + 1} ({column}): {message}"

    errors: list[str] = []
    data: dict[str, Any] = {
        "User": {name: row[name] for name in USER_COLUMNS},
        "Account": {name: row[name] for name in ACCOUNT_COLUMNS},
    }
    if row.get("displayName"):
        data["Account"]["displayName"] = row["displayName"]
    if row.get("marketdata"):
        updates = []
        for entry in row["marketdata"].split(";"):
            exchange, _, kind = entry.partition(":")
            if not exchange.strip() or not kind.strip():
                errors.append(at("marketdata", f"{entry!r} is not EXCHANGE:TYPE"))
            updates.append({"clearingExchange": exchange.strip(), "marketDataType": kind.strip()})
        data["MarketData"] = {"updates": updates}
    if row.get("eula_version") or row.get("eula_signed"):
        documents = [d.strip() for d in row.get("eula_documents", "").split(";") if d.strip()]
        data["Eula"] = {
            "collectedBy": row.get("eula_collected_by", ""),
            "eulaVersion": row.get("eula_version", ""),
            "signatures": [{"documentName": name, "signed": row.get("eula_signed", "")}
                           for name in documents or EULA_DOCUMENTS],
        }
    request = None
    try:
        request = OnboardingRequest.model_validate(data)
    except ValidationError as exc:
        reported = {text.split(" (", 1)[1].split(")", 1)[0] for text in errors}
        for error in exc.errors(include_url=False):
            column = _column(error["loc"])
            if column in reported:
                continue  # already explained by the cell's own format check
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] in BLANK_ERRORS:
                message = "required, must not be blank"
            elif not is_secret(column):
                message += shown(error.get("input"))
            if column in header:
                errors.append(at(column, message))
            else:
                errors.append(f"{where}: {column}: {message}")
    if errors or request is None:
        raise InvalidInput(list(dict.fromkeys(errors)))
    return Job(label, request, row.get("as_user") or request.user.username)


def _column(loc: tuple[int | str, ...]) -> str:
    names = [part for part in loc if isinstance(part, str)]
    if len(names) >= 2 and names[0] in ("User", "Account"):
        return names[1]
    if names[:2] == ["Eula", "signatures"] and names[-1:] == ["signed"]:
        return "eula_signed"
    for size in (2, 1):
        column = _COLUMN_OF.get(tuple(names[:size]))
        if column:
            return column
    return ".".join(names)


def _duplicates(path: Path, jobs: list[Job]) -> list[str]:
    """Two rows for one username or account: the second would only meet a 409."""
    errors = []
    for what in ("username", "account"):
        first: dict[str, str] = {}
        for job in jobs:
            request = job.request
            value = request.user.username.casefold() if what == "username" else (
                request.account.account)
            if value in first:
                errors.append(f"{path} {job.label}: {what} also on {first[value]}")
            else:
                first[value] = job.label
    return errors
