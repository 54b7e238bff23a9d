"""Configuration: safe defaults, the file, and the environment over the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from dangan.config import DEFAULT_CONFIG_TEXT, load_settings
from dangan.errors import InvalidInput


def test_empty_directory_gives_embedded_defaults(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={})
    assert s.db_url == f"sqlite:///{tmp_path / 'dangan.db'}"
    assert s.store_url == str(tmp_path / "objects")
    assert s.search_backend == "embedded" and s.cipher_suite == "aes256gcm-sha256"


def test_home_falls_back_to_environment_then_current_directory(tmp_path: Path) -> None:
    assert load_settings(None, env={"DANGAN_HOME": str(tmp_path)}).home == tmp_path
    assert load_settings(None, env={}).home.name == "dangan-data"


def test_environment_wins_over_file(tmp_path: Path) -> None:
    (tmp_path / "dangan.toml").write_text(DEFAULT_CONFIG_TEXT.replace(
        'backend = "embedded"', 'backend = "elasticsearch"'), encoding="utf-8")
    assert load_settings(tmp_path, env={}).search_backend == "elasticsearch"
    s = load_settings(tmp_path, env={"DANGAN_SEARCH_BACKEND": "embedded", "DANGAN_INGEST_WORKERS": "3"})
    assert s.search_backend == "embedded" and s.ingest_workers == 3


def test_bad_values_are_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="DANGAN_CIPHER_SUITE"):
        load_settings(tmp_path, env={"DANGAN_CIPHER_SUITE": "rot13"})
    with pytest.raises(InvalidInput, match="DANGAN_WEB_PORT"):
        load_settings(tmp_path, env={"DANGAN_WEB_PORT": "eighty"})
    (tmp_path / "dangan.toml").write_text("[web\nport=1", encoding="utf-8")
    with pytest.raises(InvalidInput, match="无法解析"):
        load_settings(tmp_path, env={})


def test_withhold_text_from_is_off_by_default_and_validated(tmp_path: Path) -> None:
    (tmp_path / "dangan.toml").write_text(DEFAULT_CONFIG_TEXT, encoding="utf-8")
    assert load_settings(tmp_path, env={}).withhold_text_level is None
    env = {"DANGAN_SEARCH_WITHHOLD_TEXT_FROM": "confidential"}
    assert load_settings(tmp_path, env=env).withhold_text_level == 2
    (tmp_path / "dangan.toml").write_text('[search]\nwithhold_text_from = "secret"\n', encoding="utf-8")
    assert load_settings(tmp_path, env={}).withhold_text_level == 3
    (tmp_path / "dangan.toml").write_text('[search]\nwithhold_text_from = "secrt"\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"\[search\] withhold_text_from.*confidential"):
        load_settings(tmp_path, env={})
    (tmp_path / "dangan.toml").unlink()
    with pytest.raises(InvalidInput, match="DANGAN_SEARCH_WITHHOLD_TEXT_FROM"):
        load_settings(tmp_path, env={"DANGAN_SEARCH_WITHHOLD_TEXT_FROM": "2"})
