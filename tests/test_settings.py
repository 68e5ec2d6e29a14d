import pytest
from pydantic import ValidationError

from inspect_app.config import Settings


def test_defaults_are_sqlite_and_local_uploads(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for var in ("INSPECT_DATABASE_URL", "INSPECT_UPLOAD_DIR", "INSPECT_SECRET_KEY", "INSPECT_ENV"):
        monkeypatch.delenv(var, raising=False)
    s = Settings()
    assert s.database_url.startswith("sqlite:///")
    assert str(s.upload_dir) == "uploads"
    assert len(s.secret_key) >= 16  # a generated development key


def test_development_key_survives_restart(monkeypatch, tmp_path):
    monkeypatch.delenv("INSPECT_SECRET_KEY", raising=False)
    a = Settings(upload_dir=tmp_path, env="development")
    b = Settings(upload_dir=tmp_path, env="development")
    assert a.secret_key == b.secret_key


def test_environment_variables_are_read(monkeypatch, tmp_path):
    monkeypatch.setenv("INSPECT_DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("INSPECT_UPLOAD_DIR", str(tmp_path / "photos"))
    monkeypatch.setenv("INSPECT_SECRET_KEY", "k" * 40)
    s = Settings()
    assert s.database_url == "postgresql://u@h/db"
    assert s.upload_dir == tmp_path / "photos"
    assert s.secret_key == "k" * 40
    assert not s.is_sqlite


@pytest.mark.parametrize("key", ["", "changeme", "secret", "short"])
def test_production_refuses_missing_or_placeholder_key(monkeypatch, tmp_path, key):
    monkeypatch.setenv("INSPECT_SECRET_KEY", key)
    with pytest.raises(ValidationError, match="INSPECT_SECRET_KEY"):
        Settings(env="production", upload_dir=tmp_path)


def test_production_accepts_a_real_key(tmp_path):
    s = Settings(env="production", secret_key="x9" * 20, upload_dir=tmp_path)
    assert s.secret_key == "x9" * 20
