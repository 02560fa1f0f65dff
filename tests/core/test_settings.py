"""Configuration from the environment: production refuses unsafe settings and passes check --deploy."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings

BASE = {
    # Real servers named explicitly so that no embedded one is started for these short-lived processes.
    "DATABASE_URL": settings.DATABASE_URL,
    "REDIS_URL": settings.REDIS_URL,
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "MAILMON_ENV", "ALLOWED_HOSTS"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env={**clean, **BASE, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def production(**env: str) -> dict[str, str]:
    return {"MAILMON_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "x", **env}


def test_check_deploy_passes_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **production())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = production()
    del env["SECRET_KEY"]
    result = manage("check", **env)
    assert result.returncode != 0
    assert "SECRET_KEY: required when MAILMON_ENV=production" in result.stderr


def test_production_refuses_to_start_with_debug_on():
    result = manage("check", **production(DEBUG="true"))
    assert result.returncode != 0
    assert "DEBUG: must be off when MAILMON_ENV=production" in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [("DEBUG", "maybe"), ("MAILMON_ENV", "staging"), ("MAILMON_LOGIN_RATE_LIMIT", "five"), ("DATABASE_URL", "mysql://x")],
)
def test_a_bad_value_refuses_to_start_naming_the_variable(name, value):
    result = manage("check", **{name: value})
    assert result.returncode != 0
    assert f"{name}:" in result.stderr


def test_secrets_can_come_from_files(tmp_path):
    key_file = tmp_path / "secret"
    key_file.write_text(secrets.token_urlsafe(50) + "\n")
    env = production(SECRET_KEY_FILE=str(key_file))
    del env["SECRET_KEY"]
    result = manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode == 0, result.stderr


def test_debug_is_off_unless_set():
    assert settings.DEBUG is False
