"""The request and response models against the Onboarding API document's own examples."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pydantic import ValidationError

from fillcapture.onboarding import OnboardingRequest, OnboardingResponse
from fillcapture.onboarding.models import field_errors
from tests.conftest import FIXTURES
from tests.onboarding.conftest import EXAMPLE, request


def test_the_documents_request_validates_and_is_sent_unchanged() -> None:
    parsed = OnboardingRequest.model_validate(EXAMPLE)
    assert parsed.user.apptype == "NonProfessional"
    assert parsed.eula is not None
    assert len(parsed.eula.signatures) == 7
    # Field names, nesting and values go out exactly as the document writes them.
    assert parsed.payload() == EXAMPLE


def test_optional_parts_may_be_left_out() -> None:
    body = request()
    del body["MarketData"], body["Eula"], body["Account"]["displayName"]
    parsed = OnboardingRequest.model_validate(body)
    assert parsed.market_data is None
    assert parsed.eula is None
    assert set(parsed.payload()) == {"User", "Account"}


def test_the_password_never_shows_in_reprs_or_dumps() -> None:
    parsed = OnboardingRequest.model_validate(request(password="Hidden-Pw-42"))
    for text in (repr(parsed), str(parsed), parsed.model_dump_json(),
                 json.dumps(parsed.model_dump(mode="json"))):
        assert "Hidden-Pw-42" not in text
    assert parsed.payload()["User"]["password"] == "Hidden-Pw-42"


def test_every_field_error_is_reported_with_its_json_path() -> None:
    body = request(apptype="Pro", password="Hidden-Pw-42")
    del body["User"]["city"]
    body["Account"]["acount"] = "typo"
    body["Eula"]["signatures"][2]["signed"] = "yesterday"
    body["Eula"]["signatures"][3]["signed"] = 1746095415
    body["MarketData"]["updates"][0]["marketDataType"] = ""
    with pytest.raises(ValidationError) as caught:
        OnboardingRequest.model_validate(body)
    errors = {e.path: e.message for e in field_errors(caught.value)}
    assert errors["$.User.city"] == "required field is missing"
    assert errors["$.User.apptype"].endswith("(got 'Pro')")
    assert errors["$.Account.acount"] == "unknown field"
    assert "ISO 8601" in errors["$.Eula.signatures[2].signed"]
    assert "ISO 8601" in errors["$.Eula.signatures[3].signed"]
    assert "$.MarketData.updates[0].marketDataType" in errors
    assert len(errors) == 6


def test_a_bad_password_is_reported_without_its_value() -> None:
    with pytest.raises(ValidationError) as caught:
        OnboardingRequest.model_validate(request(password=12345678))
    (error,) = field_errors(caught.value)
    assert error.path == "$.User.password"
    assert "12345678" not in str(error)
    assert "12345678" not in str(caught.value)


def test_the_documents_response_parses() -> None:
    text = (FIXTURES / "onboarding" / "response-example.json").read_text()
    response = OnboardingResponse.model_validate_json(text)
    assert response.user.userID == "90E53A07-B293-4805-B848-D91919337D0E"
    assert response.user.roles[0] == "TimeEntry"
    assert response.account.accountID == "9526FC9A-0500-4261-8BC9-1FB88F537206"
    assert response.account.account == "jsmith01"
    assert response.account.enabled == "Disabled"
    assert response.account.preTradeDisabled
    assert response.account.balance == Decimal("0.00000")
    assert response.account.riskDetails.comparisonPCChangeVolatility == 0.2
    data = response.result.value.data
    assert data.marketData is not None
    assert data.marketData.totalCount == 1
    assert data.marketData.exchangeMarketData[0].options[1].type == "Delayed"
    assert data.eulaSignature is not None
    assert data.eulaSignature.collectedBy == "API"
    assert response.result.value.metadata.requestId == "0HNCJVEI883I0:00000001"
    assert response.result.statusCode == 200


def test_unknown_response_fields_are_tolerated() -> None:
    data = json.loads((FIXTURES / "onboarding" / "response-example.json").read_text())
    data["result"]["value"]["data"]["account"]["newRiskFlag"] = True
    data["result"]["value"]["data"]["brandNewSection"] = {"x": 1}
    data["result"]["traceId"] = "abc"
    response = OnboardingResponse.model_validate(data)
    assert response.account.model_extra == {"newRiskFlag": True}
