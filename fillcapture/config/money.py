"""``[money]`` and ``[[fees]]``: what turns the summary's points into money."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator, model_validator

from fillcapture.config.base import Section
from fillcapture.fees import FeeError, FeeSchedule
from fillcapture.model import Side

_CURRENCY = re.compile(r"^[A-Z]{3}$")


class MoneySettings(Section):
    """``currencies``: each market's currency, by T4 exchange id (``"CME_Eq" =
    "USD"``) or contract root (``"EUREX FDAX" = "EUR"``, winning over its
    exchange). T4's market details carry no currency, so a market named
    nowhere here has an unknown one, and its amounts join no total."""

    currencies: dict[str, str] = Field(default_factory=dict)

    @field_validator("currencies")
    @classmethod
    def _codes(cls, value: dict[str, str]) -> dict[str, str]:
        for market, code in value.items():
            if not market.strip():
                raise ValueError("an empty exchange or contract root")
            if not _CURRENCY.match(code):
                raise ValueError(f"{market}: currency {code[:12]!r} is not three capital "
                                 "letters (USD)")
        return value


class FeeSettings(Section):
    """One ``[[fees]]`` entry: ``amount`` of ``currency`` per contract for
    ``component``, from trade date ``from`` on (default: the first date of
    all), for the fills of its scope (any of ``exchange``, ``contract``,
    ``account``, ``user``, ``side``; see :mod:`fillcapture.fees`). The daemon
    stores the entries at start, each once: a schedule changed later with
    ``fillcapture fees`` is not overwritten by the file."""

    component: str
    amount: Decimal = Field(allow_inf_nan=False)
    currency: str
    effective_from: date = Field(date(1970, 1, 1), alias="from")
    exchange: str | None = None
    contract: str | None = None
    account: str | None = None
    user: str | None = None
    side: Literal["BUY", "SELL"] | None = None

    @model_validator(mode="after")
    def _a_schedule(self) -> FeeSettings:
        try:
            self.schedule()
        except FeeError as exc:
            raise ValueError(str(exc)) from None
        return self

    def schedule(self) -> FeeSchedule:
        return FeeSchedule(self.component, self.amount, self.currency, self.effective_from,
                           self.exchange, self.contract, self.account, self.user,
                           None if self.side is None else Side(self.side))
