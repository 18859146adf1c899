"""What a simulated T4 backend serves: its firm, accounts, fill user and pace.

One frozen dataclass, checked once at construction so the server never meets a bad value.
"""

from __future__ import annotations

import datetime
import math
import pathlib
import uuid
from dataclasses import dataclass

# A fixed namespace makes every id a pure function of the names it stands for,
# so two runs (and a test computing ids on its own) agree on them.
_ID_NAMESPACE = uuid.UUID("5b0f6f2e-3c1d-5a47-9e21-7d1c4a0b8e63")


def sim_id(*parts: str) -> str:
    """A stable GUID string for a firm, user or account, e.g. ``sim_id(firm, "11111")``."""
    return str(uuid.uuid5(_ID_NAMESPACE, "/".join(parts)))


@dataclass(frozen=True)
class SimConfig:
    """The simulated T4 backend.

    ``accounts`` are the firm's account numbers; ``visible`` those assigned to
    the fill user and listed at login (``None``: all). With ``risk_manager``
    the user has the Risk Manager role and ``subscribe_all_accounts`` gives
    every firm account, otherwise only the visible ones. Logins are accepted
    with ``api_key`` alone or with ``firm``, ``username`` and ``password``.
    ``seed`` fixes every generated value except timestamps and session ids.
    ``fills_per_second`` is the firm-wide live rate (0: none; ``math.inf``: as
    fast as subscribed clients read; with nobody subscribed, nothing is made).
    ``max_fills`` caps live fills (after the ``preload_fills`` put in today's
    book before serving). ``snapshot_chunk`` caps fills per ``account_snapshot``
    frame. ``trade_date`` fixes the trade date; ``None`` follows the wall clock
    with the CME rule and clears the book at each roll. ``ledger_path``
    receives every generated fill as one JSON line. ``port = 0`` picks a free port.
    """

    accounts: tuple[str, ...] = ("11111", "22222", "33333", "44444", "55555")
    visible: tuple[str, ...] | None = None
    risk_manager: bool = True
    firm: str = "SIMFIRM"
    username: str = "WhenTechFillUser"
    password: str = "sim-password"  # noqa: S105 - a simulator's well-known default
    api_key: str = "sim-api-key"
    seed: int = 1
    fills_per_second: float = 5.0
    max_fills: int | None = None
    preload_fills: int = 0
    snapshot_chunk: int = 100
    trade_date: datetime.date | None = None
    heartbeat_interval: float = 20.0
    ledger_path: pathlib.Path | None = None
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        if not self.accounts:
            raise ValueError("accounts: at least one account is required")
        if len(set(self.accounts)) != len(self.accounts):
            raise ValueError("accounts: an account number appears twice")
        if self.visible is not None:
            unknown = [number for number in self.visible if number not in self.accounts]
            if unknown:
                raise ValueError(f"visible: {unknown[0]} is not one of the firm's accounts")
        if math.isnan(self.fills_per_second) or self.fills_per_second < 0:
            raise ValueError("fills_per_second: must be >= 0 (math.inf for unpaced)")
        if self.max_fills is not None and self.max_fills < 0:
            raise ValueError("max_fills: must be >= 0")
        if self.preload_fills < 0:
            raise ValueError("preload_fills: must be >= 0")
        if self.snapshot_chunk < 1:
            raise ValueError("snapshot_chunk: must be >= 1")
        if not self.heartbeat_interval > 0:
            raise ValueError("heartbeat_interval: must be > 0")
        if not 0 <= self.port <= 65535:
            raise ValueError("port: must be 0..65535")

    @property
    def visible_accounts(self) -> tuple[str, ...]:
        """The account numbers listed at login, in firm order."""
        if self.visible is None:
            return self.accounts
        return tuple(number for number in self.accounts if number in self.visible)

    @property
    def firm_id(self) -> str:
        return sim_id(self.firm)

    @property
    def user_id(self) -> str:
        return sim_id(self.firm, "user", self.username)

    def account_id(self, number: str) -> str:
        """The GUID T4 uses for the firm's account ``number``."""
        return sim_id(self.firm, "account", number)
