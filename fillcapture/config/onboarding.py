"""``[onboarding]``: T4's Onboarding API, called by ``fillcapture onboard``."""

from __future__ import annotations

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from fillcapture.config.base import Section
from fillcapture.urls import plaintext_problem


class OnboardingSettings(Section):
    """T4's Onboarding API, called by ``fillcapture onboard``. ``url`` is the
    endpoint CTS gives the vendor (the default is the simulated API of
    ``fillcapture sim --onboarding``). ``api_key`` is the credential CTS issues
    (secret); it is sent as ``Authorization: Bearer KEY``, or as the plain value
    of ``api_key_header`` when that names another header (e.g. ``X-API-Key``).
    ``timeout`` bounds each attempt in seconds; a timeout or a 5xx answer is
    retried up to ``retries`` more times, waiting about ``backoff_base``
    seconds, doubled at each retry. An ``http://`` ``url`` off loopback needs
    ``allow_insecure``: the key would cross the network in clear."""

    allow_insecure: bool = False
    url: str = "http://127.0.0.1:8089/onboarding"
    api_key: SecretStr | None = None
    api_key_header: str = Field("Authorization", min_length=1)
    timeout: float = Field(30.0, gt=0, allow_inf_nan=False)
    retries: int = Field(3, ge=0)
    backoff_base: float = Field(1.0, ge=0, allow_inf_nan=False)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str, info: ValidationInfo) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        problem = plaintext_problem(value, "http://", "onboarding")
        if problem and not info.data.get("allow_insecure"):
            raise ValueError(problem)
        return value
