"""The simulator's options are declared once, in ``[sim]``'s SimSettings: the
``fillcapture sim`` flags and the simulator's defaults come from there, and
the configuration needs nothing of the simulator to check a ``[sim]`` section."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from fillcapture.cli.parser import build_parser
from fillcapture.config.sim import SimSettings, sim_flag
from fillcapture.sim.config import SimConfig
from tests.conftest import clean_env


def _sample(annotation: object) -> list[str]:
    if annotation is bool:
        return []
    text = str(annotation)
    return ["1"] if "int" in text or "float" in text or "list" in text else ["x"]


@pytest.mark.parametrize("name", sorted(SimSettings.model_fields))
def test_every_sim_option_has_its_flag(name: str) -> None:
    field = SimSettings.model_fields[name]
    flag = sim_flag(name, field)
    sample = ["6"] if name == "refuse_login" else _sample(field.annotation)
    args = build_parser().parse_args(["sim", flag.flag, *sample])
    assert getattr(args, name) is not None
    assert getattr(build_parser().parse_args(["sim"]), name) is None  # not given: [sim] wins
    usage = next(action for action in build_parser()._subparsers._actions  # type: ignore[union-attr]
                 if action.dest == "command").choices["sim"].format_help()
    assert flag.flag in usage
    assert flag.help.split()[0] in usage


def test_the_simulator_defaults_are_the_sim_sections() -> None:
    settings, config = SimSettings(), SimConfig()
    for name in SimSettings.model_fields:
        expected = getattr(settings, name)
        if isinstance(expected, list):
            expected = tuple(expected)
        actual = getattr(config, name)
        assert actual == expected or (math.isinf(actual) and math.isinf(expected)), name


def test_checking_a_sim_section_loads_no_simulator(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[sim]\nrefuse_login = "LOGGED_IN_ELSEWHERE"\nrefuse_logins = 2\n')
    code = ("import sys; from fillcapture.config import load_settings; "
            f"s = load_settings({str(path)!r}); "
            "print(s.sim.refuse_login, 'fillcapture.sim' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=clean_env(), timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["6", "False"]
