"""The simulated Onboarding API on a real loopback HTTP port, run in a thread of the test
process so that each test can set its faults; and a configuration pointing at it."""

from __future__ import annotations

import asyncio
import copy
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fillcapture.onboarding.sim import SimOnboarding
from tests.conftest import ROOT, clean_env, write_config

EXAMPLE = json.loads((ROOT / "examples" / "onboarding" / "customer.json").read_text())


@dataclass
class Api:
    url: str
    sim: SimOnboarding


@pytest.fixture
def api() -> Iterator[Api]:
    sim = SimOnboarding()
    ready = threading.Event()
    found: dict[str, str] = {}
    loop = asyncio.new_event_loop()
    stop = loop.create_future()

    async def serve() -> None:
        async with sim.serve("127.0.0.1", 0) as url:
            found["url"] = url
            ready.set()
            await stop

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10), "simulated onboarding API did not start"
    yield Api(found["url"], sim)
    loop.call_soon_threadsafe(stop.set_result, None)
    thread.join(10)
    loop.close()


def request(username: str = "ann", account: str = "77777", **user: Any) -> dict[str, Any]:
    """The example request for another customer; ``user`` overrides User fields."""
    body = copy.deepcopy(EXAMPLE)
    body["User"].update(username=f"{username}@example.com", email=f"{username}@example.com")
    body["User"].update(user)
    body["Account"].update(account=account, accountName=account)
    return body


def config(tmp_path: Path, api: Api, **onboarding: Any) -> Path:
    settings = {"url": api.url, "api_key": "sim-onboarding-key", "timeout": 2.0,
                "retries": 2, "backoff_base": 0.05} | onboarding
    return write_config(tmp_path / "onboard.toml", {
        "store": {"url": f"sqlite:///{tmp_path / 'fills.db'}"},
        "onboarding": settings,
        "log": {"format": "json"},
    })


@pytest.fixture
def onboard() -> Callable[..., tuple[int, str, str]]:
    """Run ``fillcapture --config C onboard ARGS`` as a process: (exit, stdout, stderr)."""

    def run(config_path: Path, *args: str) -> tuple[int, str, str]:
        done = subprocess.run(
            [sys.executable, "-m", "fillcapture", "--config", str(config_path), "onboard", *args],
            capture_output=True, text=True, timeout=30, env=clean_env(), check=False)
        return done.returncode, done.stdout, done.stderr

    return run


def write_json(path: Path, body: dict[str, Any]) -> Path:
    path.write_text(json.dumps(body, indent=2))
    return path
