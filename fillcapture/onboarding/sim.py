"""A simulated T4 Onboarding API on loopback HTTP: the document's JSON contract and status codes,
with generated ids; beside the simulated T4 backend, each new account joins its firm and trades.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import structlog
import uvicorn
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fillcapture.onboarding.models import OnboardingRequest, field_errors
from fillcapture.sim import SimConfig, SimServer

log = structlog.get_logger(__name__)

PATH = "/onboarding"
DEFAULT_KEY = "sim-onboarding-key"
TEMPLATE_ACCOUNTS = frozenset({"DefaultTemplate"})
"""Templates the simulated firm has, besides basing a new account on any existing one."""

_ROLES = ["TimeEntry", "QueueOrders", "ModifyOrders", "BasicCharting", "Trading"]


@dataclass
class Faults:
    """Misbehaviour for tests: the first ``fail_first`` requests answer 500 without
    acting; the next ``slow_first`` act, then answer only after ``delay`` seconds
    (a client that gave up meanwhile never sees that its user was created)."""

    fail_first: int = 0
    slow_first: int = 0
    delay: float = 0.0


class _Firm:
    """The accounts of a simulated firm that exists only for onboarding."""

    def __init__(self) -> None:
        self.accounts: set[str] = set()

    def add_account(self, number: str) -> str:
        if number in self.accounts:
            raise ValueError(f"account {number} already exists")
        self.accounts.add(number)
        return str(uuid.uuid4()).upper()


class SimOnboarding:
    """The simulated API. ``add_account(number) -> account id`` opens the account
    in the firm (``SimServer.add_account`` to join a simulated T4 backend) and
    raises ``ValueError`` if it exists. Requests authenticate with
    ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``."""

    def __init__(
        self,
        api_key: str = DEFAULT_KEY,
        add_account: Callable[[str], str] | None = None,
        firm_id: str = "",
        faults: Faults | None = None,
    ) -> None:
        self.api_key = api_key
        self._add_account = add_account or _Firm().add_account
        self.firm_id = firm_id or str(uuid.uuid4()).upper()
        self.faults = faults or Faults()
        self.users: dict[str, dict[str, Any]] = {}  # casefolded username -> created user
        self.accounts: set[str] = set()
        self.requests = 0
        self.app = Starlette(routes=[Route(PATH, self._onboard, methods=["POST"])])

    @contextlib.asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Listen on ``host:port`` (0: a free port) in this event loop; yield the URL."""
        config = uvicorn.Config(self.app, host=host, port=port, log_level="warning",
                                lifespan="off", timeout_graceful_shutdown=1)
        server = _Server(config)
        task = asyncio.create_task(server.serve(), name="sim-onboarding")
        try:
            while not server.started:
                if task.done():
                    task.result()  # raises what stopped it (e.g. the port is taken)
                    raise RuntimeError("onboarding API stopped while starting")
                await asyncio.sleep(0.01)
            bound = server.servers[0].sockets[0].getsockname()[1]
            yield f"http://{host}:{bound}{PATH}"
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _onboard(self, request: Request) -> JSONResponse:
        self.requests += 1
        if not self._authorized(request):
            return _error(401, "Invalid or missing API key.")
        faults = self.faults
        if faults.fail_first > 0:
            faults.fail_first -= 1
            return _error(500, "Simulated server error.")
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "The request body is not JSON.")
        try:
            onboarding = OnboardingRequest.model_validate(body)
        except ValidationError as exc:
            errors = [{"path": e.path, "message": e.message} for e in field_errors(exc)]
            return _error(400, "The request is invalid.", errors)
        if not _strong(onboarding.user.password.get_secret_value()):
            return _error(400, "The request is invalid.", [{
                "path": "$.User.password",
                "message": "does not meet the security requirements (at least 8 characters, "
                           "with a letter and a digit)"}])
        answer = self._create(onboarding)
        if faults.slow_first > 0:
            faults.slow_first -= 1
            await asyncio.sleep(faults.delay)
        return answer

    def _authorized(self, request: Request) -> bool:
        bearer = request.headers.get("authorization", "")
        key = bearer[7:] if bearer.lower().startswith("bearer ") else ""
        return self.api_key in (key, request.headers.get("x-api-key", ""))

    def _create(self, onboarding: OnboardingRequest) -> JSONResponse:
        user, account = onboarding.user, onboarding.account
        if user.username.casefold() in self.users:
            return _error(409, f"Username '{user.username}' already exists.")
        template = account.templateAccount
        if template not in TEMPLATE_ACCOUNTS and template not in self.accounts:
            return _error(404, f"Template account '{template}' not found.")
        try:
            account_id = self._add_account(account.account)
        except ValueError:
            return _error(409, f"Account '{account.account}' already exists.")
        self.accounts.add(account.account)
        data = _created(onboarding, self.firm_id, account_id)
        self.users[user.username.casefold()] = data["user"]
        log.info("sim.onboarding.created", username=user.username, account=account.account)
        return JSONResponse(_envelope(data, 200))


