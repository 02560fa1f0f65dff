"""Configuration from the environment: production refuses unsafe settings and passes check --deploy."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import psutil
import pytest
from django.conf import settings

BASE = {
    # Real servers named explicitly so that no embedded one is started for these short-lived processes.
    "DATABASE_URL": settings.DATABASE_URL,
    "REDIS_URL": settings.REDIS_URL,
    "DJANGO_SETTINGS_MODULE": "mailmon.settings",  # the settings operators get, not the test settings
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


def test_production_leaves_the_demo_app_out():
    assert manage("help", "load_demo").returncode == 0
    result = manage("help", "simulate_traffic", **production())
    assert result.returncode != 0
    assert "Unknown command: 'simulate_traffic'" in result.stderr
    assert manage("help", "simulate_traffic", **production(MAILMON_DEMO="true")).returncode == 0


def test_importing_settings_starts_no_server(tmp_path):
    """Tools that import settings (linters, schema generation, check) stay side-effect free."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env |= {"MAILMON_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "mailmon.settings"}
    code = "import django; django.setup(); import mailmon.celery, mailmon.urls; from django.conf import settings; "
    code += "print(settings.DATABASE_URL, settings.REDIS_URL)"
    for command in ([sys.executable, "-c", code], [sys.executable, "manage.py", "check"]):
        result = subprocess.run(command, cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
    assert f"host={tmp_path / 'pgdata'}" in result.stdout or "no issues" in result.stdout
    assert not (tmp_path / "pgdata" / "postmaster.pid").exists()
    assert not (tmp_path / "redis" / "redis.sock").exists()
    assert [p.info["cmdline"] for p in psutil.process_iter(["cmdline"]) if str(tmp_path) in " ".join(
        p.info["cmdline"] or []
    )] == []


def test_security_headers_and_cookies_hold_outside_production(client, db):
    from tests.core.factories import UserFactory

    assert settings.PRODUCTION is False
    response = client.get("/accounts/login/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    UserFactory(username="carol", role="Viewer")
    response = client.post("/accounts/login/", {"username": "carol", "password": "correct horse battery staple"})
    assert response.status_code == 302
    session = response.cookies[settings.SESSION_COOKIE_NAME]
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"
