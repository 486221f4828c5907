"""The master key from configuration (a value or a file given to each node), and the blob backend
setting's rules: what several nodes sharing only PostgreSQL need."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import BlobBackend, ConfigError, load_settings
from gateway.errors import MasterKeyError
from gateway.security.credentials import Credentials, master_key_of, new_master_key
from gateway.store import open_store


def _codes(exc: ConfigError) -> set[str]:
    return {f.code for f in exc.findings}


def test_new_master_key_prints_a_fresh_32_byte_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "new-master-key"]) == 0
    first = capsys.readouterr().out.strip()
    assert main(["config", "new-master-key"]) == 0
    second = capsys.readouterr().out.strip()
    assert len(base64.b64decode(first, validate=True)) == 32 and first != second


def test_two_nodes_given_one_master_key_derive_the_same_secrets(tmp_path: Path) -> None:
    key = new_master_key()
    first = load_settings(
        environ={"GATEWAY_DATA_DIR": str(tmp_path / "a"), "GATEWAY_MASTER_KEY": key}
    )
    second = load_settings(
        environ={"GATEWAY_DATA_DIR": str(tmp_path / "b"), "GATEWAY_MASTER_KEY": key}
    )
    assert master_key_of(first) == master_key_of(second) == base64.b64decode(key)
    assert not (tmp_path / "a" / "master.key").exists()  # nothing written to data_dir
    store = open_store(first)
    try:
        now = dt.datetime.now(dt.UTC)
        one, two = (
            Credentials(
                store, master_key_of(s), replay_window=dt.timedelta(minutes=5),
                password_text_allowed=False,
            )
            for s in (first, second)
        )
        one.add_agency("000.00.00.H41", "A", "", now)
        # the other node (own data_dir, same key) knows the same secret
        assert two.current_secret("000.00.00.H41") == one.current_secret("000.00.00.H41")
    finally:
        store.close()
    assert key not in repr(first)


def test_a_master_key_file_given_to_a_node_is_read(tmp_path: Path) -> None:
    key = new_master_key()
    (tmp_path / "node.key").write_text(key + "\n")
    settings = load_settings(
        environ={
            "GATEWAY_DATA_DIR": str(tmp_path / "data"),
            "GATEWAY_MASTER_KEY_FILE": str(tmp_path / "node.key"),
        }
    )
    assert master_key_of(settings) == base64.b64decode(key)


def test_master_key_mistakes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as bad:
        load_settings(environ={"GATEWAY_MASTER_KEY": "not base64 of 32 bytes"})
    assert "M.Config.master_key" in _codes(bad.value)
    with pytest.raises(ConfigError) as both:
        load_settings(
            environ={
                "GATEWAY_MASTER_KEY": new_master_key(),
                "GATEWAY_MASTER_KEY_FILE": str(tmp_path / "k"),
            }
        )
    assert "M.Config.master_key" in _codes(both.value)


def test_the_postgres_blob_backend_needs_postgres_and_a_configured_key() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(environ={"GATEWAY_BLOB_BACKEND": "postgres"})
    assert {"M.Config.blob_backend", "N.Config.master_key"} <= _codes(refused.value)
    settings = load_settings(
        environ={
            "GATEWAY_BLOB_BACKEND": "postgres",
            "GATEWAY_DATABASE_DSN": "postgresql://db.example/edoc",
            "GATEWAY_MASTER_KEY": new_master_key(),
        }
    )
    assert settings.blob_backend is BlobBackend.POSTGRES


def test_config_check_masks_the_master_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = new_master_key()
    path = tmp_path / "gateway.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\nmaster_key = "{key}"\n')
    assert main(["config", "check", "--offline", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "master_key = ***" in out and key not in out


def test_a_malformed_master_key_reaching_the_credentials_is_refused() -> None:
    from gateway.config import Settings

    with pytest.raises(MasterKeyError) as bad:
        master_key_of(Settings(master_key="c2hvcnQ="))
    assert bad.value.code == "M.Security.MasterKey"