async def serve_beside(
    config: SimConfig,
    on_ready: Callable[[SimServer], None],
    api_key: str = DEFAULT_KEY,
    port: int = 0,
    faults: Faults | None = None,
) -> None:
    """Run a simulated T4 backend and this API beside it until cancelled: onboarded
    accounts join the simulated firm. Prints the API's URL on its own line."""
    async with SimServer(config) as server:
        on_ready(server)
        api = SimOnboarding(api_key, server.add_account, server.config.firm_id, faults)
        async with api.serve(config.host, port) as url:
            print(f"fillcapture onboarding API listening on {url}", flush=True)
            await asyncio.Future()


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        # The host process owns SIGINT/SIGTERM (through its event loop); uvicorn
        # must not replace those handlers and re-raise signals on the way out.
        yield


def _strong(password: str) -> bool:
    """The simulated firm's password rule; T4's own is not in the document."""
    return (len(password) >= 8 and any(c.isalpha() for c in password)
            and any(c.isdigit() for c in password))


def _error(status: int, message: str, errors: list[dict[str, str]] | None = None) -> JSONResponse:
    value: dict[str, Any] = {"message": message}
    if errors:
        value["errors"] = errors
    return JSONResponse(_envelope(value, status), status_code=status)


def _envelope(value: dict[str, Any], status: int) -> dict[str, Any]:
    """The document's wrapper: ``result.value`` plus the serializer's bookkeeping."""
    now = datetime.datetime.now(datetime.UTC)
    if status == 200:
        value = {"data": value, "metadata": {
            "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%f0Z"),
            "requestId": f"SIM{uuid.uuid4().hex[:12].upper()}:00000001",
        }}
    return {"result": {"value": value, "formatters": [], "contentTypes": [], "statusCode": status}}


def _created(onboarding: OnboardingRequest, firm_id: str, account_id: str) -> dict[str, Any]:
    """``result.value.data`` for a created user: the document's shape and defaults."""
    user, account = onboarding.user, onboarding.account
    today = datetime.datetime.now(datetime.UTC).replace(tzinfo=None).replace(
        hour=0, minute=0, second=0, microsecond=0)
    created_user = {
        "userID": str(uuid.uuid4()).upper(), "userName": user.username,
        "lastname": user.lastname, "firstname": user.firstname, "enabled": True,
        "message": "", "company": "", "phone": user.phone, "email": user.email,
        "firmID": firm_id, "billingRef": "", "street": user.street, "city": user.city,
        "county": user.county, "state": user.state, "postCode": user.postCode,
        "country": user.country, "simFirm": "", "simUsername": "", "simLinkedUserID": "",
        "userCreationDate": today.isoformat(), "appType": user.apptype,
        "cmeMarketDataNetting": "Netting",
        "trialExpires": (today + datetime.timedelta(days=14)).isoformat(),
        "iceMarketDataAccount": "", "iceMarketDataParentAccount": "",
        "euronextMarketDataAccount": "", "euronextMarketDataParentAccount": "",
        "custOrderHandlingInst": "Electronic",
        "applications": [{"id": str(uuid.uuid4()).upper(), "name": "SimApp"}],
        "roles": _ROLES, "accounts": [],
    }
    created_account = {
        "accountID": account_id, "firmID": firm_id, "account": account.account,
        "accountName": account.accountName, "displayName": account.displayName or "",
        "balance": 0.0, "cash": 0.0, "maxClipSize": 2000,
        # The document's defaults for every new account.
        "preTradeDisabled": True, "deleted": False, "enabled": "Disabled",
        "positionRollover": False, "plRollover": True, "minBalance": 0.0, "marginPC": 100.0,
        "overnightMarginPC": 100.0, "lossLimit": 0.0, "maxPosition": -1,
        "accountMode": "ByContract", "orderRouting": False, "marginType": "Spec",
        "riskDetails": {"comparisonPCChangeVolatility": 0.2, "comparisonWarningLevel": 0.8},
        "firm": "", "parentFirmID": "",
    }
    data: dict[str, Any] = {"user": created_user, "account": created_account}
    updates = (onboarding.market_data.updates or []) if onboarding.market_data else []
    data["marketData"] = {
        "exchangeMarketData": [{
            "clearingExchange": u.clearingExchange, "description": u.clearingExchange,
            "marketDataType": u.marketDataType,
            "options": [{"type": u.marketDataType, "description": u.marketDataType,
                         "currency": "USD"}],
            "hasExecutingAccount": True,
        } for u in updates],
        "totalCount": len(updates),
    }
    if onboarding.eula is not None:
        eula = onboarding.eula
        data["eulaSignature"] = {
            "collectedBy": eula.collectedBy or "API", "eulaVersion": eula.eulaVersion,
            "signatures": [{"documentName": s.documentName, "signed": s.signed.isoformat()}
                           for s in eula.signatures],
        }
    return data
