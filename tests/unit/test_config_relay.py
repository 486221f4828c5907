"""[[upstream]] and [[route]] tables, secrets from the environment, and clear mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, describe, load_settings, upstream_secret_variable

GOOD = """
default_upstream = "national"
relay_max_attempts = 7

[[upstream]]
name = "national"
protocol = "vxp"
endpoint = "http://127.0.0.1:9/XrdAdapter/adapter"
system_id = "00.53.W00"
secret = "from-file"
timeout_seconds = 12.5

[[upstream]]
name = "ministry"
protocol = "peer"
endpoint = "https://truc.example.gov.vn/soap/v1"

[[route]]
level1 = "G22"
upstream = "ministry"
"""


def _load(tmp_path: Path, text: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    path = tmp_path / "gateway.toml"
    path.write_text(text, "utf-8")
    return load_settings(path, environ=env or {})


def test_upstreams_routes_and_default(tmp_path: Path) -> None:
    settings = _load(tmp_path, GOOD)
    national, ministry = settings.upstreams
    assert (national.name, national.protocol, national.system_id) == (
        "national",
        "vxp",
        "00.53.W00",
    )
    assert national.timeout_seconds == 12.5 and national.secret == "from-file"
    assert ministry.protocol == "peer" and ministry.verify_tls is True
    assert settings.routes[0].level1 == "G22" and settings.routes[0].upstream == "ministry"
    assert settings.default_upstream == "national" and settings.relay_max_attempts == 7
    shown = describe(settings)
    assert "from-file" not in str(shown) and "secret=***" in shown["upstream.national"]


def test_secret_from_environment(tmp_path: Path) -> None:
    assert upstream_secret_variable("national") == "GATEWAY_UPSTREAM_NATIONAL_SECRET"
    settings = _load(tmp_path, GOOD, {"GATEWAY_UPSTREAM_NATIONAL_SECRET": "from-env"})
    assert settings.upstreams[0].secret == "from-env"


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        (
            GOOD.replace('default_upstream = "national"', 'default_upstream = "nope"'),
            "R.Config.default_upstream",
            "names no [[upstream]]",
        ),
        (
            GOOD.replace('upstream = "ministry"', 'upstream = "elsewhere"'),
            "R.Config.route.upstream",
            "no [[upstream]] is named 'elsewhere'",
        ),
        (
            GOOD.replace('protocol = "peer"', 'protocol = "smtp"'),
            "R.Config.upstream.protocol",
            "protocol must be one of",
        ),
        (
            GOOD.replace('name = "ministry"', 'name = "national"'),
            "R.Config.upstream.name",
            "defined twice",
        ),
        (GOOD.replace('level1 = "G22"', ""), "N.Config.route", "at least one of prefix"),
        (
            GOOD.replace('system_id = "00.53.W00"', 'sytem_id = "x"'),
            "M.Config.Unknown",
            "unknown key 'sytem_id'",
        ),
        (
            GOOD.replace("timeout_seconds = 12.5", 'timeout_seconds = "soon"'),
            "M.Config.timeout_seconds",
            "timeout_seconds",
        ),
        (
            GOOD.replace(
                'endpoint = "http://127.0.0.1:9/XrdAdapter/adapter"', 'endpoint = "ftp://x"'
            ),
            "M.Config.upstream.endpoint",
            "http(s)://",
        ),
    ],
)
def test_mistakes_are_explained(tmp_path: Path, text: str, code: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    assert caught.value.code == code
    assert words in str(caught.value)


def test_config_check_and_relay_run_explain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gateway.cli import main

    path = tmp_path / "gateway.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n' + GOOD, "utf-8")
    assert main(["config", "check", "--offline", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "upstream.national = vxp http://127.0.0.1:9/XrdAdapter/adapter" in out
    assert "route.1 = level1='G22' -> ministry" in out and "from-file" not in out
    bare = tmp_path / "bare.toml"
    bare.write_text(f'data_dir = "{tmp_path / "data"}"\n', "utf-8")
    assert main(["relay", "run", "--once", "--config", str(bare)]) == 2
    assert "no [[upstream]] is configured" in capsys.readouterr().err
