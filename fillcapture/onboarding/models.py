"""T4 Onboarding API data: the request (User, Account, MarketData, Eula) and the response,
named exactly as CTS's document writes them, plus readable field-level validation errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

Text = Annotated[str, Field(min_length=1)]
"""A required string: present and not empty."""

EULA_DOCUMENTS = (
    "LegalEULA",
    "LegalPP",
    "LegalMDSA",
    "LegalUSA",
    "LegalNPSCF",
    "CMEInformationLicenseAgreement",
    "ICESubscriberAgreement",
)
"""The documents the onboarding document's example signs, in its order."""


class _Request(BaseModel):
    # Field names are the document's own (camelCase included), so no aliases are needed.
    # Typos in a request are errors here rather than fields T4 silently ignores.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class User(_Request):
    """The T4 user to create. Every field is required by the document."""

    username: Text
    password: Annotated[SecretStr, Field(min_length=1)]
    firstname: Text
    lastname: Text
    phone: Text
    email: Text
    street: Text
    city: Text
    county: Text
    state: Text
    postCode: Text
    country: Text
    apptype: Literal["Professional", "NonProfessional"]

    @field_validator("email")
    @classmethod
    def _looks_like_email(cls, value: str) -> str:
        if "@" not in value:
            raise ValueError("must be an e-mail address")
        return value


class Account(_Request):
    """The trading account to create, based on ``templateAccount``."""

    account: Text
    accountName: Text
    templateAccount: Text
    displayName: str | None = None


class MarketDataUpdate(_Request):
    """One exchange subscription, e.g. ``DUMMY`` / ``Depth`` (or ``TOB``, ``Delayed``)."""

    clearingExchange: Text
    marketDataType: Text


class MarketData(_Request):
    """Optional: without it the user has no market data until configured separately."""

    updates: list[MarketDataUpdate] | None = None


class Signature(_Request):
    """One signed document; ``signed`` is an ISO 8601 timestamp."""

    documentName: Text
    signed: datetime

    @field_validator("signed", mode="before")
    @classmethod
    def _iso_8601(cls, value: Any) -> Any:
        # Pydantic alone would also take a number of seconds; the document says ISO 8601.
        if isinstance(value, datetime):
            return value
        if not isinstance(value, str):
            raise ValueError("must be an ISO 8601 timestamp string, e.g. 2025-05-01T10:30:15")
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                "must be an ISO 8601 timestamp, e.g. 2025-05-01T10:30:15"
            ) from None


class Eula(_Request):
    """Optional: without it the user accepts the EULAs at first login."""

    collectedBy: str  # required; typically the empty string
    eulaVersion: Text
    signatures: Annotated[list[Signature], Field(min_length=1)]


class OnboardingRequest(_Request):
    """One onboarding call: a user, an account, market data and EULA signatures."""

    model_config = ConfigDict(populate_by_name=True)

    user: User = Field(alias="User")
    account: Account = Field(alias="Account")
    market_data: MarketData | None = Field(None, alias="MarketData")
    eula: Eula | None = Field(None, alias="Eula")

    def payload(self) -> dict[str, Any]:
        """The JSON body to send: the only place the password is revealed."""
        body = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        body["User"]["password"] = self.user.password.get_secret_value()
        return body


# --- response ---------------------------------------------------------------------


class _Response(BaseModel):
    # T4 may add fields at any time; a created user must never look like a failure.
    model_config = ConfigDict(extra="allow", frozen=True)


class Application(_Response):
    id: str = ""
    name: str = ""


class CreatedUser(_Response):
    """``result.value.data.user``."""

    userID: str
    userName: str = ""
    lastname: str = ""
    firstname: str = ""
    enabled: bool = True
    message: str = ""
    company: str = ""
    phone: str = ""
    email: str = ""
    firmID: str = ""
    billingRef: str = ""
    street: str = ""
    city: str = ""
    county: str = ""
    state: str = ""
    postCode: str = ""
    country: str = ""
    simFirm: str = ""
    simUsername: str = ""
    simLinkedUserID: str = ""
    userCreationDate: str = ""
    appType: str = ""
    cmeMarketDataNetting: str = ""
    trialExpires: str = ""
    iceMarketDataAccount: str = ""
    iceMarketDataParentAccount: str = ""
    euronextMarketDataAccount: str = ""
    euronextMarketDataParentAccount: str = ""
    custOrderHandlingInst: str = ""
    applications: list[Application] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    accounts: list[Any] = Field(default_factory=list)


class RiskDetails(_Response):
    comparisonRiskNumber: float = 0.0
    comparisonNetLiqBalPCRiskNumber: float = 0.0
    comparisonPCChangeVolatility: float = 0.0
    comparisonPCChangeUnderlying: float = 0.0
    comparisonWarningLevel: float = 0.0
    maxDailyTheoLoss: float = 0.0
    maxDailyTheoLossPCWarning: float = 0.0
    greekDelta: float = 0.0
    greekDeltaWarning: float = 0.0
    greekVega: float = 0.0
    greekVegaWarning: float = 0.0
    greekGamma: float = 0.0
    greekGammaWarning: float = 0.0
    greekTheta: float = 0.0
    greekThetaWarning: float = 0.0


