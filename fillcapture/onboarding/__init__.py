"""Onboarding end users through T4's Onboarding API: request and response models, the
client, the input files, the ``fillcapture onboard`` flow and a simulated API.

Import from here; ``sim`` (Starlette, uvicorn) and ``command`` are loaded only when used.
"""

from fillcapture.onboarding.batch import InvalidInput, Job, load_csv, load_json
from fillcapture.onboarding.client import OnboardingClient, Outcome, Status
from fillcapture.onboarding.models import (
    Account,
    Eula,
    MarketData,
    MarketDataUpdate,
    OnboardingRequest,
    OnboardingResponse,
    Signature,
    User,
)

__all__ = [
    "Account",
    "Eula",
    "InvalidInput",
    "Job",
    "MarketData",
    "MarketDataUpdate",
    "OnboardingClient",
    "OnboardingRequest",
    "OnboardingResponse",
    "Outcome",
    "Signature",
    "Status",
    "User",
    "load_csv",
    "load_json",
]
