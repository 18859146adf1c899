"""``fillcapture onboard --csv``: validation with row and column numbers, mixed outcomes in one
batch, the summary and exit code; and the password in no output, log or file."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fillcapture.onboarding.batch import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, load_csv
from tests.conftest import ROOT
from tests.onboarding.conftest import Api, config, request, write_json
from tests.onboarding.test_onboard import registry

pytestmark = pytest.mark.timeout(30)

Onboard = Callable[..., tuple[int, str, str]]
COLUMNS = [*REQUIRED_COLUMNS, "marketdata", "eula_version", "eula_signed", "as_user"]


def row(username: str, account: str, **cells: str) -> dict[str, str]:
    body = request(username, account)
    values: dict[str, Any] = {**body["User"], **body["Account"]}
    values.update(marketdata="CME:Depth;CBOT:TOB", eula_version="2",
                  eula_signed="2025-05-01T10:30:15", as_user="")
    values.update(cells)
    return {column: values.get(column, "") for column in COLUMNS}


def write_csv(path: Path, rows: list[dict[str, str]], columns: list[str] = COLUMNS) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_the_example_csv_is_valid() -> None:
    jobs = load_csv(ROOT / "examples" / "onboarding" / "customers.csv")
    assert [(j.label, j.as_user, j.request.account.account) for j in jobs] == [
        ("row 2", "C", "77777"), ("row 3", "D", "88888")]
    first = jobs[0].request
    assert first.eula is not None
    assert [s.documentName for s in first.eula.signatures][-1] == "ICESubscriberAgreement"
    assert first.market_data is not None
    assert first.market_data.updates is not None
    assert [(u.clearingExchange, u.marketDataType) for u in first.market_data.updates] == [
        ("CME", "Depth"), ("CBOT", "TOB")]
    assert jobs[1].request.eula is None


def test_a_batch_with_mixed_outcomes_goes_on_and_fails_overall(
        tmp_path: Path, api: Api, onboard: Onboard) -> None:
    settings = config(tmp_path, api)
    assert onboard(settings, str(write_json(tmp_path / "j.json", request("jo", "70000"))))[0] == 0
    path = write_csv(tmp_path / "batch.csv", [
        row("ann", "77777", as_user="C"),
        row("jo", "70001"),  # username taken: 409
        row("carl", "79999", templateAccount="Nope"),  # 404
        row("dora", "79998", password="no-digits-here"),  # 400 from the server's rule
        row("erin", "80000"),
    ])
    code, out, _ = onboard(settings, "--csv", str(path))
    assert code == 1
    lines = out.splitlines()
    assert any(line.startswith("row 2 ann@example.com (account 77777): CREATED") for line in lines)
    assert any(line.startswith("row 3 jo@example.com (account 70001): FAILED: already exists "
                               "(409") for line in lines)
    assert any(line.startswith("row 4 carl@example.com (account 79999): FAILED: not found (404")
               for line in lines)
    assert any(line.startswith("row 5 dora@example.com (account 79998): FAILED: rejected as "
                               "invalid (400") for line in lines)
    assert any(line.startswith("row 6 erin@example.com (account 80000): CREATED")
               for line in lines)
    assert "onboarding summary" in out
    assert "2 created and registered, 0 to verify, 3 failed, of 5" in out
    assert registry(tmp_path) == [("jo@example.com", "", "70000"), ("C", "", "77777"),
                                  ("erin@example.com", "", "80000")]
    code, out, _ = onboard(settings, "--csv", str(write_csv(tmp_path / "ok.csv", [
        row("fay", "80001")])))
    assert code == 0, out
    assert "1 created and registered, 0 to verify, 0 failed, of 1" in out


def test_a_bad_csv_lists_every_error_by_row_and_column_and_sends_nothing(
        tmp_path: Path, api: Api, onboard: Onboard) -> None:
    path = write_csv(tmp_path / "bad.csv", [
        row("ann", "77777", apptype="Retail", eula_signed="May 1st"),
        row("bob", "77778", marketdata="CME", email="nobody", password=""),
        row("cy", "77779"),
        row("cy", "77780"),
    ])
    code, _, err = onboard(config(tmp_path, api), "--csv", str(path))
    assert code == 2
    assert f"{path} row 2, column 13 (apptype): Input should be 'Professional' or " \
           "'NonProfessional' (got 'Retail')" in err
    assert f"{path} row 2, column 19 (eula_signed): must be an ISO 8601 timestamp" in err
    assert f"{path} row 3, column 17 (marketdata): 'CME' is not EXCHANGE:TYPE" in err
    assert f"{path} row 3, column 6 (email): must be an e-mail address (got 'nobody')" in err
    assert f"{path} row 3, column 2 (password): required, must not be blank" in err
    assert f"{path} row 5: username also on row 4" in err
    assert "6 error(s); nothing was sent" in err
    assert api.sim.requests == 0
    header = write_csv(tmp_path / "header.csv", [], [*REQUIRED_COLUMNS[1:], "colour"])
    code, _, err = onboard(config(tmp_path, api), "--csv", str(header))
    assert code == 2
    assert f"{header} row 1, column 16 ('colour'): unknown column" in err
    assert f"{header} row 1: missing column(s): username" in err


def test_help_documents_the_csv_columns(onboard: Onboard, tmp_path: Path, api: Api) -> None:
    _, out, _ = onboard(config(tmp_path, api), "--help")
    for column in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS):
        assert column in out


def test_the_password_appears_in_no_output_log_or_file(
        tmp_path: Path, api: Api, onboard: Onboard, capsys: pytest.CaptureFixture[str]) -> None:
    secrets = ["Pw-Created-8841", "Pw-Invalid-7713", "weak-Server-pw", "Pw-Batch-5520"]
    settings = config(tmp_path, api)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    outputs = []
    # Created, refused locally, refused by the server, then a batch with one bad row.
    outputs.append(onboard(settings, str(write_json(inputs / "a.json", request(
        "ann", "77777", password=secrets[0])))))
    outputs.append(onboard(settings, str(write_json(inputs / "b.json", request(
        "bob", "77778", password=secrets[1], apptype="Pro")))))
    outputs.append(onboard(settings, str(write_json(inputs / "c.json", request(
        "cy", "77779", password=secrets[2])))))
    outputs.append(onboard(settings, "--csv", str(write_csv(inputs / "d.csv", [
        row("dee", "77780", password=secrets[3]), row("ann", "77781", password=secrets[3])]))))
    assert [code for code, _, _ in outputs] == [0, 2, 1, 1]
    texts = [text for _, out, err in outputs for text in (out, err)]
    texts.append("".join(capsys.readouterr()))  # the simulated API's own log
    files = [p for p in tmp_path.rglob("*") if p.is_file() and inputs not in p.parents]
    assert any(p.name == "fills.db" for p in files)
    for secret in secrets:
        assert not any(secret in text for text in texts), secret
        for path in files:
            assert secret.encode() not in path.read_bytes(), (secret, path)