class CreatedAccount(_Response):
    """``result.value.data.account``. New accounts start ``enabled: "Disabled"``
    with ``preTradeDisabled: true`` (the document's stated defaults)."""

    accountID: str
    firmID: str = ""
    account: str = ""
    accountName: str = ""
    displayName: str = ""
    balance: Decimal = Decimal(0)
    cash: Decimal = Decimal(0)
    maxClipSize: int = -1
    preTradeDisabled: bool = True
    deleted: bool = False
    enabled: str = ""
    positionRollover: bool = False
    plRollover: bool = False
    minBalance: Decimal = Decimal(0)
    marginPC: float = 0.0
    overnightMarginPC: float = 0.0
    lossLimit: Decimal = Decimal(0)
    lossLimitPC: float = 0.0
    dayLossLimit: Decimal = Decimal(0)
    dayLossLimitPC: float = 0.0
    maxPosition: int = -1
    noBalanceUpdates: bool = False
    noPositionUpdates: bool = False
    accountMode: str = ""
    orderRouting: bool = False
    groupName: str = ""
    activeTimeStart: str = ""
    activeTimeStop: str = ""
    strategyMaxClipSize: int = -1
    strategyMaxPosition: int = -1
    warningThresholdPL: float = -1
    warningThresholdLossLimit: float = -1
    warningThresholdMargin: float = -1
    boFirmCode: str = ""
    boOfficeCode: str = ""
    boSalesCode: str = ""
    totalPitTrades: int = -1
    strategyTotalPitTrades: int = -1
    maxContractMargin: Decimal = Decimal(-1)
    maxContractDayMargin: Decimal = Decimal(-1)
    blockExpiring: int = -1
    blockExpiringOptions: int = -1
    maxAccountPosition: int = -1
    usePLForMargin: bool = False
    usePremiumForMargin: bool = False
    riskAlerts: bool = False
    fees: Decimal = Decimal(0)
    commission: Decimal = Decimal(0)
    eMail: str = ""
    wideMarket: int = -1
    priceBanding: int = -1
    riskDebug: str = ""
    tradeImport: bool = False
    marginType: str = ""
    maxDelta: Decimal = Decimal(-1)
    maxWorkingLongDelta: Decimal = Decimal(-1)
    maxWorkingShortDelta: Decimal = Decimal(-1)
    delayed: bool = False
    assignedType: bool = False
    optionsSettlement: int = 0
    warningThresholdMinNetEquity: Decimal = Decimal(0)
    riskDetails: RiskDetails = Field(default_factory=RiskDetails)
    firm: str = ""
    parentFirmID: str = ""


class MarketDataOption(_Response):
    type: str = ""
    description: str = ""
    currency: str = ""


class ExchangeMarketData(_Response):
    clearingExchange: str = ""
    description: str = ""
    marketDataType: str = ""
    options: list[MarketDataOption] = Field(default_factory=list)
    hasExecutingAccount: bool = False


class MarketDataResult(_Response):
    """``result.value.data.marketData``."""

    exchangeMarketData: list[ExchangeMarketData] = Field(default_factory=list)
    totalCount: int = 0


class SignedDocument(_Response):
    documentName: str = ""
    signed: str = ""


class EulaSignature(_Response):
    """``result.value.data.eulaSignature``."""

    collectedBy: str = ""
    eulaVersion: str = ""
    signatures: list[SignedDocument] = Field(default_factory=list)


class ResultData(_Response):
    user: CreatedUser
    account: CreatedAccount
    marketData: MarketDataResult | None = None
    eulaSignature: EulaSignature | None = None


class Metadata(_Response):
    # Seven fractional digits in the example: kept as text rather than truncated.
    timestamp: str = ""
    requestId: str = ""


class ResultValue(_Response):
    data: ResultData
    metadata: Metadata = Field(default_factory=Metadata)


class Result(_Response):
    value: ResultValue
    formatters: list[Any] = Field(default_factory=list)
    contentTypes: list[Any] = Field(default_factory=list)
    statusCode: int = 200


class OnboardingResponse(_Response):
    """A 200 answer: ``result.value.data`` holds the created user and account."""

    result: Result

    @property
    def user(self) -> CreatedUser:
        return self.result.value.data.user

    @property
    def account(self) -> CreatedAccount:
        return self.result.value.data.account


# --- validation errors --------------------------------------------------------------

BLANK_ERRORS = frozenset({"missing", "string_too_short", "too_short"})
"""Pydantic error types that mean "a required value is absent or empty"."""
_SECRET_KEYS = ("password", "api_key", "apikey", "secret", "token")


@dataclass(frozen=True)
class FieldError:
    """One invalid field: its JSON path (``$.User.apptype``) and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def field_errors(exc: ValidationError, root: str = "$") -> list[FieldError]:
    """Every error of ``exc`` with its JSON path; inputs shown except for secrets."""
    found = []
    for error in exc.errors(include_url=False):
        path = json_path(error["loc"], root)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        elif error["type"] == "missing":
            message = "required field is missing"
        elif error["type"] in BLANK_ERRORS and error.get("input") in ("", []):
            message = "required, must not be empty"
        elif not is_secret(path):
            message += shown(error.get("input"))
        found.append(FieldError(path, message))
    return found


def json_path(loc: tuple[int | str, ...], root: str = "$") -> str:
    text = root
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(key in lowered for key in _SECRET_KEYS)


def shown(value: Any) -> str:
    """`` (got 'x')`` for a scalar input, nothing for containers or absent values."""
    if isinstance(value, (dict, list)) or value is None:
        return ""
    text = repr(value)
    return f" (got {text[:60]}{'...' if len(text) > 60 else ''})"
