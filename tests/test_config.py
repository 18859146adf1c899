"""Configuration: precedence, secrets, and one clear line plus exit 2 for each error."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fillcapture.config import ConfigError, load_settings
from tests.conftest import cli_here


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return cli_here(args, cwd, **env)


BAD_FILES = {
    "unknown_key": ('[t4]\nurl = "wss://x/v1"\ncolour = "red"\n', "t4.colour: unknown key"),
    "unknown_section": ("[nonsense]\nx = 1\n", "nonsense: unknown key"),
    "bad_url": ('[t4]\nurl = "http://example.com"\n', "t4.url: must be a ws:// or wss://"),
    "bad_adapter": ('[feed]\nadapter = "carrier-pigeon"\n', "feed.adapter:"),
    "bad_store": ('[store]\nurl = "mysql://x"\n', "store.url: must look like sqlite:///"),
    "bad_postgres_store": ('[store]\nurl = "postgres://x"\n',
                           "store.url: must look like postgresql://user@host:5432/dbname "
                           "(no database name)"),
    "bad_batch": ("[store]\nbatch_size = 0\n", "store.batch_size:"),
    "negative_silence": ("[alerts]\nsilent_account_minutes = -5\n",
                         "alerts.silent_account_minutes:"),
    "fractional_silence": ("[alerts]\nsilent_account_minutes = 2.5\n",
                           "alerts.silent_account_minutes:"),
    "bad_type": ('[sim]\nseed = "many"\n', "sim.seed:"),
    "user_without_name": ('[[users]]\naccounts = ["1"]\n', "users[0].name:"),
    "double_owner": ('[[users]]\nname = "A"\naccounts = ["1"]\n'
                     '[[users]]\nname = "B"\naccounts = ["1"]\n',
                     "account 1 is owned by both A and B"),
    "t4_no_credentials": ('[feed]\nadapter = "t4"\n', "t4.firm: required"),
    "metrics_listen": ('[metrics]\nlisten = "9464"\n', "metrics.listen: must be host:port"),
    "metrics_port": ('[metrics]\nlisten = "localhost:99999"\n', "metrics.listen: must be host:"),
    "api_listen": ('[api]\nlisten = "8080"\n', "api.listen: must be host:port"),
    "api_point_value": ('[api.point_values]\n"XCME_Eq ES (Z26)" = "fifty"\n',
                        "api.point_values.XCME_Eq ES (Z26): Input should be a valid decimal"),
    "firm_needed": ('[[users]]\nname = "A"\nfirm = "F1"\naccounts = ["1"]\n'
                    '[[users]]\nname = "B"\nfirm = "F2"\naccounts = ["2"]\n'
                    '[[users]]\nname = "C"\naccounts = ["3"]\n', "users[2].firm: required"),
    "not_toml": ("[t4\n", "invalid TOML"),
    "bad_price_format": ('[t4]\nprice_format = "float"\n', "t4.price_format:"),
    "bad_healthy_after": ("[t4]\nhealthy_after = 0\n", "t4.healthy_after:"),
    "reconcile_timeout": ("[schedule]\nreconcile_timeout = 0\n", "schedule.reconcile_timeout:"),
    "reconcile_past_the_roll": ('[schedule]\nreconcile_at = "15:55"\nreconcile_timeout = 1300\n',
                                "schedule: reconcile_timeout: three steps of it"),
    "backup_dir_is_the_store_dir": ('[store]\nurl = "sqlite:///var/fills.db"\n'
                                    '[maintenance]\nbackup_dir = "var"\n',
                                    "maintenance.backup_dir: is the store's directory"),
    "backup_dir_resolves_to_it": ('[maintenance]\nbackup_dir = "var/../var/"\n',
                                  "maintenance.backup_dir: is the store's directory"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_config_names_the_key_and_exits_2(tmp_path: Path, case: str) -> None:
    text, expected = BAD_FILES[case]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    for command in (["config", "check"], ["run"]):
        result = _run(["--config", str(path), *command], tmp_path)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert expected in lines[0]
    assert not (tmp_path / "var").exists(), "nothing may start on a bad configuration"


def test_bad_environment_override_names_the_key(tmp_path: Path) -> None:
    result = _run(["config", "check"], tmp_path, FILLCAPTURE_STORE__BATCH_SIZE="lots")
    assert result.returncode == 2
    assert "store.batch_size" in result.stderr


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = _run(["--config", str(tmp_path / "nope.toml"), "config", "check"], tmp_path)
    assert result.returncode == 2
    assert "--config: file" in result.stderr
    result = _run(["config", "check"], tmp_path, FILLCAPTURE_CONFIG=str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert "FILLCAPTURE_CONFIG" in result.stderr


def test_config_check_masks_secrets(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[feed]\nadapter = "t4"\n[t4]\napi_key = "k-123-secret"\n')
    credentials = tmp_path / "creds"
    credentials.mkdir()
    (credentials / "t4_password").write_text("pw-456-secret\n")
    result = _run(["--config", str(path), "config", "check"], tmp_path,
                  CREDENTIALS_DIRECTORY=str(credentials))
    assert result.returncode == 0, result.stderr
    assert "k-123-secret" not in result.stdout
    assert "pw-456-secret" not in result.stdout
    assert '"api_key": "**********"' in result.stdout
    assert '"password": "**********"' in result.stdout


def test_precedence_env_over_credentials_over_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[t4]\nusername = "from-file"\npassword = "file-pw"\n[sim]\nseed = 4\n')
    credentials = tmp_path / "creds"
    credentials.mkdir()
    (credentials / "t4_password").write_text("cred-pw\n")
    for key in [k for k in __import__("os").environ if k.startswith("FILLCAPTURE_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    monkeypatch.setenv("FILLCAPTURE_T4__USERNAME", "from-env")
    settings = load_settings(path)
    assert settings.t4.username == "from-env"
    assert settings.t4.password is not None
    assert settings.t4.password.get_secret_value() == "cred-pw"
    assert settings.sim.seed == 4
    monkeypatch.setenv("FILLCAPTURE_T4__PASSWORD", "env-pw")
    assert load_settings(path).t4.password.get_secret_value() == "env-pw"  # type: ignore[union-attr]


def test_without_a_file_the_demo_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FILLCAPTURE_CONFIG", raising=False)
    import fillcapture.config.loader as config

    monkeypatch.setattr(config, "DEFAULT_CONFIG_PATH", Path("/nonexistent/fillcapture.toml"))
    settings = load_settings()
    assert settings.feed.adapter == "sim"
    assert {u.name: u.accounts for u in settings.users} == {
        "A": ["11111", "22222"], "B": ["33333", "44444"]}
    assert "55555" in settings.sim.accounts
    assert settings.store.url == "sqlite:///var/fills.db"


def test_config_error_is_one_line() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings("/nonexistent.toml")
    assert "\n" not in str(info.value)


def test_reading_commands_need_no_t4_password(tmp_path: Path) -> None:
    # An operator reading fills or status has the config, not the daemon's secret.
    path = tmp_path / "prod.toml"
    path.write_text(f'[feed]\nadapter = "t4"\n[t4]\nfirm = "F"\nusername = "U"\n'
                    f'app_license = "L"\n[store]\nurl = "sqlite:///{tmp_path / "f.db"}"\n')
    assert _run(["--config", str(path), "users", "list"], tmp_path).returncode == 0
    assert _run(["--config", str(path), "fills"], tmp_path).returncode == 0  # the store now exists
    refused = _run(["--config", str(path), "run"], tmp_path)
    assert refused.returncode == 2
    assert "t4.password: required" in refused.stderr
