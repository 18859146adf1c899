"""The systemd units in deploy/: systemd's own tools accept them and rate their
sandbox, the per-firm template runs the same daemon as the single unit, and
the API's unit only reads the state directory."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
UNITS = ("fillcapture.service", "fillcapture@.service", "fillcapture-api.service")
INSTALLED = "/opt/fillcapture/.venv/bin/fillcapture"
MAX_EXPOSURE = 1.2


@pytest.fixture(scope="module")
def systemd_analyze() -> str:
    """systemd-analyze, from Debian's systemd package when the machine lacks it
    (CI starts from a bare Debian as root)."""
    found = shutil.which("systemd-analyze")
    if found is None:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "systemd"], check=True, env=env)
        found = shutil.which("systemd-analyze")
    assert found is not None, "apt-get installed systemd but systemd-analyze is not on PATH"
    return found


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_accepts_the_unit(unit: str, tmp_path: Path, systemd_analyze: str) -> None:
    # `verify` also requires ExecStart's program to exist, and /opt/fillcapture is
    # not installed on a development machine. So it checks a copy in which only
    # that path is replaced by this checkout's own `fillcapture` script, same
    # arguments; every other line (User=, credentials, sandbox) is the deployed one.
    text = (DEPLOY / unit).read_text()
    assert text.count(INSTALLED) == 1
    script = Path(sys.executable).parent / "fillcapture"
    assert os.access(script, os.X_OK), f"{script} is not installed"
    copy = tmp_path / unit
    copy.write_text(text.replace(INSTALLED, str(script)))
    names = [copy]
    if unit.endswith("@.service"):
        names.append(tmp_path / unit.replace("@", "@firmA"))  # an instance: %i filled in
    result = subprocess.run([systemd_analyze, "verify", *map(str, names)],
                            capture_output=True, text=True)
    # verify exits 0 even for unknown keys and values it cannot parse, which it
    # only prints: any output at all is a failure.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("unit", UNITS)
def test_sandbox_exposure(unit: str, systemd_analyze: str) -> None:
    result = subprocess.run(
        [systemd_analyze, "security", "--offline=yes", "--no-pager", str(DEPLOY / unit)],
        capture_output=True, text=True)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    exposure = float(match[1])
    print(f"{unit}: overall exposure level {exposure}")
    assert exposure <= MAX_EXPOSURE, result.stdout


def test_template_runs_the_same_daemon_per_firm() -> None:
    def settings(unit: str) -> list[str]:
        lines = (DEPLOY / unit).read_text().splitlines()
        return [line for line in lines if line and not line.startswith("#")]

    differing = [(single, template) for single, template
                 in zip(settings(UNITS[0]), settings(UNITS[1]), strict=True)
                 if single != template]
    assert all("%i" in template for _, template in differing), differing
    assert sorted(single.split("=")[0] for single, _ in differing) == [
        "Description", "ExecStart", "LoadCredential", "StateDirectory", "WorkingDirectory"]


def test_the_api_unit_serves_with_the_daemons_sandbox_and_reads_only() -> None:
    def settings(unit: str) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for line in (DEPLOY / unit).read_text().splitlines():
            if line and not line.startswith(("#", "[")):
                key, _, value = line.partition("=")
                found.setdefault(key, []).append(value)
        return found

    api, daemon = settings("fillcapture-api.service"), settings("fillcapture.service")
    assert api["ExecStart"] == [f"{INSTALLED} --config /etc/fillcapture/fillcapture.toml serve"]
    # In the daemon's state directory, unwritable: neither StateDirectory=
    # (which would make it writable) nor any ReadWritePaths=; and no secrets.
    assert api["WorkingDirectory"] == ["/var/lib/fillcapture"]
    assert not {"StateDirectory", "ReadWritePaths", "LoadCredential"} & set(api)
    # Every other setting, the sandbox above all, is the daemon's.
    sandbox = daemon.keys() - {"Description", "ExecStart", "StateDirectory",
                               "StateDirectoryMode", "LoadCredential", "TimeoutStartSec",
                               "RestartPreventExitStatus", "TimeoutStopSec", "Documentation",
                               "Wants", "After", "WantedBy", "LimitNOFILE", "MemoryMax"}
    assert {key: api.get(key) for key in sandbox} == {key: daemon[key] for key in sandbox}


def test_every_unit_bounds_its_files_and_memory() -> None:
    from fillcapture.api.server import BACKLOG, SPARE_FILES
    from fillcapture.config import ApiSettings

    limits = {}
    for unit in UNITS:
        text = (DEPLOY / unit).read_text()
        files = re.findall(r"^LimitNOFILE=(\d+)$", text, re.MULTILINE)
        memory = re.findall(r"^MemoryMax=(\d+)([MG])$", text, re.MULTILINE)
        assert len(files) == 1, unit
        assert len(memory) == 1, unit
        limits[unit] = int(files[0]), int(memory[0][0]) * {"M": 1, "G": 1024}[memory[0][1]]
    # The API's connections, a burst being accepted and its own files fit.
    api_files, api_memory = limits["fillcapture-api.service"]
    assert api_files >= ApiSettings().max_connections + BACKLOG + SPARE_FILES
    assert 256 <= api_memory <= 1024
    assert limits["fillcapture.service"] == limits["fillcapture@.service"]
